"""Tests of `keras_stability.triplet.distances`.

Expected matrices come from the loops of `np_distance_matrix` (conftest.py)
or from a derivation by hand in the comments.
"""

import math
import re

import keras
import numpy as np
import pytest
from keras import ops

from keras_stability.triplet import distances
from keras_stability.triplet import pairwise_distance

METRICS = ["L2", "squared-L2", "angular"]


def np_pairwise_float32(embeddings, metric):
    """The distance matrix in float32 NumPy, from the row differences.

    Angular normalizes each row with `tf.math.l2_normalize`'s epsilon,
    `x / sqrt(max(|x|^2, 1e-12))`, so a row of zeros stays zeros and has
    cosine 0 with every row.
    """
    x = np.asarray(embeddings, np.float32)
    if metric == "angular":
        squared_norms = np.sum(x * x, axis=1, keepdims=True)
        normalized = x / np.sqrt(np.maximum(squared_norms, np.float32(1e-12)))
        return np.maximum(np.float32(1.0) - normalized @ normalized.T, 0.0)
    squared = np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)
    return squared if metric == "squared-L2" else np.sqrt(squared)


@pytest.mark.parametrize("metric", METRICS)
def test_pairwise_distance_matches_loops(rng, metric, np_distance_matrix, as_numpy):
    embeddings = rng.normal(size=(7, 4)).astype("float32")
    got = as_numpy(pairwise_distance(embeddings, distance=metric))
    np.testing.assert_allclose(
        got, np_distance_matrix(embeddings, metric), rtol=1e-5, atol=1e-5
    )
    assert got.min() >= 0.0  # the angular distance is clipped at 0
    if metric != "angular":
        np.testing.assert_array_equal(np.diag(got), 0.0)


def test_pairwise_l2_is_zero_with_finite_gradient_for_identical_rows():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("gradient check written with tf.GradientTape")
    import tensorflow as tf

    # Rows 0 and 1 are identical; exact in float32, so the squared distance
    # from the Gram matrix is exactly 0.
    embeddings = tf.Variable([[1.0, 2.0], [1.0, 2.0], [4.0, 6.0]])
    with tf.GradientTape() as tape:
        distances = pairwise_distance(embeddings, distance="L2")
        total = tf.reduce_sum(distances)
    gradient = tape.gradient(total, embeddings).numpy()
    np.testing.assert_array_equal(
        distances.numpy(), [[0.0, 0.0, 5.0], [0.0, 0.0, 5.0], [5.0, 5.0, 0.0]]
    )
    assert np.all(np.isfinite(gradient))
    # d/dx0 of (2 * |x0 - x2|) = 2 * (x0 - x2) / 5; the zero distances add 0.
    np.testing.assert_allclose(gradient[0], [2 * -3 / 5, 2 * -4 / 5], rtol=1e-6)


@pytest.mark.parametrize("metric", METRICS)
def test_pairwise_distance_float16_is_computed_in_float32(metric, as_numpy, half_rtol):
    # Zero rows: in float16 the epsilon 1e-12 underflows to 0 and the angular
    # distance was 0 * inf = NaN. Rows (200, 0): the sum of two squared
    # norms, 80000, overflows float16 and the Gram matrix gave inf - inf.
    for embeddings in (
        np.zeros((2, 3), "float16"),
        np.array([[200.0, 0.0], [200.0, 0.0], [0.0, 1.0]], "float16"),
    ):
        got = pairwise_distance(embeddings, distance=metric)
        assert keras.backend.standardize_dtype(got.dtype) == "float16"
        got = as_numpy(got)
        assert np.all(np.isfinite(got))
        expected = np_pairwise_float32(embeddings, metric)
        # Only the final cast to float16 rounds.
        np.testing.assert_allclose(got, expected, rtol=half_rtol["float16"])


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("metric", METRICS)
def test_pairwise_distance_half_precision_matches_reference(
    rng, dtype, metric, np_distance_matrix, as_numpy, half_rtol, large_float16_rows
):
    # Rows whose squared norms (about 90000) overflow float16. bfloat16 has
    # float32's range but 8 bits: a Gram matrix of the offset rows computed
    # in it would lose their small squared distances.
    half = ops.cast(large_float16_rows(rng, 6), dtype)
    if metric == "squared-L2":
        # Squared distances of about 180000 do not fit float16; offset rows
        # keep the squared norms past 65504 with small squared distances.
        half = ops.cast(200.0 + 5.0 * rng.normal(size=(6, 4)), dtype)
    got = pairwise_distance(half, distance=metric)
    assert keras.backend.standardize_dtype(got.dtype) == dtype
    rounded = as_numpy(half)
    np.testing.assert_allclose(
        as_numpy(got),
        np_distance_matrix(rounded, metric),
        rtol=half_rtol[dtype],
        atol=1e-6,
    )


