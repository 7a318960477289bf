"""`Pixelate`: ImageNet-C's pixelation, a box-filtered thumbnail in blocks."""

import math

import keras
import numpy as np
from keras import ops

from keras_stability.perturbations._corruption import Corruption
from keras_stability.perturbations._resampling import round_trip_along_axis
from keras_stability.perturbations._resampling import round_trip_matrices
from keras_stability.perturbations._resampling import static_height_width
from keras_stability.perturbations._severity import check_interval

__all__ = ["Pixelate"]

# Lifts `scale * side` over float32 rounding before the floor (0.57 * 100
# is 56.99... in floating point).
_SIDE_EPSILON = 1e-4


def _side(scale, size):
    """The thumbnail side: `floor(scale * size)`, at least 1."""
    return max(1, math.floor(scale * size + _SIDE_EPSILON))


def _box_down(size, side):
    """PIL's `BOX` resize from `size` to `side` pixels, a float64 `(side, size)` matrix.

    Thumbnail pixel `j` averages the input pixels whose centres fall in its
    cell, about `(j * s, (j + 1) * s]` with `s = size / side`, computed
    exactly as Pillow's `precompute_coeffs` computes it (its window
    `[xmin, xmax)` settles the pixels on a cell's edge).
    """
    scale = size / side
    support = 0.5 * scale
    centres = (np.arange(side) + 0.5) * scale
    xmin = np.maximum((centres - support + 0.5).astype(int), 0)
    xmax = np.minimum((centres + support + 0.5).astype(int), size)
    pixels = np.arange(size)[None, :]
    # Pillow's box filter takes -0.5 < t <= 0.5, t = (x + 0.5 - centre) / scale.
    offsets = (pixels - centres[:, None] + 0.5) / scale
    inside = (pixels >= xmin[:, None]) & (pixels < xmax[:, None])
    matrix = (inside & (offsets > -0.5) & (offsets <= 0.5)).astype(np.float64)
    return matrix / matrix.sum(axis=1, keepdims=True)


def _nearest_up(size, side):
    """PIL's `BOX` resize from `side` up to `size`: nearest, `(size, side)`."""
    nearest = np.floor((np.arange(size) + 0.5) * (side / size)).astype(int)
    matrix = np.zeros((size, side))
    matrix[np.arange(size), np.minimum(nearest, side - 1)] = 1
    return matrix


def _round_trip(size, side):
    return _nearest_up(size, side) @ _box_down(size, side)


@keras.saving.register_keras_serializable(package="keras_stability")
class Pixelate(Corruption):
    """Shrinks every image with a box filter and enlarges it in blocks.

    ImageNet-C's pixelation: each side is shrunk to `floor(scale * side)`
    pixels (at least 1), each thumbnail pixel the mean of the input pixels
    whose centres fall in its cell (PIL's `BOX` filter), then enlarged back
    to the image size by nearest neighbour, so every block of about
    `1 / scale` pixels takes its mean. ImageNet-C runs PIL on 8-bit images,
    which rounds after each pass; this layer does not round. `scale` is a
    fraction of the size, so a severity means the same at every size, and
    `scale=1` is the identity. A pair `scale=(a, b)` draws one per image
    (see `Perturbation`); each thumbnail side in between has its matrices,
    `H x H` and `W x W`. ImageNet-C's severities 1 to 5 are `scale` = 0.6,
    0.5, 0.4, 0.3 and 0.25 (lower is stronger).

    Formula:

    ```
    (h, w) = (max(1, floor(scale * H)), max(1, floor(scale * W)))
    x' = nearest(box(x, (h, w)), (H, W))
    ```

    Args:
        scale: float in `(0, 1]`, or a pair `(a, b)` of them with `a <= b`
            to draw one per image: the thumbnail size as a fraction of the
            image size. Defaults to `0.5`.
        value_range: pair `(low, high)`, the range of the pixel values.
            Defaults to `(0, 1)`.
        seed: int in `[0, 2**31 - 1]` or `None`, seed of the layer's own
            generator (used only to draw from a pair). Defaults to `None`.
        **kwargs: Passed to `keras.layers.Layer`.

    Returns:
        Called on images, the pixelated images in the layer's compute dtype.

    Example:

    ```python
    import numpy as np
    from keras_stability.perturbations import Pixelate

    images = np.arange(16, dtype="float32").reshape(1, 4, 4, 1) / 15
    blocks = np.asarray(Pixelate(scale=0.5)(images))[0, :, :, 0] * 15
    np.testing.assert_allclose(blocks[:2, :2], 2.5, atol=1e-5)  # 0, 1, 4, 5
    np.testing.assert_allclose(blocks[2:, 2:], 12.5, atol=1e-5)  # 10, 11, 14, 15
    ```

    Reference:
        - [Hendrycks and Dietterich, "Benchmarking Neural Network Robustness
          to Common Corruptions and Perturbations", ICLR 2019](
          https://arxiv.org/abs/1903.12261)
    """

    severity_name = "scale"

    def __init__(self, scale=0.5, value_range=(0, 1), seed=None, **kwargs):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        self.scale = check_interval(scale, "scale", 0, 1, include_low=False)

    def corrupt(self, unit, severity, seed):
        height, width = static_height_width(unit, self)
        low, high = self.scale if isinstance(self.scale, tuple) else (self.scale,) * 2
        for axis, size in ((1, height), (2, width)):
            smallest, largest = _side(low, size), _side(high, size)
            if smallest == largest == size:
                continue
            matrices = round_trip_matrices(_round_trip, size, smallest, largest)
            sides = ops.floor(ops.add(ops.multiply(severity, size), _SIDE_EPSILON))
            sides = ops.cast(ops.maximum(sides, 1), "int32")
            unit = round_trip_along_axis(unit, sides, axis, matrices, smallest)
        return unit
