"""Photometric corruptions of ImageNet-C: `Brightness`, `Contrast`, `Saturate`.

Three corruptions of ImageNet-C (Hendrycks and Dietterich, ICLR 2019) in
`keras.ops`: each maps every pixel by a rule that does not depend on the
image size. Results are clipped to `value_range`, as ImageNet-C clips them.
"""

import keras
import numpy as np
from keras import ops

from keras_stability._checks import check_non_negative
from keras_stability.perturbations._corruption import Corruption
from keras_stability.perturbations._severity import check_interval
from keras_stability.perturbations._severity import check_severity

__all__ = ["Brightness", "Contrast", "Saturate"]

# The luma of ITU-R BT.601, as PIL's "L" mode and `ImageEnhance.Color`.
_LUMA = np.array([0.299, 0.587, 0.114], "float32")


def _scale_around(unit, centre, factor):
    """`centre + factor * (unit - centre)`, a factor `(batch,)` per image."""
    scaled = ops.multiply(ops.subtract(unit, centre), factor[:, None, None, None])
    return ops.add(centre, scaled)


@keras.saving.register_keras_serializable(package="keras_stability")
class Brightness(Corruption):
    """Brightens every image in HSV value: ImageNet-C's brightness.

    ImageNet-C converts to HSV, adds `delta` to the value `V = max(R, G,
    B)` (on `[0, 1]`), clips it to `[0, 1]` and converts back. Hue and
    saturation fixed, the RGB channels are proportional to `V`, so the same
    map is `x * V' / V` without the round trip, and a black pixel (`V = 0`,
    no hue) becomes the gray `V'`; the layer computes it so, for RGB and,
    with `V = x`, for grayscale images alike. A negative `delta` darkens. A
    pair `delta=(a, b)` draws one per image (see `Perturbation`).
    ImageNet-C's severities 1 to 5 are `delta` = 0.1, 0.2, 0.3, 0.4 and 0.5.

    Formula:

    ```
    u = (x - low) / (high - low),  V = max_c u,  V' = clip(V + delta, 0, 1)
    x' = low + (high - low) * (u * V' / V if V > 0 else V')
    ```

    Args:
        delta: float in `[-1, 1]`, or a pair `(a, b)` of them with `a <= b`
            to draw one per image: the shift of the value, as a fraction
            of the range's width. Defaults to `0.2`.
        value_range: pair `(low, high)`, the range of the pixel values.
            Defaults to `(0, 1)`.
        seed: int in `[0, 2**31 - 1]` or `None`, seed of the layer's own
            generator (used only to draw from a pair). Defaults to `None`.
        **kwargs: Passed to `keras.layers.Layer`.

    Returns:
        Called on images, the brightened images in the layer's compute
        dtype.

    Example:

    ```python
    import numpy as np
    from keras_stability.perturbations import Brightness

    pixels = np.array([[[[0.2, 0.4, 0.0], [0.9, 0.6, 0.3]]]], "float32")
    brighter = np.asarray(Brightness(delta=0.2)(pixels))
    # V = 0.4 becomes 0.6 (all channels times 1.5); V = 0.9 becomes 1.
    np.testing.assert_allclose(brighter[0, 0, 0], [0.3, 0.6, 0.0], atol=1e-6)
    np.testing.assert_allclose(brighter[0, 0, 1], [1.0, 2 / 3, 1 / 3], atol=1e-6)
    ```

    Reference:
        - [Hendrycks and Dietterich, "Benchmarking Neural Network Robustness
          to Common Corruptions and Perturbations", ICLR 2019](
          https://arxiv.org/abs/1903.12261)
    """

    severity_name = "delta"

    def __init__(self, delta=0.2, value_range=(0, 1), seed=None, **kwargs):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        self.delta = check_interval(delta, "delta", -1, 1)

    def corrupt(self, unit, severity, seed):
        value = ops.max(unit, axis=-1, keepdims=True)
        brighter = ops.clip(ops.add(value, severity[:, None, None, None]), 0.0, 1.0)
        lit = ops.greater(value, 0.0)
        ratio = ops.divide(brighter, ops.where(lit, value, 1.0))
        return ops.where(lit, ops.multiply(unit, ratio), brighter)


