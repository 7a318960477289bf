"""Tests of `keras_stability.jpeg.tables`, and of the quality range all three
functions of `keras_stability.jpeg` check.

The tables are computed again here entry by entry with libjpeg's C integer
arithmetic (`jcparam.c`) from the standard's tables typed in again.
"""

import re

import numpy as np
import pytest
from keras.ops import convert_to_numpy as to_numpy

from keras_stability.jpeg import dct_compress
from keras_stability.jpeg import libjpeg_compress
from keras_stability.jpeg import quantization_tables
from keras_stability.jpeg import tables

# Every test compares with libjpeg through tf.image or runs under TensorFlow.
pytestmark = pytest.mark.tensorflow
tf = pytest.importorskip("tensorflow")


def _libjpeg_table(base, quality):
    """jcparam.c: jpeg_quality_scaling, then jpeg_add_quant_table with
    force_baseline, entry by entry with C integer arithmetic."""
    quality = min(max(quality, 1), 100)
    scale = 5000 // quality if quality < 50 else 200 - quality * 2
    table = np.zeros(64, "int64")
    for i, value in enumerate(base):
        temp = (value * scale + 50) // 100
        temp = min(max(temp, 1), 32767)
        table[i] = min(temp, 255)
    return table.reshape(8, 8)


_K1_LUMINANCE = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
]  # fmt: skip


_K1_CHROMINANCE = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
] + [99] * 32  # fmt: skip


def test_quantization_tables_follow_libjpeg_scaling_for_every_quality():
    qualities = np.arange(0, 101, dtype="int32")
    luminance, chrominance = quantization_tables(qualities)
    luminance, chrominance = to_numpy(luminance), to_numpy(chrominance)
    assert luminance.shape == chrominance.shape == (101, 8, 8)
    for q in range(101):
        assert np.array_equal(luminance[q], _libjpeg_table(_K1_LUMINANCE, q)), q
        assert np.array_equal(chrominance[q], _libjpeg_table(_K1_CHROMINANCE, q)), q
    # Anchors: 50 is the standard's table, 100 all ones, 1 all the 8-bit limit.
    assert np.array_equal(luminance[50].ravel(), _K1_LUMINANCE)
    assert np.all(luminance[100] == 1) and np.all(chrominance[100] == 1)
    assert np.all(luminance[1] == 255) and np.all(chrominance[1] == 255)
    # A scalar gives one table.
    assert to_numpy(quantization_tables(75)[0]).shape == (8, 8)


def test_the_standard_tables_are_annex_k1():
    assert np.array_equal(tables.LUMINANCE_TABLE.ravel(), _K1_LUMINANCE)
    assert np.array_equal(tables.CHROMINANCE_TABLE.ravel(), _K1_CHROMINANCE)


QUALITY_FUNCTIONS = {
    "dct_compress": lambda q: dct_compress(np.zeros((2, 8, 8, 3), "float32"), q),
    "libjpeg_compress": lambda q: libjpeg_compress(
        np.zeros((2, 8, 8, 3), "float32"), q
    ),
    "quantization_tables": quantization_tables,
}
# Out of range, or not integers: the name, the kind of fix, the value received.
_RANGE = r"`quality`.*\[0, 100\].*Received: quality="
_INT = r"`quality` must be an int.*Received: quality="


@pytest.mark.parametrize(
    "quality, message",
    [
        (150, _RANGE + "150"),
        (101, _RANGE + "101"),
        (-1, _RANGE + "-1"),
        (np.int64(150), _RANGE + re.escape("np.int64(150)")),
        ([50, 101], _RANGE + re.escape("[50, 101]")),
        (
            np.array([10, -1], "int32"),
            _RANGE + re.escape("array([10, -1], dtype=int32)"),
        ),
        (50.5, _INT + "50.5"),
        (50.0, _INT + "50.0"),
        (np.array([50.0, 60.0]), _INT + re.escape("array([50., 60.])")),
        (True, _INT + "True"),
    ],
)
@pytest.mark.parametrize("function", list(QUALITY_FUNCTIONS))
def test_quality_outside_0_to_100_is_an_error(function, quality, message):
    with pytest.raises(ValueError, match=message):
        QUALITY_FUNCTIONS[function](quality)


@pytest.mark.parametrize("function", list(QUALITY_FUNCTIONS))
def test_quality_range_is_libjpegs(function):
    # The ends are libjpeg's own: tf.image.adjust_jpeg_quality takes 0 and
    # 100 and refuses -1 and 101 when it runs.
    image = np.zeros((8, 8, 3), "float32")
    for quality in (0, 100):
        tf.image.adjust_jpeg_quality(image, quality)
        QUALITY_FUNCTIONS[function](quality)
        QUALITY_FUNCTIONS[function](np.array([quality, 50], "int32"))
    for quality in (-1, 101):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0,100\]"):
            tf.image.adjust_jpeg_quality(image, quality)


def test_tensor_qualities_are_not_checked(adjust):
    # As documented: in a graph a tensor's value is unknown. dct_compress
    # and quantization_tables clip it to [1, 100]; libjpeg raises when run.
    images = np.random.default_rng(0).random((2, 8, 8, 3), dtype="float32")
    high = tf.constant([150, 150])
    graph = tf.function(dct_compress)
    assert np.array_equal(graph(images, high).numpy(), adjust(images, [100, 100]))
    luminance, chrominance = quantization_tables(high)
    assert np.all(to_numpy(luminance) == 1) and np.all(to_numpy(chrominance) == 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0,100\]"):
        tf.function(libjpeg_compress)(images, high)


@pytest.mark.parametrize("name", tables.__all__)
def test_docstring_example_runs(name, run_example):
    run_example(getattr(tables, name))
