"""Triplet losses: the ranking hinge of deep ranking, and batch-mined triplets.

`triplet_hinge_loss` is the ranking loss L0 of Stability Training's
near-duplicate experiments: explicit (anchor, positive, negative) triplets and
a hinge on the difference of their distances.

`triplet_semihard_loss` and `triplet_hard_loss` mine the triplets inside a
batch of labelled embeddings. They reproduce `tensorflow_addons.losses`
0.23 (`TripletSemiHardLoss`, `TripletHardLoss`) value for value, including
its fallbacks when a batch has no positive or no negative for an anchor, so
that code written for TensorFlow Addons, which no longer imports with Keras 3,
can switch to these classes.

Everything here is written with `keras.ops` and runs on every Keras backend.
"""

import keras
from keras import ops

from keras_stability._backend import scale_for_replicas
from keras_stability._checks import check_bool
from keras_stability._checks import check_choice
from keras_stability._checks import check_margin
from keras_stability._checks import check_same_shape
from keras_stability._checks import static_shape
from keras_stability._numerics import as_float
from keras_stability._numerics import overflow_scale
from keras_stability._numerics import rescale
from keras_stability._numerics import safe_sqrt

__all__ = [
    "TripletHardLoss",
    "TripletHingeLoss",
    "TripletSemiHardLoss",
    "pairwise_distance",
    "triplet_hard_loss",
    "triplet_hinge_loss",
    "triplet_semihard_loss",
]

PAIRWISE_DISTANCES = ("L2", "squared-L2", "angular")
HINGE_DISTANCES = ("l2", "squared_l2", "cosine")

# Reductions under which Keras divides a loss by the number of replicas.
_MEAN_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")


def _l2_normalize(x):
    # The same epsilon as `tf.math.l2_normalize`: a zero row stays zero.
    squared_norm = ops.sum(ops.square(x), axis=-1, keepdims=True)
    return x * ops.rsqrt(ops.maximum(squared_norm, 1e-12))


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

    float16 and bfloat16 embeddings are computed in float32 (the squared
    norms of float16 rows overflow from a norm of about 256 on) and the matrix is
    cast back to their dtype. A distance above float16's largest value,
    65504, comes back as `inf` in float16, as any cast does; pass float32
    embeddings to keep it. The mining losses are not affected: they compute
    the matrix of float32 embeddings.

    Embeddings above 2**50 in magnitude are divided by a power of two before
    the Gram matrix, and the distances multiplied back, which is exact: the
    L2 and angular distances of embeddings of 1e20, whose squares overflow
    float32, are as accurate as those of ordinary ones. A squared-L2
    distance above the largest float32 (about 3.4e38) comes back as `inf`.

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
    _check_embeddings(embeddings, "embeddings")
    scale = overflow_scale([embeddings])
    distances = _plain_pairwise_distance(embeddings / scale, distance)
    return ops.cast(rescale(distances, scale, _DEGREES[distance]), output_dtype)


# The degree of each distance as a function of the embeddings: scaling the
# embeddings by `s` scales the distance by `s**degree`.
_DEGREES = {
    "L2": 1,
    "squared-L2": 2,
    "angular": 0,
    "l2": 1,
    "squared_l2": 2,
    "cosine": 0,
}


def _check_embeddings(embeddings, name):
    shape = static_shape(embeddings)
    if shape is not None and len(shape) != 2:
        raise ValueError(
            f"`{name}` must be embeddings of shape (batch, dim). "
            f"Received: {name}.shape={shape}"
        )


def _plain_pairwise_distance(embeddings, distance):
    """The distance matrix of embeddings of magnitude at most 2**50.

    Cast to the embeddings' dtype: under PyTorch, Keras returns float32
    from `maximum` of a float64 tensor and a Python float.
    """
    return ops.cast(_gram_distance(embeddings, distance), embeddings.dtype)


def _gram_distance(embeddings, distance):
    if distance == "angular":
        normalized = _l2_normalize(embeddings)
        cosine = ops.matmul(normalized, ops.transpose(normalized))
        return ops.maximum(1.0 - cosine, 0.0)

    squared_norms = ops.sum(ops.square(embeddings), axis=1, keepdims=True)
    squared = (
        squared_norms
        + ops.transpose(squared_norms)
        - 2.0 * ops.matmul(embeddings, ops.transpose(embeddings))
    )
    squared = ops.maximum(squared, 0.0)
    indices = ops.arange(ops.shape(embeddings)[0])
    diagonal = ops.equal(ops.expand_dims(indices, 1), ops.expand_dims(indices, 0))
    if distance == "squared-L2":
        return ops.where(diagonal, ops.zeros_like(squared), squared)
    zero = ops.logical_or(diagonal, ops.less_equal(squared, 0.0))
    return safe_sqrt(squared, zero)


