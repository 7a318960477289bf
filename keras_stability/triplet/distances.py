"""Distance matrices of a batch of embeddings, and what the miners need of them.

`pairwise_distance` is public. The rest serves the mining losses of
`keras_stability.triplet.mining`: the labelled distance matrix with its
masks, and TensorFlow Addons' masked maximum and minimum.
"""

from keras import ops

from keras_stability._checks import check_choice
from keras_stability._checks import static_shape
from keras_stability._numerics import as_float
from keras_stability._numerics import l2_normalize
from keras_stability._numerics import overflow_scale
from keras_stability._numerics import rescale
from keras_stability._numerics import safe_sqrt

__all__ = ["pairwise_distance"]

PAIRWISE_DISTANCES = ("L2", "squared-L2", "angular")

# The degree of each distance as a function of the embeddings: scaling the
# embeddings by `s` scales the distance by `s**degree`.
DEGREES = {"L2": 1, "squared-L2": 2, "angular": 0}


def pairwise_distance(embeddings, distance="L2"):
    """Computes the matrix of distances between all rows of `embeddings`.

    Squared Euclidean distances come from the Gram matrix,
    `|x_i|^2 + |x_j|^2 - 2 x_i . x_j`, clipped at 0 against rounding, with
    the diagonal set to exactly 0 (TensorFlow Addons' `pairwise_distance`).
    The Euclidean distance is the square root of that, with value and
    gradient 0 wherever the squared distance is 0, so identical embeddings
    give finite gradients. The angular distance is one minus the cosine
    similarity of the L2-normalized rows, clipped at 0; its diagonal is 0 up
    to rounding (TensorFlow Addons' `angular_distance`), and a row of zeros
    is at distance 1 from every row, itself included.

    Precision, the same for every triplet loss of the library:

    - float16 and bfloat16 inputs are computed in float32, where the squared
      norms of ordinary float16 rows would overflow, and the result is cast
      back to their dtype. A value above float16's largest comes back as
      `inf` in float16, as any cast does; pass float32 inputs to keep it.
    - Inputs above 2**50 in magnitude are divided by a power of two before
      they are squared, and the result multiplied back, which is exact:
      embeddings whose squares overflow float32 get distances (and losses)
      as accurate as ordinary ones, wherever those fit float32, and `inf`,
      never NaN, where they do not (squared-L2 distances past the largest
      float32).

    Formula:

    ```
    L2:         D[i, j] = ||x_i - x_j||_2
    squared-L2: D[i, j] = ||x_i - x_j||_2^2
    angular:    D[i, j] = max(0, 1 - x_i . x_j / (||x_i||_2 ||x_j||_2))
    ```

    Args:
        embeddings: float tensor of shape `(batch, dim)`.
        distance: `"L2"`, `"squared-L2"` or `"angular"`. Defaults to `"L2"`.

    Returns:
        Tensor of shape `(batch, batch)` in the dtype of `embeddings`
        (`keras.config.floatx()` for integer embeddings).

    Example:

    ```python
    import numpy as np
    from keras_stability.triplet import pairwise_distance
    embeddings = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    distances = pairwise_distance(embeddings, distance="angular")  # (4, 4)
    ```
    """
    check_choice("distance", distance, PAIRWISE_DISTANCES)
    embeddings, output_dtype = as_float(embeddings)
    check_embeddings(embeddings, "embeddings")
    scale = overflow_scale([embeddings])
    distances = scaled_pairwise_distance(embeddings / scale, distance)
    return ops.cast(rescale(distances, scale, DEGREES[distance]), output_dtype)


def check_embeddings(embeddings, name):
    """Raises unless `embeddings` has rank 2 (or an unknown rank)."""
    shape = static_shape(embeddings)
    if shape is not None and len(shape) != 2:
        raise ValueError(
            f"`{name}` must be embeddings of shape (batch, dim). "
            f"Received: {name}.shape={shape}"
        )


def scaled_pairwise_distance(embeddings, distance):
    """The distance matrix of embeddings of magnitude at most 2**50.

    Cast to the embeddings' dtype: under PyTorch, Keras returns float32
    from `maximum` of a float64 tensor and a Python float.
    """
    return ops.cast(_gram_distance(embeddings, distance), embeddings.dtype)


