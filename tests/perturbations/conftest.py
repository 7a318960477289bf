"""Fixtures shared by the perturbation tests: images and NumPy references."""

import keras
import numpy as np
import pytest
from keras.src.testing import TestCase


@pytest.fixture
def images(rng):
    """A batch of 8-bit RGB images as float32 in [0, 255]."""
    return rng.integers(0, 256, (4, 16, 16, 3)).astype("float32")


def _resize_bilinear(images, height, width):
    """Bilinear resize with half-pixel centres and clamped edges, in NumPy."""

    def along(x, axis, size):
        n = x.shape[axis]
        coordinates = np.clip((np.arange(size) + 0.5) * n / size - 0.5, 0, n - 1)
        lower = np.floor(coordinates).astype(int)
        upper = np.minimum(lower + 1, n - 1)
        shape = [1] * x.ndim
        shape[axis] = size
        fraction = (coordinates - lower).reshape(shape)
        return (1 - fraction) * np.take(x, lower, axis) + fraction * np.take(
            x, upper, axis
        )

    return along(along(images.astype("float64"), 1, height), 2, width)


@pytest.fixture
def resize_bilinear():
    """`f(images, height, width)`: `tf.image.resize` bilinear in NumPy."""
    return _resize_bilinear


def _recover(outputs, candidates):
    """For each output image, the one candidate it equals (asserted unique)."""
    found = []
    for index, output in enumerate(outputs):
        matches = [
            key
            for key, candidate in candidates.items()
            if np.allclose(output, candidate[index], rtol=0, atol=1e-5)
        ]
        assert len(matches) == 1, (index, matches)
        found.append(matches[0])
    return found


@pytest.fixture
def recover():
    """`f(outputs, candidates)`: the key of the one candidate each image equals."""
    return _recover


@pytest.fixture
def xla_compile():
    """`f(function)` compiled with XLA by the backend, or a skip where it cannot."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return lambda function: tf.function(function, jit_compile=True)
    if backend == "jax":
        import jax

        return jax.jit
    pytest.skip(f"no XLA compilation of layers on the {backend} backend")


@pytest.fixture
def keras_harness():
    """Keras's `TestCase`, whose `run_layer_test` checks a layer end to end."""

    class Harness(TestCase):
        def runTest(self):  # noqa: N802 (unittest's name)
            pass

    harness = Harness()
    harness.setUp()
    return harness
