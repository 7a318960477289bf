"""`dct_compress`: JPEG compression simulated with tensor operations."""

import functools

import keras
import numpy as np
from keras import ops

from keras_stability import _backend
from keras_stability._checks import check_jpeg_channels
from keras_stability._checks import check_jpeg_quality
from keras_stability.jpeg._codec import Rounding
from keras_stability.jpeg._codec import clip
from keras_stability.jpeg._codec import color_round_trip
from keras_stability.jpeg._codec import gray_round_trip
from keras_stability.jpeg.tables import quantization_tables

__all__ = ["dct_compress"]


def dct_compress(images, quality, straight_through=False):
    """Simulates JPEG compression of a batch with tensor operations.

    Runs the lossy steps of a baseline JPEG encoder and decoder on the whole
    batch at once, with `keras.ops` only, so it works on every backend,
    compiles with XLA (`jax.jit`, `tf.function(jit_compile=True)`) and stays
    on the device with static shapes. Each step copies the integer
    arithmetic of libjpeg(-turbo) as `tf.image.adjust_jpeg_quality` runs it
    (`encode_jpeg` defaults: 4:2:0, accurate integer DCT; `decode_jpeg`
    defaults: fancy upsampling, fast integer inverse DCT), so the result is
    the decoded JPEG itself, not an approximation of it:

    1. The image is quantized to 8 bits as `tf.image.convert_image_dtype`
       does (`x * 255.5`, clipped to `[0, 255]`, truncated).
    2. RGB goes to YCbCr (JFIF, full range, chroma centred on 128) with
       libjpeg's 16-bit fixed-point coefficients and rounding.
    3. Cb and Cr are subsampled 4:2:0 as libjpeg's encoder does: 2x2 sums
       plus a rounding bias alternating 1, 2, shifted right by 2, after
       replicating the right edge to a multiple of 16 columns and the
       bottom edge to an even row count, then the last subsampled row to a
       multiple of 8. Luminance is padded to whole 8x8 blocks by edge
       replication.
    4. Each 8x8 block, shifted by -128, goes through libjpeg's accurate
       integer DCT (`jpeg_fdct_islow`), is divided by 8 x the entry of the
       quality-scaled table of `quantization_tables`, rounded half away
       from zero, and decoded with libjpeg's fast integer inverse DCT
       (`jpeg_idct_ifast`, TensorFlow's `dct_method=""`), clipped to
       `[0, 255]`. All of it is int32: batched butterflies on the 8 rows
       and 8 columns of every block.
    5. Cb and Cr are upsampled with libjpeg's "fancy" triangular filter
       (weights 9/16, 3/16, 3/16, 1/16, edges replicated, rounding +8 and
       +7 alternating; plain replication when the subsampled width is 2 or
       less) and converted back to RGB with its fixed-point tables.
    6. The 8-bit levels `k` come back as `k * (1 / 255)`, cropped to the
       input size.

    Grayscale images (1 channel) are a single luminance plane, without
    colour conversion or subsampling. The tests hold the output
    bit-identical to `tf.image.adjust_jpeg_quality` (libjpeg-turbo on the
    CPU) on every image they try. The floating-point steps only ever hold
    integers below 2**24, so they are exact on any device (no matmul, so no
    TF32 either).

    On TensorFlow, inside a `tf.function` (a Keras step, a `tf.data` map),
    it compiles itself with XLA even where the surrounding function is not
    compiled (Keras leaves XLA off on a machine without a GPU): op by op,
    its int32 stages are slow on a CPU, and on a GPU TensorFlow would keep
    them in host memory (`benchmarks/jpeg_throughput.py` measures it).
    Called eagerly it runs op by op.

    With `straight_through=True` every rounding (and truncation) is the
    identity in the backward pass, `x + stop_gradient(round(x) - x)`, so
    gradients flow from the output to `images`; the forward values are the
    same as without it. The DCT being orthonormal, the block transform's
    gradient is then the identity. Clipping keeps its zero gradient outside
    `[0, 255]`.

    Args:
        images: float tensor of shape `(batch, height, width, channels)`
            with values in `[0, 1]`, 1 (grayscale) or 3 (RGB) channels, and
            a static height and width (any size).
        quality: int tensor of shape `(batch,)`, one JPEG quality in
            `[0, 100]` per image, or a scalar used for every image; 0 acts
            as 1, as in libjpeg. Python and NumPy values are checked; a
            tensor's values cannot be checked in a graph, and are clipped
            to `[1, 100]` (where libjpeg would raise above 100).
        straight_through: bool, whether the roundings pass gradients
            straight through. Defaults to `False`.

    Returns:
        A tensor of the shape and dtype of `images`, with values in `[0, 1]`
        on the 8-bit grid `k / 255`.

    Raises:
        ValueError: if `images` is not a 4-D float batch with 1 or 3
            channels and a static height and width, or a Python or NumPy
            `quality` is not an integer in `[0, 100]`.

    Example:

    ```python
    import numpy as np
    from keras import ops
    from keras_stability.jpeg import dct_compress

    images = np.random.default_rng(0).random((2, 20, 30, 3), dtype="float32")
    compressed = dct_compress(images, np.array([10, 90], dtype="int32"))
    assert ops.convert_to_numpy(compressed).shape == (2, 20, 30, 3)
    ```

    Reference:
        - [Zheng et al., "Improving the Robustness of Deep Neural Networks via
          Stability Training", CVPR 2016](https://arxiv.org/abs/1604.04326)
          (the JPEG-q distortion).
        - [ITU-T T.81 / ISO 10918-1, the JPEG standard](https://www.w3.org/Graphics/JPEG/itu-t81.pdf),
          and the Independent JPEG Group's libjpeg as libjpeg-turbo
          (`jccolor.c`, `jcsample.c`, `jfdctint.c`, `jcdctmgr.c`,
          `jidctfst.c`, `jdsample.c`, `jdcolor.c`).
        - Shin & Song, "JPEG-resistant Adversarial Images", NIPS 2017
          Workshop on Machine Learning and Computer Security (rounding
          passed straight through to differentiate JPEG).
    """
    check_jpeg_quality(quality)
    images = ops.convert_to_tensor(images)
    shape = tuple(images.shape)
    dtype = keras.backend.standardize_dtype(images.dtype)
    if len(shape) != 4 or "float" not in dtype:
        raise ValueError(
            "`images` must be a float batch of shape (batch, height, width, "
            f"channels). Received: images.shape={shape}, images.dtype={dtype}"
        )
    height, width, _ = shape[1:]
    check_jpeg_channels(shape)
    if height is None or width is None:
        raise ValueError(
            "`dct_compress` needs a static image height and width. "
            f"Received: images.shape={shape}"
        )
    if _backend.is_tensorflow():
        tf = _backend.require_tensorflow("dct_compress")
        if tf.inside_function():
            quality = tf.convert_to_tensor(quality)  # not a constant per value
            return _xla_dct_compress()(images, quality, straight_through)
    return _dct_compress(images, quality, straight_through)


@functools.cache
def _xla_dct_compress():
    """`_dct_compress` under `tf.function(jit_compile=True)`, made once.

    It traces once per image shape (the codec needs a static height and
    width) and `straight_through` value.
    """
    tf = _backend.require_tensorflow("dct_compress under tf.function")
    return tf.function(_dct_compress, jit_compile=True, autograph=False)


def _dct_compress(images, quality, straight_through):
    """The body of `dct_compress`, on validated images."""
    channels = images.shape[-1]
    dtype = keras.backend.standardize_dtype(images.dtype)
    rounding = Rounding(straight_through)
    luminance, chrominance = quantization_tables(quality)
    levels = rounding.floor(clip(ops.cast(images, "float32") * 255.5, 0, 255))
    if channels == 1:
        decoded = gray_round_trip(levels, luminance, rounding)
    else:
        decoded = color_round_trip(levels, luminance, chrominance, rounding)
    return ops.cast(decoded * np.float32(1 / 255), dtype)
