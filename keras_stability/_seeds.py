"""Seeds that are a pure function of a saved counter.

A `keras.random.SeedGenerator` keeps its state in a variable that
`save_weights` (and so `keras.callbacks.BackupAndRestore`) does not restore:
after a resume the perturbations would replay their first draws.
`StabilityModel` instead keeps a `(seed, step)` pair among its weights and
hands its perturbation a `StepSeed` built from it each step. Every
`keras.random` call accepts it wherever it accepts a `SeedGenerator`.

`portable_uniform` draws the same numbers on every backend from the same
seed, which `keras.random` does not.
"""

import keras
import numpy as np
from keras import ops

__all__ = ["MAX_SEED", "StepSeed", "portable_uniform", "seed_dtype"]

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


def _int32(value):
    """The int32 with the bits of the 32-bit unsigned `value`."""
    return np.int32(value - 2**32 if value >= 2**31 else value)


_GOLDEN = _int32(0x9E3779B9)
# Chris Wellons's "lowbias32" integer hash: its multipliers and shifts.
_MIX_MULTIPLIERS = (_int32(0x7FEB352D), _int32(0x846CA68B))


def _shift_right(x, bits):
    """Logical right shift of int32 `x`: backends shift signed ints arithmetically."""
    return ops.bitwise_and(ops.right_shift(x, bits), _int32(2 ** (32 - bits) - 1))


def _mix(x):
    """lowbias32 on int32 bit patterns: multiplications wrap on every backend."""
    x = ops.bitwise_xor(x, _shift_right(x, 16))
    x = ops.multiply(x, _MIX_MULTIPLIERS[0])
    x = ops.bitwise_xor(x, _shift_right(x, 15))
    x = ops.multiply(x, _MIX_MULTIPLIERS[1])
    return ops.bitwise_xor(x, _shift_right(x, 16))


def _low_word(value):
    """The low 32 bits of an integer tensor, as int32, whatever its dtype.

    Seeds come as int64 (TensorFlow), uint32 (JAX) or int32 (PyTorch), and
    wrap at different widths; their low 32 bits agree. They are taken in
    16-bit halves, which every dtype casts to int32 exactly.
    """
    low = ops.cast(ops.bitwise_and(value, 0xFFFF), "int32")
    high = ops.cast(ops.bitwise_and(ops.right_shift(value, 16), 0xFFFF), "int32")
    return ops.add(ops.multiply(high, np.int32(0x10000)), low)


def portable_uniform(shape, seed):
    """Draws from `U[0, 1)` in float32 that are the same on every backend.

    `keras.random` draws with each backend's own generator (Philox on
    TensorFlow, threefry on JAX, PyTorch's), so one seed gives different
    numbers on each. Where a result must not depend on the backend, such as
    `Adversarial`'s random start, this counter-based hash in `keras.ops`
    int32 arithmetic is used instead: one `seed.next()` pair is hashed into
    two keys, and element `i` of the flattened `shape` gets the top 24 bits
    of `mix(mix(i ^ key0) + key1)` divided by `2**24`, with `mix` the
    lowbias32 hash (wrapping multiplications, xors and logical shifts) and
    the seed words taken modulo `2**32`. It is slower than `keras.random`
    and meant for small draws.

    Args:
        shape: the shape of the draws; its entries may be tensors (an
            unknown batch size while tracing).
        seed: a `keras.random.SeedGenerator` (possibly a `StepSeed`); one
            `seed.next()` is used.

    Returns:
        A float32 tensor of `shape`, values multiples of `2**-24` in `[0, 1)`.
    """
    pair = seed.next()
    key0 = _mix(ops.add(_low_word(pair[0]), _GOLDEN))
    key1 = _mix(ops.bitwise_xor(_low_word(pair[1]), key0))
    ones = ops.ones(shape, "int32")
    # Counting with a cumulative sum takes shapes known only while running.
    index = ops.cast(ops.cumsum(ops.reshape(ones, (-1,))), "int32")
    index = ops.reshape(ops.subtract(index, 1), ops.shape(ones))
    hashed = _mix(ops.add(_mix(ops.bitwise_xor(index, key0)), key1))
    return ops.multiply(
        ops.cast(_shift_right(hashed, 8), "float32"), np.float32(2.0**-24)
    )
