"""The argument checks every public entry point shares."""

import re

import numpy as np
import pytest

from keras_stability._checks import FLOAT32_MAX
from keras_stability._checks import check_bool
from keras_stability._checks import check_int
from keras_stability._checks import check_non_negative
from keras_stability._checks import check_size
from keras_stability._checks import is_int
from keras_stability._checks import is_number
from keras_stability._checks import suggested_value_range
from keras_stability._checks import value_range_error


@pytest.mark.parametrize(
    "value, expected",
    [
        (3, True),
        (np.int64(3), True),
        (np.uint8(3), True),
        (3.0, False),
        (True, False),
        (np.bool_(True), False),
        ("3", False),
        (None, False),
    ],
)
def test_is_int(value, expected):
    assert is_int(value) is expected


@pytest.mark.parametrize(
    "value, expected",
    [
        (3, True),
        (0.5, True),
        (np.float32(0.5), True),
        (float("nan"), True),
        (True, False),
        (np.bool_(False), False),
        ("0.5", False),
        (None, False),
    ],
)
def test_is_number(value, expected):
    assert is_number(value) is expected


def test_check_int_returns_python_ints():
    value = check_int(np.int64(7), "count", 1)
    assert value == 7 and type(value) is int
    assert check_int(None, "seed", 0, 9, allow_none=True) is None
    assert check_int(0, "seed", 0, 9) == 0
    assert check_int(9, "seed", 0, 9) == 9
    assert check_int(-(2**70), "offset") == -(2**70)


@pytest.mark.parametrize(
    "kwargs, value, message",
    [
        ({"minimum": 1}, 0, "`n` must be an int >= 1. Received: n=0"),
        ({"minimum": 1}, 2.0, "`n` must be an int >= 1. Received: n=2.0"),
        ({"minimum": 1}, True, "`n` must be an int >= 1. Received: n=True"),
        ({"minimum": 1}, None, "`n` must be an int >= 1. Received: n=None"),
        (
            {"minimum": 0, "maximum": 9},
            10,
            "`n` must be an int in [0, 9]. Received: n=10",
        ),
        ({"maximum": 9}, 10, "`n` must be an int <= 9. Received: n=10"),
        ({}, "3", "`n` must be an int. Received: n='3'"),
        (
            {"minimum": 0, "maximum": 9, "allow_none": True},
            -1,
            "`n` must be None or an int in [0, 9]. Received: n=-1",
        ),
        (
            {"minimum": 0, "allow_none": True},
            0.5,
            "`n` must be None or an int >= 0. Received: n=0.5",
        ),
    ],
)
def test_check_int_messages(kwargs, value, message):
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        check_int(value, "n", **kwargs)


def test_check_non_negative_bounds():
    assert check_non_negative(0, "alpha") == 0.0
    assert check_non_negative(np.float32(0.5), "alpha") == 0.5
    # The bound is float32's largest finite value, inclusive.
    assert check_non_negative(FLOAT32_MAX, "alpha") == FLOAT32_MAX
    assert np.isfinite(np.float32(FLOAT32_MAX))
    # The next float64 up still rounds to it (the check is conservative by
    # half a float32 step); 1e39 overflows.
    above = float(np.nextafter(FLOAT32_MAX, np.inf))
    with np.errstate(over="ignore"):
        assert np.isinf(np.array(1e39).astype(np.float32))
    for bad in (above, 1e39, -1e-30, float("nan"), float("inf"), True, "1", None):
        message = (
            "`alpha` must be a number in [0, 3.4028234663852886e+38] "
            f"(finite in float32). Received: alpha={bad!r}"
        )
        with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
            check_non_negative(bad, "alpha")


def test_check_bool():
    assert check_bool(np.bool_(True), "clip") is True
    with pytest.raises(ValueError, match=r"^`clip` must be a bool\. Received: clip=1$"):
        check_bool(1, "clip")


def test_check_size():
    assert check_size([3, np.int64(4)], "image_size") == (3, 4)
    assert check_size(5, "size", allow_int=True) == 5
    for bad in (5, (0, 4), (3,), (3.0, 4), (True, 4), "34", None):
        message = (
            "`image_size` must be a pair (height, width) of ints >= 1. "
            f"Received: image_size={bad!r}"
        )
        with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
            check_size(bad, "image_size")
    with pytest.raises(
        ValueError,
        match=r"^`size` must be an int >= 1 or a pair \(height, width\) of them\. "
        r"Received: size=0$",
    ):
        check_size(0, "size", allow_int=True)


@pytest.mark.parametrize(
    "low, high, expected",
    [
        (0.0, 1.0, (0, 1)),
        (-0.7, 0.9, (-1, 1)),
        (0.0, 254.9, (0, 255)),
        (3.0, 200.0, (0, 255)),
        (-100.0, 90.0, (-100.0, 90.0)),
        (0.0, 4095.0, (0, 65535)),
        (-3.2, 7.1, (-4.0, 8.0)),
    ],
)
def test_suggested_value_range_holds_the_values(low, high, expected):
    assert suggested_value_range(low, high) == expected


def test_value_range_error_allows_a_tenth_of_the_width():
    # Inside, or up to 10% of the width outside: no error.
    assert value_range_error(0.0, 1.0, (0, 1), "`layer`") is None
    assert value_range_error(-0.1, 1.1, (0, 1), "`layer`") is None
    assert value_range_error(-25.5, 280.5, (0, 255), "`layer`") is None
    # Beyond it: the values seen, the range, the fix and where to pass it.
    error = value_range_error(0.0, 1.2, (0, 1), "`layer`", fix="to the layer")
    assert isinstance(error, ValueError)
    message = str(error)
    assert "`layer`" in message and "[0, 1.2]" in message
    assert "value_range=(0, 1)" in message
    assert "`value_range=(0, 255)` to the layer" in message
    assert value_range_error(-0.2, 0.5, (0, 1), "`layer`") is not None
    # NaN or inf is named as such, not as a range.
    nan = value_range_error(float("nan"), 1.0, (0, 1), "`layer`")
    assert "NaN or inf" in str(nan)
    assert "NaN or inf" in str(value_range_error(0.0, float("inf"), (0, 1), "`x`"))