def _masked_maximum(data, mask, axis=1):
    """The maximum of `data` over `axis` where `mask` is 1.

    TensorFlow Addons' formula, kept as is for its answer on an empty mask:
    then it returns the minimum of `data` over the whole axis.
    """
    axis_minimums = ops.min(data, axis=axis, keepdims=True)
    return (
        ops.max((data - axis_minimums) * mask, axis=axis, keepdims=True) + axis_minimums
    )


def _masked_minimum(data, mask, axis=1):
    """The minimum of `data` over `axis` where `mask` is 1.

    On an empty mask it returns the maximum of `data` over the whole axis.
    """
    axis_maximums = ops.max(data, axis=axis, keepdims=True)
    return (
        ops.min((data - axis_maximums) * mask, axis=axis, keepdims=True) + axis_maximums
    )


def _check_labelled_embeddings(y_true, y_pred):
    """Raises unless `y_pred` is a non-empty `(batch, dim)` with a label each."""
    _check_embeddings(y_pred, "y_pred")
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


def _labelled_distances(y_true, y_pred, distance_metric):
    """The distance matrix of the embeddings `y_pred`, and what to mine it with.

    Returns (distances, scale, degree, same-label matrix, off-diagonal mask,
    output dtype). For the built-in metrics, `distances` are those of
    `y_pred / scale` (see `overflow_scale`): the true distances are
    `distances * scale**degree`, and differences of distances are scaled
    back after the subtraction, so that they stay finite when the distances
    themselves overflow. A callable metric gets `y_pred` as is, with scale
    `None`.
    """
    y_true = ops.convert_to_tensor(y_true)
    embeddings, output_dtype = as_float(y_pred)
    _check_labelled_embeddings(y_true, embeddings)
    if callable(distance_metric):
        scale, degree = None, 0
        distances = ops.convert_to_tensor(distance_metric(embeddings))
    else:
        scale, degree = overflow_scale([embeddings]), _DEGREES[distance_metric]
        distances = _plain_pairwise_distance(embeddings / scale, distance_metric)
    labels = ops.reshape(y_true, (-1, 1))
    same_label = ops.equal(labels, ops.transpose(labels))
    indices = ops.arange(ops.shape(labels)[0])
    off_diagonal = ops.not_equal(
        ops.expand_dims(indices, 1), ops.expand_dims(indices, 0)
    )
    return distances, scale, degree, same_label, off_diagonal, output_dtype


