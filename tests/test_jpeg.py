"""Tests of keras_stability/jpeg.py and the JpegCompression layer on photographs.

References: `tf.image.adjust_jpeg_quality` called image by image, and, for
8-bit inputs, a plain `tf.io.encode_jpeg` / `tf.io.decode_jpeg` round trip.
The tensor-op simulation `dct_compress` is held to those same references.
"""

import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import skimage.color
import skimage.data
import skimage.transform

try:
    import tensorflow as tf
except ImportError:  # the JAX CI venv, where this module is skipped
    tf = None

from keras_stability import jpeg
from keras_stability._seeds import StepSeed
from keras_stability.perturbations import Compose
from keras_stability.perturbations import JpegCompression

# Every test compares with libjpeg through tf.image or runs under TensorFlow;
# the dct path on JAX is checked against TensorFlow by a JAX subprocess here.
pytestmark = pytest.mark.tensorflow

PAIR = np.array([3, 5])


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def _crops(height, width):
    """Two crops of each of three photographs, as uint8 (6, height, width, 3)."""
    photos = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee()]
    corners = [(180, 200), (60, 250)]
    return np.stack(
        [photo[y : y + height, x : x + width] for photo in photos for y, x in corners]
    )


@pytest.fixture(scope="module")
def rgb_odd():
    """Photo crops whose size is not a multiple of 8."""
    return _crops(37, 45)


