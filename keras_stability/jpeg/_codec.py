"""The lossy steps of baseline JPEG, with libjpeg's integer arithmetic.

Internal to `keras_stability.jpeg.dct`: colour conversion, 4:2:0 chroma
subsampling and fancy upsampling, 8x8 blocks, libjpeg's accurate integer
forward DCT, its quantizer and its fast integer inverse DCT, in `keras.ops`
on whole batches. Every function takes and returns float32 or int32 tensors
of 8-bit levels; `dct_compress` documents the steps in order.
"""

import numpy as np
from keras import ops


class Rounding:
    """Roundings that are exact forward and, if asked, identity backward."""

    def __init__(self, straight_through):
        self.straight_through = straight_through

    def replace(self, x, exact):
        """`exact`, with the gradient of `x` if straight through."""
        if self.straight_through:
            return x + ops.stop_gradient(exact - x)
        return exact

    def floor(self, x):
        return self.replace(x, ops.floor(x))

    def shift(self, x, bits):
        """libjpeg's `RIGHT_SHIFT(x, bits)` of an integer: `floor(x / 2**bits)`."""
        return self.floor(x * np.float32(2.0**-bits))


def gray_round_trip(levels, luminance, rounding):
    """Grayscale levels `(batch, h, w, 1)` through a JPEG codec: one plane."""
    height, width = levels.shape[1:3]
    blocks, shape = _to_blocks(_pad_to_blocks(levels[..., 0]))
    blocks = _codec_blocks(blocks, _block_tables(luminance), rounding)
    decoded = _from_blocks(blocks, shape)
    return ops.expand_dims(decoded[:, 0, :height, :width], -1)


def _pad_edge(x, axis, size):
    """Pads `axis` of `x` to `size` by repeating its last entry."""
    extra = size - x.shape[axis]
    if extra == 0:
        return x
    last = _slice(x, axis, x.shape[axis] - 1, None)
    return ops.concatenate([x, ops.repeat(last, extra, axis=axis)], axis=axis)


def _slice(x, axis, start, stop):
    """`x[..., start:stop, ...]` along `axis` (from the front)."""
    return x[(slice(None),) * axis + (slice(start, stop),)]