def triplet_hinge_loss(anchor, positive, negative, margin=0.1, distance="l2"):
    """Computes the ranking hinge loss of each explicit triplet.

    For each row, the loss is zero once the negative is at least `margin`
    farther from the anchor than the positive, and grows linearly otherwise.
    This is the ranking loss of Wang et al. (2014) that Stability Training
    (Zheng et al., 2016) adds its stability term to. The Euclidean distance
    has value and gradient 0 for identical embeddings. float16 and bfloat16
    inputs are computed in float32 and the result is cast back.

    A triplet with entries above 2**50 in magnitude is computed divided by a
    power of two, exactly, and the gap `D(a, p) - D(a, n)` is multiplied
    back before the margin is added: the loss is finite wherever it fits
    float32, even when the squared distances do not (embeddings of 1e20),
    and `inf`, never NaN, where it does not.

    Formula:

    ```
    loss_i = max(0, margin + D(anchor_i, positive_i) - D(anchor_i, negative_i))
    ```

    with `D` the Euclidean distance (`"l2"`, the paper's), its square
    (`"squared_l2"`) or one minus the cosine similarity (`"cosine"`).

    Args:
        anchor: float tensor of shape `(batch, dim)`.
        positive: float tensor of shape `(batch, dim)`, the images more
            similar to the anchors.
        negative: float tensor of shape `(batch, dim)`, the images less
            similar to the anchors.
        margin: finite non-negative float, the gap `g` required between the two
            distances. Defaults to `0.1`.
        distance: `"l2"`, `"squared_l2"` or `"cosine"`. Defaults to `"l2"`.

    Returns:
        Tensor of shape `(batch,)` with the loss of each triplet, in the
        dtype of `anchor`.

    Example:

    ```python
    import numpy as np
    from keras_stability.losses import triplet_hinge_loss
    rng = np.random.default_rng(0)
    anchor, positive, negative = rng.normal(size=(3, 8, 4)).astype("float32")
    per_triplet = triplet_hinge_loss(anchor, positive, negative, margin=0.2)
    ```

    Reference:
        - [Wang et al., 2014. Learning Fine-grained Image Similarity with Deep
          Ranking](https://arxiv.org/abs/1404.4661)
        - [Zheng et al., 2016. Improving the Robustness of Deep Neural Networks
          via Stability Training](https://arxiv.org/abs/1604.04326)
    """
    check_margin(margin)
    check_choice("distance", distance, HINGE_DISTANCES)
    anchor, output_dtype = as_float(anchor)
    positive = ops.cast(positive, anchor.dtype)
    negative = ops.cast(negative, anchor.dtype)
    check_same_shape(anchor=anchor, positive=positive, negative=negative)
    # Each triplet is computed divided by a power of two, 1 for ordinary
    # inputs, so that no square overflows; see `overflow_scale`.
    scale = overflow_scale([anchor, positive, negative], axis=-1)
    anchor, positive, negative = anchor / scale, positive / scale, negative / scale
    scale = ops.squeeze(scale, axis=-1)

    def pair_distance(x, y):
        if distance == "cosine":
            return 1.0 - ops.sum(_l2_normalize(x) * _l2_normalize(y), axis=-1)
        squared = ops.sum(ops.square(x - y), axis=-1)
        if distance == "squared_l2":
            return squared
        return safe_sqrt(squared, ops.less_equal(squared, 0.0))

    margin = ops.cast(margin, anchor.dtype)
    to_positive = pair_distance(anchor, positive)
    to_negative = pair_distance(anchor, negative)
    # For scaled triplets the gap is scaled back before the margin is added:
    # the distances alone may overflow where their difference does not.
    # (`ops.add`, not `+`: `margin` is a backend tensor, which JAX does not
    # add to a symbolic KerasTensor.)
    scaled_gap = rescale(to_positive - to_negative, scale, _DEGREES[distance])
    hinge = ops.where(
        ops.greater(scale, 1.0),
        ops.add(margin, scaled_gap),
        ops.subtract(ops.add(margin, to_positive), to_negative),
    )
    return ops.cast(ops.maximum(hinge, 0.0), output_dtype)


