"""Per-image filters and shifts with replicated edges, for the blurs.

Internal to the package. Each image of a batch gets its own kernel (its
own severity, drawn per image); pixels beyond the border repeat the edge
pixel, as `scipy.ndimage`'s `mode="nearest"` does.
"""

import numpy as np
from keras import ops


def filter_per_image(images, kernels):
    """Correlates image `b` with `kernels[b]`, edges replicated.

    The batch is folded into the channels, so one depthwise convolution
    filters every image with its own kernel (shared by its channels).

    Args:
        images: float32 `(batch, height, width, channels)`, static height,
            width and channels.
        kernels: float32 `(batch, kernel_height, kernel_width)`, odd static
            sizes; the output pixel reads the input around it, weighted by
            the kernel centred on it.

    Returns:
        float32 `(batch, height, width, channels)`.
    """
    _, height, width, channels = images.shape
    kernel_height, kernel_width = kernels.shape[1], kernels.shape[2]
    pad_height, pad_width = kernel_height // 2, kernel_width // 2
    rows = np.clip(np.arange(-pad_height, height + pad_height), 0, height - 1)
    cols = np.clip(np.arange(-pad_width, width + pad_width), 0, width - 1)
    padded = ops.take(ops.take(images, rows, axis=1), cols, axis=2)
    # (1, height', width', batch * channels): image b's channels side by side.
    folded = ops.reshape(
        ops.transpose(padded, (1, 2, 0, 3)),
        (1, height + 2 * pad_height, width + 2 * pad_width, -1),
    )
    depthwise = ops.reshape(
        ops.repeat(ops.transpose(kernels, (1, 2, 0))[..., None], channels, axis=-1),
        (kernel_height, kernel_width, -1, 1),
    )
    filtered = ops.depthwise_conv(folded, depthwise, strides=1, padding="valid")
    return ops.transpose(
        ops.reshape(filtered, (height, width, -1, channels)), (2, 0, 1, 3)
    )


def shift_per_image(images, rows, cols):
    """Image `b` read at `(y + rows[b], x + cols[b])`, clamped to the image.

    Args:
        images: `(batch, height, width, channels)`, static height and width.
        rows: int32 `(batch,)`, the vertical offsets (positive: read below).
        cols: int32 `(batch,)`, the horizontal offsets (positive: read right).

    Returns:
        A tensor like `images`.
    """
    _, height, width, channels = images.shape
    y = ops.clip(ops.arange(height, dtype="int32")[None] + rows[:, None], 0, height - 1)
    x = ops.clip(ops.arange(width, dtype="int32")[None] + cols[:, None], 0, width - 1)
    flat = ops.reshape(y[:, :, None] * width + x[:, None, :], (-1, height * width, 1))
    pixels = ops.reshape(images, (-1, height * width, channels))
    return ops.reshape(
        ops.take_along_axis(pixels, flat, axis=1), (-1, height, width, channels)
    )
