"""Tests of `keras_stability.jpeg.libjpeg` against `tf.image.adjust_jpeg_quality`."""

import re

import keras
import numpy as np
import pytest

from keras_stability.jpeg import libjpeg
from keras_stability.jpeg import libjpeg_compress

# Every test compares with libjpeg through tf.image or runs under TensorFlow.
pytestmark = pytest.mark.tensorflow
tf = pytest.importorskip("tensorflow")


def test_libjpeg_compress_matches_adjust_jpeg_quality(photographs, adjust):
    images, qualities = photographs
    output = libjpeg_compress(images, qualities).numpy()
    assert output.dtype == np.float32
    assert np.array_equal(output, adjust(images, qualities))
    assert not np.array_equal(output, images)
    # A scalar quality is used for every image.
    scalar = libjpeg_compress(images, 30).numpy()
    assert np.array_equal(scalar, adjust(images, [30] * len(images)))


def test_libjpeg_compress_errors(rgb_odd):
    with pytest.raises(ValueError, match=re.escape("Received: 2 channels")):
        libjpeg_compress(np.zeros((1, 8, 8, 2), "float32"), 50)
    with pytest.raises(ValueError, match=re.escape("images.shape=(37, 45, 3)")):
        libjpeg_compress(rgb_odd[0].astype("float32"), 50)
    with pytest.raises(ValueError, match="images.dtype=uint8"):
        libjpeg_compress(rgb_odd, 50)


def test_libjpeg_compress_needs_tensorflow(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(
        RuntimeError, match=r"libjpeg_compress needs the TensorFlow backend.*'jax'"
    ):
        libjpeg_compress(np.zeros((1, 8, 8, 3), "float32"), 50)


@pytest.mark.parametrize("name", libjpeg.__all__)
def test_docstring_example_runs(name, run_example):
    run_example(getattr(libjpeg, name))
