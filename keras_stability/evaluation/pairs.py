"""Every pair of embeddings closer than a threshold: exact search by blocks.

The search behind `keras-stability duplicates`. The default method compares
each block of `chunk_size` rows with the rows after it, so memory grows with
`chunk_size * count`, not `count ** 2`; `method="faiss"` hands the search to
FAISS's exact flat index (`pip install keras-stability[faiss]`). Either way
a pair's distance is the float64 L2 distance every evaluation reports, and a
pair is kept when it is `<= threshold`.
"""

import math

import keras
import numpy as np

from keras_stability._checks import check_choice
from keras_stability._checks import check_float
from keras_stability._checks import check_int
from keras_stability.evaluation._distances import GramBlocks
from keras_stability.evaluation._distances import as_embeddings
from keras_stability.evaluation._distances import l2_at

__all__ = ["PAIR_METHODS", "close_pairs"]

PAIR_METHODS = ("numpy", "faiss")

_FLOAT32_EPS = float(np.finfo("float32").eps)


def close_pairs(
    embeddings, threshold, *, chunk_size=256, method="numpy", verbose=False
):
    """The pairs `(i, j)`, `i < j`, whose embeddings lie within `threshold`.

    An exact search. With `method="numpy"`, each block of `chunk_size` rows
    is compared with itself and every later row through one matrix product
    (the Gram formula), which bounds each distance despite its rounding;
    the pairs those bounds cannot rule out get their exact distance. With
    `method="faiss"`, FAISS's exact `IndexFlatL2` finds the candidates (in
    float32, with the radius widened by its rounding) and the same exact
    distances decide. Both give the same pairs: those whose float64 L2
    distance is `<= threshold`.

    Memory: the embeddings in float64 (and, for FAISS, a float32 copy),
    one block of about `9 * chunk_size * count` bytes at a time, and the
    pairs found.

    Args:
        embeddings: a 2-D array `(count, dim)` of finite numbers.
        threshold: the largest distance of a pair kept, a number in
            `[0, inf]`; `inf` keeps every pair.
        chunk_size: rows per block, an int >= 1. Defaults to 256.
        method: `"numpy"` or `"faiss"` (needs the `faiss` package).
            Defaults to `"numpy"`.
        verbose: show a `keras.utils.Progbar` over the rows. Defaults to
            `False`.

    Returns:
        `(first, second, distances)`: two int64 arrays with `first < second`
        and a float64 array, one entry per pair, sorted by distance, then by
        `first` and `second`.

    Raises:
        ImportError: for `method="faiss"` without the `faiss` package.

    Example:

    ```python
    import numpy as np
    from keras_stability.evaluation import close_pairs

    embeddings = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0], [3.0, 4.5]])
    first, second, distances = close_pairs(embeddings, 1.0, chunk_size=2)
    assert first.tolist() == [1, 0] and second.tolist() == [3, 2]
    assert distances.tolist() == [0.5, 1.0]
    ```
    """
    x = as_embeddings(embeddings, "embeddings")
    threshold = check_float(threshold, "threshold", 0.0, math.inf)
    check_int(chunk_size, "chunk_size", 1)
    check_choice("method", method, PAIR_METHODS)
    blocks = GramBlocks(x)
    # A squared l2 <= threshold**2 means an exact square at most this far.
    limit = threshold**2 * (1 + blocks.margin)
    search = _faiss_candidates if method == "faiss" else _numpy_candidates
    progress = keras.utils.Progbar(len(x), unit_name="row") if verbose else None
    found = [(np.zeros(0, "int64"), np.zeros(0, "int64"), np.zeros(0))]
    for stop, first, second in search(x, blocks, limit, chunk_size):
        distances = l2_at(x, x, first, second)
        keep = distances <= threshold
        found.append((first[keep], second[keep], distances[keep]))
        if progress is not None:
            progress.update(stop)
    first, second, distances = (
        np.concatenate(parts) for parts in zip(*found, strict=True)
    )
    order = np.lexsort((second, first, distances))
    return first[order], second[order], distances[order]


def _numpy_candidates(x, blocks, limit, chunk_size):
    """Per block of rows: `(stop, first, second)`, the pairs the bounds keep.

    Rows `start:stop` against the rows from `start` on; within the block
    itself, only the pairs above the diagonal.
    """
    for start in range(0, len(x), chunk_size):
        stop = min(len(x), start + chunk_size)
        called = blocks.lower(x[start:stop], start) <= limit
        size = stop - start
        called[:, :size] &= np.triu(np.ones((size, size), bool), 1)
        rows, columns = np.nonzero(called)
        yield stop, rows + start, columns + start


def _faiss_candidates(x, blocks, limit, chunk_size):
    """As `_numpy_candidates`, by FAISS's float32 range search over all rows."""
    try:
        import faiss
    except ImportError:
        raise ImportError(
            'close_pairs(method="faiss") needs the faiss package: '
            "pip install keras-stability[faiss] (or pip install faiss-cpu)"
        ) from None
    largest = float(np.max(blocks.norms, initial=0.0))
    if largest > 1e30:
        raise ValueError(
            '`method="faiss"` computes in float32, which these embeddings '
            'overflow when squared. Pass method="numpy". Received squared '
            f"norms up to {largest:.3g}"
        )
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(np.ascontiguousarray(x, "float32"))
    # FAISS keeps distances strictly below the radius, computed in float32:
    # widen it by float32's rounding of the inputs, norms and products.
    widening = (4 * x.shape[1] + 32) * _FLOAT32_EPS * largest
    radius = limit * (1 + 4 * _FLOAT32_EPS) + widening + np.finfo("float32").tiny
    radius = float(min(radius, np.finfo("float32").max))
    for start in range(0, len(x), chunk_size):
        stop = min(len(x), start + chunk_size)
        limits, _, neighbours = index.range_search(
            np.ascontiguousarray(x[start:stop], "float32"), radius
        )
        rows = np.repeat(np.arange(start, stop), np.diff(limits.astype("int64")))
        neighbours = neighbours.astype("int64")
        later = neighbours > rows
        yield stop, rows[later], neighbours[later]
