"""Tests of keras_stability/jpeg.py and the JpegCompression layer on photographs.

References: `tf.image.adjust_jpeg_quality` called image by image, and, for
8-bit inputs, a plain `tf.io.encode_jpeg` / `tf.io.decode_jpeg` round trip.
"""

import re
import textwrap

import keras
import numpy as np
import pytest
import skimage.color
import skimage.data
import tensorflow as tf

from keras_stability import jpeg
from keras_stability._seeds import StepSeed
from keras_stability.perturbations import Compose
from keras_stability.perturbations import JpegCompression

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


def test_libjpeg_compress_docstring_example_runs():
    example = re.search(r"```python\n(.*?)```", jpeg.libjpeg_compress.__doc__, re.S)
    exec(textwrap.dedent(example.group(1)), {})


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
        layer(rgb_odd)
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


def test_method_validation():
    message = "`method` must be one of ('libjpeg',). Received: method='dct'"
    with pytest.raises(ValueError, match=re.escape(message)):
        JpegCompression(method="dct")
