"""Blurs: `GaussianBlur`, `DefocusBlur` and `MotionBlur`, sized to the image.

Three corruptions of ImageNet-C (Hendrycks and Dietterich, ICLR 2019) in
`keras.ops`, each length a fraction of the image's shorter side, so that a
severity blurs a 32 x 32 image as it blurs a 224 x 224 one. Pixels beyond
the border repeat the edge pixel; results are clipped to `value_range`.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_stability.perturbations._corruption import Corruption
from keras_stability.perturbations._filtering import filter_per_image
from keras_stability.perturbations._filtering import shift_per_image
from keras_stability.perturbations._resampling import static_height_width
from keras_stability.perturbations._severity import check_interval
from keras_stability.perturbations._severity import per_image
from keras_stability.perturbations._severity import strongest

__all__ = ["DefocusBlur", "GaussianBlur", "MotionBlur"]

# Where the Gaussian of `GaussianBlur` stops, in standard deviations: at
# offsets up to floor(4 sigma + 0.5), as in scipy.ndimage and scikit-image.
_GAUSSIAN_TRUNCATE = 4.0
# Where the half Gaussian of `MotionBlur` stops, in standard deviations.
_MOTION_TRUNCATE = 3.0
# A zero sigma keeps only the centre tap; this keeps the division finite.
_TINY_SIGMA = 1e-6


def _in_pixels(layer, unit, severity):
    """Per-image severities `(batch,)` and the strongest, in pixels.

    Both are fractions of the shorter side of the images `unit`.
    """
    side = min(static_height_width(unit, layer))
    largest = strongest(getattr(layer, layer.severity_name))
    return ops.multiply(severity, side), largest * side


def _gaussian_taps(offsets, sigma, truncate):
    """Gaussian weights at `offsets` per image, cut at `floor(truncate sigma + 0.5)`.

    Args:
        offsets: float32 NumPy array `(taps,)`.
        sigma: float32 `(batch,)`, in pixels.
        truncate: where to stop, in standard deviations.

    Returns:
        float32 `(batch, taps)`, each row summing to 1.
    """
    sigma = ops.maximum(sigma, _TINY_SIGMA)[:, None]
    weights = ops.exp(ops.multiply(-0.5, ops.square(ops.divide(offsets, sigma))))
    reach = ops.floor(ops.add(ops.multiply(sigma, truncate), 0.5))
    weights = ops.where(ops.less_equal(np.abs(offsets), reach), weights, 0.0)
    return ops.divide(weights, ops.sum(weights, axis=1, keepdims=True))


def _disk_kernels(radius, reach):
    """Anti-aliased disks of `radius` pixels, `(batch, 2 reach + 1, 2 reach + 1)`.

    A tap at distance `d` from the centre weighs `clip(radius + 0.5 - d, 0,
    1)`: 1 well inside the disk, 0 outside, a ramp across its edge.
    """
    rows, cols = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    distance = np.hypot(rows, cols).astype("float32")
    weights = ops.clip(ops.subtract(radius[:, None, None] + 0.5, distance), 0.0, 1.0)
    return ops.divide(weights, ops.sum(weights, axis=(1, 2), keepdims=True))


@keras.saving.register_keras_serializable(package="keras_stability")
class GaussianBlur(Corruption):
    """Blurs every image with a Gaussian: ImageNet-C's Gaussian blur.

    Each channel is filtered by a Gaussian of standard deviation `sigma`
    times the image's shorter side, cut at `floor(4 sigma + 0.5)` pixels
    and normalized (scikit-image's `gaussian`, which ImageNet-C uses, with
    its edge mode `"nearest"`). A pair `sigma=(a, b)` draws one per image
    (see `Perturbation`). ImageNet-C's severities 1 to 5, sigma 1, 2, 3, 4
    and 6 pixels on 224 x 224 images, are `sigma = 1/224` to `6/224` here
    (`keras_stability.evaluation.corruption_distortions`).

    Formula:

    ```
    s = sigma * min(H, W),  g(d) = exp(-d^2 / (2 s^2)) for |d| <= floor(4 s + 0.5)
    x' = clip(x * (g / sum g) along rows, then along columns)
    ```

    Args:
        sigma: float in `[0, 1]`, or a pair `(a, b)` of them with `a <= b`
            to draw one per image: the standard deviation as a fraction of
            the shorter side. Defaults to `0.01`.
        value_range: pair `(low, high)`, the range of the pixel values.
            Defaults to `(0, 1)`.
        seed: int in `[0, 2**31 - 1]` or `None`, seed of the layer's own
            generator (used only to draw from a pair). Defaults to `None`.
        **kwargs: Passed to `keras.layers.Layer`.

    Returns:
        Called on images, the blurred images in the layer's compute dtype.

    Example:

    ```python
    import numpy as np
    from keras_stability.perturbations import GaussianBlur

    images = np.zeros((2, 16, 16, 1), "float32")
    images[0, 8, 8, 0] = 1.0
    blurred = np.asarray(GaussianBlur(sigma=1 / 16)(images))  # 1 pixel
    assert abs(blurred.sum() - 1.0) < 1e-5 and blurred[0, 8, 8, 0] < 0.2
    ```

    Reference:
        - [Hendrycks and Dietterich, "Benchmarking Neural Network Robustness
          to Common Corruptions and Perturbations", ICLR 2019](
          https://arxiv.org/abs/1903.12261)
    """

    severity_name = "sigma"

    def __init__(self, sigma=0.01, value_range=(0, 1), seed=None, **kwargs):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        self.sigma = check_interval(sigma, "sigma", 0, 1)

    def corrupt(self, unit, severity, seed):
        sigma, largest = _in_pixels(self, unit, severity)
        reach = int(_GAUSSIAN_TRUNCATE * largest + 0.5)
        if reach > 0:
            offsets = np.arange(-reach, reach + 1, dtype="float32")
            taps = _gaussian_taps(offsets, sigma, _GAUSSIAN_TRUNCATE)
            unit = filter_per_image(unit, taps[:, :, None])
            unit = filter_per_image(unit, taps[:, None, :])
        return unit


@keras.saving.register_keras_serializable(package="keras_stability")
class DefocusBlur(Corruption):
    """Blurs every image with a disk: ImageNet-C's defocus blur.

    Each channel is filtered by a disk of radius `radius` times the image's
    shorter side, normalized. ImageNet-C draws an aliased disk of whole
    pixels and smooths it with a small Gaussian; here a tap at distance `d`
    from the centre weighs `clip(r + 0.5 - d, 0, 1)`, an anti-aliased disk
    that still grows with the radius below a pixel (a disk under half a
    pixel is the identity). Edges are replicated, where ImageNet-C's OpenCV
    filter reflects them. A pair `radius=(a, b)` draws one per image (see
    `Perturbation`). ImageNet-C's severities 1 to 5, radius 3, 4, 6, 8 and
    10 pixels on 224 x 224 images, are `radius = 3/224` to `10/224` here.

    Formula:

    ```
    r = radius * min(H, W),  k(dy, dx) = clip(r + 0.5 - sqrt(dy^2 + dx^2), 0, 1)
    x' = clip(x correlated with k / sum k)
    ```

    Args:
        radius: float in `[0, 1]`, or a pair `(a, b)` of them with `a <= b`
            to draw one per image: the disk's radius as a fraction of the
            shorter side. Defaults to `0.03`.
        value_range: pair `(low, high)`, the range of the pixel values.
            Defaults to `(0, 1)`.
        seed: int in `[0, 2**31 - 1]` or `None`, seed of the layer's own
            generator (used only to draw from a pair). Defaults to `None`.
        **kwargs: Passed to `keras.layers.Layer`.

    Returns:
        Called on images, the blurred images in the layer's compute dtype.

    Example:

    ```python
    import numpy as np
    from keras_stability.perturbations import DefocusBlur

    images = np.zeros((2, 16, 16, 3), "float32")
    images[0, 8, 8] = 1.0
    blurred = np.asarray(DefocusBlur(radius=2 / 16)(images))
    # A disk of radius 2 pixels: the point spreads over 21 of the 5 x 5 taps.
    assert np.count_nonzero(blurred[0, :, :, 0]) == 21
    ```

    Reference:
        - Hendrycks and Dietterich, ICLR 2019 (linked on `GaussianBlur`).
    """

    severity_name = "radius"

    def __init__(self, radius=0.03, value_range=(0, 1), seed=None, **kwargs):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        self.radius = check_interval(radius, "radius", 0, 1)

    def corrupt(self, unit, severity, seed):
        radius, largest = _in_pixels(self, unit, severity)
        reach = math.floor(largest + 0.5)
        if reach > 0:
            unit = filter_per_image(unit, _disk_kernels(radius, reach))
        return unit


@keras.saving.register_keras_serializable(package="keras_stability")
class MotionBlur(Corruption):
    """Smears every image along a line at an angle: ImageNet-C's motion blur.

    ImageNet-C calls ImageMagick's motion blur, which this follows: output
    pixel `p` averages the pixels `p + i (cos t, sin t)`, each rounded to
    the nearest pixel, for `i = 0, 1, 2, ...`, weighted by a half Gaussian
    `exp(-i^2 / (2 s^2))` with `s = sigma` times the image's shorter side;
    the line stops at `floor(3 s + 0.5)` pixels (ImageMagick stops at its
    own `radius` argument: 2.5 to 6.7 standard deviations in ImageNet-C,
    which changes the weights by about a percent). Angles are in degrees:
    0 reads the pixels to the right, 90 those below. Each image draws its
    angle from `angle=(a, b)` (ImageNet-C: `(-45, 45)`) and, from a pair,
    its `sigma` (see `Perturbation`). ImageNet-C's severities 1 to 5, sigma
    3, 5, 8, 12 and 15 pixels on 224 x 224 images, are `sigma = 3/224` to
    `15/224` here.

    Formula:

    ```
    s = sigma * min(H, W),  w_i = exp(-i^2 / (2 s^2)) for 0 <= i <= floor(3 s + 0.5)
    x'(p) = clip(sum_i w_i x(p + round(i (cos t, sin t))) / sum_i w_i)
    ```

    Args:
        sigma: float in `[0, 1]`, or a pair `(a, b)` of them with `a <= b`
            to draw one per image: the length of the smear, as a fraction
            of the shorter side. Defaults to `0.03`.
        angle: float in `[-180, 180]` (degrees), or a pair `(a, b)` of them
            to draw one per image. Defaults to `(-45, 45)`.
        value_range: pair `(low, high)`, the range of the pixel values.
            Defaults to `(0, 1)`.
        seed: int in `[0, 2**31 - 1]` or `None`, seed of the layer's own
            generator, which draws the angles (and the sigmas of a pair).
            Defaults to `None`.
        **kwargs: Passed to `keras.layers.Layer`.

    Returns:
        Called on images, the blurred images in the layer's compute dtype.

    Example:

    ```python
    import numpy as np
    from keras_stability.perturbations import MotionBlur

    images = np.zeros((2, 16, 16, 1), "float32")
    images[0, :, 8] = 1.0  # a vertical line
    blurred = np.asarray(MotionBlur(sigma=2 / 16, angle=0)(images))
    # Smeared to the left only: pixel p reads p, p + 1, ... to its right.
    assert blurred[0, 5, 6, 0] > 0 and blurred[0, 5, 9, 0] == 0
    ```

    Reference:
        - Hendrycks and Dietterich, ICLR 2019 (linked on `GaussianBlur`).
    """

    severity_name = "sigma"

    def __init__(
        self, sigma=0.03, angle=(-45, 45), value_range=(0, 1), seed=None, **kwargs
    ):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        self.sigma = check_interval(sigma, "sigma", 0, 1)
        self.angle = check_interval(angle, "angle", -180, 180)

    def corrupt(self, unit, severity, seed):
        sigma, largest = _in_pixels(self, unit, severity)
        taps = int(_MOTION_TRUNCATE * largest + 0.5) + 1
        angle = ops.multiply(per_image(unit, self.angle, seed), math.pi / 180)
        if taps == 1:
            return unit
        offsets = np.arange(taps, dtype="float32")
        weights = _gaussian_taps(offsets, sigma, _MOTION_TRUNCATE)
        # ImageMagick rounds each step to a pixel as ceil(v - 0.5).
        steps = [
            ops.cast(ops.ceil(ops.multiply(offsets, f(angle)[:, None]) - 0.5), "int32")
            for f in (ops.sin, ops.cos)
        ]
        rows, cols = steps
        blurred = ops.multiply(unit, weights[:, 0, None, None, None])
        for i in range(1, taps):
            shifted = shift_per_image(unit, rows[:, i], cols[:, i])
            blurred = ops.add(
                blurred, ops.multiply(shifted, weights[:, i, None, None, None])
            )
        return blurred

    def get_config(self):
        config = super().get_config()
        config.update({"angle": self.angle})
        return config
