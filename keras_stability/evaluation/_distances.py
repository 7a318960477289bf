"""L2 distances between embeddings: the exact ones, and blocks that bound them.

Shared by the modules of `keras_stability.evaluation` and by no one else.
`l2` is the distance every evaluation reports: in float64,
`sqrt(sum((a - b) ** 2))`. A block of squared distances from the Gram matrix,
`|a|^2 + |b|^2 - 2 a.b`, costs one matrix product instead of a difference per
coordinate, but it rounds. `GramBlocks` gives bounds around each entry that
hold despite the rounding, so a caller can keep the entries that may pass a
test and decide those with `l2`: the answer is the one `l2` gives, ties
included.
"""

import numpy as np

__all__ = ["BUDGET", "GramBlocks", "as_embeddings", "l2", "l2_at"]

# How many float64 numbers a temporary array of these helpers may hold.
BUDGET = 2**22

_EPS = float(np.finfo("float64").eps)


def as_embeddings(x, name):
    """`x` as a float64 `(count, dim)` array of finite numbers, else raises."""
    try:
        array = np.asarray(x, "float64")
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be a 2-D array of numbers. Received: {name} of type "
            f"{type(x).__name__}"
        ) from None
    if array.ndim != 2:
        raise ValueError(
            f"`{name}` must be a 2-D array (count, dim). Received: {name} of "
            f"shape {array.shape}"
        )
    finite = np.isfinite(array)
    if not np.all(finite):
        raise ValueError(
            f"`{name}` must be finite. Received: {int(np.sum(~finite))} NaN or "
            f"inf values in {name} of shape {array.shape}"
        )
    return array


def l2(a, b):
    """The L2 distance along the last axis, in float64 (broadcasting)."""
    difference = np.asarray(a, "float64") - np.asarray(b, "float64")
    return np.sqrt(np.sum(np.square(difference), axis=-1))


def l2_at(x, y, rows, columns):
    """`l2(x[rows], y[columns])`, at most `BUDGET` differences at a time."""
    step = max(1, BUDGET // max(1, x.shape[1]))
    out = np.empty(len(rows))
    for start in range(0, len(rows), step):
        stop = start + step
        out[start:stop] = l2(x[rows[start:stop]], y[columns[start:stop]])
    return out


class GramBlocks:
    """Bounds on the squared L2 distances to the rows of `gallery`, by blocks.

    The Gram formula rounds by at most `tolerance * (|a|^2 + |b|^2)`
    (`tolerance = (2 * dim + 8) * eps`, twice the textbook bound of a dot
    product of `dim` terms), so `lower` and `upper` hold the exact squared
    distance between them. `margin` bounds the relative gap between a
    squared `l2` and the exact square it rounds (a sum of `dim` squares and
    a square root).
    """

    def __init__(self, gallery):
        self.gallery = gallery
        self.norms = np.einsum("ij,ij->i", gallery, gallery)
        if not np.all(np.isfinite(self.norms)):
            raise ValueError(
                "Embeddings this large overflow float64 when squared. Received "
                f"values up to {float(np.max(np.abs(gallery))):.3g}"
            )
        dim = gallery.shape[1]
        self.tolerance = (2 * dim + 8) * _EPS
        self.margin = (dim + 4) * _EPS

    def lower(self, queries, start=0):
        """Lower bounds `(len(queries), count - start)` against `gallery[start:]`.

        One array of that shape, computed in place.
        """
        query_norms = np.einsum("ij,ij->i", queries, queries)
        bounds = queries @ self.gallery[start:].T
        bounds *= -2.0
        bounds += (1 - self.tolerance) * self.norms[start:]
        bounds += ((1 - self.tolerance) * query_norms)[:, None]
        return bounds

    def upper(self, queries, lower, start=0):
        """The upper bounds that go with `lower(queries, start)`."""
        query_norms = np.einsum("ij,ij->i", queries, queries)
        bounds = lower + (2 * self.tolerance) * self.norms[start:]
        bounds += ((2 * self.tolerance) * query_norms)[:, None]
        return bounds
