"""Near-duplicate PR curves and feature distances, by hand.

Error tests match the argument and the value received, not the wording.
"""

import importlib.util
import os
import re

import keras
import numpy as np
import pytest

from keras_stability import evaluation
from keras_stability import perturbations
from keras_stability._seeds import StepSeed
from keras_stability.evaluation import near_duplicates

TESTED = near_duplicates

EXAMPLE = os.path.join(
    os.path.dirname(__file__), os.pardir, os.pardir, "examples", "near_duplicates.py"
)


class _TableModel:
    """An 'embedding model' that reads its vector off the image: f(x) = x[:, 0, 0, :]."""

    def __init__(self):
        self.calls = []

    def predict_on_batch(self, images):
        self.calls.append(len(images))
        return np.asarray(images)[:, 0, 0, :]


def _pixel_images(vectors, size=4):
    """Images whose top-left pixel holds `vectors`; the rest is noise-free zeros."""
    vectors = np.asarray(vectors, "float32")
    images = np.zeros((len(vectors), size, size, vectors.shape[1]), "float32")
    images[:, 0, 0, :] = vectors
    return images


def _bottom_right_noise(images):
    """A distortion that changes every pixel except the top-left one."""
    out = images + 0.5
    out[:, 0, 0, :] = images[:, 0, 0, :]
    return out


def _flatten_model(shape):
    inputs = keras.Input(shape)
    return keras.Model(inputs, keras.layers.Flatten()(inputs))


def _np_pr(distances, positive, thresholds):
    """Precision and recall of `d <= t` for each t, by counting."""
    precision, recall = [], []
    for t in thresholds:
        called = distances <= t
        hits = np.sum(called & positive)
        precision.append(hits / np.sum(called))
        recall.append(hits / np.sum(positive))
    return np.array(precision), np.array(recall)


def _np_average_precision(distances, positive):
    """sklearn's average precision by its definition: mean over positives of
    the precision at the threshold equal to that positive's distance."""
    values = []
    for d in distances[positive]:
        called = distances <= d
        values.append(np.sum(called & positive) / np.sum(called))
    return np.mean(values)


def test_docstring_example_runs(public_function, run_example):
    run_example(public_function)


def test_invariant_separating_embedding_is_perfect(rng):
    vectors = rng.normal(size=(12, 3)) * 5
    images = _pixel_images(vectors)
    result = evaluation.near_duplicate_pr(
        _TableModel(), images, _bottom_right_noise, negatives_per_image=3, seed=1
    )
    assert result["pr_auc"] == 1.0
    assert result["precision_at_recall_0.9"] == 1.0
    assert result["precision_at_recall_0.95"] == 1.0
    assert result["recall_at_precision_0.99"] == 1.0
    np.testing.assert_array_equal(result["positive_distances"], np.zeros(12))
    # The first threshold (distance 0) calls exactly the 12 positives.
    assert result["thresholds"][0] == 0.0
    assert result["precision"][0] == 1.0 and result["recall"][0] == 1.0
    assert result["num_pairs"] == 12 * 4
    assert result["positive_share"] == pytest.approx(0.25)


def test_constant_embedding_scores_the_positive_share(rng):
    # Every distance is 0: one threshold calls every pair, so precision is
    # P / (P + N) at recall 1, and average precision = 1 * P / (P + N).
    images = rng.random((10, 4, 4, 1)).astype("float32")
    constant = _TableModel()
    constant.predict_on_batch = lambda x: np.ones((len(x), 5))
    for negatives, share in [(1, 0.5), (4, 0.2)]:
        result = evaluation.near_duplicate_pr(
            constant, images, _bottom_right_noise, negatives_per_image=negatives
        )
        assert result["positive_share"] == pytest.approx(share)
        assert result["pr_auc"] == pytest.approx(share)
        np.testing.assert_allclose(result["precision"], [share])
        np.testing.assert_allclose(result["recall"], [1.0])
        assert result["precision_at_recall_0.9"] == pytest.approx(share)
        # No threshold reaches precision 0.99: no recall there.
        assert result["recall_at_precision_0.99"] == 0.0
        # Recall@k ranks ties against the query: the 9 other copies come
        # first, so an image finds its own only among its 10 nearest.
        assert [result[f"recall_at_{k}"] for k in (1, 5, 10)] == [0, 0, 1]


