"""Tests of `keras_stability.triplet.hinge`.

Expected values come from `np_hinge`, a loop over triplets in float64
written here, or from a derivation by hand in the comments.
"""

import re

import keras
import numpy as np
import pytest
from keras import ops

from keras_stability.triplet import TripletHingeLoss
from keras_stability.triplet import hinge
from keras_stability.triplet import triplet_hinge_loss

DISTANCES = ["l2", "squared_l2", "cosine"]


@pytest.fixture
def np_hinge(np_distance):
    """The hinge of each triplet, by a loop in float64."""

    def reference(anchor, positive, negative, margin, distance):
        return np.array(
            [
                max(
                    # The gap first: with distances of 1e40, margin + D(a, p)
                    # would round the margin away even in float64.
                    margin
                    + (np_distance(a, p, distance) - np_distance(a, n_, distance)),
                    0.0,
                )
                for a, p, n_ in zip(anchor, positive, negative, strict=True)
            ]
        )

    return reference


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("margin", [0.0, 0.1, 0.5])
def test_hinge_matches_reference(rng, distance, margin, as_numpy, np_hinge):
    anchor, positive, negative = rng.normal(size=(3, 9, 4)).astype("float32")
    expected = np_hinge(anchor, positive, negative, margin, distance)
    # The data exercise both sides of the hinge.
    assert (expected == 0.0).any() and (expected > 0.0).any()
    got = triplet_hinge_loss(
        anchor, positive, negative, margin=margin, distance=distance
    )
    assert ops.shape(got) == (9,)
    np.testing.assert_allclose(as_numpy(got), expected, rtol=1e-5, atol=1e-6)
    stacked = np.stack([anchor, positive, negative], axis=1)
    loss = TripletHingeLoss(margin=margin, distance=distance)
    np.testing.assert_allclose(
        as_numpy(loss(np.zeros(9), stacked)), expected.mean(), rtol=1e-5, atol=1e-6
    )
    per_triplet = TripletHingeLoss(margin=margin, distance=distance, reduction=None)
    np.testing.assert_allclose(
        as_numpy(per_triplet(np.zeros(9), stacked)), expected, rtol=1e-5, atol=1e-6
    )


def test_hinge_by_hand(as_numpy):
    # anchor (0, 0), positive (3, 4), negative (6, 8): L2 distances 5 and 10.
    #   margin 6: 6 + 5 - 10 = 1;  squared: 6 + 25 - 100 < 0 -> 0
    anchor = np.array([[0.0, 0.0]], "float32")
    positive = np.array([[3.0, 4.0]], "float32")
    negative = np.array([[6.0, 8.0]], "float32")
    l2 = triplet_hinge_loss(anchor, positive, negative, margin=6.0)
    squared = triplet_hinge_loss(
        anchor, positive, negative, margin=6.0, distance="squared_l2"
    )
    np.testing.assert_allclose(as_numpy(l2), [1.0], rtol=1e-6)
    np.testing.assert_array_equal(as_numpy(squared), [0.0])


@pytest.mark.parametrize("distance", DISTANCES)
def test_hinge_identical_embeddings(distance):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("gradient check written with tf.GradientTape")
    import tensorflow as tf

    # Anchor, positive and negative all equal: both distances 0, loss = margin.
    same = tf.Variable(np.tile(np.array([[1.0, 2.0, 2.0]], "float32"), (3, 1)))
    with tf.GradientTape() as tape:
        per_triplet = triplet_hinge_loss(
            same, same, same, margin=0.25, distance=distance
        )
        total = tf.reduce_sum(per_triplet)
    gradient = tape.gradient(total, same).numpy()
    np.testing.assert_allclose(per_triplet.numpy(), [0.25] * 3, atol=1e-6)
    assert np.all(np.isfinite(gradient))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_hinge_half_precision(rng, dtype, as_numpy, half_rtol, np_hinge):
    anchor, positive, negative = (
        ops.cast(x, dtype) for x in rng.normal(size=(3, 6, 4)).astype("float32")
    )
    got = triplet_hinge_loss(anchor, positive, negative, margin=1.0)
    assert keras.backend.standardize_dtype(got.dtype) == dtype
    expected = np_hinge(
        as_numpy(anchor), as_numpy(positive), as_numpy(negative), 1.0, "l2"
    )
    # atol: float32 rounding of margin + D(a, p) - D(a, n) (values near 1),
    # which decides hinges that the reference puts just at 0.
    np.testing.assert_allclose(
        as_numpy(got), expected, rtol=half_rtol[dtype], atol=1e-6
    )


