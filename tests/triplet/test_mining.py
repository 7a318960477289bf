"""Tests of `keras_stability.triplet.mining`.

Every expected value comes from a NumPy reference written here with explicit
loops over anchors, positives and negatives (the mining rules as stated in
the papers and in TensorFlow Addons' documentation, plus its fallbacks for
empty sets), or from a derivation by hand in the comments.
"""

import math
import re
import types

import keras
import numpy as np
import pytest
from keras import ops

from keras_stability.triplet import TripletHardLoss
from keras_stability.triplet import TripletSemiHardLoss
from keras_stability.triplet import mining
from keras_stability.triplet import triplet_hard_loss
from keras_stability.triplet import triplet_semihard_loss

METRICS = ["L2", "squared-L2", "angular"]
FLOAT32_MAX = float(np.finfo(np.float32).max)


def np_semihard(labels, distances, margin):
    """Semi-hard mining over all (anchor, positive) pairs, TF Addons' way."""
    labels = np.ravel(labels)
    n = len(labels)
    total, pairs = 0.0, 0
    for a in range(n):
        negatives = [distances[a, k] for k in range(n) if labels[k] != labels[a]]
        for p in range(n):
            if p == a or labels[p] != labels[a]:
                continue
            pairs += 1
            positive = distances[a, p]
            farther = [d for d in negatives if d > positive]
            if farther:
                negative = min(farther)
            elif negatives:
                negative = max(negatives)
            else:
                # No negative at all: TF Addons' masked maximum of an empty
                # set is the minimum of the whole row.
                negative = min(distances[a])
            # The gap first: with distances of 1e40, margin + D(a, p) would
            # round the margin away even in float64.
            total += max(margin + (positive - negative), 0.0)
    return total / pairs if pairs else 0.0


def np_hard(labels, distances, margin, soft=False):
    """Hardest positive and hardest negative per anchor, TF Addons' way."""
    labels = np.ravel(labels)
    n = len(labels)
    total = 0.0
    for a in range(n):
        positives = [
            distances[a, p] for p in range(n) if p != a and labels[p] == labels[a]
        ]
        negatives = [distances[a, k] for k in range(n) if labels[k] != labels[a]]
        # Empty sets: TF Addons' masked maximum gives the row's minimum and
        # its masked minimum gives the row's maximum.
        hardest_positive = max(positives) if positives else min(distances[a])
        hardest_negative = min(negatives) if negatives else max(distances[a])
        gap = hardest_positive - hardest_negative
        if soft:
            # log(1 + exp(gap)), written so that a large gap does not overflow.
            total += max(gap, 0.0) + math.log1p(math.exp(-abs(gap)))
        else:
            total += max(gap + margin, 0.0)
    return total / n


@keras.saving.register_keras_serializable(package="keras_stability_tests")
def manhattan_distance(embeddings):
    """A custom `distance_metric`: pairwise L1 distances."""
    return ops.sum(
        ops.abs(ops.expand_dims(embeddings, 1) - ops.expand_dims(embeddings, 0)),
        axis=-1,
    )


@keras.saving.register_keras_serializable(package="keras_stability_tests")
def one_minus_dot(embeddings):
    """TF Addons' documented custom metric, `1 - x @ x.T`.

    On unnormalized embeddings its diagonal is not the row minimum and
    entries can be negative, which exercises the empty-set fallbacks
    (the row's minimum or maximum, not the distance to itself).
    """
    return 1.0 - ops.matmul(embeddings, ops.transpose(embeddings))


def np_manhattan_matrix(embeddings):
    n = len(embeddings)
    return np.array(
        [
            [float(np.sum(np.abs(embeddings[i] - embeddings[j]))) for j in range(n)]
            for i in range(n)
        ]
    )


def losses_and_references(labels, embeddings, distances, metric):
    """(loss, float64 reference) for semi-hard, hard and soft hard, margin 1."""
    return [
        (
            triplet_semihard_loss(labels, embeddings, distance_metric=metric),
            np_semihard(labels, distances, 1.0),
        ),
        (
            triplet_hard_loss(labels, embeddings, distance_metric=metric),
            np_hard(labels, distances, 1.0),
        ),
        (
            triplet_hard_loss(labels, embeddings, soft=True, distance_metric=metric),
            np_hard(labels, distances, 1.0, soft=True),
        ),
    ]


