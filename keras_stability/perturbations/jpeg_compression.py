"""`JpegCompression`: the paper's JPEG-q distortion, by libjpeg or in `keras.ops`."""

import keras
from keras import ops

from keras_stability import _backend
from keras_stability import jpeg as jpeg_lib
from keras_stability._checks import check_bool
from keras_stability._checks import check_jpeg_channels
from keras_stability._checks import check_jpeg_quality
from keras_stability._checks import is_int
from keras_stability.perturbations.base import Perturbation

__all__ = ["JpegCompression"]


def _validate_quality(quality):
    if is_int(quality):
        check_jpeg_quality(quality)
        return int(quality)
    if (
        isinstance(quality, (list, tuple))
        and len(quality) == 2
        and all(is_int(q) and 0 <= q <= 100 for q in quality)
    ):
        if quality[0] > quality[1]:
            raise ValueError(
                "`quality` must be a pair (low, high) with low <= high. "
                f"Received: quality={quality!r}"
            )
        return (int(quality[0]), int(quality[1]))
    raise ValueError(
        "`quality` must be an int in [0, 100] or a pair (low, high) of ints in "
        f"[0, 100]. Received: quality={quality!r}"
    )


def _libjpeg_levels(images, quality, straight_through):
    # `images` in [0, 1]; returns the decoded 8-bit levels as floats in [0, 255].
    # `straight_through` is always False here (checked by the layer).
    _backend.require_tensorflow("JpegCompression(method='libjpeg')")
    decoded = jpeg_lib.libjpeg_compress(ops.cast(images, "float32"), quality)
    # The decoder's `k * (1 / 255)` times 255 is off by an ulp for some k.
    return ops.round(ops.multiply(decoded, 255.0))


def _dct_levels(images, quality, straight_through):
    decoded = jpeg_lib.dct_compress(images, quality, straight_through)
    scaled = ops.multiply(decoded, 255.0)
    # Same ulp as above; the rounding must not stop a straight-through gradient.
    levels = ops.round(scaled)
    if straight_through:
        return ops.add(scaled, ops.stop_gradient(ops.subtract(levels, scaled)))
    return levels


# Each method maps (images in [0, 1] as float32, per-image int32 quality,
# straight_through) to the decoded images on the 8-bit scale [0, 255], as
# float32.
_JPEG_METHODS = {"libjpeg": _libjpeg_levels, "dct": _dct_levels}
# Methods that run outside the graph compilers (not XLA-compilable).
_JPEG_METHODS_WITHOUT_JIT = ("libjpeg",)


