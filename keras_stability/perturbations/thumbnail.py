"""`ThumbnailResize`: the paper's thumb-A, a thumbnail scaled back up."""

import math

import keras
import numpy as np
from keras import ops

from keras_stability._checks import check_bool
from keras_stability._checks import check_size
from keras_stability._checks import is_int
from keras_stability._checks import is_number
from keras_stability.perturbations._resampling import resize_taps
from keras_stability.perturbations._resampling import round_trip_along_axis
from keras_stability.perturbations._resampling import round_trip_matrices
from keras_stability.perturbations._resampling import static_height_width
from keras_stability.perturbations._severity import check_severity
from keras_stability.perturbations.base import Perturbation

__all__ = ["ThumbnailResize"]

_RESIZE_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5")


def _check_scale(scale):
    """`scale` as given: a number in `(0, 1]`, or a pair of them as a tuple."""
    pair = isinstance(scale, (list, tuple))

    def check(value, name):
        if is_number(value) and 0 < value <= 1:
            return float(value) if pair else value
        expected = (
            "a pair (a, b) of numbers in (0, 1] with a <= b" if pair else "in (0, 1]"
        )
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={scale!r}")

    return check_severity(scale, "scale", check)


def _scaled_size(scale, height, width):
    """The thumbnail size for `scale`: each side rounded half up, at least 1."""
    return (
        max(1, math.floor(scale * height + 0.5)),
        max(1, math.floor(scale * width + 0.5)),
    )


def _resize_matrix(window, size, interpolation):
    """`tf.image.resize` of `window` pixels to `size` along one axis, as a matrix.

    Returns a float64 `(size, window)` matrix: output pixel `i` is row `i`
    times the input (`resize_taps`, no antialiasing).
    """
    nearest, lower, upper, fraction = resize_taps(window, size)
    rows = np.arange(size)
    matrix = np.zeros((size, window))
    if interpolation == "nearest":
        matrix[rows, nearest] = 1
    else:
        fraction = fraction.astype(np.float64)
        np.add.at(matrix, (rows, lower), 1 - fraction)
        np.add.at(matrix, (rows, upper), fraction)
    return matrix


def _round_trip(size, side, interpolation):
    """`size` -> `side` -> `size` along one axis, as a float64 matrix."""
    return _resize_matrix(side, size, interpolation) @ _resize_matrix(
        size, side, interpolation
    )


def _thumbnail_axis(images, scales, axis, size, sides, interpolation):
    """Shrinks each image along `axis` to its own side and enlarges it back.

    Image `b` gets the side `max(1, floor(scales[b] * size + 0.5))`, rounded
    as `_scaled_size` rounds (in float32), and kept within `sides`, the
    smallest and largest side of the range. Its round trip is its matrix,
    applied as a batched matmul.
    """
    smallest, largest = sides
    matrices = round_trip_matrices(_round_trip, size, smallest, largest, interpolation)
    side = ops.maximum(ops.floor(ops.add(ops.multiply(scales, size), 0.5)), 1)
    return round_trip_along_axis(
        images, ops.cast(side, "int32"), axis, matrices, smallest
    )


# Interpolations a `scale` range resamples with (as matrices, no antialias).
_RANGE_INTERPOLATIONS = ("bilinear", "nearest")


