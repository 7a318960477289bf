"""NumPy references and helpers shared by the tests of `keras_stability.triplet`.

Each reference is a plain loop in float64, written from the definitions in
the papers and in TensorFlow Addons' documentation, never from the library's
code. They are fixtures so that the test modules, imported by path, share
them without importing one another.
"""

import inspect
import math
import re

import keras
import numpy as np
import pytest
from keras import ops


def _np_distance(x, y, metric):
    """Distance between two vectors, in float64."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if metric in ("L2", "l2"):
        return math.sqrt(sum((a - b) ** 2 for a, b in zip(x, y, strict=True)))
    if metric in ("squared-L2", "squared_l2"):
        return sum((a - b) ** 2 for a, b in zip(x, y, strict=True))
    if metric in ("angular", "cosine"):
        cosine = x @ y / (np.linalg.norm(x) * np.linalg.norm(y))
        # TensorFlow Addons clips the angular distance at 0.
        return max(1.0 - cosine, 0.0) if metric == "angular" else 1.0 - cosine
    raise AssertionError(metric)


def _np_distance_matrix(embeddings, metric):
    n = len(embeddings)
    return np.array(
        [
            [
                0.0
                if i == j and metric != "angular"
                else _np_distance(embeddings[i], embeddings[j], metric)
                for j in range(n)
            ]
            for i in range(n)
        ]
    )


def _as_numpy(x):
    return np.asarray(ops.convert_to_numpy(ops.cast(x, "float32")), np.float64)


def _large_float16_rows(rng, n):
    """`n` float16 rows of squared norm about 90000, past float16's 65504.

    300 times the standard basis of R^n plus noise of scale 3: every squared
    norm and squared distance (about 2 * 90000) overflows float16, while the
    distances, their differences and hence every loss stay well inside its
    range. Computed in float16, the Gram matrix is inf - inf = NaN and the
    normalized rows are 0; computed in float32, only the final cast rounds.
    """
    rows = 300.0 * np.eye(n) + 3.0 * rng.normal(size=(n, n))
    return rows.astype("float16")


# float32's largest value; a float64 reference above it is inf in float32.
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _as_float32_value(reference):
    """A float64 reference as float32 gives it: inf past the largest float32."""
    reference = np.asarray(reference, np.float64)
    return np.where(
        np.abs(reference) > _FLOAT32_MAX, np.copysign(np.inf, reference), reference
    )


def _check_config_round_trip(loss_class, non_defaults):
    """Config, `from_config` and Keras serialization of a triplet loss class."""
    loss = loss_class(**non_defaults, name="custom", reduction="sum", dtype="float64")
    config = loss.get_config()
    parameters = set(inspect.signature(loss_class).parameters) - {"kwargs"}
    assert parameters | {"reduction", "dtype"} == set(config)
    assert config["name"] == "custom"
    assert config["reduction"] == "sum"
    assert config["dtype"] == "float64"
    restored = loss_class.from_config(config)
    assert restored.get_config() == config
    for key, value in non_defaults.items():
        assert getattr(restored, key) == value

    serialized = keras.saving.serialize_keras_object(loss)
    assert serialized["registered_name"] == f"keras_stability>{loss_class.__name__}"
    for revived in (
        keras.saving.deserialize_keras_object(serialized),
        keras.losses.get(serialized),
        keras.losses.deserialize(keras.losses.serialize(loss)),
    ):
        assert type(revived) is loss_class
        assert revived.get_config() == config


# Margins every triplet loss refuses: negative, infinite, NaN, too large for
# float32, or not a number.
_BAD_MARGINS = [-1, math.inf, -math.inf, math.nan, np.float32("inf"), 1e39, "1"]


def _check_margin_refused(make):
    """`make(margin)` raises, naming `margin` and the value, for each bad one."""
    for margin in _BAD_MARGINS:
        message = rf"`margin`.*Received: margin={re.escape(repr(margin))}$"
        with pytest.raises(ValueError, match=message):
            make(margin)


@pytest.fixture
def check_margin_refused():
    return _check_margin_refused


@pytest.fixture
def np_distance():
    return _np_distance


@pytest.fixture
def np_distance_matrix():
    return _np_distance_matrix


@pytest.fixture
def as_numpy():
    return _as_numpy


@pytest.fixture
def half_rtol():
    """Relative tolerances for losses computed in float32 from half inputs.

    Unit roundoffs: casting a float32 result to float16 (11 significant
    bits) changes it by at most 2**-11 = 4.9e-4 of its value, to bfloat16 (8
    bits) by at most 2**-8 = 3.9e-3. A loss computed in float32 from half
    inputs and cast back is off its float64 reference by that plus float32
    rounding, so the half-precision tests use twice the roundoff.
    """
    return {"float16": 1e-3, "bfloat16": 8e-3}


@pytest.fixture
def large_float16_rows():
    return _large_float16_rows


@pytest.fixture
def as_float32_value():
    return _as_float32_value


@pytest.fixture
def check_config_round_trip():
    return _check_config_round_trip