def _gram_distance(embeddings, distance):
    if distance == "angular":
        normalized = l2_normalize(embeddings)
        cosine = ops.matmul(normalized, ops.transpose(normalized))
        return ops.maximum(1.0 - cosine, 0.0)

    squared_norms = ops.sum(ops.square(embeddings), axis=1, keepdims=True)
    squared = (
        squared_norms
        + ops.transpose(squared_norms)
        - 2.0 * ops.matmul(embeddings, ops.transpose(embeddings))
    )
    squared = ops.maximum(squared, 0.0)
    diagonal = _diagonal(ops.shape(embeddings)[0])
    if distance == "squared-L2":
        return ops.where(diagonal, ops.zeros_like(squared), squared)
    zero = ops.logical_or(diagonal, ops.less_equal(squared, 0.0))
    return safe_sqrt(squared, zero)


def _diagonal(size):
    """The boolean `(size, size)` identity matrix."""
    indices = ops.arange(size)
    return ops.equal(ops.expand_dims(indices, 1), ops.expand_dims(indices, 0))


def masked_maximum(data, mask, axis=1):
    """The maximum of `data` over `axis` where `mask` is 1.

    TensorFlow Addons' formula, kept as is for its answer on an empty mask:
    then it returns the minimum of `data` over the whole axis.
    """
    axis_minimums = ops.min(data, axis=axis, keepdims=True)
    return (
        ops.max((data - axis_minimums) * mask, axis=axis, keepdims=True) + axis_minimums
    )


def masked_minimum(data, mask, axis=1):
    """The minimum of `data` over `axis` where `mask` is 1.

    On an empty mask it returns the maximum of `data` over the whole axis.
    """
    axis_maximums = ops.max(data, axis=axis, keepdims=True)
    return (
        ops.min((data - axis_maximums) * mask, axis=axis, keepdims=True) + axis_maximums
    )


def _check_labelled_embeddings(y_true, y_pred):
    """Raises unless `y_pred` is a non-empty `(batch, dim)` with a label each."""
    check_embeddings(y_pred, "y_pred")
    labels_shape, embeddings_shape = static_shape(y_true), static_shape(y_pred)
    batch = None if embeddings_shape is None else embeddings_shape[0]
    if batch == 0:
        raise ValueError(
            "`y_pred` must hold at least one embedding. "
            f"Received: y_pred.shape={embeddings_shape}"
        )
    if labels_shape is None:
        return
    labels_batch = labels_shape[0] if labels_shape else None
    if (
        not labels_shape
        or (None not in (labels_batch, batch) and labels_batch != batch)
        or any(dim not in (1, None) for dim in labels_shape[1:])
    ):
        raise ValueError(
            "`y_true` must hold one label per embedding of `y_pred`: shape "
            "(batch,) or (batch, 1). Received: "
            f"y_true.shape={labels_shape}, y_pred.shape={embeddings_shape}"
        )


def labelled_distances(y_true, y_pred, distance_metric):
    """The distance matrix of the embeddings `y_pred`, and what to mine it with.

    Returns (distances, scale, degree, same-label matrix, off-diagonal mask,
    output dtype). For the built-in metrics, `distances` are those of
    `y_pred / scale` (see `overflow_scale`): the true distances are
    `distances * scale**degree`, and differences of distances are scaled
    back after the subtraction, so that they stay finite when the distances
    themselves overflow. A callable metric gets `y_pred` as is, with scale
    `None`. Raises unless `distance_metric` is a built-in name or a callable.
    """
    check_choice(
        "distance_metric", distance_metric, PAIRWISE_DISTANCES, allow_callable=True
    )
    y_true = ops.convert_to_tensor(y_true)
    embeddings, output_dtype = as_float(y_pred)
    _check_labelled_embeddings(y_true, embeddings)
    if callable(distance_metric):
        scale, degree = None, 0
        distances = ops.convert_to_tensor(distance_metric(embeddings))
    else:
        scale, degree = overflow_scale([embeddings]), DEGREES[distance_metric]
        distances = scaled_pairwise_distance(embeddings / scale, distance_metric)
    labels = ops.reshape(y_true, (-1, 1))
    same_label = ops.equal(labels, ops.transpose(labels))
    off_diagonal = ops.logical_not(_diagonal(ops.shape(labels)[0]))
    return distances, scale, degree, same_label, off_diagonal, output_dtype