@keras.saving.register_keras_serializable(package="keras_stability")
class Contrast(Corruption):
    """Scales every image around its mean: ImageNet-C's contrast.

    Each channel of each image moves towards its own mean over the image
    (ImageNet-C's means over height and width) by `factor`: 1 keeps the
    image, 0 leaves the flat mean colour, above 1 raises the contrast. A
    pair `factor=(a, b)` draws one per image (see `Perturbation`).
    ImageNet-C's severities 1 to 5 are `factor` = 0.4, 0.3, 0.2, 0.1 and
    0.05 (lower is stronger).

    Formula:

    ```
    m = mean over (height, width) of x, per image and channel
    x' = clip(m + factor * (x - m), low, high)
    ```

    Args:
        factor: float >= 0 (finite in float32), or a pair `(a, b)` of them
            with `a <= b` to draw one per image. Defaults to `0.3`.
        value_range: pair `(low, high)`, the range of the pixel values.
            Defaults to `(0, 1)`.
        seed: int in `[0, 2**31 - 1]` or `None`, seed of the layer's own
            generator (used only to draw from a pair). Defaults to `None`.
        **kwargs: Passed to `keras.layers.Layer`.

    Returns:
        Called on images, the images in the layer's compute dtype.

    Example:

    ```python
    import numpy as np
    from keras_stability.perturbations import Contrast

    images = np.array([0.2, 0.4, 0.6, 0.8], "float32").reshape(1, 2, 2, 1)
    flat = np.asarray(Contrast(factor=0.5)(images))
    np.testing.assert_allclose(flat.ravel(), [0.35, 0.45, 0.55, 0.65], atol=1e-6)
    ```

    Reference:
        - Hendrycks and Dietterich, ICLR 2019 (linked on `Brightness`).
    """

    severity_name = "factor"

    def __init__(self, factor=0.3, value_range=(0, 1), seed=None, **kwargs):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        self.factor = check_severity(factor, "factor", check_non_negative)

    def corrupt(self, unit, severity, seed):
        return _scale_around(unit, ops.mean(unit, axis=(1, 2), keepdims=True), severity)


@keras.saving.register_keras_serializable(package="keras_stability")
class Saturate(Corruption):
    """Scales the colour of every pixel away from its gray: saturation.

    Each RGB pixel moves from its luma `0.299 R + 0.587 G + 0.114 B` (PIL's
    grayscale) by `factor`, as PIL's `ImageEnhance.Color` does: 1 keeps the
    image, 0 makes it gray, above 1 saturates it, and the result is clipped
    to `value_range`. ImageNet-C's saturate scales the HSV saturation
    instead, `S' = clip(S * c0 + c1, 0, 1)`, which keeps each pixel's
    maximum channel where the luma mix keeps its luma; its severities 1 to
    5, `c0` = 0.3, 0.1, 2, 5 and 20 (with `c1` = 0.1 and 0.2 added at 4 and
    5), are `factor = c0` here. Needs RGB images (3 channels). A pair
    `factor=(a, b)` draws one per image (see `Perturbation`).

    Formula:

    ```
    g = 0.299 R + 0.587 G + 0.114 B
    x' = clip(g + factor * (x - g), low, high)
    ```

    Args:
        factor: float >= 0 (finite in float32), or a pair `(a, b)` of them
            with `a <= b` to draw one per image. Defaults to `2.0`.
        value_range: pair `(low, high)`, the range of the pixel values.
            Defaults to `(0, 1)`.
        seed: int in `[0, 2**31 - 1]` or `None`, seed of the layer's own
            generator (used only to draw from a pair). Defaults to `None`.
        **kwargs: Passed to `keras.layers.Layer`.

    Returns:
        Called on images, the images in the layer's compute dtype.

    Example:

    ```python
    import numpy as np
    from keras_stability.perturbations import Saturate

    pixel = np.array([0.6, 0.4, 0.2], "float32").reshape(1, 1, 1, 3)
    gray = np.asarray(Saturate(factor=0.0)(pixel))
    np.testing.assert_allclose(gray.ravel(), [0.437] * 3, atol=1e-6)
    ```

    Reference:
        - Hendrycks and Dietterich, ICLR 2019 (linked on `Brightness`).
    """

    severity_name = "factor"

    def __init__(self, factor=2.0, value_range=(0, 1), seed=None, **kwargs):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        self.factor = check_severity(factor, "factor", check_non_negative)

    def compute_output_shape(self, input_shape):
        shape = super().compute_output_shape(input_shape)
        if shape[-1] is not None and shape[-1] != 3:
            raise ValueError(
                "`Saturate` needs RGB images (3 channels): grayscale has no "
                f"colour to scale. Received: inputs.shape={shape}"
            )
        return shape

    def corrupt(self, unit, severity, seed):
        gray = ops.sum(ops.multiply(unit, _LUMA), axis=-1, keepdims=True)
        return _scale_around(unit, gray, severity)