@pytest.mark.parametrize("distance", DISTANCES)
def test_hinge_float16_is_computed_in_float32(
    rng, distance, as_numpy, half_rtol, large_float16_rows, np_hinge
):
    # Rows of squared norm about 90000 (large_float16_rows): the squared
    # differences overflow float16 (inf - inf for squared_l2, 0 rows for
    # cosine), while every hinge value fits it.
    anchor, positive, negative = np.reshape(large_float16_rows(rng, 24), (3, 8, 24))
    expected = np_hinge(
        anchor.astype(np.float64),
        positive.astype(np.float64),
        negative.astype(np.float64),
        1.0,
        distance,
    )
    assert (expected > 0.0).any()
    got = triplet_hinge_loss(anchor, positive, negative, margin=1.0, distance=distance)
    stacked = np.stack([anchor, positive, negative], axis=1)
    per_triplet = TripletHingeLoss(
        margin=1.0, distance=distance, reduction=None, dtype="float16"
    )(np.zeros(8), stacked)
    for value in (got, per_triplet):
        assert keras.backend.standardize_dtype(value.dtype) == "float16"
        assert np.all(np.isfinite(as_numpy(value)))
        np.testing.assert_allclose(
            as_numpy(value), expected, rtol=half_rtol["float16"], atol=1e-6
        )


@pytest.mark.parametrize("distance", DISTANCES)
def test_hinge_of_huge_embeddings_matches_float64(
    distance, as_numpy, as_float32_value, np_hinge
):
    # Squares of 1e20 overflow float32 (inf - inf was NaN). Row 0 is the
    # reported case; in row 1 the negative is closer; in row 2 the squared
    # distances, 2e40, do not fit float32 but their difference, 0, does:
    # the squared_l2 loss is the margin. Row 3 reaches float32's limit.
    anchor = np.array([[1e20, 0], [1e20, 0], [1e20, 0], [3e38, 0]], "float32")
    positive = np.array([[0, 1e20], [-1e20, 0], [0, 1e20], [-3e38, 0]], "float32")
    negative = np.array([[-1e20, 0], [0, 1e20], [0, -1e20], [-3e38, 1]], "float32")
    expected = as_float32_value(np_hinge(anchor, positive, negative, 0.5, distance))
    got = as_numpy(
        triplet_hinge_loss(anchor, positive, negative, margin=0.5, distance=distance)
    )
    assert not np.any(np.isnan(got))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    if distance == "l2":
        # Row 1: 0.5 + 2e20 - sqrt(2) 1e20; row 3: 0.5 + 6e38 - 6e38.
        assert np.isfinite(got).all() and got[1] == pytest.approx(5.8579e19, rel=1e-4)
    if distance == "squared_l2":
        # Row 1: 0.5 + 4e40 - 2e40 does not fit float32: honestly inf.
        np.testing.assert_array_equal(got[[0, 2]], [0.0, 0.5])
        assert got[1] == np.inf
    stacked = np.stack([anchor, positive, negative], axis=1)
    per_triplet = TripletHingeLoss(margin=0.5, distance=distance, reduction=None)
    np.testing.assert_allclose(
        as_numpy(per_triplet(np.zeros(4), stacked)), expected, rtol=1e-6
    )