@keras.saving.register_keras_serializable(package="keras_stability")
class JpegCompression(Perturbation):
    """Re-encodes every image as JPEG: the paper's JPEG-q distortion.

    Each image is rescaled to `[0, 1]`, encoded at its quality, decoded, and
    mapped back to `value_range` from its decoded 8-bit levels `k`, so the
    outputs sit on the 256 levels of `value_range` (integers on `(0, 255)`),
    and on `(0, 1)` they are bit-identical to `tf.image.adjust_jpeg_quality`.
    Inputs a little outside `value_range` (noise added upstream) saturate to
    its ends, as in any 8-bit codec. A pair `quality=(low, high)` draws one
    quality per image from the integers in `[low, high]`, both included
    (see `Perturbation`).

    Images need 1 (grayscale) or 3 (RGB, 4:2:0 chroma subsampling as
    TensorFlow's encoder does by default) channels. Two methods:

    - `method="libjpeg"` runs the real codec through TensorFlow, one image
      at a time on the CPU: it needs the TensorFlow backend (checked at
      construction) and cannot be XLA-compiled (the layer sets
      `supports_jit = False`, so a model that tracks it compiles its step
      without XLA).
    - `method="dct"` runs `keras_stability.jpeg.dct_compress`: the same
      encoder and decoder arithmetic written in `keras.ops` on the whole
      batch, so it works on every backend, compiles with XLA and stays on
      the accelerator. Its pixels match libjpeg's (see
      `keras_stability.jpeg.dct_compress`).

    Neither is differentiable by default, which stability training does not
    need: the gradient flows through the network's output on x', not through
    x'. With `method="dct"`, `straight_through=True` passes the gradient
    through every rounding unchanged, for uses that need d x' / d x.

    Formula:

    ```
    u = (x - low) / (high - low)
    k = round(255 * decode(encode(u, quality)))
    x' = low + k * (high - low) / 255
    ```

    Args:
        quality: int in `[0, 100]`, or a pair `(low, high)` of them with
            `low <= high` to draw one quality per image. Defaults to `50`.
        method: how to compress; `"libjpeg"`, the real codec via
            `tf.image.adjust_jpeg_quality`, or `"dct"`, its batched
            simulation in tensor operations. Defaults to `"libjpeg"`.
        straight_through: bool, with `method="dct"` only: whether the
            roundings pass gradients straight through. Defaults to `False`.
        value_range: pair `(low, high)`, the range of the pixel values.
            Defaults to `(0, 1)`.
        seed: int in `[0, 2**31 - 1]` or `None`, seed of the layer's own
            generator (used only to draw qualities from a range). Defaults
            to `None`.
        **kwargs: Passed to `keras.layers.Layer`.

    Returns:
        Called on images, the decoded images in the layer's compute dtype.

    Example:

    ```python
    import numpy as np
    from keras_stability.perturbations import JpegCompression

    layer = JpegCompression(quality=(10, 50), value_range=(0, 255), seed=1)
    images = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3))
    compressed = np.asarray(layer(images.astype("uint8")))
    assert compressed.dtype == np.float32
    assert np.array_equal(compressed, np.round(compressed))
    ```

    Reference:
        - Zheng et al., CVPR 2016: the "JPEG-q" distortion
          (the paper is linked on `Perturbation`).
    """

    def __init__(
        self,
        quality=50,
        method="libjpeg",
        straight_through=False,
        value_range=(0, 1),
        seed=None,
        **kwargs,
    ):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        self.quality = _validate_quality(quality)
        if not isinstance(method, str) or method not in _JPEG_METHODS:
            raise ValueError(
                f"`method` must be one of {tuple(_JPEG_METHODS)}. "
                f"Received: method={method!r}"
            )
        self.method = method
        straight_through = check_bool(straight_through, "straight_through")
        if straight_through and method != "dct":
            raise ValueError(
                "`straight_through=True` needs method='dct' (libjpeg is not "
                f"differentiable). Received: method={method!r}"
            )
        self.straight_through = straight_through
        if method == "libjpeg":
            # Fail at construction, not at the first training step.
            _backend.require_tensorflow("JpegCompression(method='libjpeg')")
        if method in _JPEG_METHODS_WITHOUT_JIT:
            self.supports_jit = False

    def compute_output_shape(self, input_shape):
        shape = super().compute_output_shape(input_shape)
        if shape[-1] is not None:
            check_jpeg_channels(shape)
        return shape

    def perturb(self, images, seed):
        low, high = self.value_range
        batch = ops.shape(images)[0]
        if isinstance(self.quality, int):
            quality = ops.full((batch,), self.quality, dtype="int32")
        else:
            quality = keras.random.randint(
                (batch,),
                minval=self.quality[0],
                maxval=self.quality[1] + 1,
                dtype="int32",
                seed=seed,
            )
        unit = ops.divide(ops.subtract(ops.cast(images, "float32"), low), high - low)
        levels = _JPEG_METHODS[self.method](unit, quality, self.straight_through)
        outputs = ops.add(ops.multiply(levels, (high - low) / 255), low)
        return ops.cast(outputs, images.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "quality": self.quality,
                "method": self.method,
                "straight_through": self.straight_through,
            }
        )
        return config