@keras.saving.register_keras_serializable(package="keras_stability")
def triplet_semihard_loss(y_true, y_pred, margin=1.0, distance_metric="L2"):
    """Computes the triplet loss with semi-hard negatives mined in the batch.

    Every ordered pair (anchor, positive) of distinct rows with the same label
    forms one triplet. Its negative is the semi-hard one: the closest negative
    that is farther from the anchor than the positive is. When no negative is
    farther, it is the farthest negative. The loss is the hinge averaged over
    all such pairs. This reproduces `tfa.losses.triplet_semihard_loss`
    (TensorFlow Addons 0.23), which gives these answers at the edges:

    - An anchor whose label has no other member in the batch forms no pair
      and counts neither in the sum nor in the number of pairs.
    - When no anchor has a positive (all labels distinct, or a batch of
      one), the loss is 0. TensorFlow Addons divides 0 by 0 and returns NaN.
    - When an anchor has no negative at all (the batch holds one label
      only), its "farthest negative" is the smallest entry of its row of
      the distance matrix, which for `"L2"` and `"squared-L2"` is 0, its
      distance to itself: each pair then costs `margin + D(a, p)`.
    - Identical embeddings (with at least one positive pair) have all
      distances 0, no negative is farther than a positive, and the loss is
      `margin`.

    float16 and bfloat16 embeddings are computed in float32 and the loss is
    cast back to the embeddings' dtype. Embeddings above 2**50 in magnitude
    are mined divided by a power of two, exactly, and each gap
    `D(a, p) - D(a, n)` is multiplied back before the margin is added: the
    loss is finite wherever it fits float32 (embeddings of 1e20, say), and
    `inf`, never NaN, where it does not (squared-L2 gaps above 3.4e38).

    Formula:

    ```
    P = {(a, p): a != p, y_a = y_p}
    N(a, p) = {n: y_n != y_a, D(a, n) > D(a, p)}
    n*(a, p) = argmin over N(a, p) of D(a, n) if N(a, p) is not empty,
               else argmax over {n: y_n != y_a} of D(a, n)
    loss = sum over P of max(0, margin + D(a, p) - D(a, n*(a, p))) / |P|
    ```

    Args:
        y_true: integer labels of shape `(batch,)` or `(batch, 1)`.
        y_pred: float embeddings of shape `(batch, dim)`, usually
            L2-normalized (`keras.layers.UnitNormalization`).
        margin: finite non-negative float, the margin of the hinge. Defaults to
            `1.0`.
        distance_metric: `"L2"` (Euclidean), `"squared-L2"`, `"angular"`
            (one minus cosine similarity), or a callable mapping the
            `(batch, dim)` embeddings to the `(batch, batch)` distance
            matrix. Defaults to `"L2"`.

    Returns:
        Scalar tensor in the dtype of `y_pred`.

    Example:

    ```python
    import numpy as np
    from keras_stability.losses import triplet_semihard_loss
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(8, 4)).astype("float32")
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    loss = triplet_semihard_loss(labels, embeddings, margin=1.0)
    ```

    Reference:
        - [Schroff et al., 2015. FaceNet: A Unified Embedding for Face
          Recognition and Clustering](https://arxiv.org/abs/1503.03832)
    """
    check_margin(margin)
    check_choice(
        "distance_metric", distance_metric, PAIRWISE_DISTANCES, allow_callable=True
    )
    distances, scale, degree, same_label, off_diagonal, output_dtype = (
        _labelled_distances(y_true, y_pred, distance_metric)
    )
    dtype = distances.dtype
    different_label = ops.logical_not(same_label)

    # Axes of the cube: [anchor a, positive p, negative n]. `farther` marks
    # the negatives n of a with D(a, n) > D(a, p).
    distances_to_negatives = ops.expand_dims(distances, 1)
    farther = ops.logical_and(
        ops.expand_dims(different_label, 1),
        ops.greater(distances_to_negatives, ops.expand_dims(distances, 2)),
    )
    closest_farther_negative = ops.squeeze(
        _masked_minimum(distances_to_negatives, ops.cast(farther, dtype), axis=2),
        axis=2,
    )
    farthest_negative = _masked_maximum(
        distances, ops.cast(different_label, dtype), axis=1
    )
    semi_hard_negative = ops.where(
        ops.any(farther, axis=2), closest_farther_negative, farthest_negative
    )

    margin = ops.cast(margin, dtype)
    loss_matrix = margin + distances - semi_hard_negative
    if scale is not None:
        # Scaled-down embeddings: the gap is scaled back before the margin is
        # added (the distances alone may overflow). Ordinary ones, of scale
        # 1, keep the expression above.
        scaled_gap = rescale(distances - semi_hard_negative, scale, degree)
        loss_matrix = ops.where(
            ops.greater(scale, 1.0), margin + scaled_gap, loss_matrix
        )
    is_positive = ops.logical_and(same_label, off_diagonal)
    positives = ops.cast(is_positive, dtype)
    # A `where`, not a product with the mask: an infinite hinge times 0 is NaN.
    hinges = ops.maximum(
        ops.where(is_positive, loss_matrix, ops.zeros_like(loss_matrix)), 0.0
    )
    loss = ops.divide_no_nan(ops.sum(hinges), ops.sum(positives))
    return ops.cast(loss, output_dtype)


