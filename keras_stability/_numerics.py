"""Numerics shared by the losses: upcasts, log-probabilities, overflow-safe norms.

Internal: the stability losses and the triplet losses import these; users do
not.
"""

import keras
from keras import ops

_HALF_DTYPES = ("float16", "bfloat16")


def as_float(x):
    """Converts to a float tensor; returns it upcast and the dtype to return.

    float16 and bfloat16 are computed in float32, as TensorFlow Addons does,
    and the result is cast back to the input's dtype.
    """
    x = ops.convert_to_tensor(x)
    dtype = keras.backend.standardize_dtype(x.dtype)
    if not keras.backend.is_float_dtype(dtype):
        dtype = keras.backend.floatx()
        x = ops.cast(x, dtype)
    if dtype in _HALF_DTYPES:
        x = ops.cast(x, "float32")
    return x, dtype


def log_distribution(outputs, from_logits):
    """Log-probabilities over the last axis, finite for finite inputs.

    Logits go through `log_softmax`; probabilities are clipped to
    `[keras.config.epsilon(), 1]` first, since log(0) is -inf.
    """
    outputs = ops.convert_to_tensor(outputs)
    if from_logits:
        return ops.log_softmax(outputs, axis=-1)
    return ops.log(ops.clip(outputs, keras.config.epsilon(), 1.0))


# Inputs are divided by a power of two before they are squared when their
# largest magnitude exceeds 2**50: float32 squares overflow from about
# 1.8e19, and a sum of squares of entries up to 2**50 stays finite for up to
# 2**24 entries of twice that size.
_SCALE_EXPONENT_STEP = 50
_MAX_EXPONENTS = {"float16": 16, "bfloat16": 128, "float32": 128, "float64": 1024}


def overflow_scale(tensors, axis=None):
    """A power of two `s` such that `tensors / s` are safe to square and sum.

    `s` is exactly 1 wherever the largest magnitude of `tensors` (over
    `axis`, kept as a dimension of size 1; over everything when `None`) is at
    most 2**50, so ordinary inputs are computed bit for bit as without it.
    Above, `s` is 2**50 or 2**100 (float32), which leaves magnitudes of at
    most 2**50. Dividing by a power of two and multiplying back is exact, so
    large inputs are computed as float32 would with an unbounded exponent.
    `s` is built from constants: no gradient flows through it.
    """
    keepdims = axis is not None
    magnitude = None
    for tensor in tensors:
        largest = ops.max(ops.abs(tensor), axis=axis, keepdims=keepdims, initial=0.0)
        magnitude = largest if magnitude is None else ops.maximum(magnitude, largest)
    dtype = keras.backend.standardize_dtype(magnitude.dtype)
    scale = ops.ones_like(magnitude)
    for exponent in range(
        _SCALE_EXPONENT_STEP, _MAX_EXPONENTS.get(dtype, 128), _SCALE_EXPONENT_STEP
    ):
        power = ops.convert_to_tensor(2.0**exponent, dtype=dtype)
        scale = ops.where(ops.greater(magnitude, power), power, scale)
    return scale


def rescale(x, scale, degree):
    """`x * scale**degree`, without forming `scale**degree`, which may overflow."""
    for _ in range(degree):
        x = x * scale
    return x


def safe_sqrt(squared, zero):
    """`sqrt(squared)`, with value and gradient 0 where `zero` is true.

    The square root's derivative is infinite at 0; feeding it 1 there and
    discarding the result keeps NaN out of the backward pass.
    """
    root = ops.sqrt(ops.where(zero, ops.ones_like(squared), squared))
    return ops.where(zero, ops.zeros_like(squared), root)


def l2_normalize(x):
    """`x / ||x||_2` over the last axis; a row of zeros stays zeros.

    The same epsilon as `tf.math.l2_normalize`: the squared norm is floored
    at 1e-12 before the reciprocal square root.
    """
    squared_norm = ops.sum(ops.square(x), axis=-1, keepdims=True)
    return x * ops.rsqrt(ops.maximum(squared_norm, 1e-12))
