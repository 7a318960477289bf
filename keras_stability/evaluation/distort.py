"""Running a distortion on a batch of images, as the evaluations do.

`robustness_report`, `near_duplicate_pr` and `feature_distances` all make
their distorted copies through `distort_batch`, so a copy is a function of
the distortion, the batch and a seed pair, and a failure names the
distortion.
"""

import re
import weakref

import keras
import numpy as np

from keras_stability import perturbations
from keras_stability._seeds import StepSeed

__all__ = ["distort_batch"]

# Compiled functions, kept with their perturbation for the next report.
_COMPILED = weakref.WeakKeyDictionary()

_ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")


def distort_batch(distortion, images, seed_pair=(0, 0), name="distortion"):
    """Applies a distortion to one batch, drawing from `seed_pair`.

    A `keras_stability.perturbations.Perturbation` draws its randomness
    from a `StepSeed` of `seed_pair`, so it is a pure function of its
    inputs: it is compiled once (`tf.function` on TensorFlow, `jax.jit` on
    JAX) and the compiled function is kept with the layer for later calls.
    Another Keras layer (called with `training=True`) or a callable runs as
    it is. Either way the batch goes through
    `keras_stability.perturbations.apply_perturbation`, which checks that
    the copy keeps the batch's shape.

    Args:
        distortion: a `Perturbation`, any Keras layer or a callable on a
            batch.
        images: a batch of images (array or tensor).
        seed_pair: two ints, `(seed, batch_index)` in the evaluations; the
            same pair gives the same copy. Defaults to `(0, 0)`.
        name: how errors name the distortion, e.g. `"distortions['jpeg@10']"`.
            Defaults to `"distortion"`.

    Returns:
        The distorted copy, a tensor of the shape of `images`.

    Raises:
        ValueError: when the distortion fails on the batch, naming `name`,
            the batch's shape and the failure's message on one line.

    Example:

    ```python
    import keras
    import numpy as np
    from keras_stability.evaluation import distort_batch
    from keras_stability.perturbations import GaussianNoise

    images = np.full((2, 4, 4, 1), 0.5, "float32")
    noise = GaussianNoise(0.1)
    first = keras.ops.convert_to_numpy(distort_batch(noise, images, (3, 0)))
    again = keras.ops.convert_to_numpy(distort_batch(noise, images, (3, 0)))
    other = keras.ops.convert_to_numpy(distort_batch(noise, images, (3, 1)))
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    ```
    """
    function = _function(distortion)
    try:
        return function(images, np.asarray(seed_pair))
    except ValueError as error:
        raise ValueError(
            f"`{name}` failed on images of shape {tuple(images.shape)}: {_gist(error)}"
        ) from error


def _function(distortion):
    """`(images, seed_pair) -> copy`, compiled for our perturbations."""
    if not isinstance(distortion, perturbations.Perturbation):
        # Nothing to seed or compile: other layers and callables draw as
        # they do.
        return lambda images, seed_pair: perturbations.apply_perturbation(
            distortion, images, name="distortion"
        )
    if distortion not in _COMPILED:
        _COMPILED[distortion] = _compile(_Distort(distortion))
    return _COMPILED[distortion]


class _Distort:
    """`(images, seed_pair) -> distortion(images)` drawn from a `StepSeed`.

    A callable object rather than a closure: TensorFlow counts retracings per
    code object, and one closure per distortion would read as a function
    retraced in a loop.
    """

    def __init__(self, distortion):
        self.distortion = distortion

    def __call__(self, images, seed_pair):
        return perturbations.apply_perturbation(
            self.distortion, images, StepSeed(seed_pair), name="distortion"
        )


def _compile(call):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(call, reduce_retracing=True)
    if backend == "jax":
        import jax

        return jax.jit(call)
    return call


def _gist(error):
    """An error's message on one line.

    A Keras layer's error reads "Exception encountered when calling ...",
    then the message, then the call's arguments; under `tf.function` it also
    comes after "in user code:" and a traceback. The message is the line
    after the first; a plain error's is its last line.
    """
    text = _ANSI_CODE.sub("", str(error))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for index, line in enumerate(lines[:-1]):
        if "Exception encountered when calling" in line:
            return lines[index + 1]
    return lines[-1] if lines else type(error).__name__