@keras.saving.register_keras_serializable(package="keras_stability")
def triplet_hard_loss(y_true, y_pred, margin=1.0, soft=False, distance_metric="L2"):
    """Computes the triplet loss with the hardest positive and negative.

    Each row of the batch is an anchor; its triplet takes the farthest row
    with the same label and the closest row with another label, and the loss
    is the hinge (or its soft version) averaged over anchors. This reproduces
    `tfa.losses.triplet_hard_loss` (TensorFlow Addons 0.23), which gives these
    answers at the edges:

    - An anchor whose label has no other member takes as "hardest positive"
      the smallest entry of its row of the distance matrix, which for
      `"L2"` and `"squared-L2"` is 0, its distance to itself. It still
      counts in the mean.
    - An anchor with no negative (the batch holds one label only) takes as
      "hardest negative" the largest entry of its row. For `"L2"`,
      `"squared-L2"` and `"angular"` that is its hardest positive, so it
      costs exactly `margin` (`log(2)` when `soft`).
    - Identical embeddings cost `margin` (`log(2)` when `soft`).

    The soft version uses `softplus`, which equals TensorFlow Addons'
    `log1p(exp(.))` but stays finite where that overflows (a distance gap
    above about 88 in float32). float16 and bfloat16 embeddings are computed
    in float32 and the loss is cast back to the embeddings' dtype. Embeddings
    above 2**50 in magnitude are mined divided by a power of two, exactly,
    and each gap is multiplied back: the loss is finite wherever it fits
    float32 (embeddings of 1e20, say), and `inf`, never NaN, where it does
    not (squared-L2 gaps above 3.4e38).

    Formula:

    ```
    gap_a = max over {p != a: y_p = y_a} of D(a, p)
            - min over {n: y_n != y_a} of D(a, n)
    loss = mean over a of max(0, gap_a + margin)      # soft=False
    loss = mean over a of log(1 + exp(gap_a))         # soft=True
    ```

    Args:
        y_true: integer labels of shape `(batch,)` or `(batch, 1)`.
        y_pred: float embeddings of shape `(batch, dim)`, usually
            L2-normalized (`keras.layers.UnitNormalization`).
        margin: finite non-negative float, the margin of the hinge; unused when
            `soft`. Defaults to `1.0`.
        soft: bool, whether to use the soft margin `log(1 + exp(gap))`
            instead of the hinge. Defaults to `False`.
        distance_metric: `"L2"` (Euclidean), `"squared-L2"`, `"angular"`
            (one minus cosine similarity), or a callable mapping the
            `(batch, dim)` embeddings to the `(batch, batch)` distance
            matrix. Defaults to `"L2"`.

    Returns:
        Scalar tensor in the dtype of `y_pred`.

    Example:

    ```python
    import numpy as np
    from keras_stability.losses import triplet_hard_loss
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(8, 4)).astype("float32")
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    loss = triplet_hard_loss(labels, embeddings, soft=True)
    ```

    Reference:
        - [Hermans et al., 2017. In Defense of the Triplet Loss for Person
          Re-Identification](https://arxiv.org/abs/1703.07737)
    """
    check_margin(margin)
    soft = check_bool(soft, "soft")
    check_choice(
        "distance_metric", distance_metric, PAIRWISE_DISTANCES, allow_callable=True
    )
    distances, scale, degree, same_label, off_diagonal, output_dtype = (
        _labelled_distances(y_true, y_pred, distance_metric)
    )
    dtype = distances.dtype
    negatives = ops.cast(ops.logical_not(same_label), dtype)
    positives = ops.cast(ops.logical_and(same_label, off_diagonal), dtype)
    hardest_negative = _masked_minimum(distances, negatives, axis=1)
    hardest_positive = _masked_maximum(distances, positives, axis=1)
    gap = hardest_positive - hardest_negative
    if scale is not None:
        gap = rescale(gap, scale, degree)
    if soft:
        per_anchor = ops.softplus(gap)
    else:
        per_anchor = ops.maximum(gap + ops.cast(margin, dtype), 0.0)
    return ops.cast(ops.mean(per_anchor), output_dtype)


def _serialize_distance(distance_metric):
    if callable(distance_metric):
        return keras.saving.serialize_keras_object(distance_metric)
    return distance_metric


def _deserialize_distance(distance_metric):
    if isinstance(distance_metric, dict):
        return keras.saving.deserialize_keras_object(distance_metric)
    return distance_metric


def _mining_distance(distance_metric):
    """The deserialized, validated `distance_metric` of the mining losses."""
    distance_metric = _deserialize_distance(distance_metric)
    check_choice(
        "distance_metric", distance_metric, PAIRWISE_DISTANCES, allow_callable=True
    )
    return distance_metric


