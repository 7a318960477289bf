"""UDA's options as functions: sharpening, the confidence mask, annealing."""

import math

import numpy as np
import pytest
from keras import ops

from keras_stability import consistency


def _np_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _numpy(x):
    return np.asarray(ops.convert_to_numpy(x), dtype="float64")


@pytest.mark.parametrize(
    "name",
    ["sharpen", "confidence_mask", "annealing_threshold", "annealing_mask"],
)
def test_examples_run(name, run_example):
    run_example(getattr(consistency, name))


@pytest.mark.parametrize("temperature", [0.25, 0.5, 1.0, 2.0])
def test_sharpen_probabilities_and_logits(temperature, rng):
    logits = rng.normal(size=(5, 4)) * 3
    p = _np_softmax(logits)
    expected = p ** (1 / temperature) / (p ** (1 / temperature)).sum(-1, keepdims=True)
    from_p = _numpy(consistency.sharpen(p.astype("float32"), temperature))
    np.testing.assert_allclose(from_p, expected, rtol=1e-5, atol=1e-7)
    from_logits = consistency.sharpen(
        logits.astype("float32"), temperature, from_logits=True
    )
    np.testing.assert_allclose(_np_softmax(_numpy(from_logits)), expected, rtol=1e-5)


def test_sharpen_extreme_logits_stay_finite():
    logits = np.array([[1e30, -1e30, 0.0]], "float32")
    sharpened = consistency.sharpen(logits, 0.1, from_logits=True)
    p = _numpy(ops.softmax(sharpened))
    assert np.all(np.isfinite(p)) and p[0, 0] == 1.0


@pytest.mark.parametrize("temperature", [0, -1.0, math.inf, math.nan, "1", True])
def test_sharpen_refuses_a_bad_temperature(temperature):
    with pytest.raises(ValueError, match=rf"Received: temperature={temperature!r}"):
        consistency.sharpen(np.ones((1, 2), "float32") / 2, temperature)


def test_confidence_mask_against_numpy(rng):
    logits = rng.normal(size=(64, 5)) * 2
    p = _np_softmax(logits)
    for threshold in (0.0, 0.3, 0.6, 0.9):
        expected = (p.max(-1) > threshold).astype("float64")
        got = consistency.confidence_mask(p.astype("float32"), threshold)
        np.testing.assert_array_equal(_numpy(got), expected)
        got = consistency.confidence_mask(
            logits.astype("float32"), threshold, from_logits=True
        )
        np.testing.assert_array_equal(_numpy(got), expected)


@pytest.mark.parametrize("threshold", [1.0, -0.1, "0.5", None])
def test_confidence_mask_refuses_a_bad_threshold(threshold):
    with pytest.raises(ValueError, match=rf"Received: threshold={threshold!r}"):
        consistency.confidence_mask(np.ones((1, 2), "float32") / 2, threshold)


def _np_annealing(schedule, t, k):
    t = min(max(t, 0.0), 1.0)
    share = {
        "linear": t,
        "log": 1 - math.exp(-5 * t),
        "exp": math.exp(5 * (t - 1)),
    }[schedule]
    return share * (1 - 1 / k) + 1 / k


@pytest.mark.parametrize("schedule", ["linear", "log", "exp"])
def test_annealing_threshold_follows_uda(schedule):
    for progress in (0.0, 0.1, 0.5, 0.9, 1.0, 1.5):
        got = float(_numpy(consistency.annealing_threshold(schedule, progress, 10)))
        assert got == pytest.approx(_np_annealing(schedule, progress, 10), rel=1e-6)
    start = float(_numpy(consistency.annealing_threshold(schedule, 0.0, 4)))
    assert 0.25 <= start < 0.26  # 1 / classes, or just above it for "exp"


def test_annealing_thresholds_rise_at_different_speeds():
    early = {
        s: float(_numpy(consistency.annealing_threshold(s, 0.2, 10)))
        for s in consistency.ANNEALING_SCHEDULES
    }
    assert early["exp"] < early["linear"] < early["log"]


def test_annealing_threshold_refuses_bad_arguments():
    with pytest.raises(ValueError, match=r"Received: schedule='cosine'"):
        consistency.annealing_threshold("cosine", 0.5, 10)
    with pytest.raises(ValueError, match=r"Received: num_classes=1"):
        consistency.annealing_threshold("linear", 0.5, 1)


def test_annealing_mask_sparse_one_hot_and_logits(rng):
    logits = rng.normal(size=(32, 4)) * 2
    p = _np_softmax(logits)
    labels = rng.integers(0, 4, size=32)
    expected = (p[np.arange(32), labels] <= 0.4).astype("float64")
    one_hot = np.eye(4)[labels].astype("float32")
    for y in (labels, labels[:, None], one_hot):
        got = consistency.annealing_mask(y, p.astype("float32"), 0.4)
        np.testing.assert_array_equal(_numpy(got), expected)
    got = consistency.annealing_mask(
        labels, logits.astype("float32"), 0.4, from_logits=True
    )
    np.testing.assert_array_equal(_numpy(got), expected)