@pytest.fixture
def reference_distances(np_distance_matrix):
    """The float64 distance matrix of a built-in or test metric."""

    def reference(embeddings, metric):
        embeddings = np.asarray(embeddings, np.float64)
        if metric == "manhattan":
            return np_manhattan_matrix(embeddings)
        if metric == "one_minus_dot":
            n = len(embeddings)
            return np.array(
                [
                    [1.0 - embeddings[i] @ embeddings[j] for j in range(n)]
                    for i in range(n)
                ]
            )
        return np_distance_matrix(embeddings, metric)

    return reference


CALLABLES = {"manhattan": manhattan_distance, "one_minus_dot": one_minus_dot}


def to_metric(metric):
    return CALLABLES.get(metric, metric)


@pytest.fixture
def batch(rng):
    """12 embeddings in 4 classes; label 3 has a single member."""
    embeddings = rng.normal(size=(12, 5)).astype("float32")
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 3])
    return labels, embeddings


@pytest.mark.parametrize("metric", [*METRICS, *CALLABLES])
@pytest.mark.parametrize("label_shape", ["flat", "column"])
def test_semihard_matches_reference(
    batch, metric, label_shape, as_numpy, reference_distances
):
    labels, embeddings = batch
    if label_shape == "column":
        labels = labels[:, None]
    expected = np_semihard(labels, reference_distances(embeddings, metric), 1.0)
    got = triplet_semihard_loss(labels, embeddings, distance_metric=to_metric(metric))
    loss = TripletSemiHardLoss(distance_metric=to_metric(metric))
    assert ops.shape(got) == ()
    np.testing.assert_allclose(as_numpy(got), expected, rtol=1e-5)
    np.testing.assert_allclose(as_numpy(loss(labels, embeddings)), expected, rtol=1e-5)


@pytest.mark.parametrize("margin", [0.0, 0.3])
@pytest.mark.parametrize("metric", METRICS)
def test_semihard_margins(batch, metric, margin, as_numpy, reference_distances):
    labels, embeddings = batch
    embeddings = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    expected = np_semihard(labels, reference_distances(embeddings, metric), margin)
    got = triplet_semihard_loss(
        labels, embeddings, margin=margin, distance_metric=metric
    )
    np.testing.assert_allclose(as_numpy(got), expected, rtol=1e-5, atol=1e-7)


def test_semihard_by_hand(np_distance_matrix, as_numpy):
    # 1-D points 0, 2, 3, -4, 10, 13 with labels [0, 0, 1, 1, 2, 3], margin 4,
    # L2 distances:
    #   (a=0, p=1): D=2; negatives at 3, 4, 10, 13; closest farther 3
    #               -> 4 + 2 - 3 = 3
    #   (a=1, p=0): D=2; negatives at 1, 6, 8, 11; the hard one at 1 is
    #               skipped, closest farther 6 -> 4 + 2 - 6 < 0 -> 0
    #   (a=2, p=3): D=7; negatives at 3, 1, 7, 10; 7 ties and is not
    #               farther, so 10 -> 4 + 7 - 10 = 1
    #   (a=3, p=2): D=7; negatives at 4, 6, 14, 17; 14 -> 4 + 7 - 14 < 0 -> 0
    # Anchors 4 and 5 are alone in their labels: no pair. Mean over 4 pairs.
    embeddings = np.array([[0.0], [2.0], [3.0], [-4.0], [10.0], [13.0]], "float32")
    labels = np.array([0, 0, 1, 1, 2, 3])
    got = triplet_semihard_loss(labels, embeddings, margin=4.0)
    np.testing.assert_allclose(as_numpy(got), 1.0, rtol=1e-6)
    np.testing.assert_allclose(
        np_semihard(labels, np_distance_matrix(embeddings, "L2"), 4.0), 1.0
    )


def test_semihard_falls_back_to_the_farthest_negative(as_numpy):
    # Positive pair at distance 12; negatives of anchor 0 at 3 and 10, of
    # anchor 1 at 9 and 2; none farther than 12, so the farthest is used:
    # (1 + 12 - 10 + 1 + 12 - 9) / 2 = 3.5.
    embeddings = np.array([[0.0], [12.0], [3.0], [10.0]], "float32")
    labels = np.array([0, 0, 1, 2])
    got = triplet_semihard_loss(labels, embeddings, margin=1.0)
    np.testing.assert_allclose(as_numpy(got), 3.5, rtol=1e-6)