@keras.saving.register_keras_serializable(package="keras_stability")
class ThumbnailResize(Perturbation):
    """Shrinks every image to a thumbnail and scales it back up: thumb-A.

    The images are shrunk with `keras.ops.image.resize` to the thumbnail
    size, without antialiasing unless `antialias=True`, then enlarged back
    to their own `(H, W)` with the same interpolation. Give the thumbnail
    either as `size` (an int `A` for `A x A`, or a pair `(h, w)`, at most
    the image size) or as `scale`, a fraction of the image size, each side
    rounded half up and at least 1 pixel, so a small `scale` gives the
    coarsest thumbnail there is rather than an error (e.g. `scale=0.01` on
    20 x 30 images gives 1 x 1). Neither given means `scale=0.5`. A
    thumbnail of the image size (e.g. `scale=1`) is the identity. With
    `size` or a single `scale` the layer is deterministic: the seed is never
    used. It needs the image height and width when it is called.

    A pair `scale=(a, b)` draws one scale per image (see `Perturbation`),
    and so one thumbnail size per image, rounded as above. Each image's
    round trip is then applied as a resampling matrix per axis, with the
    sampling of TensorFlow's resize (half-pixel centres), so a range takes
    only `"bilinear"` and `"nearest"`, without `antialias`. Every size from
    `a`'s to `b`'s has its matrices, `H x H` and `W x W`: a wide range on
    large images holds many of them.

    Bilinear and nearest resampling stay within the input's range; bicubic
    and Lanczos may overshoot it, and nothing is clipped.

    Formula:

    ```
    (h, w) = size, or (max(1, floor(scale * H + 0.5)),
                       max(1, floor(scale * W + 0.5)))
    x' = resize(resize(x, (h, w), antialias), (H, W))
    ```

    Args:
        size: int `A` or pair `(height, width)` of ints >= 1, the thumbnail
            size, at most the image size. Defaults to `None`.
        scale: float in `(0, 1]`, the thumbnail size as a fraction of the
            image size, or a pair `(a, b)` of them with `a <= b` to draw one
            per image. Defaults to `None` (and to `0.5` if `size` is also
            `None`).
        interpolation: one of `"bilinear"`, `"nearest"`, `"bicubic"`,
            `"lanczos3"`, `"lanczos5"` (with a `scale` pair, one of the
            first two), used both ways. Defaults to `"bilinear"`.
        antialias: bool, whether to low-pass filter the images before
            shrinking them, as image tools do when they make thumbnails (no
            effect with `"nearest"`, as in `tf.image.resize`; must be `False`
            with a `scale` pair). Defaults to `False`.
        value_range: pair `(low, high)`, the range of the pixel values.
            Defaults to `(0, 1)`.
        seed: int in `[0, 2**31 - 1]` or `None`, seed of the layer's own
            generator (used only to draw scales from a pair). Defaults to
            `None`.
        **kwargs: Passed to `keras.layers.Layer`.

    Returns:
        Called on images, the blurred images in the layer's compute dtype.

    Example:

    ```python
    import numpy as np
    from keras_stability.perturbations import ThumbnailResize

    layer = ThumbnailResize(size=16)
    images = np.random.default_rng(0).random((2, 64, 64, 3), dtype="float32")
    blurred = np.asarray(layer(images))
    assert blurred.shape == (2, 64, 64, 3)
    ```

    Reference:
        - Zheng et al., CVPR 2016: the "thumb-A" distortion
          (the paper is linked on `Perturbation`).
    """

    def __init__(
        self,
        size=None,
        scale=None,
        interpolation="bilinear",
        antialias=False,
        value_range=(0, 1),
        seed=None,
        **kwargs,
    ):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        if size is not None and scale is not None:
            raise ValueError(
                "Give either `size` or `scale`, not both. "
                f"Received: size={size!r}, scale={scale!r}"
            )
        if size is not None:
            size = check_size(size, "size", allow_int=True)
        if scale is not None:
            scale = _check_scale(scale)
        if interpolation not in _RESIZE_INTERPOLATIONS:
            raise ValueError(
                f"`interpolation` must be one of {_RESIZE_INTERPOLATIONS}. "
                f"Received: interpolation={interpolation!r}"
            )
        antialias = check_bool(antialias, "antialias")
        if isinstance(scale, tuple) and (
            antialias or interpolation not in _RANGE_INTERPOLATIONS
        ):
            raise ValueError(
                "A `scale` range resamples with interpolation 'bilinear' or "
                "'nearest' and antialias=False. Received: "
                f"scale={scale!r}, interpolation={interpolation!r}, "
                f"antialias={antialias!r}"
            )
        self.size = size
        self.scale = scale
        self.interpolation = interpolation
        self.antialias = antialias

    def thumbnail_size(self, height, width):
        """The `(height, width)` of the thumbnail for images of that size.

        Raises:
            ValueError: if `size` is larger than `(height, width)` in either
                dimension, or if `scale` is a range (each image gets its own
                size then).
        """
        if isinstance(self.scale, tuple):
            low, high = self.scale
            raise ValueError(
                "With a `scale` range every image gets its own thumbnail size, "
                f"from {_scaled_size(low, height, width)} to "
                f"{_scaled_size(high, height, width)} here. "
                f"Received: scale={self.scale!r}"
            )
        if self.size is not None:
            size = (self.size, self.size) if is_int(self.size) else self.size
            if size[0] > height or size[1] > width:
                raise ValueError(
                    "`size` must not be larger than the image in either "
                    "dimension (a thumbnail shrinks it). Received: "
                    f"size={self.size!r} for images of height={height} and "
                    f"width={width}"
                )
            return size
        return _scaled_size(0.5 if self.scale is None else self.scale, height, width)

    def compute_output_shape(self, input_shape):
        shape = super().compute_output_shape(input_shape)
        height, width = shape[-3:-1]
        # Every scale in (0, 1] fits: only `size` can be too large.
        if height is not None and width is not None and self.size is not None:
            self.thumbnail_size(height, width)
        return shape

    def perturb(self, images, seed):
        height, width = static_height_width(images, self)
        if isinstance(self.scale, tuple):
            return self._perturb_scale_range(images, seed, height, width)
        thumbnail = self.thumbnail_size(height, width)
        if tuple(thumbnail) == (height, width):
            return images
        resize_options = {
            "interpolation": self.interpolation,
            "data_format": "channels_last",
        }
        small = ops.image.resize(
            images, thumbnail, antialias=self.antialias, **resize_options
        )
        return ops.image.resize(small, (height, width), **resize_options)

    def _perturb_scale_range(self, images, seed, height, width):
        low, high = self.scale
        smallest = _scaled_size(low, height, width)
        largest = _scaled_size(high, height, width)
        if smallest == largest == (height, width):
            return images
        scales = keras.random.uniform(
            (ops.shape(images)[0],), low, high, dtype="float32", seed=seed
        )
        # Columns first, then rows, as for a single scale; an axis that
        # keeps its size for every scale of the range is left alone.
        for axis, size, side in ((2, width, 1), (1, height, 0)):
            sides = (smallest[side], largest[side])
            if sides != (size, size):
                images = _thumbnail_axis(
                    images, scales, axis, size, sides, self.interpolation
                )
        return images

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "size": self.size,
                "scale": self.scale,
                "interpolation": self.interpolation,
                "antialias": self.antialias,
            }
        )
        return config