def test_pairwise_distance_float16_by_hand(as_numpy):
    # A zero row is at angular distance 1 from every row, itself included.
    zeros = as_numpy(pairwise_distance(np.zeros((2, 3), "float16"), "angular"))
    np.testing.assert_array_equal(zeros, np.ones((2, 2)))
    # The L2 distance of (200, 0) to (0, 1) is sqrt(40001) = 200.0025, which
    # rounds to 200 in float16 (spacing 0.125 there).
    l2 = as_numpy(
        pairwise_distance(np.array([[200.0, 0.0], [0.0, 1.0]], "float16"), "L2")
    )
    np.testing.assert_array_equal(l2, [[0.0, 200.0], [200.0, 0.0]])
    np.testing.assert_allclose(l2[0, 1], math.sqrt(40001.0), rtol=2.0**-11)
    # Documented: a distance above float16's largest value (65504) comes
    # back as inf in float16, never NaN; the L2 distance itself fits.
    embeddings = np.array([[0.0, 0.0], [300.0, 0.0]], "float16")
    squared = as_numpy(pairwise_distance(embeddings, distance="squared-L2"))
    np.testing.assert_array_equal(squared, [[0.0, np.inf], [np.inf, 0.0]])
    l2 = as_numpy(pairwise_distance(embeddings, distance="L2"))
    np.testing.assert_array_equal(l2, [[0.0, 300.0], [300.0, 0.0]])


def test_pairwise_distance_of_huge_embeddings(rng, np_distance_matrix, as_numpy):
    embeddings = (rng.normal(size=(6, 3)) * 1e20).astype("float32")
    for metric in ("L2", "angular"):
        got = as_numpy(pairwise_distance(embeddings, distance=metric))
        expected = np_distance_matrix(embeddings, metric)
        assert np.all(np.isfinite(got))
        # As for ordinary embeddings (test_pairwise_distance_matches_loops),
        # relative to the scale of the embeddings.
        scale = 1e20 if metric == "L2" else 1.0
        np.testing.assert_allclose(got / scale, expected / scale, atol=1e-5, rtol=1e-5)
    # Squared distances of about 1e40 do not fit float32: inf, not NaN.
    squared = as_numpy(pairwise_distance(embeddings, distance="squared-L2"))
    np.testing.assert_array_equal(squared, np.where(np.eye(6) > 0, 0.0, np.inf))


def test_pairwise_distance_requires_a_matrix():
    message = r"`embeddings`.*\(batch, dim\).*" + re.escape(
        "Received: embeddings.shape=(2, 3, 4)"
    )
    with pytest.raises(ValueError, match=message):
        pairwise_distance(np.zeros((2, 3, 4), "float32"))


def test_distance_validation():
    with pytest.raises(
        ValueError,
        match=r"`distance`.*'L2', 'squared-L2', 'angular'.*Received: distance='cosine'",
    ):
        pairwise_distance(np.zeros((2, 2)), distance="cosine")


@pytest.mark.parametrize("name", distances.__all__)
def test_docstring_example_runs(name, run_example):
    run_example(getattr(distances, name))