def test_semihard_without_any_positive_pair_is_zero_not_nan(as_numpy):
    # All labels distinct: no (anchor, positive) pair. TF Addons divides 0 by
    # 0 here and returns NaN; this returns 0.
    embeddings = np.array([[0.0], [2.0], [3.0]], "float32")
    got = triplet_semihard_loss(np.array([0, 1, 2]), embeddings, margin=4.0)
    assert as_numpy(got) == 0.0
    single = triplet_semihard_loss(np.array([7]), embeddings[:1], margin=4.0)
    assert as_numpy(single) == 0.0


def test_semihard_with_one_label_only(as_numpy):
    # No negatives: each pair pays margin + D(a, p) - (smallest entry of the
    # anchor's row, its distance 0 to itself). Distances 2, 3, 2, 1, 3, 1 over
    # the six ordered pairs: (6 * 1 + 12) / 6 = 3.
    embeddings = np.array([[0.0], [2.0], [3.0]], "float32")
    got = triplet_semihard_loss(np.array([5, 5, 5]), embeddings, margin=1.0)
    np.testing.assert_allclose(as_numpy(got), 3.0, rtol=1e-6)


@pytest.mark.parametrize("metric", [*METRICS, *CALLABLES])
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("label_shape", ["flat", "column"])
def test_hard_matches_reference(
    batch, metric, soft, label_shape, as_numpy, reference_distances
):
    labels, embeddings = batch
    if label_shape == "column":
        labels = labels[:, None]
    expected = np_hard(labels, reference_distances(embeddings, metric), 1.0, soft)
    got = triplet_hard_loss(
        labels, embeddings, soft=soft, distance_metric=to_metric(metric)
    )
    loss = TripletHardLoss(soft=soft, distance_metric=to_metric(metric))
    assert ops.shape(got) == ()
    np.testing.assert_allclose(as_numpy(got), expected, rtol=1e-5)
    np.testing.assert_allclose(as_numpy(loss(labels, embeddings)), expected, rtol=1e-5)


@pytest.mark.parametrize("metric", METRICS)
def test_hard_margin_zero(batch, metric, as_numpy, reference_distances):
    labels, embeddings = batch
    expected = np_hard(labels, reference_distances(embeddings, metric), 0.0)
    got = triplet_hard_loss(labels, embeddings, margin=0.0, distance_metric=metric)
    np.testing.assert_allclose(as_numpy(got), expected, rtol=1e-5, atol=1e-7)


def test_hard_by_hand(as_numpy):
    # Same points as test_semihard_by_hand, margin 4:
    #   anchor 0: hardest positive 2, hardest negative 3  -> gap -1 -> 3
    #   anchor 1: hardest positive 2, hardest negative 1  -> gap  1 -> 5
    #   anchor 2: hardest positive 7, hardest negative 1  -> gap  6 -> 10
    #   anchor 3: hardest positive 7, hardest negative 4  -> gap  3 -> 7
    #   anchors 4 and 5: no positive, so 0 (the distance to itself);
    #             hardest negative 3 (each other) -> gap -3 -> 1
    # Mean over the 6 anchors: 27 / 6 = 4.5.
    embeddings = np.array([[0.0], [2.0], [3.0], [-4.0], [10.0], [13.0]], "float32")
    labels = np.array([0, 0, 1, 1, 2, 3])
    hard = triplet_hard_loss(labels, embeddings, margin=4.0)
    np.testing.assert_allclose(as_numpy(hard), 4.5, rtol=1e-6)
    soft = triplet_hard_loss(labels, embeddings, soft=True)
    gaps = np.array([-1.0, 1.0, 6.0, 3.0, -3.0, -3.0])
    np.testing.assert_allclose(
        as_numpy(soft), np.mean(np.log1p(np.exp(gaps))), rtol=1e-6
    )


def test_hard_without_positives_uses_zero(as_numpy):
    # All labels distinct: each anchor's hardest positive is 0 and its
    # hardest negative its nearest neighbour (2, 1, 1):
    # (4 - 2 + 4 - 1 + 4 - 1) / 3 = 8 / 3.
    embeddings = np.array([[0.0], [2.0], [3.0]], "float32")
    got = triplet_hard_loss(np.array([0, 1, 2]), embeddings, margin=4.0)
    np.testing.assert_allclose(as_numpy(got), 8.0 / 3.0, rtol=1e-6)
    # A batch of one: both sets empty, both ends of the row are 0: margin.
    single = triplet_hard_loss(np.array([0]), embeddings[:1], margin=4.0)
    np.testing.assert_allclose(as_numpy(single), 4.0)


