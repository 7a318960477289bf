"""Argument checks shared by the public classes and functions.

Each check raises a `ValueError` that names the argument and the value
received, so every public entry point reports bad input the same way.
"""

import numbers

import numpy as np


def is_number(value):
    """Whether `value` is a real number (NumPy scalars too), but not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def is_int(value):
    """Whether `value` is an integer (NumPy integers too), but not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(
        value, (bool, np.bool_)
    )


def check_bool(value, name):
    """`value` as a Python bool; anything but a bool (or NumPy bool) raises.

    A flag such as `"no"` is refused rather than coerced to `True` by
    `bool()`.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be a bool. Received: {name}={value!r}")
    return bool(value)


def check_int(value, name, minimum=None, maximum=None, allow_none=False):
    """`value` as a Python int within `[minimum, maximum]`, else raises.

    Either bound may be `None` (unbounded). With `allow_none=True`, `None`
    passes through unchanged. Floats, even integral ones such as `2.0`, and
    bools are refused.
    """
    if value is None and allow_none:
        return None
    if (
        is_int(value)
        and (minimum is None or value >= minimum)
        and (maximum is None or value <= maximum)
    ):
        return int(value)
    if minimum is not None and maximum is not None:
        expected = f"an int in [{minimum}, {maximum}]"
    elif minimum is not None:
        expected = f"an int >= {minimum}"
    elif maximum is not None:
        expected = f"an int <= {maximum}"
    else:
        expected = "an int"
    if allow_none:
        expected = f"None or {expected}"
    raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}")


def check_size(value, name, allow_int=False):
    """`value` as a `(height, width)` pair of ints >= 1, else raises.

    With `allow_int=True` a single int >= 1 is also taken, and returned as is.
    """
    if allow_int and is_int(value) and value >= 1:
        return int(value)
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(is_int(s) and s >= 1 for s in value)
    ):
        return (int(value[0]), int(value[1]))
    expected = (
        "an int >= 1 or a pair (height, width) of them"
        if allow_int
        else "a pair (height, width) of ints >= 1"
    )
    raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}")


# The largest float32: a coefficient above it overflows to inf in the float32
# computations it enters (and inf * 0 is NaN).
FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_non_negative(value, name):
    """`value` as a Python float in `[0, FLOAT32_MAX]`, else raises.

    Refuses bools, strings, NaN, infinities and numbers too large for
    float32, which would overflow to inf where they enter the loss.
    """
    if is_number(value) and 0 <= value <= FLOAT32_MAX:
        return float(value)
    raise ValueError(
        f"`{name}` must be a number in [0, {FLOAT32_MAX!r}] (finite in float32). "
        f"Received: {name}={value!r}"
    )


def check_float(value, name, low, high, include_low=True, include_high=True):
    """`value` as a Python float in an interval, else raises.

    The interval is `[low, high]`, each end left out with `include_low=False`
    or `include_high=False`. Refuses bools, strings and NaN.
    """
    if is_number(value) and (
        (low <= value if include_low else low < value)
        and (value <= high if include_high else value < high)
    ):
        return float(value)
    interval = (
        ("[" if include_low else "(")
        + f"{low!r}, {high!r}"
        + ("]" if include_high else ")")
    )
    raise ValueError(
        f"`{name}` must be a number in {interval}. Received: {name}={value!r}"
    )


def static_shape(x):
    """The static shape of a tensor as a tuple, `None` for unknown dims.

    `None` for a tensor of unknown rank (possible while tracing with
    TensorFlow), which the shape checks let pass.
    """
    if getattr(x.shape, "rank", 0) is None:
        return None
    return tuple(None if dim is None else int(dim) for dim in x.shape)


def check_same_shape(**tensors):
    """Raises unless the static shapes of `tensors` are equal.

    An unknown dimension (`None`, while tracing) matches any size, so the
    check never stops a model with a variable batch size from building.
    """
    shapes = {name: static_shape(tensor) for name, tensor in tensors.items()}
    known = [shape for shape in shapes.values() if shape is not None]

    def compatible(shape):
        return len(shape) == len(known[0]) and all(
            a is None or b is None or a == b
            for a, b in zip(shape, known[0], strict=True)
        )

    if not all(compatible(shape) for shape in known):
        names = [f"`{name}`" for name in shapes]
        listed = (
            " and ".join(names)
            if len(names) == 2
            else ", ".join(names[:-1]) + " and " + names[-1]
        )
        received = ", ".join(f"{name}.shape={shape}" for name, shape in shapes.items())
        raise ValueError(f"{listed} must have the same shape. Received: {received}")


# Pixels may stray this share of the range's width outside `value_range`
# (resampling overshoot, noise) before they are refused. A wrong scale, such
# as 0..255 images against `(0, 1)`, is hundreds of widths off.
VALUE_RANGE_SLACK = 0.1


def allowed_range(value_range):
    """The values `value_range` lets through: widened by `VALUE_RANGE_SLACK`."""
    low, high = value_range
    slack = VALUE_RANGE_SLACK * (high - low)
    return low - slack, high + slack


def suggested_value_range(low, high):
    """The usual pixel range that holds values seen in `[low, high]`."""
    for candidate in ((0, 1), (-1, 1), (0, 255), (0, 65535)):
        if candidate[0] <= low and high <= candidate[1]:
            return candidate
    return (float(np.floor(low)), float(np.ceil(high)))


def value_range_error(
    low, high, value_range, owner, fix="where the perturbation is built"
):
    """The error for images whose values `[low, high]` leave `value_range`.

    Returns None when the values are finite and within `value_range`, give or
    take `VALUE_RANGE_SLACK` of its width.

    Args:
        low: the smallest value seen, a float (NaN if any value was NaN).
        high: the largest value seen, a float.
        value_range: the `(low, high)` the values should be in.
        owner: who needs the range, e.g. "`JpegCompression`", for the
            message.
        fix: where the user passes `value_range`, for the message.
            Defaults to `"where the perturbation is built"`.
    """
    allowed_low, allowed_high = allowed_range(value_range)
    if not (np.isfinite(low) and np.isfinite(high)):
        return ValueError(
            f"The images given to {owner} hold NaN or inf values "
            f"(seen: min={low}, max={high}); perturbations need finite pixels."
        )
    if allowed_low <= low and high <= allowed_high:
        return None
    suggested = suggested_value_range(low, high)
    return ValueError(
        f"The images given to {owner} hold values in [{low:g}, {high:g}], "
        f"outside its value_range={tuple(value_range)!r}: every distortion is "
        "scaled to that range, so the perturbed copies would be wrong (JPEG "
        "saturates them, noise has the wrong strength). Pass "
        f"`value_range={suggested!r}` {fix}, or rescale the images to "
        f"{tuple(value_range)!r}."
    )


def check_margin(margin):
    # A tensor margin (a schedule, say) is the caller's business. An infinite
    # margin, or one that overflows float32, makes the hinge infinite, and
    # inf * 0 in the masks of the mining losses NaN.
    if not (hasattr(margin, "shape") and not is_number(margin)):
        check_non_negative(margin, "margin")


def check_choice(name, value, allowed, allow_callable=False):
    if allow_callable and callable(value):
        return
    if value not in allowed:
        choices = ", ".join(repr(choice) for choice in allowed)
        callable_note = " or a callable" if allow_callable else ""
        raise ValueError(
            f"`{name}` must be one of {choices}{callable_note}. "
            f"Received: {name}={value!r}"
        )


def is_host_value(value):
    """Whether `value` is a Python or NumPy number or array (not a tensor)."""
    if isinstance(value, (numbers.Number, np.generic, np.ndarray)):
        return True
    return isinstance(value, (list, tuple)) and all(map(is_host_value, value))


def check_jpeg_channels(shape):
    """Raises unless the last entry of `shape` is 1 (grayscale) or 3 (RGB)."""
    channels = shape[-1]
    if channels not in (1, 3):
        raise ValueError(
            "JPEG encoding needs images with 1 (grayscale) or 3 (RGB) channels. "
            f"Received: {channels} channels (images.shape={shape})"
        )


def check_jpeg_quality(quality):
    """Raises a `ValueError` if a Python or NumPy `quality` is not in [0, 100].

    Qualities must be integers in `[0, 100]`, the range libjpeg (through
    `tf.image.adjust_jpeg_quality`) and `JpegCompression` accept. Tensors
    pass unchecked: in a graph their values are not known.
    """
    if not is_host_value(quality):
        return
    values = np.asarray(quality)
    if values.dtype.kind not in "iu":
        raise ValueError(
            "`quality` must be an int in [0, 100] or an integer array or "
            f"tensor of them. Received: quality={quality!r}"
        )
    if values.size and not (values.min() >= 0 and values.max() <= 100):
        raise ValueError(
            f"`quality` must be in [0, 100]. Received: quality={quality!r}"
        )
