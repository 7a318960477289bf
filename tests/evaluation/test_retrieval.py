"""Recall@k against a brute-force ranking by sorting.

Error tests match the argument and the value received, not the wording.
"""

import numpy as np
import pytest

from keras_stability import evaluation
from keras_stability.evaluation import retrieval

TESTED = retrieval


def _np_recall_at_k(queries, gallery, query_labels, gallery_labels, ks):
    """Sort the gallery by distance, ties with other labels first, and look
    at the first k labels."""
    hits = {k: [] for k in ks}
    for query, label in zip(queries, query_labels, strict=True):
        distances = [np.sqrt(np.sum((query - item) ** 2)) for item in gallery]
        order = sorted(
            range(len(gallery)),
            key=lambda j: (distances[j], gallery_labels[j] == label),
        )
        for k in ks:
            hits[k].append(any(gallery_labels[j] == label for j in order[:k]))
    return {k: float(np.mean(hits[k])) for k in ks}


def test_docstring_example_runs(public_function, run_example):
    run_example(public_function)


def test_random_embeddings_match_sorting(rng):
    ks = (1, 2, 5, 10, 100)
    for _ in range(3):
        queries = rng.normal(size=(30, 4))
        gallery = rng.normal(size=(50, 4))
        query_labels = rng.integers(0, 8, 30)
        gallery_labels = rng.integers(0, 8, 50)
        expected = _np_recall_at_k(queries, gallery, query_labels, gallery_labels, ks)
        result = evaluation.recall_at_k(
            queries, gallery, query_labels, gallery_labels, k=ks
        )
        assert result == pytest.approx(expected, abs=1e-12)


def test_grid_points_tie_against_the_query(rng):
    # Points of {0, 1}^3, many exactly as far from a query as its own kind.
    queries = rng.integers(0, 2, size=(40, 3)).astype("float64")
    gallery = rng.integers(0, 2, size=(60, 3)).astype("float64")
    query_labels = rng.integers(0, 3, 40)
    gallery_labels = rng.integers(0, 3, 60)
    ks = (1, 3, 10, 30)
    expected = _np_recall_at_k(queries, gallery, query_labels, gallery_labels, ks)
    result = evaluation.recall_at_k(queries, gallery, query_labels, gallery_labels, ks)
    assert result == pytest.approx(expected, abs=1e-12)


def test_far_from_the_origin_the_rounding_does_not_decide(rng):
    queries = 1e6 + rng.integers(0, 3, size=(20, 4)) * 1e-3
    gallery = 1e6 + rng.integers(0, 3, size=(30, 4)) * 1e-3
    query_labels = rng.integers(0, 4, 20)
    gallery_labels = rng.integers(0, 4, 30)
    ks = (1, 4, 16)
    expected = _np_recall_at_k(queries, gallery, query_labels, gallery_labels, ks)
    result = evaluation.recall_at_k(queries, gallery, query_labels, gallery_labels, ks)
    assert result == pytest.approx(expected, abs=1e-12)


def test_constant_embedding_ranks_the_query_last():
    # Every distance is 0: the 9 items of other labels rank before the
    # query's own, so it is found only when k exceeds 9.
    embeddings = np.ones((10, 3))
    labels = np.arange(10)
    result = evaluation.recall_at_k(embeddings, embeddings, labels, labels, (1, 9, 10))
    assert result == {1: 0.0, 9: 0.0, 10: 1.0}


def test_a_label_missing_from_the_gallery_is_a_miss():
    queries = np.array([[0.0], [5.0]])
    gallery = np.array([[0.1], [5.0]])
    # Query 1's label "c" is not in the gallery.
    result = evaluation.recall_at_k(queries, gallery, ["a", "c"], ["a", "b"], k=2)
    assert result == {2: 0.5}


@pytest.mark.parametrize(
    "k, match",
    [(0, r"`k`.*k=0"), ([1, -2], r"`k`.*k=-2"), ([], r"`k`.*k=\[\]"), ("1", "k='1'")],
)
def test_k_errors(k, match):
    x = np.zeros((2, 2))
    with pytest.raises(ValueError, match=match):
        evaluation.recall_at_k(x, x, [0, 1], [0, 1], k=k)


def test_input_errors():
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"same dimension.*2 and 4"):
        evaluation.recall_at_k(x, np.zeros((3, 4)), [0, 1, 2], [0, 1, 2])
    with pytest.raises(ValueError, match=r"`gallery_labels`.*shape \(2,\)"):
        evaluation.recall_at_k(x, x, [0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match=r"`query_embeddings`.*shape \(0, 2\)"):
        evaluation.recall_at_k(np.zeros((0, 2)), x, [], [0, 1, 2])
    with pytest.raises(ValueError, match=r"`gallery_embeddings` must be finite"):
        evaluation.recall_at_k(x, np.full((3, 2), np.inf), [0, 1, 2], [0, 1, 2])
    with pytest.raises(ValueError, match=r"No query's label.*gallery_labels=\[7 8 9\]"):
        evaluation.recall_at_k(x, x, [0, 1, 2], [7, 8, 9])