def test_hard_with_one_label_only_costs_the_margin(as_numpy):
    # No negative: the hardest negative is the row's largest entry, which is
    # the hardest positive, so each anchor costs exactly the margin.
    embeddings = np.array([[0.0], [2.0], [3.0]], "float32")
    labels = np.array([5, 5, 5])
    np.testing.assert_allclose(
        as_numpy(triplet_hard_loss(labels, embeddings, margin=0.7)), 0.7, rtol=1e-6
    )
    np.testing.assert_allclose(
        as_numpy(triplet_hard_loss(labels, embeddings, soft=True)),
        math.log(2.0),
        rtol=1e-6,
    )


def test_hard_soft_is_finite_for_huge_gaps(as_numpy):
    # Squared-L2 on the points 0, 100, 1 with labels [0, 0, 1]:
    #   anchor 0: 10000 - 1    = 9999
    #   anchor 1: 10000 - 9801 = 199
    #   anchor 2: 0 - 1        = -1
    # log(1 + exp(9999)) = 9999 + log1p(exp(-9999)); TF Addons' log1p(exp())
    # overflows to inf in float32 here.
    embeddings = np.array([[0.0], [100.0], [1.0]], "float32")
    got = triplet_hard_loss(
        np.array([0, 0, 1]), embeddings, soft=True, distance_metric="squared-L2"
    )
    expected = (9999.0 + 199.0 + math.log1p(math.exp(-1.0))) / 3.0
    np.testing.assert_allclose(as_numpy(got), expected, rtol=1e-6)


def test_empty_sets_fall_back_to_the_row_extremes(as_numpy):
    # With one_minus_dot on 1-D points, D[i, j] = 1 - x_i x_j, the diagonal
    # is not the row's minimum, so "the row's smallest entry" and "the
    # distance to itself" differ. Points 1, 3, 2:
    #   row 0: [0, -2, -1]; row 1: [-2, -8, -5]; row 2: [-1, -5, -3]
    points = np.array([[1.0], [3.0], [2.0]], "float32")
    # Hard, labels [0, 1, 1], margin 1:
    #   anchor 0 has no positive: hardest positive = row minimum -2;
    #            hardest negative min(-2, -1) = -2 -> gap 0 -> 1
    #   anchor 1: positive -5, negative -2 -> gap -3 -> 0
    #   anchor 2: positive -5, negative -1 -> gap -4 -> 0
    hard = triplet_hard_loss(
        np.array([0, 1, 1]), points, margin=1.0, distance_metric=one_minus_dot
    )
    np.testing.assert_allclose(as_numpy(hard), 1.0 / 3.0, rtol=1e-6)
    # One label only on points 1, 3: rows [0, -2] and [-2, -8], margin 1.
    # Semi-hard: no negatives, each pair uses its row's minimum:
    #   (0, 1): 1 + (-2) - (-2) = 1;  (1, 0): 1 + (-2) - (-8) = 7 -> mean 4
    # Hard: the hardest negative is the row's maximum:
    #   anchor 0: -2 - 0 + 1 < 0 -> 0;  anchor 1: -2 - (-2) + 1 = 1 -> mean 0.5
    labels = np.array([0, 0])
    semihard = triplet_semihard_loss(
        labels, points[:2], margin=1.0, distance_metric=one_minus_dot
    )
    hard = triplet_hard_loss(
        labels, points[:2], margin=1.0, distance_metric=one_minus_dot
    )
    np.testing.assert_allclose(as_numpy(semihard), 4.0, rtol=1e-6)
    np.testing.assert_allclose(as_numpy(hard), 0.5, rtol=1e-6)


@pytest.mark.parametrize("metric", METRICS)
def test_identical_embeddings_cost_the_margin(metric, as_numpy):
    # All distances are 0 (exactly: the rows are exact in float32), so no
    # negative is farther than a positive and every gap is 0.
    embeddings = np.tile(np.array([[1.0, 0.0]], "float32"), (4, 1))
    labels = np.array([0, 0, 1, 1])
    semihard = triplet_semihard_loss(
        labels, embeddings, margin=0.7, distance_metric=metric
    )
    hard = triplet_hard_loss(labels, embeddings, margin=0.7, distance_metric=metric)
    soft = triplet_hard_loss(labels, embeddings, soft=True, distance_metric=metric)
    np.testing.assert_allclose(as_numpy(semihard), 0.7, rtol=1e-6)
    np.testing.assert_allclose(as_numpy(hard), 0.7, rtol=1e-6)
    np.testing.assert_allclose(as_numpy(soft), math.log(2.0), rtol=1e-6)


