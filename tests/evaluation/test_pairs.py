"""The exact pair search against a brute-force double loop.

Error tests match the argument and the value received, not the wording.
"""

import sys
import tracemalloc

import numpy as np
import pytest

from keras_stability import evaluation
from keras_stability.evaluation import pairs

TESTED = pairs


def _brute_force(x, threshold):
    """Every pair i < j within `threshold`, by a double loop, sorted."""
    found = []
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            distance = np.sqrt(np.sum((x[i] - x[j]) ** 2))
            if distance <= threshold:
                found.append((distance, i, j))
    found.sort()
    return (
        np.array([i for _, i, _ in found], "int64"),
        np.array([j for _, _, j in found], "int64"),
        np.array([d for d, _, _ in found]),
    )


def _assert_same(result, expected):
    first, second, distances = result
    np.testing.assert_array_equal(first, expected[0])
    np.testing.assert_array_equal(second, expected[1])
    np.testing.assert_allclose(distances, expected[2], rtol=1e-12, atol=0)
    assert first.dtype == second.dtype == np.int64 and distances.dtype == np.float64


def test_docstring_example_runs(public_function, run_example):
    run_example(public_function)


@pytest.mark.parametrize("chunk_size", [1, 2, 7, 23, 40])
def test_random_embeddings_match_the_double_loop(rng, chunk_size):
    x = rng.normal(size=(23, 5))
    everything = _brute_force(x, np.inf)
    for threshold in [0.0, np.median(everything[2]), np.inf]:
        _assert_same(
            evaluation.close_pairs(x, threshold, chunk_size=chunk_size),
            _brute_force(x, threshold),
        )


@pytest.mark.parametrize("chunk_size", [1, 4, 50])
def test_grid_points_with_ties_and_duplicates(rng, chunk_size):
    # Points of {0, 1, 2}^3: many pairs at exactly 0, 1, sqrt(2), 2 ...; a
    # threshold equal to a distance keeps the pairs at it.
    x = rng.integers(0, 3, size=(40, 3)).astype("float64")
    for threshold in [0.0, 1.0, np.sqrt(2.0), 2.0]:
        result = evaluation.close_pairs(x, threshold, chunk_size=chunk_size)
        _assert_same(result, _brute_force(x, threshold))
    duplicates = evaluation.close_pairs(x, 0.0, chunk_size=chunk_size)
    assert len(duplicates[0]) > 0
    np.testing.assert_array_equal(x[duplicates[0]], x[duplicates[1]])


def test_threshold_edges_by_hand():
    x = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    # Distances: (0, 1) = 5, (0, 2) = 0, (1, 2) = 5.
    first, second, distances = evaluation.close_pairs(x, 5.0)
    assert list(zip(first, second, distances, strict=True)) == [
        (0, 2, 0.0),
        (0, 1, 5.0),
        (1, 2, 5.0),
    ]
    first, second, _ = evaluation.close_pairs(x, np.nextafter(5.0, 0.0))
    assert list(zip(first, second, strict=True)) == [(0, 2)]
    first, _, _ = evaluation.close_pairs(x[:2], 4.999)
    assert first.size == 0


def test_far_from_the_origin_the_rounding_does_not_decide(rng):
    # Points 1e6 from the origin, 1e-3 apart: the Gram formula's rounding is
    # far larger than the distances, so the exact distances must decide.
    x = 1e6 + rng.integers(0, 3, size=(30, 4)) * 1e-3
    for threshold in [0.0, 1e-3, 2e-3]:
        _assert_same(
            evaluation.close_pairs(x, threshold, chunk_size=8),
            _brute_force(x, threshold),
        )


def test_few_rows():
    for x in [np.zeros((0, 3)), np.ones((1, 3))]:
        first, second, distances = evaluation.close_pairs(x, np.inf)
        assert first.size == second.size == distances.size == 0


def test_memory_grows_with_the_block_not_the_square(rng):
    # 3,000 rows: their full distance matrix takes 72 MB in float64; blocks
    # of 16 rows take 16 * 3000 * 8 bytes = 384 kB.
    count = 3000
    x = rng.normal(size=(count, 4))
    tracemalloc.start()
    try:
        first, _, _ = evaluation.close_pairs(x, 0.1, chunk_size=16)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert first.size > 0
    assert peak < count * count * 8 / 20


def test_verbose_shows_the_rows(rng, capsys):
    evaluation.close_pairs(rng.normal(size=(30, 2)), 0.5, chunk_size=7, verbose=True)
    assert "30/30" in capsys.readouterr().out


def test_faiss_gives_the_same_pairs(rng):
    pytest.importorskip("faiss")
    grid = rng.integers(0, 3, size=(40, 3)).astype("float64")
    far = 1e3 + rng.integers(0, 3, size=(30, 4)) * 1e-2
    for x, thresholds in [(grid, [0.0, 1.0, np.sqrt(2.0)]), (far, [0.0, 1e-2])]:
        for threshold in thresholds:
            _assert_same(
                evaluation.close_pairs(x, threshold, chunk_size=9, method="faiss"),
                _brute_force(x, threshold),
            )


def test_faiss_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(ImportError, match=r"pip install keras-stability\[faiss\]"):
        evaluation.close_pairs(np.zeros((3, 2)), 1.0, method="faiss")


@pytest.mark.parametrize(
    "arguments, match",
    [
        ({"threshold": -1.0}, r"`threshold`.*threshold=-1\.0"),
        ({"threshold": np.nan}, r"`threshold`.*threshold=nan"),
        ({"threshold": "1"}, r"`threshold`.*threshold='1'"),
        ({"threshold": True}, r"`threshold`.*threshold=True"),
        ({"chunk_size": 0}, r"`chunk_size`.*chunk_size=0"),
        ({"chunk_size": 2.0}, r"`chunk_size`.*chunk_size=2\.0"),
        ({"method": "annoy"}, r"`method`.*method='annoy'"),
    ],
)
def test_argument_errors(arguments, match):
    arguments = {"threshold": 1.0, **arguments}
    with pytest.raises(ValueError, match=match):
        evaluation.close_pairs(np.zeros((3, 2)), **arguments)


def test_embedding_errors():
    with pytest.raises(ValueError, match=r"`embeddings`.*shape \(3,\)"):
        evaluation.close_pairs(np.zeros(3), 1.0)
    with pytest.raises(ValueError, match=r"`embeddings` must be finite.*1 NaN"):
        evaluation.close_pairs(np.array([[0.0], [np.nan]]), 1.0)
    with pytest.raises(ValueError, match=r"`embeddings`.*type str"):
        evaluation.close_pairs("abc", 1.0)
