"""Tests of perturbations/jpeg_compression.py: the JpegCompression layer.

Its pixels against libjpeg, on photographs, are in tests/test_jpeg.py; what
every perturbation does (dtypes, configs, saving) is in test_base.py.
"""

import re

import keras
import numpy as np
import pytest

from keras_stability.perturbations import JpegCompression


@pytest.mark.parametrize("value_range", [(0, 1), (-1, 1), (0, 255)])
def test_dct_outputs_sit_on_the_256_levels_of_the_range(value_range, rng):
    low, high = value_range
    # A smooth picture, which JPEG keeps well: a diagonal ramp, plus noise.
    ramp = np.add.outer(np.arange(16), np.arange(16))[None, :, :, None] / 30
    unit = np.clip(ramp + 0.02 * rng.standard_normal((2, 16, 16, 3)), 0, 1)
    images = (low + (high - low) * unit).astype("float32")
    layer = JpegCompression((20, 80), method="dct", value_range=value_range, seed=1)
    output = keras.ops.convert_to_numpy(layer(images)).astype("float64")
    levels = (output - low) * 255 / (high - low)
    np.testing.assert_allclose(levels, np.round(levels), rtol=0, atol=1e-3)
    assert levels.min() >= -1e-3 and levels.max() <= 255 + 1e-3
    # Compression keeps the picture: on average within a few levels.
    assert np.abs(output - images).mean() < 0.05 * (high - low)


@pytest.mark.parametrize(
    "kwargs, received",
    [
        ({"quality": 101}, "Received: quality=101"),
        ({"quality": (80, 20)}, "Received: quality=(80, 20)"),
        ({"quality": (10, 101)}, "Received: quality=(10, 101)"),
        ({"quality": 50.0}, "Received: quality=50.0"),
        ({"method": "pillow"}, "Received: method='pillow'"),
        ({"method": "dct", "straight_through": 1}, "Received: straight_through=1"),
    ],
)
def test_validation_names_the_argument_and_value(kwargs, received):
    with pytest.raises(ValueError, match=re.escape(received)):
        JpegCompression(**kwargs)


@pytest.mark.tensorflow
def test_straight_through_needs_dct():
    with pytest.raises(
        ValueError,
        match=r"`straight_through=True` needs method='dct'.*method='libjpeg'",
    ):
        JpegCompression(straight_through=True, method="libjpeg")


@pytest.mark.tensorflow
def test_docstring_example_runs(run_example):
    run_example(JpegCompression)