@pytest.mark.parametrize("distance", DISTANCES)
def test_hinge_gradients_of_huge_embeddings(rng, distance, value_and_gradient):
    # Scaling every embedding by a power of two c with margin 0 scales the
    # loss by c**degree and its gradient by c**(degree - 1), and float32
    # rounding commutes with powers of two. c = 2**66 (7.4e19): squares
    # overflow float32; 2**60 for squared_l2, whose loss would not fit.
    degree = {"l2": 1, "squared_l2": 2, "cosine": 0}[distance]
    c = 2.0**60 if degree == 2 else 2.0**66
    anchor, positive, negative = rng.normal(size=(3, 6, 4)).astype("float32")

    def total(scale):
        def fn(a):
            return ops.sum(
                triplet_hinge_loss(a, positive * scale, negative * scale, 0.0, distance)
            )

        return fn

    value, gradient = value_and_gradient(total(1.0), anchor)
    assert value > 0.0
    huge_value, huge_gradient = value_and_gradient(total(c), anchor * c)
    assert np.isfinite(huge_value) and np.all(np.isfinite(huge_gradient))
    np.testing.assert_allclose(huge_value, value * c**degree, rtol=1e-6)
    np.testing.assert_allclose(
        huge_gradient, gradient * c ** (degree - 1), rtol=1e-5, atol=1e-30
    )


@pytest.mark.parametrize("shape", [(4, 5), (4, 4, 5), (4, 2, 5), (4,)])
def test_hinge_class_requires_stacked_triplets(shape):
    # The name, the expected layout and the shape received.
    message = r"`y_pred`.*\(batch, 3, dim\).*" + re.escape(
        f"Received: y_pred.shape={shape}"
    )
    with pytest.raises(ValueError, match=message):
        TripletHingeLoss()(np.zeros(4), np.zeros(shape, "float32"))


def test_hinge_requires_equal_shapes():
    message = r"`anchor`, `positive` and `negative`.*" + re.escape(
        "Received: anchor.shape=(2, 2), positive.shape=(1, 2), negative.shape=(2, 2)"
    )
    with pytest.raises(ValueError, match=message):
        triplet_hinge_loss(np.zeros((2, 2)), np.zeros((1, 2)), np.zeros((2, 2)))
    # An unknown (traced) batch dimension matches any size.
    per_triplet = triplet_hinge_loss(
        keras.KerasTensor((None, 2)),
        keras.KerasTensor((None, 2)),
        keras.KerasTensor((None, 2)),
    )
    assert tuple(per_triplet.shape) == (None,)


def test_config_round_trip(check_config_round_trip):
    check_config_round_trip(TripletHingeLoss, {"margin": 0.4, "distance": "cosine"})


def test_registered_name():
    name = "keras_stability>TripletHingeLoss"
    assert keras.saving.get_registered_name(TripletHingeLoss) == name
    assert keras.saving.get_registered_object(name) is TripletHingeLoss


ZEROS = np.zeros((2, 2))


@pytest.mark.parametrize(
    "make",
    [
        lambda margin: TripletHingeLoss(margin=margin),
        lambda margin: triplet_hinge_loss(ZEROS, ZEROS, ZEROS, margin=margin),
    ],
    ids=["class", "function"],
)
def test_margin_must_be_finite_and_non_negative(make, check_margin_refused):
    # An infinite margin makes the hinge infinite for every triplet.
    check_margin_refused(make)


def test_distance_validation():
    with pytest.raises(
        ValueError,
        match=r"`distance`.*'l2', 'squared_l2', 'cosine'.*Received: distance='L2'",
    ):
        TripletHingeLoss(distance="L2")
    with pytest.raises(ValueError, match=r"`distance`.*Received: distance='angular'"):
        triplet_hinge_loss(ZEROS, ZEROS, ZEROS, distance="angular")


@pytest.mark.parametrize("name", hinge.__all__)
def test_docstring_example_runs(name, run_example):
    run_example(getattr(hinge, name))
