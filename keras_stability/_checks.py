"""Argument checks shared by the public classes and functions."""

import numpy as np


def check_bool(value, name):
    """`value` as a Python bool; anything but a bool (or NumPy bool) raises.

    A flag such as `"no"` is refused rather than coerced to `True` by
    `bool()`.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be a bool. Received: {name}={value!r}")
    return bool(value)
