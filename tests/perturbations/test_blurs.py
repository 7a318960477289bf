"""Tests of perturbations/blurs.py: the three blurs against NumPy and SciPy."""

import numpy as np
import pytest
from keras.ops import convert_to_numpy as to_numpy
from scipy import ndimage

from keras_stability._seeds import StepSeed
from keras_stability.perturbations import DefocusBlur
from keras_stability.perturbations import GaussianBlur
from keras_stability.perturbations import MotionBlur


@pytest.fixture(params=[(2, 16, 12, 3), (2, 16, 16, 1)], ids=["rgb", "gray"])
def images(request, rng):
    return rng.random(request.param).astype("float32")


def _per_channel(images, filter_one):
    """`filter_one(plane)` on every image and channel."""
    return np.stack(
        [
            np.stack([filter_one(image[..., c]) for c in range(image.shape[-1])], -1)
            for image in images.astype("float64")
        ]
    )


def test_gaussian_blur_is_scipys_gaussian_filter(images):
    # sigma as a fraction of the shorter side: 1.3 pixels here.
    side = min(images.shape[1:3])
    output = to_numpy(GaussianBlur(sigma=1.3 / side)(images))
    expected = _per_channel(
        images,
        lambda plane: ndimage.gaussian_filter(plane, 1.3, mode="nearest", truncate=4),
    )
    np.testing.assert_allclose(output, expected, rtol=0, atol=1e-5)


def _disk(radius):
    """The anti-aliased disk, written out tap by tap."""
    reach = int(np.floor(radius + 0.5))
    kernel = np.zeros((2 * reach + 1, 2 * reach + 1))
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            distance = np.sqrt(dy * dy + dx * dx)
            kernel[dy + reach, dx + reach] = min(max(radius + 0.5 - distance, 0), 1)
    return kernel / kernel.sum()


@pytest.mark.parametrize("radius", [0.7, 2.3])
def test_defocus_blur_correlates_with_an_anti_aliased_disk(images, radius):
    side = min(images.shape[1:3])
    output = to_numpy(DefocusBlur(radius=radius / side)(images))
    kernel = _disk(radius)
    expected = _per_channel(
        images, lambda plane: ndimage.correlate(plane, kernel, mode="nearest")
    )
    np.testing.assert_allclose(output, expected, rtol=0, atol=1e-5)


def _line(sigma, degrees):
    """ImageMagick's taps: weights and `(dy, dx)` offsets along the line."""
    taps = int(np.floor(3 * sigma + 0.5)) + 1
    weights = np.exp(-(np.arange(taps) ** 2) / (2 * sigma**2))
    steps = [
        (
            int(np.ceil(i * np.sin(np.radians(degrees)) - 0.5)),
            int(np.ceil(i * np.cos(np.radians(degrees)) - 0.5)),
        )
        for i in range(taps)
    ]
    return weights / weights.sum(), tuple(steps)


def _motion_blur(image, weights, steps):
    """Motion blur as a loop over the taps of the line, edges repeated."""
    height, width = image.shape[:2]
    output = np.zeros(image.shape)
    for weight, (dy, dx) in zip(weights, steps, strict=True):
        for y in range(height):
            for x in range(width):
                source = min(max(y + dy, 0), height - 1), min(max(x + dx, 0), width - 1)
                output[y, x] += weight * image[source]
    return output


# Angles whose steps i cos t - 0.5 and i sin t - 0.5 stay off the integers,
# where float32 and float64 could round apart.
@pytest.mark.parametrize("degrees", [0.0, 20.0, -45.0, 110.0])
def test_motion_blur_is_the_loop_over_its_line(images, degrees):
    side = min(images.shape[1:3])
    layer = MotionBlur(sigma=1.6 / side, angle=degrees)
    output = to_numpy(layer(images))
    line = _line(1.6, degrees)
    expected = np.stack([_motion_blur(image, *line) for image in images])
    np.testing.assert_allclose(output, expected, rtol=0, atol=1e-5)


def test_motion_blur_draws_an_angle_per_image():
    # A vertical line smeared at 30 to 60 degrees: each image's smear is
    # the loop's for one of the lines of pixels those angles give.
    images = np.zeros((2, 16, 16, 1), "float32")
    images[:, :, 8] = 1.0
    layer = MotionBlur(sigma=2 / 16, angle=(30, 60), seed=1)
    output = to_numpy(layer(images, seed=StepSeed(np.array([1, 2]))))
    lines = {_line(2.0, degrees)[1] for degrees in np.linspace(30, 60, 601)}
    weights = _line(2.0, 45)[0]
    candidates = [_motion_blur(images[0], weights, steps) for steps in lines]
    for image in output:
        assert min(np.abs(image - c).max() for c in candidates) < 1e-5
    assert not np.array_equal(output[0], output[1])


@pytest.mark.parametrize(
    "layer",
    [GaussianBlur(sigma=0.0), DefocusBlur(radius=0.0), MotionBlur(sigma=0.0)],
    ids=["gaussian", "defocus", "motion"],
)
def test_zero_severity_is_the_identity(layer, images):
    np.testing.assert_array_equal(to_numpy(layer(images)), images)


def test_a_blur_keeps_a_flat_image():
    flat = np.full((2, 16, 16, 3), 0.25, "float32")
    for layer in (GaussianBlur(0.15), DefocusBlur(0.2), MotionBlur(0.15, angle=10)):
        np.testing.assert_allclose(to_numpy(layer(flat)), flat, atol=1e-6)