@pytest.mark.parametrize("scale", [1e-3, 1e3])
def test_extreme_scales_match_reference(rng, scale, as_numpy, reference_distances):
    embeddings = (rng.normal(size=(10, 3)) * scale).astype("float32")
    labels = np.array([0, 1, 0, 1, 0, 1, 2, 2, 2, 3])
    for metric in METRICS:
        distances = reference_distances(embeddings, metric)
        margin = 0.5 * float(np.median(distances))
        semihard = triplet_semihard_loss(labels, embeddings, margin, metric)
        hard = triplet_hard_loss(labels, embeddings, margin, distance_metric=metric)
        expected = np_semihard(labels, distances, margin)
        np.testing.assert_allclose(as_numpy(semihard), expected, rtol=1e-4)
        expected = np_hard(labels, distances, margin)
        np.testing.assert_allclose(as_numpy(hard), expected, rtol=1e-4)


def _gradients(loss_fn, embeddings):
    import tensorflow as tf

    variable = tf.Variable(embeddings)
    with tf.GradientTape() as tape:
        loss = loss_fn(variable)
    return loss.numpy(), tape.gradient(loss, variable).numpy()


@pytest.mark.parametrize("metric", METRICS)
def test_gradients_are_finite_for_identical_embeddings(rng, metric):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("gradient check written with tf.GradientTape")
    labels = np.array([0, 0, 1, 1])
    everything_equal = np.tile(np.array([[0.5, -1.0, 2.0]], "float32"), (4, 1))
    # A duplicated positive pair (rows 0 and 1) among distinct rows.
    pair_equal = rng.normal(size=(4, 3)).astype("float32")
    pair_equal[1] = pair_equal[0]
    for embeddings in (everything_equal, pair_equal):
        for loss_fn in (
            lambda x: triplet_semihard_loss(labels, x, distance_metric=metric),
            lambda x: triplet_hard_loss(labels, x, distance_metric=metric),
            lambda x: triplet_hard_loss(labels, x, soft=True, distance_metric=metric),
        ):
            loss, gradient = _gradients(loss_fn, embeddings)
            assert np.isfinite(loss)
            assert np.all(np.isfinite(gradient))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_functions(
    batch, dtype, as_numpy, half_rtol, reference_distances
):
    labels, embeddings = batch
    rtol = half_rtol[dtype]
    half = ops.cast(embeddings, dtype)
    rounded = as_numpy(half)  # the inputs the loss actually sees
    for metric in METRICS:
        distances = reference_distances(rounded, metric)
        semihard = triplet_semihard_loss(labels, half, distance_metric=metric)
        hard = triplet_hard_loss(labels, half, soft=True, distance_metric=metric)
        # Computed in float32, returned in the input's dtype (as TF Addons).
        assert keras.backend.standardize_dtype(semihard.dtype) == dtype
        assert keras.backend.standardize_dtype(hard.dtype) == dtype
        np.testing.assert_allclose(
            as_numpy(semihard), np_semihard(labels, distances, 1.0), rtol=rtol
        )
        np.testing.assert_allclose(
            as_numpy(hard), np_hard(labels, distances, 1.0, soft=True), rtol=rtol
        )


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_classes(batch, dtype, as_numpy, half_rtol, reference_distances):
    labels, embeddings = batch
    half = ops.cast(embeddings, dtype)
    rounded = as_numpy(half)
    expected = np_semihard(labels, reference_distances(rounded, "L2"), 1.0)
    # Keras 3 casts the inputs to the loss's dtype, float32 by default: the
    # half embeddings are widened exactly and the loss comes back in float32.
    default = TripletSemiHardLoss()(labels, half)
    assert keras.backend.standardize_dtype(default.dtype) == "float32"
    np.testing.assert_allclose(as_numpy(default), expected, rtol=1e-5)
    # dtype= gives TF Addons' result dtype.
    matching = TripletSemiHardLoss(dtype=dtype)(labels, half)
    assert keras.backend.standardize_dtype(matching.dtype) == dtype
    np.testing.assert_allclose(as_numpy(matching), expected, rtol=half_rtol[dtype])


