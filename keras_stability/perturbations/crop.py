"""`RandomCropOffset`: the paper's crop-o, a shifted window resized back."""

import keras
import numpy as np
from keras import ops

from keras_stability._checks import is_int
from keras_stability.perturbations._resampling import matmul_along_axis
from keras_stability.perturbations._resampling import resize_taps
from keras_stability.perturbations._resampling import static_height_width
from keras_stability.perturbations._severity import check_severity
from keras_stability.perturbations._severity import is_range
from keras_stability.perturbations._severity import strongest
from keras_stability.perturbations.base import Perturbation

__all__ = ["RandomCropOffset"]

_CROP_INTERPOLATIONS = ("bilinear", "nearest")


def _crop_resize_axis(images, offsets, axis, size, window, interpolation, choice=None):
    """Resamples `window` pixels from `offsets` along `axis` back to `size`.

    Same sampling grid as `tf.image.resize` (`resize_taps`). `window` is an
    int, the same for every image, or a tuple of ints together with
    `choice`, an int tensor `(batch,)`: image `b` resamples
    `window[choice[b]]` pixels. `offsets` `(batch,)` is where each image's
    window starts.
    """
    windows = (window,) if choice is None else window
    taps = [resize_taps(w, size) for w in windows]
    # Nearest, lower, upper, fraction: one row per window.
    tables = [np.stack([t[k] for t in taps]) for k in range(4)]
    if choice is not None:
        # One row of taps per image; static shapes, so XLA compiles it.
        tables = [ops.take(table, choice, axis=0) for table in tables]
    nearest, lower, upper, fraction = tables
    # In the images' dtype, so the output stays in the compute dtype.
    fraction = ops.cast(fraction, images.dtype)
    axis_shape = [1, 1, 1, 1]
    axis_shape[axis] = size
    start = ops.expand_dims(offsets, 1)

    if interpolation == "nearest":
        index = ops.reshape(ops.add(start, nearest), [-1] + axis_shape[1:])
        return ops.take_along_axis(images, index, axis=axis)
    # Bilinear as a per-image (size x size) interpolation matrix: one
    # batched matmul rather than two gathers per axis.
    fraction = ops.expand_dims(fraction, -1)
    matrix = ops.add(
        ops.multiply(
            ops.one_hot(start + lower, size, dtype=images.dtype),
            ops.subtract(1, fraction),
        ),
        ops.multiply(ops.one_hot(start + upper, size, dtype=images.dtype), fraction),
    )
    return matmul_along_axis(images, matrix, axis)


