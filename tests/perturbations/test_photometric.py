"""Tests of perturbations/photometric.py against scikit-image, PIL and NumPy."""

import numpy as np
import pytest
import skimage.color
from keras.ops import convert_to_numpy as to_numpy
from PIL import Image
from PIL import ImageEnhance

from keras_stability.perturbations import Brightness
from keras_stability.perturbations import Contrast
from keras_stability.perturbations import Saturate


@pytest.fixture
def rgb(rng):
    images = rng.random((2, 16, 16, 3))
    images[0, 0, 0] = 0.0  # black: no hue
    images[0, 0, 1] = 0.5  # gray: no saturation
    return images.astype("float32")


@pytest.mark.parametrize("delta", [0.1, 0.4, -0.3])
def test_brightness_is_imagenet_c_in_hsv(delta, rgb):
    # ImageNet-C: V += delta in HSV, clipped to [0, 1], and back to RGB.
    output = to_numpy(Brightness(delta=delta)(rgb))
    expected = []
    for image in rgb.astype("float64"):
        hsv = skimage.color.rgb2hsv(image)
        hsv[..., 2] = np.clip(hsv[..., 2] + delta, 0, 1)
        expected.append(np.clip(skimage.color.hsv2rgb(hsv), 0, 1))
    np.testing.assert_allclose(output, np.stack(expected), rtol=0, atol=1e-5)


def test_brightness_of_grayscale_adds_to_the_value(rgb):
    gray = rgb[..., :1]
    levels = to_numpy(Brightness(delta=0.3, value_range=(0, 255))(gray * 255))
    np.testing.assert_allclose(levels, np.minimum(gray + 0.3, 1) * 255, atol=1e-4)


@pytest.mark.parametrize("factor", [0.05, 0.4, 1.5])
@pytest.mark.parametrize("channels", [1, 3])
def test_contrast_scales_each_channel_around_its_mean(factor, channels, rgb):
    images = rgb[..., :channels]
    output = to_numpy(Contrast(factor=factor)(images))
    expected = np.empty(images.shape)
    for b, image in enumerate(images.astype("float64")):
        for c in range(channels):
            mean = image[..., c].mean()
            expected[b, ..., c] = np.clip((image[..., c] - mean) * factor + mean, 0, 1)
    np.testing.assert_allclose(output, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("factor", [0.0, 0.3, 2.0, 5.0])
def test_saturate_is_pils_color_enhancement(factor, rgb):
    # PIL's ImageEnhance.Color blends with the "L" image in 8-bit levels: L
    # rounded (half a level, times |1 - factor| in the blend), the blend
    # truncated (up to a level).
    levels = np.round(rgb * 255).astype("uint8")
    output = to_numpy(Saturate(factor=factor, value_range=(0, 255))(levels))
    expected = np.stack(
        [
            np.asarray(ImageEnhance.Color(Image.fromarray(image)).enhance(factor))
            for image in levels
        ]
    )
    tolerance = 1.0 + 0.5 * abs(1 - factor) + 1e-3
    np.testing.assert_allclose(output, expected, rtol=0, atol=tolerance)
    # And exactly the luma mix, in float.
    gray = rgb @ np.array([0.299, 0.587, 0.114])
    mix = np.clip(gray[..., None] + factor * (rgb - gray[..., None]), 0, 1)
    np.testing.assert_allclose(to_numpy(Saturate(factor=factor)(rgb)), mix, atol=1e-6)


def test_factor_one_and_delta_zero_are_the_identity(rgb):
    for layer in (Brightness(0.0), Contrast(1.0), Saturate(1.0)):
        np.testing.assert_allclose(to_numpy(layer(rgb)), rgb, rtol=0, atol=1e-6)
