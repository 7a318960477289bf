"""Calibrated thresholds against counting, and synthetic pairs by hand.

Error tests match the argument and the value received, not the wording.
"""

import re

import numpy as np
import pytest

from keras_stability import evaluation
from keras_stability.evaluation import calibration

TESTED = calibration


def _np_calibrate(distances, positive, target):
    """Try every distinct distance, largest first; count what it calls."""
    for threshold in sorted(set(distances), reverse=True):
        called = distances <= threshold
        hits = np.sum(called & positive)
        if hits / np.sum(called) >= target:
            return (
                threshold,
                hits / np.sum(called),
                hits / np.sum(positive),
                called.sum(),
            )
    return None


class _PixelModel:
    """f(x) = x[:, 0, 0, :]: the embedding is the top-left pixel."""

    def predict_on_batch(self, images):
        return np.asarray(images)[:, 0, 0, :]


def test_docstring_example_runs(public_function, run_example):
    run_example(public_function)


def test_random_cases_match_counting(rng):
    for _ in range(5):
        distances = np.round(rng.random(60), 1)  # many ties
        positive = rng.random(60) < 0.4
        positive[np.argmin(distances)] = True  # some target is always reachable
        for target in [0.3, 0.5, 0.7, 0.9, 1.0]:
            expected = _np_calibrate(distances, positive, target)
            if expected is None:
                with pytest.raises(ValueError, match="No threshold reaches"):
                    evaluation.calibrate_threshold(distances, positive, target)
                continue
            result = evaluation.calibrate_threshold(distances, positive, target)
            assert result.threshold == expected[0]
            assert result.precision == pytest.approx(expected[1])
            assert result.recall == pytest.approx(expected[2])
            assert result.num_called == expected[3]
            assert result.num_pairs == 60


def test_the_largest_threshold_even_after_a_dip():
    # Precision 1, 1/2, 2/3, 3/4: 0.75 is missed at 0.2 and 0.3, then met at
    # 0.4, which calls every pair.
    distances = [0.1, 0.2, 0.3, 0.4]
    positive = [True, False, True, True]
    result = evaluation.calibrate_threshold(distances, positive, precision=0.75)
    assert result == (0.4, 0.75, 1.0, 4, 4)
    assert evaluation.calibrate_threshold(distances, positive, 1.0) == (
        0.1,
        1.0,
        1 / 3,
        1,
        4,
    )


def test_tied_pairs_are_called_together():
    # A positive and a negative at 0.1: no threshold calls the positive
    # alone, so precision 1 is out of reach; the best is 2/3 at 0.2.
    distances = [0.1, 0.1, 0.2]
    positive = [True, False, True]
    with pytest.raises(
        ValueError, match=r"best precision is 0\.6667, at threshold 0\.2 \(recall 1\)"
    ):
        evaluation.calibrate_threshold(distances, positive, precision=1.0)
    result = evaluation.calibrate_threshold(distances, positive, precision=0.5)
    assert result.threshold == 0.2 and result.num_called == 3


@pytest.mark.parametrize("precision", [0, 0.0, -0.5, 1.01, np.nan, True, "0.9"])
def test_precision_errors(precision):
    with pytest.raises(
        ValueError, match=f"`precision`.*precision={re.escape(repr(precision))}"
    ):
        evaluation.calibrate_threshold([0.1, 0.2], [True, False], precision)


def test_pair_errors():
    with pytest.raises(ValueError, match=r"at least one positive.*0 positives"):
        evaluation.calibrate_threshold([0.1, 0.2], [False, False])
    with pytest.raises(ValueError, match=r"same length.*2 distances.*among 3"):
        evaluation.calibrate_threshold([0.1, 0.2], [True, False, True])


def test_synthetic_pairs_by_hand():
    # Three images whose embeddings are 0, 1 and 5 on a line; the two
    # distortions move every embedding by 0.25 and by 2.
    images = np.zeros((3, 2, 2, 1), "float32")
    images[:, 0, 0, 0] = [0.0, 1.0, 5.0]

    def shifted_by(amount):
        def shift(batch):
            out = np.array(batch)
            out[:, 0, 0, 0] += amount
            return out

        return shift

    distances, positive = evaluation.synthetic_pair_distances(
        _PixelModel(), images, [shifted_by(0.25), shifted_by(2.0)], batch_size=2
    )
    # Positives: 0.25 three times, then 2 three times; negatives
    # |0 - 1| = 1, |1 - 5| = 4, |0 - 5| = 5, closest first.
    np.testing.assert_allclose(distances, [0.25] * 3 + [2.0] * 3 + [1.0, 4.0, 5.0])
    np.testing.assert_array_equal(positive, [True] * 6 + [False] * 3)
    # At 0.25 precision 1 (recall 1/2); at 1, 3/4; at 2, 6/7; then 6/8, 6/9.
    result = evaluation.calibrate_threshold(distances, positive, precision=0.85)
    assert result == pytest.approx((2.0, 6 / 7, 1.0, 7, 9))


@pytest.mark.parametrize("distortions", [[], "jpeg@50"])
def test_synthetic_pairs_need_a_sequence_of_distortions(distortions):
    images = np.zeros((3, 2, 2, 1), "float32")
    with pytest.raises(
        ValueError, match=f"`distortions`.*{re.escape(repr(distortions))}"
    ):
        evaluation.synthetic_pair_distances(_PixelModel(), images, distortions)
