"""Severities given as one value or a pair `(a, b)` drawn per image.

Internal to the package: every family that takes a severity range checks it
and draws it here (see `Perturbation`'s docstring for what a pair means).
"""

import keras
from keras import ops

from keras_stability._checks import is_number
from keras_stability._seeds import portable_uniform


def check_severity(value, name, check):
    """A severity or a pair `(a, b)`, `a <= b`, to draw one per image.

    Args:
        value: the argument as given.
        name: the argument's name, for errors.
        check: `check(number, name)` validates one number and returns it.

    Returns:
        What `check` returns, or a tuple of two of them.

    Raises:
        ValueError: for a pair that is not two numbers with `a <= b`, or
            whatever `check` raises.
    """
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and all(is_number(v) for v in value):
            pair = (check(value[0], name), check(value[1], name))
            if pair[0] <= pair[1]:
                return pair
        raise ValueError(
            f"`{name}` must be a number or a pair (a, b) of numbers with a <= b. "
            f"Received: {name}={value!r}"
        )
    return check(value, name)


def is_range(severity):
    """Whether `severity` is a pair `(a, b)` with `a < b`: a draw per image."""
    return isinstance(severity, tuple) and severity[0] < severity[1]


def strongest(severity):
    """The largest value of a severity or a pair of them."""
    return max(severity) if isinstance(severity, tuple) else severity


def per_image_uniform(images, bounds, seed):
    """One draw per image from `U[a, b]`, shaped `(batch, 1, 1, 1)`."""
    a, b = bounds
    return keras.random.uniform(
        (ops.shape(images)[0], 1, 1, 1), a, b, dtype=images.dtype, seed=seed
    )


def check_interval(value, name, low, high, include_low=True):
    """A number in `[low, high]` (`(low, high]`), or a pair of them.

    Args:
        value: the argument as given: a number or a pair `(a, b)`, `a <= b`.
        name: the argument's name, for errors.
        low: the smallest value allowed.
        high: the largest value allowed.
        include_low: whether `low` itself is allowed. Defaults to `True`.

    Returns:
        A float, or a tuple of two floats.

    Raises:
        ValueError: naming `name` and the whole value received.
    """
    interval = f"{'[' if include_low else '('}{low!r}, {high!r}]"
    pair = isinstance(value, (list, tuple))

    def check(number, _):
        above = is_number(number) and (low <= number if include_low else low < number)
        if above and number <= high:
            return float(number)
        expected = (
            f"a pair (a, b) of numbers in {interval} with a <= b"
            if pair
            else f"a number in {interval}"
        )
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}")

    return check_severity(value, name, check)


def per_image(images, severity, seed):
    """One severity per image as float32 `(batch,)`: the value or a draw.

    A pair `(a, b)` draws from `U[a, b)` with `seed`, by `portable_uniform`:
    the same severities on every backend, compiled or not. A single value
    (or a pair `(a, a)`) is repeated, drawing nothing.
    """
    batch = ops.shape(images)[0]
    if is_range(severity):
        low, high = severity
        return ops.add(ops.multiply(portable_uniform((batch,), seed), high - low), low)
    return ops.full((batch,), strongest(severity), dtype="float32")
