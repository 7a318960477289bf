"""mean_corruption_error against ImageNet-C's arithmetic, worked by hand."""

import pytest

from keras_stability.evaluation import corruption_error
from keras_stability.evaluation import mean_corruption_error

TESTED = corruption_error


def test_docstring_example_runs(public_function, run_example):
    run_example(public_function)


def _report(clean, top1, flips):
    """A report: clean top-1, then `condition -> top-1` and `-> flip rate`."""
    report = {"num_images": 100, "clean/top1": clean}
    report.update({f"{c}/top1": v for c, v in top1.items()})
    report.update({f"{c}/flip_rate": v for c, v in flips.items()})
    return report


MODEL = _report(
    0.80,
    {"fog@1": 0.70, "fog@2": 0.60, "fog@3": 0.50, "snow@1": 0.75, "snow@2": 0.55},
    {"fog@1": 0.10, "fog@2": 0.20, "fog@3": 0.30, "snow@1": 0.05, "snow@2": 0.25},
)
REFERENCE = _report(
    0.60,
    {"fog@1": 0.50, "fog@2": 0.40, "fog@3": 0.30, "snow@1": 0.40, "snow@2": 0.20},
    {"fog@1": 0.50, "fog@2": 0.50, "fog@3": 0.50, "snow@1": 0.50, "snow@2": 0.50},
)


def test_corruption_errors_by_hand():
    result = mean_corruption_error(MODEL, REFERENCE)
    # Top-1 errors. Model: clean 0.2; fog 0.3, 0.4, 0.5; snow 0.25, 0.45.
    # Reference: clean 0.4; fog 0.5, 0.6, 0.7; snow 0.6, 0.8.
    # CE_fog = (0.3 + 0.4 + 0.5) / (0.5 + 0.6 + 0.7) = 1.2 / 1.8 = 2 / 3
    # CE_snow = (0.25 + 0.45) / (0.6 + 0.8) = 0.7 / 1.4 = 1 / 2
    # Relative: errors above each model's clean error.
    # fog: (0.1 + 0.2 + 0.3) / (0.1 + 0.2 + 0.3) = 1
    # snow: (0.05 + 0.25) / (0.2 + 0.4) = 0.3 / 0.6 = 1 / 2
    assert result["per_corruption"] == {
        "fog": {"ce": pytest.approx(2 / 3), "relative_ce": pytest.approx(1.0)},
        "snow": {"ce": pytest.approx(0.5), "relative_ce": pytest.approx(0.5)},
    }
    assert result["mce"] == pytest.approx((2 / 3 + 1 / 2) / 2)  # 7 / 12
    assert result["relative_mce"] == pytest.approx((1 + 1 / 2) / 2)  # 3 / 4
    # Flip rates: fog's mean 0.2, snow's 0.15; their mean 0.175.
    assert result["mean_flip_rate"] == pytest.approx(0.175)
    assert set(result) == {"mce", "relative_mce", "per_corruption", "mean_flip_rate"}


def test_the_reference_against_itself_scores_one():
    result = mean_corruption_error(REFERENCE, REFERENCE)
    assert result["mce"] == pytest.approx(1.0)
    assert result["relative_mce"] == pytest.approx(1.0)
    assert result["mean_flip_rate"] == pytest.approx(0.5)


def test_conditions_without_a_severity_or_top1_are_left_out():
    extra = {**MODEL, "rotate/top1": 0.1, "rotate@15deg/flip_rate": 0.9}
    assert mean_corruption_error(extra, REFERENCE) == mean_corruption_error(
        MODEL, REFERENCE
    )


def _without(report, key):
    return {k: v for k, v in report.items() if k != key}


@pytest.mark.parametrize(
    "report, reference, message",
    [
        (
            MODEL,
            _without(REFERENCE, "snow@2/top1"),
            r"`reference_report` lacks the conditions \['snow@2'\]",
        ),
        (
            _without(MODEL, "fog@3/top1"),
            REFERENCE,
            r"`report` lacks the conditions \['fog@3'\]",
        ),
        (
            _without(MODEL, "clean/top1"),
            REFERENCE,
            r"`report` has no `clean/top1`",
        ),
        (
            MODEL,
            _without(REFERENCE, "fog@1/flip_rate"),
            r"`reference_report` has `fog@1/top1` but no `fog@1/flip_rate`",
        ),
        (
            {"clean/top1": 0.9, "num_images": 4},
            REFERENCE,
            r"`report` has no `family@severity/top1` entries",
        ),
        ([0.5], REFERENCE, r"`report` must be a dict.*Received: report=\[0\.5\]"),
        (
            MODEL,
            {**REFERENCE, "snow@1/top1": 1.0, "snow@2/top1": 1.0},
            r"`reference_report`'s top-1 errors on `snow` sum to 0",
        ),
        (
            MODEL,
            {**REFERENCE, "snow@1/top1": 0.6, "snow@2/top1": 0.6},
            r"`reference_report`'s top-1 errors above its clean error on `snow` "
            "sum to 0",
        ),
    ],
)
def test_errors_name_the_report_at_fault(report, reference, message):
    with pytest.raises(ValueError, match=message):
        mean_corruption_error(report, reference)