@pytest.mark.parametrize("metric", METRICS)
def test_float16_mining_losses_are_computed_in_float32(
    rng, metric, as_numpy, half_rtol, large_float16_rows, reference_distances
):
    # Squared norms and squared distances past float16's 65504 (see
    # large_float16_rows): computed in float16, every loss here is NaN or
    # off by far more than the final rounding, which is all this allows.
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 3])
    half = large_float16_rows(rng, 12)
    distances = reference_distances(half, metric)
    cases = [
        (
            np_semihard(labels, distances, 1.0),
            triplet_semihard_loss(labels, half, distance_metric=metric),
            TripletSemiHardLoss(distance_metric=metric, dtype="float16"),
        ),
        (
            np_hard(labels, distances, 1.0),
            triplet_hard_loss(labels, half, distance_metric=metric),
            TripletHardLoss(distance_metric=metric, dtype="float16"),
        ),
        (
            np_hard(labels, distances, 1.0, soft=True),
            triplet_hard_loss(labels, half, soft=True, distance_metric=metric),
            TripletHardLoss(soft=True, distance_metric=metric, dtype="float16"),
        ),
    ]
    for expected, got, loss_object in cases:
        from_class = loss_object(labels, half)
        for value in (got, from_class):
            assert keras.backend.standardize_dtype(value.dtype) == "float16"
            assert np.isfinite(as_numpy(value))
            np.testing.assert_allclose(
                as_numpy(value), expected, rtol=half_rtol["float16"]
            )


def test_float16_mining_losses_of_spread_embeddings(
    rng, as_numpy, half_rtol, reference_distances
):
    # Normal embeddings of scale 300: squared norms up to about 1e6. Only
    # L2 and angular: the squared-L2 hard loss, about 1.2e6, does not fit
    # float16 whatever the computation.
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 3])
    half = (rng.normal(size=(12, 5)) * 300).astype("float16")
    assert np.max(np.sum(half.astype(np.float64) ** 2, axis=1)) > 65504
    for metric in ("L2", "angular"):
        distances = reference_distances(half, metric)
        for got, expected in losses_and_references(labels, half, distances, metric):
            assert np.isfinite(as_numpy(got))
            np.testing.assert_allclose(
                as_numpy(got), expected, rtol=half_rtol["float16"]
            )


@pytest.mark.parametrize("metric", METRICS)
def test_mining_losses_of_huge_embeddings_match_reference(
    batch, metric, as_numpy, as_float32_value, reference_distances
):
    labels, embeddings = batch
    huge = embeddings * np.float32(1e20)
    distances = reference_distances(huge, metric)
    cases = losses_and_references(labels, huge, distances, metric)
    for got, expected in cases:
        got = as_numpy(got)
        assert not np.isnan(got)
        # squared-L2 gaps of about 1e40 do not fit float32: inf.
        np.testing.assert_allclose(got, as_float32_value(expected), rtol=1e-4)
    if metric == "squared-L2":
        assert as_numpy(cases[1][0]) == np.inf


def test_squared_l2_mining_beyond_float32_by_hand(
    value_and_gradient, np_distance_matrix, as_numpy
):
    # Points x = 0, 2e19, -sqrt(2) 1e19 with labels [0, 0, 1]: squared
    # distances D01 = 4e38 and D12 = 1.17e39 overflow float32 (the Gram
    # matrix gave inf - inf = NaN), D02 = 2e38 does not. Margin 0.6:
    #   hard, anchor 0: D01 - D02 = 2e38 -> 0.6 + 2e38;
    #         anchor 1: D10 - D12 < 0 -> 0;
    #         anchor 2: no positive, 0 - D20 < 0 -> 0. Mean: (0.6 + 2e38) / 3.
    #   semi-hard, (0, 1): no negative farther than D01, the farthest is
    #         D02 -> 0.6 + 2e38; (1, 0): D12 is farther -> 0. Mean: / 2.
    embeddings = np.array([[0.0], [2e19], [-math.sqrt(2.0) * 1e19]], "float32")
    labels = np.array([0, 0, 1])
    distances = np_distance_matrix(embeddings, "squared-L2")
    assert distances[0, 1] > FLOAT32_MAX > distances[0, 2]
    gap = distances[0, 1] - distances[0, 2]
    assert np_hard(labels, distances, 0.6) == pytest.approx((0.6 + gap) / 3)
    assert np_semihard(labels, distances, 0.6) == pytest.approx((0.6 + gap) / 2)
    hard = triplet_hard_loss(
        labels, embeddings, margin=0.6, distance_metric="squared-L2"
    )
    semihard = triplet_semihard_loss(
        labels, embeddings, margin=0.6, distance_metric="squared-L2"
    )
    np.testing.assert_allclose(as_numpy(hard), (0.6 + gap) / 3, rtol=1e-6)
    np.testing.assert_allclose(as_numpy(semihard), (0.6 + gap) / 2, rtol=1e-6)
    # Only anchor 0's hinge is active: the gradient of the hard loss is that
    # of (D01 - D02) / 3 = ((x0 - x1)**2 - (x0 - x2)**2) / 3.
    value, gradient = value_and_gradient(
        lambda x: triplet_hard_loss(labels, x, 0.6, distance_metric="squared-L2"),
        embeddings,
    )
    x0, x1, x2 = embeddings[:, 0].astype(np.float64)
    expected = np.array([[2 * (x2 - x1)], [2 * (x1 - x0)], [2 * (x0 - x2)]]) / 3
    assert value == pytest.approx((0.6 + gap) / 3, rel=1e-6)
    np.testing.assert_allclose(gradient, expected, rtol=1e-6)