class _BatchLoss(keras.losses.Loss):
    """A loss whose `call` returns one scalar for the whole batch.

    Keras divides a loss by the number of `tf.distribute` replicas while
    reducing per-sample values, and leaves a scalar alone. This class divides
    the scalar itself, so that summing gradients over replicas averages them
    as it does for every other Keras loss.
    """

    def __call__(self, y_true, y_pred, sample_weight=None):
        loss = super().__call__(y_true, y_pred, sample_weight=sample_weight)
        # Per-sample weights turn the scalar into per-sample values, which
        # Keras has already divided.
        if sample_weight is None and self.reduction in _MEAN_REDUCTIONS:
            loss = scale_for_replicas(loss)
        return loss

    def get_config(self):
        return {**super().get_config(), "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="keras_stability")
class TripletHingeLoss(keras.losses.Loss):
    """Computes the ranking hinge loss of explicit triplets.

    For each triplet, the loss is zero once the negative is at least
    `margin` farther from the anchor than the positive, and grows linearly
    otherwise; the `reduction` (the mean by default) combines the triplets.
    This is the ranking loss of Wang et al. (2014) that Stability Training
    (Zheng et al., 2016) adds its stability term to.

    `y_pred` stacks the three embeddings of each triplet along axis 1, in the
    order anchor, positive, negative: shape `(batch, 3, dim)`, e.g.
    `keras.ops.stack([anchor, positive, negative], axis=1)`. `y_true` is
    ignored: pass anything with a batch dimension (zeros) to `fit`. For a
    model without targets, use `keras_stability.layers.RankingTripletHinge`.

    Formula:

    ```
    loss_i = max(0, margin + D(anchor_i, positive_i) - D(anchor_i, negative_i))
    ```

    Args:
        margin: finite non-negative float, the gap required between the two
            distances. Defaults to `0.1`.
        distance: `"l2"` (the paper's Euclidean distance), `"squared_l2"` or
            `"cosine"` (one minus cosine similarity). Defaults to `"l2"`.
        name: name of the loss instance. Defaults to `None`, which uses
            `"triplet_hinge_loss"`.
        **kwargs: `reduction` and `dtype`, passed to `keras.losses.Loss`.

    Example:

    ```python
    import numpy as np
    from keras_stability.losses import TripletHingeLoss
    rng = np.random.default_rng(0)
    triplets = rng.normal(size=(8, 3, 4)).astype("float32")
    loss = TripletHingeLoss(margin=0.2)(np.zeros(8), triplets)
    ```

    Reference:
        - [Wang et al., 2014. Learning Fine-grained Image Similarity with Deep
          Ranking](https://arxiv.org/abs/1404.4661)
    """

    def __init__(self, margin=0.1, distance="l2", name=None, **kwargs):
        check_margin(margin)
        check_choice("distance", distance, HINGE_DISTANCES)
        super().__init__(name=name, **kwargs)
        self.margin = margin
        self.distance = distance

    def call(self, y_true, y_pred):
        del y_true
        shape = static_shape(y_pred)
        if shape is not None and (len(shape) != 3 or shape[1] not in (3, None)):
            raise ValueError(
                "`y_pred` must stack (anchor, positive, negative) along axis 1: "
                f"shape (batch, 3, dim). Received: y_pred.shape={shape}"
            )
        return triplet_hinge_loss(
            y_pred[:, 0],
            y_pred[:, 1],
            y_pred[:, 2],
            margin=self.margin,
            distance=self.distance,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "dtype": self.dtype,
            "margin": self.margin,
            "distance": self.distance,
        }


@keras.saving.register_keras_serializable(package="keras_stability")
class TripletSemiHardLoss(_BatchLoss):
    """Computes the triplet loss with semi-hard negatives mined in the batch.

    A drop-in replacement for `tfa.losses.TripletSemiHardLoss` (TensorFlow
    Addons 0.23). Every ordered pair (anchor, positive) of distinct rows with
    the same label forms a triplet whose negative is the closest one farther
    from the anchor than the positive, or the farthest negative when none is
    farther; the loss is the hinge averaged over all pairs. It is one scalar
    per batch, whatever the `reduction`, as with TensorFlow Addons.

    See `triplet_semihard_loss` for the answers at the edges (no positive, no
    negative, identical embeddings); the one difference from TensorFlow
    Addons is that a batch without any positive pair gives 0, not NaN.

    Keras casts `y_true` and `y_pred` to the loss's `dtype` before the call:
    labels compare exactly in float32 up to 2**24. With the default `dtype`
    the loss is returned in float32 (computed in float32 for float16 and
    bfloat16 embeddings); TensorFlow Addons' class returned the embeddings'
    dtype, which `dtype="float16"` reproduces.

    Formula:

    ```
    loss = mean over pairs (a, p) of max(0, margin + D(a, p) - D(a, n*(a, p)))
    ```

    Args:
        margin: finite non-negative float, the margin of the hinge. Defaults to
            `1.0`.
        distance_metric: `"L2"`, `"squared-L2"`, `"angular"` or a callable
            returning the `(batch, batch)` distance matrix of the
            embeddings. Defaults to `"L2"`.
        name: name of the loss instance. Defaults to `None`, which uses
            `"triplet_semi_hard_loss"`.
        **kwargs: `reduction` and `dtype`, passed to `keras.losses.Loss`.

    Example:

    ```python
    import keras
    import numpy as np
    from keras_stability.losses import TripletSemiHardLoss
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(8, 4)).astype("float32")
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    loss = TripletSemiHardLoss(margin=0.5)(labels, embeddings)
    model = keras.Sequential([keras.layers.Dense(4), keras.layers.UnitNormalization()])
    model.compile(optimizer="adam", loss=TripletSemiHardLoss())
    ```

    Reference:
        - [Schroff et al., 2015. FaceNet: A Unified Embedding for Face
          Recognition and Clustering](https://arxiv.org/abs/1503.03832)
    """

    def __init__(self, margin=1.0, distance_metric="L2", name=None, **kwargs):
        check_margin(margin)
        distance_metric = _mining_distance(distance_metric)
        super().__init__(name=name, **kwargs)
        self.margin = margin
        self.distance_metric = distance_metric

    def call(self, y_true, y_pred):
        return triplet_semihard_loss(
            y_true,
            y_pred,
            margin=self.margin,
            distance_metric=self.distance_metric,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "margin": self.margin,
            "distance_metric": _serialize_distance(self.distance_metric),
        }


@keras.saving.register_keras_serializable(package="keras_stability")
class TripletHardLoss(_BatchLoss):
    """Computes the triplet loss with the hardest positive and negative.

    A drop-in replacement for `tfa.losses.TripletHardLoss` (TensorFlow
    Addons 0.23). Each row of the batch is an anchor; its triplet takes the
    farthest row with the same label and the closest row with another label,
    and the loss is the hinge, or with `soft` the soft margin
    `log(1 + exp(gap))`, averaged over anchors. It is one scalar per batch,
    whatever the `reduction`, as with TensorFlow Addons.

    See `triplet_hard_loss` for the answers at the edges (no positive, no
    negative, identical embeddings), which are TensorFlow Addons'.

    Keras casts `y_true` and `y_pred` to the loss's `dtype` before the call:
    labels compare exactly in float32 up to 2**24. With the default `dtype`
    the loss is returned in float32 (computed in float32 for float16 and
    bfloat16 embeddings); TensorFlow Addons' class returned the embeddings'
    dtype, which `dtype="float16"` reproduces.

    Formula:

    ```
    gap_a = max over positives p of D(a, p) - min over negatives n of D(a, n)
    loss = mean over a of max(0, gap_a + margin)   # or log(1 + exp(gap_a))
    ```

    Args:
        margin: finite non-negative float, the margin of the hinge; unused when
            `soft`. Defaults to `1.0`.
        soft: bool, whether to use the soft margin instead of the hinge.
            Defaults to `False`.
        distance_metric: `"L2"`, `"squared-L2"`, `"angular"` or a callable
            returning the `(batch, batch)` distance matrix of the
            embeddings. Defaults to `"L2"`.
        name: name of the loss instance. Defaults to `None`, which uses
            `"triplet_hard_loss"`.
        **kwargs: `reduction` and `dtype`, passed to `keras.losses.Loss`.

    Example:

    ```python
    import numpy as np
    from keras_stability.losses import TripletHardLoss
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(8, 4)).astype("float32")
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    loss = TripletHardLoss(soft=True, distance_metric="angular")(labels, embeddings)
    ```

    Reference:
        - [Hermans et al., 2017. In Defense of the Triplet Loss for Person
          Re-Identification](https://arxiv.org/abs/1703.07737)
    """

    def __init__(
        self, margin=1.0, soft=False, distance_metric="L2", name=None, **kwargs
    ):
        check_margin(margin)
        soft = check_bool(soft, "soft")
        distance_metric = _mining_distance(distance_metric)
        super().__init__(name=name, **kwargs)
        self.margin = margin
        self.soft = soft
        self.distance_metric = distance_metric

    def call(self, y_true, y_pred):
        return triplet_hard_loss(
            y_true,
            y_pred,
            margin=self.margin,
            soft=self.soft,
            distance_metric=self.distance_metric,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "margin": self.margin,
            "soft": self.soft,
            "distance_metric": _serialize_distance(self.distance_metric),
        }