@keras.saving.register_keras_serializable(package="keras_stability")
class RandomCropOffset(Perturbation):
    """Crops a slightly shifted window and resizes it back: the paper's crop-o.

    For images of size `(H, W)` and `o = max_offset`, every image gets its
    own window of size `(H - o, W - o)` whose top-left corner `(dy, dx)` is
    drawn uniformly from the integers `{0, ..., o} x {0, ..., o}` (so the
    window shifts by whole pixels, as in the paper), and the window is
    resized back to `(H, W)`. The result equals cropping
    `image[dy:dy + H - o, dx:dx + W - o]` and calling `tf.image.resize` on it
    (half-pixel centres, samples clamped to the window); `max_offset=0` is
    the identity.

    A pair `max_offset=(a, b)` first draws each image's own offset budget
    `o` from the integers `{a, ..., b}` (see `Perturbation`), then a window
    and a corner as above for that `o`.

    It is written with gathers and a batched matmul in `keras.ops` (not
    `keras.ops.image.affine_transform`, whose TensorFlow kernel XLA cannot
    compile), so it runs batched and under XLA on every backend. It needs
    the image height and width when it is called, larger than the largest
    offset. Resampling stays within the range of the input, so nothing is
    clipped.

    Formula:

    ```
    x'[i, j] = resize(x[dy:dy + H - o, dx:dx + W - o], (H, W))[i, j],
    (dy, dx) ~ U({0, ..., o}^2)
    ```

    Args:
        max_offset: int >= 0, the largest shift `o` of the window in pixels,
            which also makes the window `o` pixels smaller than the image;
            or a pair `(a, b)` of them with `a <= b` to draw one per image.
            Defaults to `4`.
        interpolation: `"bilinear"` or `"nearest"`, how the window is
            resized back. Defaults to `"bilinear"`.
        value_range: pair `(low, high)`, the range of the pixel values.
            Defaults to `(0, 1)`.
        seed: int in `[0, 2**31 - 1]` or `None`, seed of the layer's own
            generator, which draws the corners (and the per-image offset
            budgets). Defaults to `None`.
        **kwargs: Passed to `keras.layers.Layer`.

    Returns:
        Called on images, the shifted images in the layer's compute dtype.

    Example:

    ```python
    import numpy as np
    from keras_stability.perturbations import RandomCropOffset

    layer = RandomCropOffset(max_offset=10, seed=1)
    images = np.random.default_rng(0).random((4, 64, 64, 3), dtype="float32")
    shifted = np.asarray(layer(images))
    assert shifted.shape == (4, 64, 64, 3)
    assert shifted.min() >= images.min() and shifted.max() <= images.max()
    ```

    Reference:
        - Zheng et al., CVPR 2016: the "crop-o" distortion
          (the paper is linked on `Perturbation`).
    """

    def __init__(
        self,
        max_offset=4,
        interpolation="bilinear",
        value_range=(0, 1),
        seed=None,
        **kwargs,
    ):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        max_offset = _check_max_offset(max_offset)
        if interpolation not in _CROP_INTERPOLATIONS:
            raise ValueError(
                f"`interpolation` must be one of {_CROP_INTERPOLATIONS}. "
                f"Received: interpolation={interpolation!r}"
            )
        self.max_offset = max_offset
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape):
        shape = super().compute_output_shape(input_shape)
        self._check_offset(*shape[-3:-1])
        return shape

    def _check_offset(self, height, width):
        offset = strongest(self.max_offset)
        if any(size is not None and offset >= size for size in (height, width)):
            which = (
                "The upper end of `max_offset`"
                if isinstance(self.max_offset, tuple)
                else "`max_offset`"
            )
            raise ValueError(
                f"{which} must be smaller than the image height and width. "
                f"Received: max_offset={self.max_offset!r} for images of "
                f"height={height} and width={width}"
            )

    def perturb(self, images, seed):
        # `_to_batch` has checked the offset against the image.
        height, width = static_height_width(images, self)
        if is_range(self.max_offset):
            return self._perturb_offset_range(images, seed, height, width)
        offset = strongest(self.max_offset)
        corners = keras.random.randint(
            (ops.shape(images)[0], 2), 0, offset + 1, dtype="int32", seed=seed
        )
        # Columns first, then rows: the order `tf.image.resize` interpolates in.
        images = _crop_resize_axis(
            images, corners[:, 1], 2, width, width - offset, self.interpolation
        )
        return _crop_resize_axis(
            images, corners[:, 0], 1, height, height - offset, self.interpolation
        )

    def _perturb_offset_range(self, images, seed, height, width):
        low, high = self.max_offset
        batch = ops.shape(images)[0]
        offsets = keras.random.randint(
            (batch, 1), low, high + 1, dtype="int32", seed=seed
        )
        # Corner uniform in {0, ..., o}: floor(u * (o + 1)) for u ~ U[0, 1),
        # capped at o against float32 rounding up.
        unit = keras.random.uniform((batch, 2), dtype="float32", seed=seed)
        corners = ops.cast(
            ops.floor(ops.multiply(unit, ops.cast(offsets + 1, "float32"))), "int32"
        )
        corners = ops.minimum(corners, offsets)
        choice = offsets[:, 0] - low
        budgets = range(low, high + 1)
        images = _crop_resize_axis(
            images,
            corners[:, 1],
            2,
            width,
            tuple(width - o for o in budgets),
            self.interpolation,
            choice,
        )
        return _crop_resize_axis(
            images,
            corners[:, 0],
            1,
            height,
            tuple(height - o for o in budgets),
            self.interpolation,
            choice,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {"max_offset": self.max_offset, "interpolation": self.interpolation}
        )
        return config


def _check_max_offset(max_offset):
    """`max_offset` as an int >= 0, or a pair `(a, b)` of them as a tuple."""
    pair = isinstance(max_offset, (list, tuple))

    def check(value, name):
        if is_int(value) and value >= 0:
            return int(value)
        expected = "a pair (a, b) of ints >= 0 with a <= b" if pair else "an int >= 0"
        raise ValueError(
            f"`{name}` must be {expected}. Received: {name}={max_offset!r}"
        )

    return check_severity(max_offset, "max_offset", check)