def test_three_images_by_hand():
    # f(x) of the clean images on a line: 0, 1, 5. The distortion moves them
    # to 1.5, 1.25, 5 (positive distances 1.5, 0.25, 0). Each image's one
    # negative is drawn with the seed; its distance is |f(x_i) - f(x_j)|, and
    # the pair (0, 1) at distance 1 ranks above the positive at 1.5.
    clean = np.array([[0.0], [1.0], [5.0]])
    images = _pixel_images(clean)

    def distortion(batch):
        out = batch.copy()
        lookup = {0.0: 1.5, 1.0: 1.25, 5.0: 5.0}
        out[:, 0, 0, 0] = [lookup[float(v)] for v in batch[:, 0, 0, 0]]
        return out

    result = evaluation.near_duplicate_pr(_TableModel(), images, distortion, seed=3)
    partners = evaluation.negative_partners(3, 1, seed=3)[:, 0]
    negatives = np.abs(clean[:, 0] - clean[partners, 0])
    np.testing.assert_allclose(result["positive_distances"], [1.5, 0.25, 0.0])
    np.testing.assert_allclose(result["negative_distances"][:, 0], negatives)
    distances = np.r_[1.5, 0.25, 0.0, negatives]
    positive = np.arange(6) < 3
    thresholds = np.unique(distances)
    precision, recall = _np_pr(distances, positive, thresholds)
    np.testing.assert_allclose(result["thresholds"], thresholds)
    np.testing.assert_allclose(result["precision"], precision)
    np.testing.assert_allclose(result["recall"], recall)
    assert result["pr_auc"] == pytest.approx(_np_average_precision(distances, positive))
    # Seed 3 pairs 0 with 1, 1 with 0 and 2 with 0: negatives at 1, 1, 5.
    # Sorted: 0 (P), 0.25 (P), 1 (N), 1 (N), 1.5 (P), 5 (N), so
    # AP = (1 + 1 + 3/5) / 3.
    np.testing.assert_array_equal(partners, [1, 0, 0])
    assert result["pr_auc"] == pytest.approx((1 + 1 + 3 / 5) / 3)
    assert result["precision_at_recall_0.9"] == pytest.approx(3 / 5)
    # Precision 1 holds up to t=0.25, which calls 2 of the 3 positives.
    assert result["recall_at_precision_0.99"] == pytest.approx(2 / 3)
    # Recall@k among the copies at 1.5, 1.25, 5: image 0 (at 0) has copy 1
    # (1.25) before its own (1.5); images 1 and 2 have their own first.
    assert result["recall_at_1"] == pytest.approx(2 / 3)
    assert result["recall_at_5"] == result["recall_at_10"] == 1.0


def test_fixed_distances_against_hand_values():
    # Pairs: positives at 0.1, 0.4, 0.4, 0.9; negatives at 0.4, 0.6, 2.0.
    distances = np.array([0.1, 0.4, 0.4, 0.9, 0.4, 0.6, 2.0])
    positive = np.array([1, 1, 1, 1, 0, 0, 0], bool)
    precision, recall, thresholds, average = evaluation.precision_recall_curve(
        distances, positive
    )
    np.testing.assert_allclose(thresholds, [0.1, 0.4, 0.6, 0.9, 2.0])
    # t=0.1: 1/1; t=0.4: 3/4 (ties called together); t=0.6: 3/5; t=0.9: 4/6;
    # t=2.0: 4/7.
    np.testing.assert_allclose(precision, [1, 3 / 4, 3 / 5, 4 / 6, 4 / 7])
    np.testing.assert_allclose(recall, [1 / 4, 3 / 4, 3 / 4, 1, 1])
    # AP = 1/4 * 1 + 2/4 * 3/4 + 0 * 3/5 + 1/4 * 4/6 + 0 = 0.7916...
    assert average == pytest.approx(0.25 + 0.375 + 1 / 6)
    assert average == pytest.approx(_np_average_precision(distances, positive))


def test_random_cases_match_counting(rng):
    for _ in range(5):
        distances = np.round(rng.random(40), 1)  # many ties
        positive = rng.random(40) < 0.3
        positive[0] = True
        precision, recall, thresholds, average = evaluation.precision_recall_curve(
            distances, positive
        )
        expected = _np_pr(distances, positive, np.unique(distances))
        np.testing.assert_allclose(precision, expected[0])
        np.testing.assert_allclose(recall, expected[1])
        assert average == pytest.approx(_np_average_precision(distances, positive))


