"""Recall@k: how often a query's nearest gallery items include its own kind.

The retrieval view of near-duplicate detection: `near_duplicate_pr` scores
one threshold for every pair, recall@k asks, query by query, whether the
right item ranks among the first k. Distances are the float64 L2 distances
of the other evaluations, computed by blocks of queries (through the Gram
formula, with exact distances wherever its rounding could change a rank).
"""

import numpy as np

from keras_stability._checks import check_int
from keras_stability._checks import is_int
from keras_stability.evaluation._distances import BUDGET
from keras_stability.evaluation._distances import GramBlocks
from keras_stability.evaluation._distances import as_embeddings
from keras_stability.evaluation._distances import l2_at

__all__ = ["RECALL_AT_K", "recall_at_k"]

# The ranks at which `near_duplicate_pr` reports recall@k.
RECALL_AT_K = (1, 5, 10)


def recall_at_k(
    query_embeddings, gallery_embeddings, query_labels, gallery_labels, k=RECALL_AT_K
):
    """The share of queries whose k nearest gallery items hold one of their label.

    A query is a hit at `k` when an item of its label ranks among the `k`
    gallery items nearest to it (L2 distance). Ties rank against the query:
    an item of another label at the same distance as the nearest item of the
    query's label ranks before it, so a constant embedding scores no better
    than chance allows (a hit only when the gallery has fewer than `k` items
    of other labels). A query whose label is absent from the gallery is a
    miss.

    Formula:

    ```
    d+(q) = min{d(q, g) : label(g) == label(q)}
    hit_k(q) = #{g : label(g) != label(q), d(q, g) <= d+(q)} < k
    recall@k = mean over queries of hit_k(q)
    ```

    Memory grows with the number of gallery items times a block of queries,
    not with queries times gallery.

    Args:
        query_embeddings: a 2-D array `(queries, dim)` of finite numbers.
        gallery_embeddings: a 2-D array `(items, dim)` of finite numbers.
        query_labels: 1-D labels (ints, strings: anything `==` compares),
            one per query.
        gallery_labels: 1-D labels, one per gallery item; at least one query
            label must appear among them.
        k: an int >= 1 or a sequence of them. Defaults to `(1, 5, 10)`; a
            `k` beyond the gallery's size counts the whole gallery.

    Returns:
        A dict `{k: recall}` of floats in [0, 1], one per `k`.

    Example:

    ```python
    import numpy as np
    from keras_stability.evaluation import recall_at_k

    queries = np.array([[0.0], [10.0]])
    gallery = np.array([[1.0], [9.0], [12.0]])
    # Query 0 (label 0) has its item first; query 1 (label 1) has item 2
    # (distance 2) behind item 1 (distance 1).
    recalls = recall_at_k(queries, gallery, [0, 1], [0, 2, 1], k=(1, 2))
    assert recalls == {1: 0.5, 2: 1.0}
    ```
    """
    queries = as_embeddings(query_embeddings, "query_embeddings")
    gallery = as_embeddings(gallery_embeddings, "gallery_embeddings")
    if queries.shape[1] != gallery.shape[1]:
        raise ValueError(
            "`query_embeddings` and `gallery_embeddings` must have the same "
            f"dimension. Received: {queries.shape[1]} and {gallery.shape[1]}"
        )
    if len(queries) == 0:
        raise ValueError(
            "`query_embeddings` must hold at least one query. Received: "
            f"query_embeddings of shape {queries.shape}"
        )
    query_labels = _labels(query_labels, "query_labels", len(queries))
    gallery_labels = _labels(gallery_labels, "gallery_labels", len(gallery))
    ks = _ks(k)
    blocks = GramBlocks(gallery)
    rows = max(1, BUDGET // max(1, len(gallery)))
    closer = np.concatenate(
        [
            _closer_negatives(
                queries[start : start + rows],
                query_labels[start : start + rows],
                gallery_labels,
                blocks,
            )
            for start in range(0, len(queries), rows)
        ]
    )
    found = closer >= 0
    if not np.any(found):
        raise ValueError(
            "No query's label appears in `gallery_labels`, so every query "
            f"misses. Received: query_labels={_preview(query_labels)}, "
            f"gallery_labels={_preview(gallery_labels)}"
        )
    return {value: float(np.mean(found & (closer < value))) for value in ks}


def _closer_negatives(queries, query_labels, gallery_labels, blocks):
    """For each query, the items of other labels no farther than its nearest
    item of its label; -1 where its label has no item.

    Decided on the Gram bounds where they settle it, on exact distances
    elsewhere.
    """
    lower = blocks.lower(queries)
    upper = blocks.upper(queries, lower)
    same = query_labels[:, None] == gallery_labels[None, :]
    margin = blocks.margin
    # The nearest item of the query's label by exact distance: any item
    # whose lower bound is within the smallest upper bound may be it.
    best = np.where(same, upper, np.inf).min(axis=1, initial=np.inf)
    rows, columns = np.nonzero(
        same & (lower * (1 - margin) <= best[:, None] * (1 + margin))
    )
    nearest = np.full(len(queries), np.inf)
    np.minimum.at(nearest, rows, l2_at(queries, blocks.gallery, rows, columns))
    squared = np.square(nearest)[:, None]
    other = ~same
    surely = other & (upper < squared * (1 - margin))
    maybe = other & ~surely & (lower <= squared * (1 + margin))
    rows, columns = np.nonzero(maybe)
    within = l2_at(queries, blocks.gallery, rows, columns) <= nearest[rows]
    counts = surely.sum(axis=1) + np.bincount(rows[within], minlength=len(queries))
    return np.where(np.isfinite(nearest), counts, -1)


def _labels(labels, name, count):
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != count:
        raise ValueError(
            f"`{name}` must be 1-D with one label per embedding ({count}). "
            f"Received: {name} of shape {labels.shape}"
        )
    return labels


def _ks(k):
    values = [k] if is_int(k) else k
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError(
            f"`k` must be an int >= 1 or a non-empty sequence of them. Received: k={k!r}"
        )
    return [check_int(value, "k", 1) for value in values]


def _preview(labels):
    return np.array2string(labels[:5]) + (" ..." if len(labels) > 5 else "")
