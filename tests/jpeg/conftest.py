"""Photographs and libjpeg references shared by the tests of `keras_stability.jpeg`.

The references are TensorFlow's own codec: `tf.image.adjust_jpeg_quality`
called image by image, and, for 8-bit inputs, a plain `tf.io.encode_jpeg` /
`tf.io.decode_jpeg` round trip. They are fixtures so that the test modules,
imported by path, share them without importing one another.
"""

import numpy as np
import pytest
import skimage.color
import skimage.data

try:
    import tensorflow as tf
except ImportError:  # the JAX CI venv, where these tests are skipped
    tf = None


def _crops(height, width):
    """Two crops of each of three photographs, as uint8 (6, height, width, 3)."""
    photos = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee()]
    corners = [(180, 200), (60, 250)]
    return np.stack(
        [photo[y : y + height, x : x + width] for photo in photos for y, x in corners]
    )


@pytest.fixture(scope="session")
def rgb_odd():
    """Photo crops whose size is not a multiple of 8."""
    return _crops(37, 45)


@pytest.fixture(scope="session")
def rgb_thumbnails():
    """Whole photographs shrunk by subsampling to 48 x 64."""
    photos = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee()]
    return np.stack(
        [p[:: p.shape[0] // 48, :: p.shape[1] // 64][:48, :64] for p in photos]
    )


@pytest.fixture(scope="session")
def gray_uint8():
    camera = skimage.data.camera()
    return np.stack([camera[::8, ::8], camera[100:164, 200:264]])[..., None]


@pytest.fixture(scope="session")
def gray_float():
    """Grayscale in [0, 1] off the 8-bit grid (rgb2gray mixes the channels)."""
    gray = skimage.color.rgb2gray(skimage.data.astronaut())
    return np.stack([gray[::8, ::8], gray[200:264, 150:214]])[..., None].astype(
        "float32"
    )


@pytest.fixture(params=["rgb_odd", "rgb_thumbnails", "gray_float"])
def photographs(request):
    """Each batch of photographs as floats in [0, 1], with a quality per image."""
    images = request.getfixturevalue(request.param)
    if images.dtype == np.uint8:
        images = images.astype("float32") / 255
    qualities = np.array([5, 10, 50, 75, 90, 100][: len(images)], "int32")
    return images, qualities


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


def _tape_gradient(function, images):
    """`function(images)` and the gradient of its sum, or None, by a tape."""
    images = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(images)
        output = function(images)
    gradient = tape.gradient(output, images)
    return output.numpy(), None if gradient is None else gradient.numpy()


@pytest.fixture
def adjust():
    return _adjust


@pytest.fixture
def codec():
    return _codec


@pytest.fixture
def tape_gradient():
    return _tape_gradient
