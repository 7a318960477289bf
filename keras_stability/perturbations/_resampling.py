"""Resampling on `tf.image.resize`'s grid, shared by the crop and the thumbnail.

Internal to the package. Both families resample one axis at a time, with
half-pixel centres, as `tf.image.resize` does without antialiasing.
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