def test_precision_at_recall_is_the_best_precision_beyond_it():
    # 20 images embedded as the one-hot vectors e_0 .. e_19 (plus a spare
    # axis e_20), so every negative pair is at distance sqrt(2), whichever
    # partners the seed draws. The distortion moves image i along e_20 by
    # d_i: 17 positives at 0, then (past the 20 negatives at sqrt(2)) one
    # each at 2, 2.5 and 3. Thresholds and precision, recall:
    #   0: 17/17, 0.85;  sqrt(2): 17/37, 0.85;  2: 18/38, 0.9;
    #   2.5: 19/39, 0.95;  3: 20/40, 1.
    # Recall first reaches 0.9 at t=2 (18/38) and 0.95 at t=2.5 (19/39), but
    # the best precision at either recall comes later, at t=3: 20/40 = 1/2.
    shifts = np.r_[np.zeros(17), 2.0, 2.5, 3.0]
    vectors = np.eye(20, 21)
    images = _pixel_images(vectors)

    def along_spare_axis(batch):
        out = batch.copy()
        index = batch[:, 0, 0, :20].argmax(-1)
        out[:, 0, 0, 20] = shifts[index]
        return out

    result = evaluation.near_duplicate_pr(
        _TableModel(), images, along_spare_axis, batch_size=6, seed=5
    )
    np.testing.assert_allclose(result["negative_distances"], np.sqrt(2))
    np.testing.assert_allclose(result["thresholds"], [0, np.sqrt(2), 2, 2.5, 3])
    assert result["precision_at_recall_0.9"] == pytest.approx(0.5)
    assert result["precision_at_recall_0.95"] == pytest.approx(0.5)
    # Only t=0 keeps precision >= 0.99 (17/17): recall 0.85.
    assert result["recall_at_precision_0.99"] == pytest.approx(0.85)
    # AP: 17 positives at precision 1, then 18/38, 19/39 and 20/40.
    assert result["pr_auc"] == pytest.approx((17 + 18 / 38 + 19 / 39 + 20 / 40) / 20)


@pytest.mark.tensorflow  # JPEG through libjpeg
def test_recall_at_precision_is_the_calibrated_recall(rng):
    # The recall reported at precision 0.99 is the one `calibrate_threshold`
    # finds on the same pairs. The copies of the first 4 images stay put (so
    # a threshold reaches the target); the others move by amounts that
    # mix them among the negatives, and rounding makes ties.
    def moved(batch):
        out = batch.copy()
        out[4:, 0, 0, :] += np.round(rng.normal(size=out[4:, 0, 0, :].shape), 1)
        return out

    reached = []
    for seed in range(6):
        # 40 distinct points of a grid of spacing 0.5: no negative at 0.
        grid = np.divmod(rng.choice(400, size=40, replace=False), 20)
        images = _pixel_images(np.stack(grid, axis=1) * 0.5)
        result = evaluation.near_duplicate_pr(
            _TableModel(),
            images,
            moved,
            negatives_per_image=5,
            seed=seed,
            batch_size=40,
        )
        distances = np.r_[
            result["positive_distances"], result["negative_distances"].ravel()
        ]
        is_positive = np.arange(distances.size) < 40
        calibrated = evaluation.calibrate_threshold(distances, is_positive, 0.99)
        assert result["recall_at_precision_0.99"] == pytest.approx(calibrated.recall)
        reached.append(calibrated.recall)
    # Neither trivially perfect nor only the unmoved copies.
    assert min(reached) >= 4 / 40 and max(reached) < 1.0 and max(reached) > 4 / 40


def test_deterministic_for_a_seed(rng):
    images = rng.random((20, 6, 6, 3)).astype("float32")
    model = _flatten_model((6, 6, 3))
    noise = perturbations.GaussianNoise(0.2)
    first = evaluation.near_duplicate_pr(model, images, noise, batch_size=8, seed=7)
    second = evaluation.near_duplicate_pr(model, images, noise, batch_size=8, seed=7)
    other = evaluation.near_duplicate_pr(model, images, noise, batch_size=8, seed=8)
    for key in ("precision", "recall", "thresholds", "negative_distances"):
        np.testing.assert_array_equal(first[key], second[key])
    assert first["pr_auc"] == second["pr_auc"]
    assert not np.array_equal(first["positive_distances"], other["positive_distances"])
    # Named distortions resolve to the default suite.
    named = evaluation.near_duplicate_pr(model, images, "noise@0.04", seed=7)
    assert named["num_images"] == 20


