"""Resampling one axis at a time, shared by the crop, the thumbnail and pixelation.

Internal to the package. The crop and the thumbnail sample with half-pixel
centres, as `tf.image.resize` does without antialiasing; the thumbnail and
pixelation shrink each image to its own size and enlarge it back, one
round-trip matrix per axis.
"""

import numpy as np
from keras import ops


def static_height_width(images, layer):
    """The `(height, width)` of a 4-D batch, which must be known.

    Args:
        images: a batch `(batch, height, width, channels)`.
        layer: the layer that needs them, named in the error.

    Raises:
        ValueError: if the height or the width is `None`.
    """
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None:
        raise ValueError(
            f"`{type(layer).__name__}` needs the image height and width to be "
            f"known when it is called. Received: inputs.shape={images.shape}"
        )
    return int(height), int(width)


def resize_taps(window, size):
    """Where `tf.image.resize` samples to resize `window` pixels to `size`.

    Half-pixel centres, in float32 as TensorFlow computes them: output pixel
    `i` is centred at `c = (i + 0.5) * (window / size)` in the input. The
    nearest neighbour is `floor(c)`; bilinear reads the two pixels around
    `c - 0.5`; samples are clamped to `[0, window - 1]`.

    Returns:
        NumPy arrays of shape `(size,)`: the nearest pixel, the lower and
        upper bilinear taps (all int32), and the upper tap's weight
        (float32).
    """
    scale = np.float32(window / size)
    centres = (np.arange(size, dtype=np.float32) + np.float32(0.5)) * scale
    nearest = np.minimum(np.floor(centres), window - 1).astype("int32")
    coordinates = centres - np.float32(0.5)
    floor = np.floor(coordinates)
    lower = np.maximum(floor, 0).astype("int32")
    upper = np.minimum(np.ceil(coordinates), window - 1).astype("int32")
    fraction = (coordinates - floor).astype("float32")
    return nearest, lower, upper, fraction


def matmul_along_axis(images, matrices, axis):
    """Image `b` times `matrices[b]` `(size, n)` along `axis` (1 or 2).

    A batched matmul: rows (`axis=1`) or columns (`axis=2`) of `n` pixels
    become `size` pixels, in the dtype of `images` and `matrices`.
    """
    equation = "bhwc,bow->bhoc" if axis == 2 else "bhwc,boh->bowc"
    return ops.einsum(equation, images, matrices)


# (build, size, smallest, largest, options) -> `round_trip_matrices`' result.
_ROUND_TRIPS = {}


def round_trip_matrices(build, size, smallest, largest, *options):
    """The round trips `size` -> `t` -> `size` for `t` in `[smallest, largest]`.

    Shrinking and enlarging are linear and separable, so along one axis a
    round trip is a `(size, size)` matrix, `build(size, t, *options)`.

    Args:
        build: a module-level function returning the float64 matrix.
        size: the image's side along the axis.
        smallest: the smallest thumbnail side.
        largest: the largest thumbnail side.
        *options: hashable arguments passed on to `build`.

    Returns:
        The matrices stacked, read-only float32 `(largest - smallest + 1,
        size, size)`, the one of side `t` at index `t - smallest`; computed
        once per argument tuple.
    """
    key = (build, size, smallest, largest, options)
    if key not in _ROUND_TRIPS:
        stack = np.stack(
            [build(size, side, *options) for side in range(smallest, largest + 1)]
        ).astype(np.float32)
        stack.flags.writeable = False
        _ROUND_TRIPS[key] = stack
    return _ROUND_TRIPS[key]


def round_trip_along_axis(images, sides, axis, matrices, smallest):
    """Image `b` times the round trip of side `sides[b]` along `axis`.

    Args:
        images: a batch `(batch, height, width, channels)`.
        sides: int32 `(batch,)`, each image's thumbnail side, kept within
            the sides of `matrices`.
        axis: 1 (rows) or 2 (columns).
        matrices: a stack from `round_trip_matrices`.
        smallest: the side of `matrices[0]`.
    """
    index = ops.clip(sides - smallest, 0, len(matrices) - 1)
    matrix = ops.take(ops.convert_to_tensor(matrices, images.dtype), index, axis=0)
    return matmul_along_axis(images, matrix, axis)
