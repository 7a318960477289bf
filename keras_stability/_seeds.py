"""Seeds that are a pure function of a saved counter.

A `keras.random.SeedGenerator` keeps its state in a variable that
`save_weights` (and so `keras.callbacks.BackupAndRestore`) does not restore:
after a resume the perturbations would replay their first draws.
`StabilityModel` instead keeps a `(seed, step)` pair among its weights and
hands its perturbation a `StepSeed` built from it each step. Every
`keras.random` call accepts it wherever it accepts a `SeedGenerator`.
"""

import keras
from keras import ops

__all__ = ["MAX_SEED", "StepSeed", "seed_dtype"]

# The dtype each backend's random ops take seeds in (TensorFlow keeps seed
# variables in int64 for device placement and casts to int32 itself; JAX's raw
# keys are uint32).
_SEED_DTYPES = {"tensorflow": "int64", "jax": "uint32"}


# The largest seed this library takes anywhere: the largest int32. PyTorch's
# `keras.random.SeedGenerator` keeps its seed in int32 (JAX in uint32,
# TensorFlow in int64), and so does the seed slot of `StabilityModel`'s
# `perturbation_seed` there; larger or negative values overflow them. One
# range everywhere also lets one seed serve a model, its perturbation and
# `data.with_perturbed_copy`, and a saved config load on every backend.
MAX_SEED = 2**31 - 1


def seed_dtype():
    """The integer dtype of seeds for the active Keras backend."""
    return _SEED_DTYPES.get(keras.backend.backend(), "int32")


# Odd constants below 2**31 (from xxHash), so they fit every backend's seed
# dtype; products wrap, which only permutes seeds. They spread consecutive
# draws and steps far apart, also for the PyTorch backend, which seeds its
# generator with the sum of the two words.
_DRAW_MULTIPLIER = 0x165667B1
_STEP_MULTIPLIER = 0x27D4EB2D


class StepSeed(keras.random.SeedGenerator):
    """A stateless stand-in for `keras.random.SeedGenerator`.

    Draw `k` returns `[seed + k * c1, step * c2]` (wrapping in the backend's
    seed dtype), so the draws of one step differ from each other and from the
    draws of every other step, and replaying a step replays its draws exactly.
    It owns no variable: nothing to save, nothing to restore, nothing to
    aggregate across replicas.

    Args:
        seed_pair: integer tensor of shape `(2,)`: `[seed, step]`.
    """

    def __init__(self, seed_pair):
        # Deliberately no SeedGenerator.__init__: that would create a variable.
        self.name = "step_seed"
        self.backend = keras.backend
        self._dtype = seed_dtype()
        self._seed_pair = ops.cast(seed_pair, self._dtype)
        self._draws = 0

    def next(self, ordered=True):
        del ordered
        offset = (self._draws * _DRAW_MULTIPLIER) % 2**31
        self._draws += 1
        first = ops.add(self._seed_pair[0], ops.cast(offset, self._dtype))
        second = ops.multiply(
            self._seed_pair[1], ops.cast(_STEP_MULTIPLIER, self._dtype)
        )
        return ops.stack([first, second])

    def get_config(self):
        raise NotImplementedError("StepSeed is built per step and never saved.")
