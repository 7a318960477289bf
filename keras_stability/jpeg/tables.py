"""The quantization tables of JPEG, scaled by quality as libjpeg scales them."""

import numpy as np
from keras import ops

from keras_stability._checks import check_jpeg_quality

__all__ = ["quantization_tables"]

# The example tables of the JPEG standard (ITU-T T.81, Annex K.1) that libjpeg
# scales by quality, in natural (row-major) order.
LUMINANCE_TABLE = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype="int32",
)
CHROMINANCE_TABLE = np.full((8, 8), 99, dtype="int32")
CHROMINANCE_TABLE[:4, :4] = [
    [17, 18, 24, 47],
    [18, 21, 26, 66],
    [24, 26, 56, 99],
    [47, 66, 99, 99],
]


def quantization_tables(quality):
    """The luminance and chrominance tables libjpeg uses at a given quality.

    Scales the JPEG standard's example tables the way libjpeg's
    `jpeg_set_quality(cinfo, quality, force_baseline=TRUE)` does (as
    TensorFlow's `encode_jpeg` calls it): quality is clipped to `[1, 100]`
    (so 0 acts as 1, as in libjpeg), turned into a percentage, and each
    entry is scaled with rounding and kept in the 8-bit baseline range.

    Formula:

    ```
    q = clip(quality, 1, 100)
    scale = 5000 // q if q < 50 else 200 - 2 * q
    table = clip((base * scale + 50) // 100, 1, 255)
    ```

    Args:
        quality: int tensor of any shape, e.g. `(batch,)` or a scalar, with
            values in `[0, 100]`. Python and NumPy values are checked; a
            tensor's values cannot be checked in a graph, and are clipped to
            `[1, 100]` as in the formula.

    Returns:
        A pair `(luminance, chrominance)` of int32 tensors of shape
        `quality.shape + (8, 8)`, in natural (row-major) order.

    Raises:
        ValueError: if a Python or NumPy `quality` is not an integer in
            `[0, 100]`.

    Example:

    ```python
    import numpy as np
    from keras import ops
    from keras_stability.jpeg import quantization_tables

    luminance, chrominance = quantization_tables(np.array([50, 100]))
    assert ops.convert_to_numpy(luminance)[0, 0, 0] == 16
    assert np.all(ops.convert_to_numpy(chrominance)[1] == 1)
    ```
    """
    check_jpeg_quality(quality)
    quality = ops.clip(ops.cast(quality, "int32"), 1, 100)
    scale = ops.where(quality < 50, ops.floor_divide(5000, quality), 200 - 2 * quality)
    scale = ops.expand_dims(ops.expand_dims(scale, -1), -1)

    def scaled(base):
        base = ops.convert_to_tensor(base, "int32")
        return ops.clip(ops.floor_divide(base * scale + 50, 100), 1, 255)

    return scaled(LUMINANCE_TABLE), scaled(CHROMINANCE_TABLE)