@pytest.mark.parametrize("metric", METRICS)
def test_mining_gradients_of_huge_embeddings(batch, metric, value_and_gradient):
    # With margin 0 (and no soft margin) the losses are homogeneous of the
    # distance's degree: scaling the embeddings by a power of two c scales
    # the loss by c**degree and its gradient by c**(degree - 1), as in
    # test_hinge_gradients_of_huge_embeddings.
    labels, embeddings = batch
    degree = {"L2": 1, "squared-L2": 2, "angular": 0}[metric]
    c = 2.0**60 if degree == 2 else 2.0**66
    for loss_fn in (
        lambda x: triplet_semihard_loss(labels, x, 0.0, metric),
        lambda x: triplet_hard_loss(labels, x, 0.0, distance_metric=metric),
    ):
        value, gradient = value_and_gradient(loss_fn, embeddings)
        huge_value, huge_gradient = value_and_gradient(loss_fn, embeddings * c)
        assert np.isfinite(huge_value) and np.all(np.isfinite(huge_gradient))
        np.testing.assert_allclose(huge_value, value * c**degree, rtol=1e-5)
        np.testing.assert_allclose(
            huge_gradient, gradient * c ** (degree - 1), rtol=1e-4, atol=1e-30
        )


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none", None])
def test_batch_losses_return_one_scalar_under_every_reduction(
    batch, reduction, as_numpy, reference_distances
):
    # As TF Addons' classes, whose reduction NONE passed the scalar through.
    labels, embeddings = batch
    expected = np_semihard(labels, reference_distances(embeddings, "L2"), 1.0)
    got = TripletSemiHardLoss(reduction=reduction)(labels, embeddings)
    assert ops.shape(got) == ()
    np.testing.assert_allclose(as_numpy(got), expected, rtol=1e-5)


@pytest.mark.tensorflow
def test_batch_losses_are_divided_by_the_replica_count(batch, monkeypatch, as_numpy):
    # Keras divides per-sample losses by the number of replicas and leaves
    # scalars alone; the classes divide their scalar so that the gradients
    # summed over replicas average, as for every other Keras loss. Two
    # replicas are faked where both Keras and the library ask for them.
    import tensorflow as tf

    labels, embeddings = batch
    plain = as_numpy(triplet_hard_loss(labels, embeddings))
    two_replicas = types.SimpleNamespace(num_replicas_in_sync=2)
    monkeypatch.setattr(tf.distribute, "get_strategy", lambda: two_replicas)
    np.testing.assert_allclose(
        as_numpy(TripletHardLoss()(labels, embeddings)), plain / 2, rtol=1e-6
    )
    # "sum" is never divided, by Keras or here.
    np.testing.assert_allclose(
        as_numpy(TripletHardLoss(reduction="sum")(labels, embeddings)),
        plain,
        rtol=1e-6,
    )
    # With sample weights the values are per sample and Keras divides them
    # itself: once, not a second time here.
    weighted = TripletHardLoss()(labels, embeddings, sample_weight=np.ones(12))
    np.testing.assert_allclose(as_numpy(weighted), plain / 2, rtol=1e-6)


@pytest.mark.parametrize("loss_class", [TripletSemiHardLoss, TripletHardLoss])
@pytest.mark.parametrize("label_shape", [(24,), (24, 1)])
def test_compiled_model_reports_the_reference_loss(
    rng, loss_class, label_shape, reference_distances
):
    x = rng.normal(size=(24, 6)).astype("float32")
    labels = rng.integers(0, 4, size=label_shape)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(4), keras.layers.UnitNormalization()]
    )
    model.compile(loss=loss_class(margin=0.5))
    reported = model.evaluate(x, labels, batch_size=24, verbose=0)
    embeddings = model.predict(x, batch_size=24, verbose=0)
    distances = reference_distances(embeddings, "L2")
    if loss_class is TripletSemiHardLoss:
        expected = np_semihard(labels, distances, 0.5)
    else:
        expected = np_hard(labels, distances, 0.5)
    np.testing.assert_allclose(reported, expected, rtol=1e-5)