@pytest.fixture(scope="module")
def rgb_thumbnails():
    """Whole photographs shrunk by subsampling to 48 x 64."""
    photos = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee()]
    return np.stack(
        [p[:: p.shape[0] // 48, :: p.shape[1] // 64][:48, :64] for p in photos]
    )


@pytest.fixture(scope="module")
def gray_uint8():
    camera = skimage.data.camera()
    return np.stack([camera[::8, ::8], camera[100:164, 200:264]])[..., None]


@pytest.fixture(scope="module")
def gray_float():
    """Grayscale in [0, 1] off the 8-bit grid (rgb2gray mixes the channels)."""
    gray = skimage.color.rgb2gray(skimage.data.astronaut())
    return np.stack([gray[::8, ::8], gray[200:264, 150:214]])[..., None].astype(
        "float32"
    )


def _adjust(images01, qualities):
    """`tf.image.adjust_jpeg_quality`, image by image."""
    return np.stack(
        [
            tf.image.adjust_jpeg_quality(image, int(q)).numpy()
            for image, q in zip(images01, qualities, strict=True)
        ]
    )


def _codec(images_uint8, qualities):
    """Encode and decode 8-bit images with `tf.io`, image by image."""
    return np.stack(
        [
            tf.io.decode_jpeg(tf.io.encode_jpeg(image, quality=int(q))).numpy()
            for image, q in zip(images_uint8, qualities, strict=True)
        ]
    )


# ---------------------------------------------------------------------------
# libjpeg_compress


@pytest.mark.parametrize("batch", ["rgb_odd", "rgb_thumbnails", "gray_float"])
def test_libjpeg_compress_matches_adjust_jpeg_quality(batch, request):
    images = request.getfixturevalue(batch)
    if images.dtype == np.uint8:
        images = images.astype("float32") / 255
    qualities = np.array([5, 10, 50, 75, 90, 100][: len(images)], "int32")
    output = jpeg.libjpeg_compress(images, qualities).numpy()
    assert output.dtype == np.float32
    assert np.array_equal(output, _adjust(images, qualities))
    assert not np.array_equal(output, images)
    # A scalar quality is used for every image.
    scalar = jpeg.libjpeg_compress(images, 30).numpy()
    assert np.array_equal(scalar, _adjust(images, [30] * len(images)))


def test_libjpeg_compress_errors(rgb_odd):
    with pytest.raises(ValueError, match=re.escape("Received: 2 channels")):
        jpeg.libjpeg_compress(np.zeros((1, 8, 8, 2), "float32"), 50)
    with pytest.raises(ValueError, match=re.escape("images.shape=(37, 45, 3)")):
        jpeg.libjpeg_compress(rgb_odd[0].astype("float32"), 50)
    with pytest.raises(ValueError, match="images.dtype=uint8"):
        jpeg.libjpeg_compress(rgb_odd, 50)


def test_libjpeg_compress_docstring_example_runs(run_example):
    run_example(jpeg.libjpeg_compress)


# ---------------------------------------------------------------------------
# JpegCompression


@pytest.mark.parametrize("quality", [0, 10, 50, 100])
@pytest.mark.parametrize("batch", ["rgb_odd", "rgb_thumbnails", "gray_float"])
def test_unit_range_is_bit_identical_to_adjust_jpeg_quality(quality, batch, request):
    images = request.getfixturevalue(batch)
    if images.dtype == np.uint8:
        images = images.astype("float32") / 255
    output = to_numpy(JpegCompression(quality=quality)(images))
    assert output.dtype == np.float32
    assert np.array_equal(output, _adjust(images, [quality] * len(images)))


@pytest.mark.parametrize("quality", [10, 50, 90])
@pytest.mark.parametrize("batch", ["rgb_odd", "rgb_thumbnails", "gray_uint8"])
def test_8_bit_range_gives_the_codec_levels(quality, batch, request):
    images = request.getfixturevalue(batch)
    output = to_numpy(JpegCompression(quality, value_range=(0, 255))(images))
    assert output.dtype == np.float32
    expected = _codec(images, [quality] * len(images))
    assert np.array_equal(output, expected.astype("float32"))
    # The same from float inputs; and a single image comes back 3-D.
    floats = to_numpy(JpegCompression(quality, value_range=(0, 255))(images[0] * 1.0))
    assert floats.shape == images.shape[1:]
    assert np.array_equal(floats, expected[0].astype("float32"))


def test_other_ranges_land_on_the_8_bit_levels(rgb_odd):
    low, high = -1.0, 1.0
    images = (low + (high - low) * rgb_odd / 255).astype("float32")
    output = to_numpy(JpegCompression(40, value_range=(low, high))(images))
    levels = _codec(rgb_odd, [40] * len(rgb_odd)).astype("float64")
    np.testing.assert_allclose(output, low + levels * (high - low) / 255, atol=1e-6)


@pytest.mark.parametrize("method", ["libjpeg", "dct"])
def test_inputs_outside_the_value_range_saturate(method, rgb_odd):
    # Up to a tenth of the range outside it (noise added upstream), pixels
    # saturate to its ends before encoding, as in any 8-bit codec.
    images = rgb_odd.astype("float32") / 255 * 1.16 - 0.08
    layer = JpegCompression(90, method=method)
    output = to_numpy(layer(images))
    clipped = np.clip(images, 0, 1)
    assert np.mean(clipped != images) > 0.05  # many pixels were outside
    np.testing.assert_array_equal(output, to_numpy(layer(clipped)))
    assert np.all((output >= 0) & (output <= 1))
    # 0..255 images under the default (0, 1) would all encode as white: refused.
    with pytest.raises(ValueError, match=r"value_range=\(0, 255\)"):
        JpegCompression(90, method=method)(rgb_odd.astype("float32"))


def test_a_quality_range_draws_one_quality_per_image(rgb_odd):
    low, high = 20, 24
    images = rgb_odd.astype("float32") / 255
    output = to_numpy(JpegCompression((low, high))(images, seed=StepSeed(PAIR)))
    candidates = {q: _adjust(images, [q] * len(images)) for q in range(low, high + 1)}
    # Which qualities reproduce each image exactly (at least one must).
    matches = [
        {q for q, expected in candidates.items() if np.array_equal(out, expected[i])}
        for i, out in enumerate(output)
    ]
    assert all(matches)
    # Per image: no single quality explains the whole batch.
    assert not set.intersection(*matches)
    # The qualities are the layer's first draw from the seed.
    drawn = to_numpy(
        keras.random.randint(
            (len(images),), low, high + 1, dtype="int32", seed=StepSeed(PAIR)
        )
    )
    assert all(q in m for q, m in zip(drawn, matches, strict=True))


def test_a_quality_range_includes_both_ends():
    images = np.random.default_rng(0).random((40, 8, 8, 1)).astype("float32")
    output = to_numpy(JpegCompression((10, 11))(images, seed=StepSeed(PAIR)))
    drawn = to_numpy(
        keras.random.randint((40,), 10, 12, dtype="int32", seed=StepSeed(PAIR))
    )
    assert set(drawn) == {10, 11}
    assert np.array_equal(output, _adjust(images, drawn))


def test_a_range_of_one_quality_is_that_quality(rgb_odd):
    layer = JpegCompression((35, 35), value_range=(0, 255))
    expected = _codec(rgb_odd, [35] * len(rgb_odd)).astype("float32")
    assert np.array_equal(to_numpy(layer(rgb_odd)), expected)


def test_graph_mode_and_tf_data_match_eager(rgb_odd):
    layer = JpegCompression(60, value_range=(0, 255))
    eager = to_numpy(layer(rgb_odd))
    graph = tf.function(lambda x: layer(x, training=True))(rgb_odd).numpy()
    assert np.array_equal(graph, eager)
    dataset = tf.data.Dataset.from_tensor_slices(rgb_odd).map(layer)
    assert np.array_equal(np.stack([x.numpy() for x in dataset]), eager)


def test_training_false_is_not_compressed(rgb_odd):
    images = tf.constant(rgb_odd)
    assert JpegCompression(10)(images, training=False) is images


@pytest.mark.parametrize("channels", [2, 4])
def test_channels_other_than_1_or_3_are_an_error(channels):
    layer = JpegCompression(50)
    with pytest.raises(ValueError, match=re.escape(f"Received: {channels} channels")):
        layer(np.zeros((2, 8, 8, channels), "float32"))


def test_libjpeg_needs_tensorflow(monkeypatch, rgb_odd):
    layer = JpegCompression(50)
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    message = (
        "JpegCompression(method='libjpeg') needs the TensorFlow backend, "
        "but the Keras backend is 'jax'. Set KERAS_BACKEND=tensorflow"
    )
    with pytest.raises(RuntimeError, match=re.escape(message)):
        JpegCompression(50)
    with pytest.raises(RuntimeError, match=re.escape(message)):
        layer(rgb_odd / 255)
    with pytest.raises(RuntimeError, match=re.escape("libjpeg_compress needs")):
        jpeg.libjpeg_compress(rgb_odd / 255, 50)


def test_libjpeg_is_marked_not_xla_compilable():
    layer = JpegCompression(50)
    assert layer.supports_jit is False
    assert Compose([layer]).supports_jit is False


@pytest.mark.parametrize(
    "quality, message",
    [
        (150, "`quality` must be in [0, 100]. Received: quality=150"),
        (-1, "`quality` must be in [0, 100]. Received: quality=-1"),
        ((60, 40), "must be a pair (low, high) with low <= high. Received: "),
        ((10, 101), "Received: quality=(10, 101)"),
        ((10,), "Received: quality=(10,)"),
        (50.0, "`quality` must be an int in [0, 100] or a pair"),
        (True, "Received: quality=True"),
        ("high", "Received: quality='high'"),
    ],
)
def test_quality_validation(quality, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        JpegCompression(quality)


@pytest.mark.parametrize("method", ["png", ["dct"], None])
def test_method_validation(method):
    message = f"`method` must be one of ('libjpeg', 'dct'). Received: method={method!r}"
    with pytest.raises(ValueError, match=re.escape(message) + "$"):
        JpegCompression(method=method)


# ---------------------------------------------------------------------------
# dct_compress: libjpeg's arithmetic in tensor operations

QUALITIES = np.array([10, 30, 50, 70, 90], "int32")


def _psnr(a, b):
    """PSNR in dB of two images in [0, 1]."""
    mse = np.mean((a.astype("float64") - b.astype("float64")) ** 2)
    return np.inf if mse == 0 else 10 * np.log10(1 / mse)


def _views(photo):
    """The photograph whole, two crops of sizes not multiples of 8, a resize."""
    resized = skimage.transform.resize(photo, (224, 224), anti_aliasing=True)
    return {
        "whole": photo,
        "37x45": photo[180:217, 200:245],
        "100x77": photo[60:160, 250:327],
        "224x224": np.round(resized * 255).astype("uint8"),
    }


PHOTOS = {
    "astronaut": skimage.data.astronaut,
    "chelsea": skimage.data.chelsea,
    "coffee": skimage.data.coffee,
    "camera": lambda: skimage.data.camera()[..., None],
}


@pytest.mark.parametrize("view", ["whole", "37x45", "100x77", "224x224"])
@pytest.mark.parametrize("photo", list(PHOTOS))
def test_dct_psnr_against_adjust_jpeg_quality(photo, view):
    image = _views(PHOTOS[photo]())[view].astype("float32") / 255
    # One copy of the photograph per quality, all in one batch.
    batch = np.repeat(image[None], len(QUALITIES), axis=0)
    output = to_numpy(jpeg.dct_compress(batch, QUALITIES))
    assert output.shape == batch.shape and output.dtype == np.float32
    expected = _adjust(batch, QUALITIES)
    for q, out, ref in zip(QUALITIES, output, expected, strict=True):
        assert not np.array_equal(out, image), q
        assert _psnr(out, ref) >= 40, (q, _psnr(out, ref))
        # Beyond the PSNR bound, what dct_compress's docstring claims.
        assert np.array_equal(out, ref), (q, np.abs(out - ref).max() * 255)
    # Lower quality, more distortion: the simulation is not the identity.
    errors = [_psnr(out, image) for out in output]
    assert errors == sorted(errors)


@pytest.mark.parametrize(
    "shape",
    [(1, 1, 3), (2, 7, 3), (9, 4, 3), (9, 5, 3), (17, 33, 3), (33, 17, 1)],
)
def test_dct_is_bit_identical_to_libjpeg_on_noise(shape):
    # Noise has every DCT coefficient large: no rounding boundary is safe.
    # Widths 4 and 5 straddle libjpeg's switch from plain to fancy upsampling.
    images = np.random.default_rng(7).random((6, *shape), dtype="float32")
    qualities = np.array([0, 1, 25, 50, 95, 100], "int32")
    output = to_numpy(jpeg.dct_compress(images, qualities))
    assert np.array_equal(output, _adjust(images, qualities))


@pytest.mark.parametrize("batch", ["rgb_odd", "rgb_thumbnails", "gray_float"])
def test_dct_is_bit_identical_to_libjpeg_on_photographs(batch, request):
    images = request.getfixturevalue(batch)
    if images.dtype == np.uint8:
        images = images.astype("float32") / 255
    qualities = np.array([5, 10, 50, 75, 90, 100][: len(images)], "int32")
    output = to_numpy(jpeg.dct_compress(images, qualities))
    assert np.array_equal(output, _adjust(images, qualities))


def test_dct_off_range_inputs_are_quantized_like_convert_image_dtype():
    images = np.linspace(-0.5, 1.5, 2 * 24 * 24 * 3, dtype="float32")
    images = images.reshape(2, 24, 24, 3)
    output = to_numpy(jpeg.dct_compress(images, 60))
    assert np.array_equal(output, _adjust(images, [60, 60]))


def test_dct_per_image_qualities_equal_single_quality_calls(rgb_odd):
    images = rgb_odd.astype("float32") / 255
    qualities = np.array([3, 17, 42, 64, 88, 99], "int32")
    together = to_numpy(jpeg.dct_compress(images, qualities))
    for i, q in enumerate(qualities):
        alone = to_numpy(jpeg.dct_compress(images, int(q)))
        assert np.array_equal(together[i], alone[i])
        # A scalar and a (1,) quality are the same.
        one = to_numpy(jpeg.dct_compress(images[i : i + 1], qualities[i : i + 1]))
        assert np.array_equal(one[0], alone[i])
    assert len({together[i].tobytes() for i in range(len(images))}) == len(images)


def test_dct_quality_zero_is_quality_one_as_in_libjpeg(rgb_odd):
    images = rgb_odd[:2].astype("float32") / 255
    zero = to_numpy(jpeg.dct_compress(images, 0))
    assert np.array_equal(zero, to_numpy(jpeg.dct_compress(images, 1)))
    assert np.array_equal(zero, _adjust(images, [0, 0]))


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


# Annex K.1 of ITU-T T.81, typed in again here.
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
    luminance, chrominance = jpeg.quantization_tables(qualities)
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
    assert to_numpy(jpeg.quantization_tables(75)[0]).shape == (8, 8)


def test_quantizer_division_is_exact_for_every_coefficient_and_table_entry():
    # Every numerator the quantizer can see (|8 x coefficient| + 4 x entry,
    # below 2**14 + 1020) against every divisor (8 x an entry in [1, 255]),
    # eagerly, in a graph where the divisors are constants (which grappler
    # may turn into a multiplication by the reciprocal), and under XLA.
    numerators = np.arange(2**14 + 1024, dtype="int32")[:, None]
    divisors = 8 * np.arange(1, 256, dtype="int32")[None, :]
    expected = numerators // divisors
    assert np.array_equal(to_numpy(jpeg._floor_divide(numerators, divisors)), expected)
    graph = tf.function(lambda n: jpeg._floor_divide(n, tf.constant(divisors)))
    assert np.array_equal(graph(numerators).numpy(), expected)
    xla = tf.function(jpeg._floor_divide, jit_compile=True)
    assert np.array_equal(xla(numerators, divisors).numpy(), expected)


@pytest.mark.parametrize("channels", [1, 3])
def test_dct_in_a_plain_tf_function_compiles_itself_with_xla(channels, rgb_odd):
    # Keras leaves XLA off on a CPU; the codec then compiles itself, and its
    # pixels are still libjpeg's.
    images = rgb_odd[..., :channels].astype("float32") / 255
    qualities = np.array([1, 12, 35, 50, 77, 100], "int32")[: len(images)]
    outer = tf.function(jpeg.dct_compress)
    graph_def = outer.get_concrete_function(images, qualities).graph.as_graph_def()
    compiled = [
        f.signature.name
        for f in graph_def.library.function
        if f.attr["_XlaMustCompile"].b
    ]
    assert len(compiled) == 1 and "_dct_compress" in compiled[0]
    assert np.array_equal(outer(images, qualities).numpy(), _adjust(images, qualities))


def test_dct_under_xla_equals_eager(gray_float):
    # Grayscale here, RGB in test_dct_layer_compiles_with_xla.
    qualities = np.array([15, 85], "int32")
    eager = to_numpy(jpeg.dct_compress(gray_float, qualities))
    compiled = tf.function(jpeg.dct_compress, jit_compile=True)
    np.testing.assert_allclose(
        compiled(gray_float, qualities).numpy(), eager, rtol=0, atol=1e-6
    )
    assert np.array_equal(eager, _adjust(gray_float, qualities))


def test_dct_needs_a_static_height_and_width():
    spec = tf.TensorSpec((None, None, 16, 3), tf.float32)
    traced = tf.function(lambda x: jpeg.dct_compress(x, 50), input_signature=[spec])
    with pytest.raises(ValueError, match=re.escape("images.shape=(None, None, 16, 3)")):
        traced.get_concrete_function()
    # An unknown batch size is fine.
    spec = tf.TensorSpec((None, 16, 16, 3), tf.float32)
    traced = tf.function(lambda x: jpeg.dct_compress(x, 50), input_signature=[spec])
    images = np.random.default_rng(0).random((2, 16, 16, 3), dtype="float32")
    assert np.array_equal(traced(images).numpy(), _adjust(images, [50, 50]))


def _gradient(function, images):
    images = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(images)
        output = function(images)
    gradient = tape.gradient(output, images)
    return output.numpy(), None if gradient is None else gradient.numpy()


def test_straight_through_forward_equals_plain(rgb_odd, gray_float):
    for images in [rgb_odd.astype("float32") / 255, gray_float]:
        plain = to_numpy(jpeg.dct_compress(images, 20))
        through = to_numpy(jpeg.dct_compress(images, 20, straight_through=True))
        assert np.array_equal(plain, through)


def test_straight_through_gradient_of_grayscale_is_the_quantization_slope():
    # Every rounding passes its gradient and the DCT is orthonormal, so the
    # Jacobian is diagonal: 255.5 (the 8-bit quantization) times 1/255.
    images = np.random.default_rng(3).uniform(0.25, 0.75, (2, 21, 27, 1))
    images = images.astype("float32")
    weights = np.random.default_rng(4).random(images.shape).astype("float32")
    output, gradient = _gradient(
        lambda x: jpeg.dct_compress(x, 50, straight_through=True) * weights, images
    )
    unweighted = to_numpy(jpeg.dct_compress(images, 50))
    assert np.all((unweighted > 0) & (unweighted < 1))  # nothing clipped
    np.testing.assert_allclose(output, unweighted * weights, rtol=1e-6)
    np.testing.assert_allclose(gradient, weights * 255.5 / 255, rtol=1e-6)
    # Without straight_through the op has no gradient.
    _, none = _gradient(lambda x: jpeg.dct_compress(x, 50), images)
    assert none is None


def _ycbcr_matrices():
    """libjpeg's RGB -> YCbCr and YCbCr -> RGB as matrices of its FIX(c)."""

    def fix(c):
        return int(c * 65536 + 0.5) / 65536

    forward = np.array(
        [
            [fix(0.299), fix(0.587), fix(0.114)],
            [-fix(0.16874), -fix(0.33126), fix(0.5)],
            [fix(0.5), -fix(0.41869), -fix(0.08131)],
        ]
    )
    inverse = np.array(
        [
            [1, 0, fix(1.402)],
            [1, -fix(0.34414), -fix(0.71414)],
            [1, fix(1.772), 0],
        ]
    )
    return forward, inverse


def test_straight_through_gradient_of_rgb_is_the_color_round_trip():
    # Inside the image every chroma sample is an average of 4 pixels and its
    # upsampling weights sum to 4, so d sum(output[c]) / d input[k] at an
    # interior pixel is 255.5 / 255 * (inverse @ forward)[c, k].
    images = np.random.default_rng(5).uniform(0.3, 0.7, (1, 24, 32, 3))
    images = images.astype("float32")
    forward, inverse = _ycbcr_matrices()
    expected = 255.5 / 255 * inverse @ forward
    for c in range(3):
        output, gradient = _gradient(
            lambda x, c=c: jpeg.dct_compress(x, 30, straight_through=True)[..., c],
            images,
        )
        assert np.all((output > 0) & (output < 1))
        interior = gradient[0, 2:-2, 2:-2]
        assert np.all(np.isfinite(gradient)) and np.all(gradient[..., c] > 0.9)
        np.testing.assert_allclose(
            interior, np.broadcast_to(expected[c], interior.shape), atol=1e-6
        )


def test_straight_through_through_the_layer():
    images = np.random.default_rng(6).integers(64, 192, (2, 16, 24, 1))
    images = images.astype("float32")
    layer = JpegCompression(
        40, method="dct", straight_through=True, value_range=(0, 255)
    )
    output, gradient = _gradient(layer, images)
    expected = _codec(images.astype("uint8"), [40, 40]).astype("float32")
    assert np.array_equal(output, expected)
    np.testing.assert_allclose(gradient, np.full(images.shape, 255.5 / 255), rtol=1e-6)


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((1, 8, 8, 2), "float32"), "Received: 2 channels"),
        (np.zeros((1, 8, 8, 4), "float32"), "Received: 4 channels"),
        (np.zeros((8, 8, 3), "float32"), "images.shape=(8, 8, 3)"),
        (np.zeros((1, 8, 8, 3), "uint8"), "images.dtype=uint8"),
    ],
)
def test_dct_compress_errors(images, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        jpeg.dct_compress(images, 50)


QUALITY_FUNCTIONS = {
    "dct_compress": lambda q: jpeg.dct_compress(np.zeros((2, 8, 8, 3), "float32"), q),
    "libjpeg_compress": lambda q: jpeg.libjpeg_compress(
        np.zeros((2, 8, 8, 3), "float32"), q
    ),
    "quantization_tables": jpeg.quantization_tables,
}
_RANGE = "`quality` must be in [0, 100]. Received: quality="
_INT = "`quality` must be an int in [0, 100] or an integer array or tensor of them. "


@pytest.mark.parametrize(
    "quality, message",
    [
        (150, _RANGE + "150"),
        (101, _RANGE + "101"),
        (-1, _RANGE + "-1"),
        (np.int64(150), _RANGE + "np.int64(150)"),
        ([50, 101], _RANGE + "[50, 101]"),
        (np.array([10, -1], "int32"), _RANGE + "array([10, -1], dtype=int32)"),
        (50.5, _INT + "Received: quality=50.5"),
        (50.0, _INT + "Received: quality=50.0"),
        (np.array([50.0, 60.0]), _INT + "Received: quality=array([50., 60.])"),
        (True, _INT + "Received: quality=True"),
    ],
)
@pytest.mark.parametrize("function", list(QUALITY_FUNCTIONS))
def test_quality_outside_0_to_100_is_an_error(function, quality, message):
    with pytest.raises(ValueError, match=re.escape(message)):
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


def test_tensor_qualities_are_not_checked():
    # As documented: in a graph a tensor's value is unknown. dct_compress
    # and quantization_tables clip it to [1, 100]; libjpeg raises when run.
    images = np.random.default_rng(0).random((2, 8, 8, 3), dtype="float32")
    high = tf.constant([150, 150])
    graph = tf.function(jpeg.dct_compress)
    assert np.array_equal(graph(images, high).numpy(), _adjust(images, [100, 100]))
    luminance, chrominance = jpeg.quantization_tables(high)
    assert np.all(to_numpy(luminance) == 1) and np.all(to_numpy(chrominance) == 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0,100\]"):
        tf.function(jpeg.libjpeg_compress)(images, high)


@pytest.mark.parametrize(
    "function", [jpeg.dct_compress, jpeg.quantization_tables], ids=lambda f: f.__name__
)
def test_dct_docstring_examples_run(function, run_example):
    run_example(function)


# ---------------------------------------------------------------------------
# JpegCompression(method="dct")


def test_dct_layer_equals_libjpeg_layer(rgb_odd):
    kwargs = {"quality": (5, 95), "value_range": (0, 255), "seed": 11}
    dct = JpegCompression(method="dct", **kwargs)
    libjpeg = JpegCompression(method="libjpeg", **kwargs)
    for pair in [PAIR, PAIR + 1]:
        expected = to_numpy(libjpeg(rgb_odd, seed=StepSeed(pair)))
        assert np.array_equal(to_numpy(dct(rgb_odd, seed=StepSeed(pair))), expected)
    # On (0, 1) with a fixed quality, exactly tf.image.adjust_jpeg_quality.
    images = rgb_odd.astype("float32") / 255
    output = to_numpy(JpegCompression(25, method="dct")(images))
    assert np.array_equal(output, _adjust(images, [25] * len(images)))


def test_dct_layer_compiles_with_xla(rgb_odd):
    layer = JpegCompression((20, 80), method="dct", value_range=(0, 255))
    assert layer.supports_jit is True
    assert Compose([layer]).supports_jit is True
    step = tf.function(lambda x, pair: layer(x, seed=StepSeed(pair)), jit_compile=True)
    compiled = step(rgb_odd, PAIR).numpy()
    assert np.array_equal(compiled, to_numpy(layer(rgb_odd, seed=StepSeed(PAIR))))


def test_dct_layer_config_round_trip():
    layer = JpegCompression(
        (20, 60),
        method="dct",
        straight_through=True,
        value_range=(-1, 1),
        seed=3,
        name="jpeg_dct",
    )
    config = layer.get_config()
    assert JpegCompression.from_config(config).get_config() == config
    for name in inspect.signature(JpegCompression.__init__).parameters:
        if name not in ("self", "kwargs"):
            assert config[name] == getattr(layer, name), name
    assert config["straight_through"] is True and config["method"] == "dct"
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert type(restored) is JpegCompression and restored.straight_through


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"method": "dct", "straight_through": 1},
            "`straight_through` must be a bool. Received: straight_through=1",
        ),
        (
            {"straight_through": True},
            "`straight_through=True` needs method='dct' (libjpeg is not "
            "differentiable). Received: method='libjpeg'",
        ),
    ],
)
def test_straight_through_validation(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        JpegCompression(50, **kwargs)


_JAX_SCRIPT = """
import sys
import jax, keras, numpy as np
from keras_stability import jpeg
from keras_stability._seeds import StepSeed
from keras_stability.perturbations import JpegCompression

inputs = np.load(sys.argv[1])
images, qualities = inputs["images"], inputs["qualities"]
layer = JpegCompression((10, 90), method="dct", value_range=(0, 255))


@jax.jit
def step(images, pair):
    # One compilation for all: the op, its straight-through gradient, the layer.
    output, backward = jax.vjp(
        lambda x: jpeg.dct_compress(x, qualities, straight_through=True), images
    )
    (gradient,) = backward(jax.numpy.ones_like(output))
    return output, gradient, layer(images * 255, seed=StepSeed(pair))


pair = np.array([3, 5])
output, gradient, layer_output = step(images, pair)
drawn = keras.random.randint(
    (len(images),), 10, 91, dtype="int32", seed=StepSeed(pair)
)
np.savez(sys.argv[2], output=output, gradient=gradient, layer=layer_output, drawn=drawn)
"""


def test_dct_under_jax_equals_tensorflow(rgb_odd, tmp_path):
    pytest.importorskip("jax")
    images = rgb_odd.astype("float32") / 255
    qualities = np.array([1, 12, 35, 50, 77, 100], "int32")
    np.savez(tmp_path / "inputs.npz", images=images, qualities=qualities)
    result = subprocess.run(
        [sys.executable, "-c", _JAX_SCRIPT, tmp_path / "inputs.npz", tmp_path / "out"],
        env={**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = np.load(tmp_path / "out.npz")
    tensorflow = to_numpy(jpeg.dct_compress(images, qualities))
    np.testing.assert_allclose(out["output"], tensorflow, rtol=0, atol=1e-5)
    assert np.array_equal(out["output"], _adjust(images, qualities))
    _, gradient = _gradient(
        lambda x: jpeg.dct_compress(x, qualities, straight_through=True), images
    )
    np.testing.assert_allclose(out["gradient"], gradient, rtol=1e-5, atol=1e-6)
    # The JAX layer's draws are JAX's; each image is libjpeg at its draw.
    assert len(set(out["drawn"])) > 1
    expected = _codec(rgb_odd, out["drawn"]).astype("float32")
    assert np.array_equal(out["layer"], expected)


# ---------------------------------------------------------------------------
# benchmarks/jpeg_throughput.py

BENCHMARK = os.path.join(
    os.path.dirname(__file__), os.pardir, "benchmarks", "jpeg_throughput.py"
)


def test_throughput_benchmark_runs_once_on_tiny_data(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("jpeg_throughput", BENCHMARK)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    path = tmp_path / "throughput.json"
    argv = ["--sizes", "12", "--batch", "3", "--repeats", "2", "--json", str(path)]
    report = benchmark.main(argv)
    assert json.loads(path.read_text()) == json.loads(json.dumps(report))
    rows = {(r["method"], r["mode"]): r for r in report["results"]}
    assert set(rows) == {
        ("libjpeg", "eager"),
        ("libjpeg", "tf.function"),
        ("dct", "eager"),
        ("dct", "xla"),
    }
    fastest_libjpeg = max(
        rows["libjpeg", m]["images_per_second"] for m in ("eager", "tf.function")
    )
    for row in rows.values():
        assert len(row["seconds"]) == 2 and row["size"] == 12
        assert row["median_seconds"] == np.median(row["seconds"])
        assert row["images_per_second"] == pytest.approx(3 / row["median_seconds"])
        assert row["ratio_to_libjpeg"] == pytest.approx(
            row["images_per_second"] / fastest_libjpeg
        )
    table = capsys.readouterr().out
    assert "dct      xla" in table and "libjpeg  tf.function" in table
    # The backend is fixed once keras is imported.
    with pytest.raises(ValueError, match="already runs keras on 'tensorflow'"):
        benchmark.main(["--backend", "jax", "--sizes", "8"])
    # The benchmark's images are what it says.
    images = benchmark.photographs(12, 4)
    assert images.shape == (4, 12, 12, 3) and images.dtype == np.float32
    assert np.array_equal(images[3], images[0])
    np.testing.assert_allclose(images * 255, np.round(images * 255), atol=1e-4)