def _round_up(value, multiple):
    return -(-value // multiple) * multiple


def _pad_to_blocks(plane):
    """Replicates the edges of `(batch, h, w)` to whole 8x8 blocks.

    Returns `(batch, 1, h', w')`, `h'` and `w'` rounded up to multiples of 8.
    """
    height, width = plane.shape[1:]
    plane = _pad_edge(_pad_edge(plane, 1, _round_up(height, 8)), 2, _round_up(width, 8))
    return ops.expand_dims(plane, 1)


def _to_blocks(planes):
    """Cuts `(batch, p, h, w)` planes into 8x8 blocks.

    The blocks come as `(8, 8, batch, n)`, `n = p * h / 8 * w / 8`: the
    pixel indices lead and the blocks are the minor axes, so the butterflies
    of the DCTs work on long contiguous vectors. Also returns `(p, h, w)`.
    """
    shape = tuple(planes.shape[1:])
    num_planes, height, width = shape
    blocks = ops.reshape(planes, (-1, num_planes, height // 8, 8, width // 8, 8))
    blocks = ops.transpose(blocks, (3, 5, 0, 1, 2, 4))
    num_blocks = num_planes * (height // 8) * (width // 8)
    return ops.reshape(blocks, (8, 8, -1, num_blocks)), shape


def _from_blocks(blocks, shape):
    """Inverse of `_to_blocks`."""
    num_planes, height, width = shape
    blocks = ops.reshape(blocks, (8, 8, -1, num_planes, height // 8, width // 8))
    blocks = ops.transpose(blocks, (2, 3, 4, 0, 5, 1))
    return ops.reshape(blocks, (-1, num_planes, height, width))


def _block_tables(table):
    """A table `(batch, 8, 8)` or `(8, 8)` laid out as blocks: `(8, 8, batch, 1)`."""
    if len(table.shape) == 2:
        return ops.reshape(table, (8, 8, 1, 1))
    return ops.expand_dims(ops.transpose(table, (1, 2, 0)), -1)


def _codec_blocks(blocks, tables, rounding):
    """Forward DCT, quantization and inverse DCT of 8x8 blocks of levels.

    All in int32 with libjpeg's own arithmetic: its accurate forward DCT,
    its quantizer (8 x the coefficient divided by 8 x the table entry,
    rounded half away from zero), and its fast inverse DCT.

    Straight through, the whole block transform is the identity: the DCT is
    orthonormal and the division by the table is undone by the
    multiplication, once each rounding passes its gradient unchanged.

    Args:
        blocks: float tensor `(8, 8, batch, n)` of 8-bit levels (integers).
        tables: int32 tensor broadcastable to it, the quantization table of
            each block.
        rounding: a `Rounding`.

    Returns:
        The decoded levels in `[0, 255]`, float32, same shape as `blocks`.
    """
    eighths = _islow_forward_dct(ops.cast(blocks, "int32") - 128)
    quantized = ops.sign(eighths) * floor_divide(
        ops.abs(eighths) + 4 * tables, 8 * tables
    )
    decoded = ops.cast(_ifast_inverse_dct(quantized, tables), "float32")
    return clip(rounding.replace(blocks, decoded), 0, 255)


def floor_divide(numerators, divisors):
    """`numerators // divisors` for int32 in `[0, 2**23)`, without integer division.

    Integer division is not vectorized on CPUs and is emulated on GPUs, so
    the quotient comes from a float multiplication by the reciprocal, which
    is within one of it, and is then corrected with the exact remainder
    (every value here is an integer below 2**24, exact in float32). The
    correction also keeps it exact if a compiler rewrites the reciprocal.
    """
    numerators = ops.cast(numerators, "float32")
    divisors = ops.cast(divisors, "float32")
    quotients = ops.floor(numerators * (1 / divisors))
    remainders = numerators - quotients * divisors
    quotients = ops.where(remainders >= divisors, quotients + 1, quotients)
    quotients = ops.where(remainders < 0, quotients - 1, quotients)
    return ops.cast(quotients, "int32")


def clip(x, low, high):
    """Clips `x`; the gradient passes where `low <= x <= high`.

    The same on every backend (`ops.clip` halves it at the bounds under JAX).
    """
    return ops.where(x < low, low, ops.where(x > high, high, x))


def _descale(value, bits):
    """libjpeg's `DESCALE`: `value / 2**bits` rounded half up, in int32."""
    return ops.floor_divide(value + 2 ** (bits - 1), 2**bits)


def _islow_1d(x, first_pass):
    """One pass of libjpeg's `jpeg_fdct_islow` (LL&M) on 8 int32 tensors.

    13-bit constants; the first pass keeps 2 extra bits, the second removes
    them and leaves the result scaled by 8.
    """
    tmp0, tmp7 = x[0] + x[7], x[0] - x[7]
    tmp1, tmp6 = x[1] + x[6], x[1] - x[6]
    tmp2, tmp5 = x[2] + x[5], x[2] - x[5]
    tmp3, tmp4 = x[3] + x[4], x[3] - x[4]
    # Even part.
    tmp10, tmp13 = tmp0 + tmp3, tmp0 - tmp3
    tmp11, tmp12 = tmp1 + tmp2, tmp1 - tmp2
    if first_pass:
        out0, out4 = (tmp10 + tmp11) * 4, (tmp10 - tmp11) * 4
        bits = 13 - 2
    else:
        out0, out4 = _descale(tmp10 + tmp11, 2), _descale(tmp10 - tmp11, 2)
        bits = 13 + 2
    z1 = (tmp12 + tmp13) * 4433  # FIX(0.541196100)
    out2 = _descale(z1 + tmp13 * 6270, bits)  # FIX(0.765366865)
    out6 = _descale(z1 - tmp12 * 15137, bits)  # FIX(1.847759065)
    # Odd part.
    z1, z2 = tmp4 + tmp7, tmp5 + tmp6
    z3, z4 = tmp4 + tmp6, tmp5 + tmp7
    z5 = (z3 + z4) * 9633  # FIX(1.175875602)
    tmp4 = tmp4 * 2446  # FIX(0.298631336)
    tmp5 = tmp5 * 16819  # FIX(2.053119869)
    tmp6 = tmp6 * 25172  # FIX(3.072711026)
    tmp7 = tmp7 * 12299  # FIX(1.501321110)
    z1 = z1 * -7373  # -FIX(0.899976223)
    z2 = z2 * -20995  # -FIX(2.562915447)
    z3 = z3 * -16069 + z5  # -FIX(1.961570560)
    z4 = z4 * -3196 + z5  # -FIX(0.390180644)
    out7 = _descale(tmp4 + z1 + z3, bits)
    out5 = _descale(tmp5 + z2 + z4, bits)
    out3 = _descale(tmp6 + z2 + z3, bits)
    out1 = _descale(tmp7 + z1 + z4, bits)
    return [out0, out1, out2, out3, out4, out5, out6, out7]


def _islow_forward_dct(blocks):
    """libjpeg's accurate integer forward DCT, the encoder's default.

    `tf.io.encode_jpeg` encodes with libjpeg's `JDCT_ISLOW`: rows, then
    columns, with 13-bit fixed-point constants. Copied in int32 so that the
    quantizer sees the very integers libjpeg's does.

    Args:
        blocks: int32 tensor `(8, 8, ...)` of level-shifted samples, indexed
            by row and column first.

    Returns:
        8 x the DCT coefficients, rounded, as int32 `(8, 8, ...)` indexed by
        vertical and horizontal frequency.
    """
    # Rows: the columns (axis 1) become horizontal frequencies.
    rows = ops.stack(_islow_1d([blocks[:, j] for j in range(8)], True), axis=1)
    # Columns: the rows (axis 0) become vertical frequencies.
    return ops.stack(_islow_1d([rows[i] for i in range(8)], False), axis=0)


def _aan_scales():
    """libjpeg's `aanscales`: `round(2**14 * s(u) * s(v))`, as `(8, 8, 1, 1)`.

    `s(0) = 1` and `s(k) = sqrt(2) cos(k pi / 16)` are the AA&N scale
    factors that the fast inverse DCT folds into the dequantization table.
    """
    scale = np.sqrt(2) * np.cos(np.arange(8) * np.pi / 16)
    scale[0] = 1
    scales = np.round(2**14 * np.outer(scale, scale)).astype("int32")
    return scales.reshape(8, 8, 1, 1)


_AAN_SCALES = _aan_scales()


def _ifast_1d(x):
    """One pass of libjpeg's `jpeg_idct_ifast` (AA&N) on 8 int32 tensors.

    Products are truncated to 8 fractional bits right away, as in libjpeg
    (and its SIMD versions) without `USE_ACCURATE_ROUNDING`.
    """

    def multiply(value, constant):
        return ops.floor_divide(value * constant, 256)

    # Even part.
    tmp10, tmp11 = x[0] + x[4], x[0] - x[4]
    tmp13 = x[2] + x[6]
    tmp12 = multiply(x[2] - x[6], 362) - tmp13  # FIX(1.414213562)
    tmp0, tmp3 = tmp10 + tmp13, tmp10 - tmp13
    tmp1, tmp2 = tmp11 + tmp12, tmp11 - tmp12
    # Odd part.
    z13, z10 = x[5] + x[3], x[5] - x[3]
    z11, z12 = x[1] + x[7], x[1] - x[7]
    tmp7 = z11 + z13
    tmp11 = multiply(z11 - z13, 362)  # FIX(1.414213562)
    z5 = multiply(z10 + z12, 473)  # FIX(1.847759065)
    tmp10 = multiply(z12, 277) - z5  # FIX(1.082392200)
    tmp12 = multiply(z10, -669) + z5  # -FIX(2.613125930)
    tmp6 = tmp12 - tmp7
    tmp5 = tmp11 - tmp6
    tmp4 = tmp10 + tmp5
    return [
        tmp0 + tmp7,
        tmp1 + tmp6,
        tmp2 + tmp5,
        tmp3 - tmp4,
        tmp3 + tmp4,
        tmp2 - tmp5,
        tmp1 - tmp6,
        tmp0 - tmp7,
    ]


def _ifast_inverse_dct(quantized, table):
    """libjpeg's fast integer inverse DCT, TensorFlow's default decoder.

    `tf.io.decode_jpeg` (so `tf.image.adjust_jpeg_quality`) decodes with
    `dct_method=""`, which is libjpeg's `JDCT_IFAST`. Its fixed-point
    rounding moves pixels by a level or two from the exact inverse DCT, so
    it is copied here in int32: dequantize with the AA&N-scaled table
    (`jddctmgr.c`), transform the columns, then the rows, and shift right by
    5 (the factor 8 and 2 bits of extra precision).

    Args:
        quantized: int32 tensor `(8, 8, batch, n)` of quantized coefficients,
            indexed by vertical and horizontal frequency first.
        table: int32 tensor broadcastable to it, the quantization table.

    Returns:
        The decoded levels as int32 `(8, 8, batch, n)`, indexed by row and
        column, not yet clipped to `[0, 255]`.
    """
    multipliers = ops.floor_divide(table * _AAN_SCALES + 2048, 4096)
    values = quantized * multipliers
    # Columns: the vertical frequencies (axis 0) become rows.
    values = ops.stack(_ifast_1d([values[u] for u in range(8)]), axis=0)
    # Rows: the horizontal frequencies (axis 1) become columns.
    values = ops.stack(_ifast_1d([values[:, v] for v in range(8)]), axis=1)
    return ops.floor_divide(values, 32) + 128


def _downsample(planes, rounding):
    """libjpeg's `h2v2_downsample` of `(batch, 2, h, w)` planes to 8x8 blocks.

    The encoder replicates the last column to a multiple of 16 and the last
    row to an even count, takes 2x2 sums plus a bias alternating 1, 2 along
    each row, shifts right by 2, and then replicates the last subsampled row
    to a multiple of 8.
    """
    height, width = planes.shape[2:]
    planes = _pad_edge(
        _pad_edge(planes, 2, _round_up(height, 2)), 3, _round_up(width, 16)
    )
    rows, columns = planes.shape[2] // 2, planes.shape[3] // 2
    sums = ops.sum(ops.reshape(planes, (-1, 2, rows, 2, columns, 2)), axis=(3, 5))
    bias = np.tile(np.array([1, 2], dtype="float32"), columns // 2)
    return _pad_edge(rounding.shift(sums + bias, 2), 2, _round_up(rows, 8))


def _neighbours(x, axis):
    """`x` shifted by one along `axis` both ways, with its edges replicated."""
    first, last = _slice(x, axis, 0, 1), _slice(x, axis, -1, None)
    before = ops.concatenate([first, _slice(x, axis, 0, -1)], axis=axis)
    after = ops.concatenate([_slice(x, axis, 1, None), last], axis=axis)
    return before, after


def _interleave(even, odd, axis):
    """Alternates the entries of `even` and `odd` along `axis`."""
    stacked = ops.stack([even, odd], axis=axis + 1)
    shape = list(even.shape)
    shape[axis] *= 2
    return ops.reshape(stacked, [-1] + shape[1:])


def _upsample(planes, rounding):
    """libjpeg's `h2v2_fancy_upsample` of `(batch, 2, h, w)` decoded planes.

    Each output sample weighs its nearest input samples 9/16, 3/16, 3/16 and
    1/16, with edges replicated; libjpeg rounds the columns with +8 and +7
    alternately. libjpeg-turbo falls back to replicating samples when a
    subsampled row has 2 or fewer samples.
    """
    if planes.shape[3] <= 2:
        return ops.repeat(ops.repeat(planes, 2, axis=2), 2, axis=3)
    above, below = _neighbours(planes, 2)
    sums = _interleave(3 * planes + above, 3 * planes + below, 2)
    left, right = _neighbours(sums, 3)
    even = rounding.shift(3 * sums + left + 8, 4)
    odd = rounding.shift(3 * sums + right + 7, 4)
    return _interleave(even, odd, 3)


def color_round_trip(levels, luminance, chrominance, rounding):
    """RGB levels `(batch, h, w, 3)` through a 4:2:0 JPEG codec."""
    height, width = levels.shape[1:3]
    red, green, blue = levels[..., 0], levels[..., 1], levels[..., 2]
    # libjpeg's rgb_ycc_convert: FIX(c) = round(c * 2**16), ONE_HALF = 2**15,
    # and chroma gets CBCR_OFFSET = 128 * 2**16 plus ONE_HALF - 1.
    y = rounding.shift(19595 * red + 38470 * green + 7471 * blue + 32768, 16)
    chroma_offset = 128 * 65536 + 32767
    cb = rounding.shift(-11059 * red - 21709 * green + 32768 * blue + chroma_offset, 16)
    cr = rounding.shift(32768 * red - 27439 * green - 5329 * blue + chroma_offset, 16)

    # Luminance and chrominance blocks go through the codec together.
    y_blocks, y_shape = _to_blocks(_pad_to_blocks(y))
    chroma_blocks, chroma_shape = _to_blocks(
        _downsample(ops.stack([cb, cr], axis=1), rounding)
    )
    num_y = y_blocks.shape[-1]
    is_chroma = np.arange(num_y + chroma_blocks.shape[-1]) >= num_y
    tables = ops.where(is_chroma, _block_tables(chrominance), _block_tables(luminance))
    blocks = ops.concatenate([y_blocks, chroma_blocks], axis=-1)
    blocks = _codec_blocks(blocks, tables, rounding)
    y = _from_blocks(blocks[..., :num_y], y_shape)[:, 0, :height, :width]
    chroma = _from_blocks(blocks[..., num_y:], chroma_shape)
    # The decoder reads only the subsampled size and replicates its edges.
    chroma = chroma[:, :, : -(-height // 2), : -(-width // 2)]
    chroma = _upsample(chroma, rounding)[:, :, :height, :width]
    cb, cr = chroma[:, 0] - 128, chroma[:, 1] - 128

    # libjpeg's ycc_rgb_convert tables, then its range limit.
    red = y + rounding.shift(91881 * cr + 32768, 16)
    green = y + rounding.shift(-22554 * cb - 46802 * cr + 32768, 16)
    blue = y + rounding.shift(116130 * cb + 32768, 16)
    return clip(ops.stack([red, green, blue], axis=-1), 0, 255)