@pytest.mark.parametrize(
    "labels_shape, embeddings_shape, name, received",
    [
        ((3,), (4, 2), "y_true", "y_true.shape=(3,), y_pred.shape=(4, 2)"),
        ((4, 2), (4, 2), "y_true", "y_true.shape=(4, 2), y_pred.shape=(4, 2)"),
        ((4,), (4,), "y_pred", "y_pred.shape=(4,)"),
        ((0,), (0, 2), "y_pred", "y_pred.shape=(0, 2)"),
    ],
    ids=["batch-mismatch", "two-labels-each", "rank-1-embeddings", "empty-batch"],
)
def test_mining_losses_check_their_shapes(
    labels_shape, embeddings_shape, name, received
):
    labels = np.zeros(labels_shape, "int32")
    embeddings = np.ones(embeddings_shape, "float32")
    pattern = f"`{name}`.*Received: {re.escape(received)}$"
    for make in (
        lambda: triplet_semihard_loss(labels, embeddings),
        lambda: triplet_hard_loss(labels, embeddings, soft=True),
        lambda: TripletSemiHardLoss()(labels, embeddings),
        lambda: TripletHardLoss()(labels, embeddings),
    ):
        with pytest.raises(ValueError, match=pattern):
            make()


@pytest.mark.parametrize(
    "loss_class, non_defaults",
    [
        (TripletSemiHardLoss, {"margin": 0.25, "distance_metric": manhattan_distance}),
        (TripletHardLoss, {"margin": 0.3, "soft": True, "distance_metric": "angular"}),
    ],
    ids=["TripletSemiHardLoss", "TripletHardLoss"],
)
def test_config_round_trip(loss_class, non_defaults, check_config_round_trip):
    check_config_round_trip(loss_class, non_defaults)


def test_registered_names():
    for obj in (
        TripletSemiHardLoss,
        TripletHardLoss,
        triplet_semihard_loss,
        triplet_hard_loss,
    ):
        name = f"keras_stability>{obj.__name__}"
        assert keras.saving.get_registered_name(obj) == name
        assert keras.saving.get_registered_object(name) is obj


ZEROS = np.zeros((2, 2))
LABELS = np.zeros(2)


@pytest.mark.parametrize(
    "make",
    [
        lambda margin: TripletSemiHardLoss(margin=margin),
        lambda margin: TripletHardLoss(margin=margin),
        lambda margin: triplet_semihard_loss(LABELS, ZEROS, margin=margin),
        lambda margin: triplet_hard_loss(LABELS, ZEROS, margin=margin),
    ],
    ids=["TripletSemiHardLoss", "TripletHardLoss", "semihard", "hard"],
)
def test_margin_must_be_finite_and_non_negative(make, check_margin_refused):
    # An infinite margin gave NaN in the semi-hard loss (inf * 0 in its mask).
    check_margin_refused(make)


@pytest.mark.parametrize(
    "make",
    [
        lambda: TripletSemiHardLoss(distance_metric="l2"),
        lambda: TripletHardLoss(distance_metric="l2"),
        lambda: triplet_semihard_loss(LABELS, ZEROS, distance_metric="l2"),
        lambda: triplet_hard_loss(LABELS, ZEROS, distance_metric="l2"),
    ],
    ids=["TripletSemiHardLoss", "TripletHardLoss", "semihard", "hard"],
)
def test_distance_metric_validation(make):
    # The choices, and that a callable is also taken.
    with pytest.raises(
        ValueError,
        match=r"`distance_metric`.*'L2', 'squared-L2', 'angular' or a callable.*"
        r"Received: distance_metric='l2'",
    ):
        make()


def test_soft_validation():
    message = r"`soft`.*Received: soft='yes'"
    with pytest.raises(ValueError, match=message):
        TripletHardLoss(soft="yes")
    with pytest.raises(ValueError, match=message):
        triplet_hard_loss(LABELS, ZEROS, soft="yes")


@pytest.mark.parametrize("name", mining.__all__)
def test_docstring_example_runs(name, run_example):
    run_example(getattr(mining, name))