def test_negatives_never_pair_an_image_with_itself():
    for count, k, seed in [(2, 1, 0), (5, 4, 1), (50, 7, 2), (300, 299, 3)]:
        partners = evaluation.negative_partners(count, k, seed)
        assert partners.shape == (count, k)
        assert not np.any(partners == np.arange(count)[:, None])
        assert all(len(set(row)) == k for row in partners)  # distinct per row
        assert partners.min() >= 0 and partners.max() < count
    # With k = n - 1 every row is a permutation of the other images.
    partners = evaluation.negative_partners(6, 5, seed=4)
    for index, row in enumerate(partners):
        assert sorted(row) == [j for j in range(6) if j != index]


def test_negative_partners_errors():
    cases = [
        (
            dict(count=5, negatives_per_image=1, seed=-1),
            r"`seed`.*\[0, 2147483647\].*Received: seed=-1$",
        ),
        (dict(count=5, negatives_per_image=1, seed=1.5), r"Received: seed=1.5$"),
        (dict(count=5, negatives_per_image=1, seed=None), r"Received: seed=None$"),
        (
            dict(count=5, negatives_per_image=1, seed=2**31),
            r"Received: seed=2147483648$",
        ),
        (
            dict(count=1, negatives_per_image=1),
            r"`count`.*>= 2.*Received: count=1$",
        ),
        (dict(count=5.0, negatives_per_image=1), r"Received: count=5.0$"),
        (dict(count=True, negatives_per_image=1), r"Received: count=True$"),
        (dict(count="5", negatives_per_image=1), r"Received: count='5'$"),
        (
            dict(count=5, negatives_per_image=True),
            r"`negatives_per_image`.*Received: negatives_per_image=True$",
        ),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            evaluation.negative_partners(**kwargs)
    # NumPy ints are ints.
    partners = evaluation.negative_partners(np.int64(4), np.int32(3), np.int64(2))
    assert partners.shape == (4, 3)


@pytest.mark.parametrize("seed", [-1, 1.5, "a", True, None, 2**31, 2**32])
@pytest.mark.parametrize("function", ["near_duplicate_pr", "feature_distances"])
def test_seed_is_checked_before_any_work(function, seed):
    model = _TableModel()
    images = _pixel_images(np.eye(4))
    with pytest.raises(
        ValueError,
        match=r"`seed`.*\[0, 2147483647\].*Received: seed="
        + re.escape(repr(seed))
        + "$",
    ):
        getattr(evaluation, function)(model, images, _bottom_right_noise, seed=seed)
    assert model.calls == []


def test_the_largest_seed_is_taken(rng):
    images = rng.random((6, 4, 4, 1)).astype("float32")
    model = _flatten_model((4, 4, 1))
    noise = perturbations.GaussianNoise(0.1)
    largest = 2**31 - 1
    result = evaluation.near_duplicate_pr(model, images, noise, seed=largest)
    distances = evaluation.feature_distances(model, images, noise, seed=largest)
    np.testing.assert_array_equal(distances, result["positive_distances"])
    assert np.all(distances > 0)
    assert evaluation.negative_partners(6, 2, seed=largest).shape == (6, 2)


def test_crop_larger_than_the_images_is_refused_before_any_work():
    images = _pixel_images(np.eye(4))  # 4 x 4 images
    message = (
        r"`distortion` cannot apply to images of shape \(4, 4, 4, 4\):.*"
        r"Received: max_offset=5 for images of height=4 and width=4"
    )
    for function in (evaluation.near_duplicate_pr, evaluation.feature_distances):
        model = _TableModel()
        with pytest.raises(ValueError, match=message):
            function(model, images, "crop@5")
        assert model.calls == []


def test_a_failing_distortion_is_named():
    images = _pixel_images(np.eye(4))

    def boom(batch):
        raise ValueError("boom")

    with pytest.raises(
        ValueError,
        match=r"`distortion` failed on images of shape \(4, 4, 4, 4\): boom$",
    ):
        evaluation.feature_distances(_TableModel(), images, boom)
    with pytest.raises(
        ValueError,
        match=r"`distortion` failed on images of shape \(4, 4, 4, 4\):.*"
        r"returned tuple",
    ):
        evaluation.near_duplicate_pr(_TableModel(), images, lambda x: tuple(x))
    with pytest.raises(
        ValueError,
        match=r"non-finite embeddings \(16 NaN or inf values\) for batch 0 under "
        r"`distortion`",
    ):
        evaluation.feature_distances(_TableModel(), images, lambda x: x * np.nan)


def test_precision_recall_curve_errors():
    cases = [
        (
            ([np.nan, 1.0, 0.5], [True, False, True]),
            r"`distances`.*finite.*Received: 1 NaN or inf values among 3 distances",
        ),
        (
            ([0.1, np.inf], [True, False]),
            r"`distances`.*finite.*Received: 1 NaN or inf values among 2 distances",
        ),
        (
            (["a", "b"], [True, False]),
            r"`distances`.*numbers.*Received: distances=\['a', 'b'\]$",
        ),
        (
            ([0.1, 0.2], [0.5, 1]),
            r"`is_positive`.*booleans.*Received: is_positive=\[0\.5, 1\]$",
        ),
        (
            ([0.1, 0.2], ["yes", "no"]),
            r"`is_positive`.*booleans.*Received: is_positive=\['yes', 'no'\]$",
        ),
        (([0.1, 0.2], [True]), r"same length.*2 distances.*among 1"),
    ]
    for (distances, is_positive), message in cases:
        with pytest.raises(ValueError, match=message):
            evaluation.precision_recall_curve(distances, is_positive)
    # 0 and 1 are booleans.
    *_, average = evaluation.precision_recall_curve([0.1, 0.2], [1, 0])
    assert average == 1.0


@pytest.mark.tensorflow
def test_one_image_dataset_is_refused_once_embedded():
    import tensorflow as tf

    images = _pixel_images(np.eye(3)[:1])
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(4)
    for function in (evaluation.near_duplicate_pr, evaluation.feature_distances):
        with pytest.raises(
            ValueError,
            match=r"at least 2 images. Received: 1\.$",
        ):
            function(_TableModel(), dataset, _bottom_right_noise)


def test_negative_distances_use_the_drawn_partners(rng):
    vectors = rng.normal(size=(9, 2))
    result = evaluation.near_duplicate_pr(
        _TableModel(),
        _pixel_images(vectors),
        _bottom_right_noise,
        negatives_per_image=3,
        seed=11,
    )
    partners = evaluation.negative_partners(9, 3, seed=11)
    expected = np.sqrt(((vectors[:, None, :] - vectors[partners]) ** 2).sum(-1))
    np.testing.assert_allclose(result["negative_distances"], expected, rtol=1e-6)


def test_feature_distances_against_numpy(rng):
    images = rng.random((11, 5, 5, 2)).astype("float32")
    model = _flatten_model((5, 5, 2))
    noise = perturbations.GaussianNoise(0.1)
    distances = evaluation.feature_distances(model, images, noise, batch_size=4, seed=2)
    expected = []
    for batch_index, start in enumerate(range(0, 11, 4)):
        batch = images[start : start + 4]
        seed = StepSeed(np.array([2, batch_index]))
        noisy = keras.ops.convert_to_numpy(noise(batch, training=True, seed=seed))
        expected.append(np.sqrt(((noisy - batch) ** 2).reshape(len(batch), -1).sum(1)))
    np.testing.assert_allclose(distances, np.concatenate(expected), rtol=1e-5)
    # The same copies as near_duplicate_pr's positives.
    result = evaluation.near_duplicate_pr(model, images, noise, batch_size=4, seed=2)
    np.testing.assert_array_equal(distances, result["positive_distances"])
    # An invariant embedding gives zeros; batches of batch_size are used.
    table = _TableModel()
    zeros = evaluation.feature_distances(
        table, _pixel_images(rng.normal(size=(7, 3))), _bottom_right_noise, batch_size=3
    )
    np.testing.assert_array_equal(zeros, np.zeros(7))
    assert table.calls == [3, 3, 3, 3, 1, 1]


@pytest.mark.tensorflow  # JPEG through libjpeg
def test_errors(rng):
    images = rng.random((4, 4, 4, 1)).astype("float32")
    model = _flatten_model((4, 4, 1))
    with pytest.raises(
        ValueError, match=r"`negatives_per_image`.*Received: negatives_per_image=0$"
    ):
        evaluation.near_duplicate_pr(
            model, images, _bottom_right_noise, negatives_per_image=0
        )
    with pytest.raises(
        ValueError,
        match=r"`negatives_per_image`.*number of images \(4\).*"
        r"Received: negatives_per_image=4$",
    ):
        evaluation.near_duplicate_pr(
            model, images, _bottom_right_noise, negatives_per_image=4
        )
    with pytest.raises(ValueError, match="at least 2 images. Received: 1"):
        evaluation.near_duplicate_pr(model, images[:1], _bottom_right_noise)
    with pytest.raises(ValueError, match="at least 2 images. Received: 1"):
        evaluation.feature_distances(model, images[:1], _bottom_right_noise)
    with pytest.raises(ValueError, match=r"output has shape \(batch, dim\)"):
        evaluation.near_duplicate_pr(
            keras.Sequential([keras.layers.Identity()]), images, _bottom_right_noise
        )
    with pytest.raises(
        ValueError,
        match=r"non-finite embeddings \(8 NaN or inf values\) for batch 0 of the "
        r"images",
    ):
        nan_model = _TableModel()
        nan_model.predict_on_batch = lambda x: np.full((len(x), 2), np.nan)
        evaluation.near_duplicate_pr(nan_model, images, _bottom_right_noise)
    with pytest.raises(
        ValueError, match=r"`distortion`.*Received: distortion='jpeg@51'$"
    ):
        evaluation.near_duplicate_pr(model, images, "jpeg@51")
    with pytest.raises(ValueError, match=r"`distortion`.*Received: distortion=3$"):
        evaluation.feature_distances(model, images, 3)
    with pytest.raises(ValueError, match=r"`batch_size`.*Received: batch_size=0$"):
        evaluation.near_duplicate_pr(model, images, _bottom_right_noise, batch_size=0)
    with pytest.raises(ValueError, match=r"\[\(4, 4, 4, 1\)\] into \[\(4, 2, 4, 1\)\]"):
        evaluation.near_duplicate_pr(model, images, lambda x: x[:, :2])
    with pytest.raises(ValueError, match="at least one positive"):
        evaluation.precision_recall_curve([0.1, 0.2], [False, False])


def _example():
    spec = importlib.util.spec_from_file_location("near_duplicates", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    return example


@pytest.mark.tensorflow  # JPEG through libjpeg
def test_example_runs_quick(tmp_path, capsys):
    results = _example().main(["--quick", "--output", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "PR-AUC" in printed and "P@R0.9" in printed and "R@P0.99" in printed
    names = ["jpeg50", "crop3", "thumbnail0.5"]
    for name in names:
        for kind in ("precision_recall", "distance_cdf"):
            assert os.path.getsize(tmp_path / f"{kind}_{name}.png") > 10_000
    assert list(results) == ["pHash", "baseline", "stabilized", "stabilized (mix)"]
    for label, by_distortion in results.items():
        for runs in by_distortion.values():
            (result,) = runs
            assert 0.0 < result["pr_auc"] <= 1.0
            assert 0.0 <= result["recall_at_precision_0.99"] <= 1.0
            assert result["positive_share"] == pytest.approx(1 / 11)
            if label == "pHash":
                # sqrt(Hamming distance) of 64-bit hashes.
                squared = result["negative_distances"] ** 2
                np.testing.assert_allclose(squared, np.round(squared), atol=1e-4)
                assert squared.max() <= 64


def test_example_hash_distances_are_phash_hamming_distances(rng):
    imagehash = pytest.importorskip("imagehash")
    from PIL import Image

    example = _example()
    images = rng.random((6, 32, 32, 3)).astype("float32")
    images[3:] = images[:3] * 0.9  # darker copies: close hashes
    bits = example.PerceptualHash().predict_on_batch(images)
    hashes = [
        imagehash.phash(Image.fromarray(np.round(image * 255).astype("uint8")))
        for image in images
    ]
    for i in range(6):
        for j in range(6):
            squared = np.sum((bits[i] - bits[j]) ** 2)
            assert squared == hashes[i] - hashes[j]
