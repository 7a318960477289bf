"""Triplet losses that mine their triplets inside a batch of labelled embeddings.

`triplet_semihard_loss` and `triplet_hard_loss` reproduce TensorFlow Addons'
`TripletSemiHardLoss` and `TripletHardLoss` value for value, including their
fallbacks when a batch has no positive or no negative for an anchor, so that
code written for TensorFlow Addons, which does not import with Keras 3, can
switch to these classes.
"""

import keras
from keras import ops

from keras_stability._backend import scale_for_replicas
from keras_stability._checks import check_bool
from keras_stability._checks import check_choice
from keras_stability._checks import check_margin
from keras_stability._numerics import rescale
from keras_stability.triplet.distances import PAIRWISE_DISTANCES
from keras_stability.triplet.distances import labelled_distances
from keras_stability.triplet.distances import masked_maximum
from keras_stability.triplet.distances import masked_minimum

__all__ = [
    "TripletHardLoss",
    "TripletSemiHardLoss",
    "triplet_hard_loss",
    "triplet_semihard_loss",
]

# Reductions under which Keras divides a loss by the number of replicas.
_MEAN_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")


@keras.saving.register_keras_serializable(package="keras_stability")
def triplet_semihard_loss(y_true, y_pred, margin=1.0, distance_metric="L2"):
    """Computes the triplet loss with semi-hard negatives mined in the batch.

    Every ordered pair (anchor, positive) of distinct rows with the same label
    forms one triplet. Its negative is the semi-hard one: the closest negative
    that is farther from the anchor than the positive is. When no negative is
    farther, it is the farthest negative. The loss is the hinge averaged over
    all such pairs. This reproduces TensorFlow Addons'
    `tfa.losses.triplet_semihard_loss`, which gives these answers at the
    edges:

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

    Half-precision and very large embeddings are handled as described in
    `keras_stability.triplet.pairwise_distance`; each gap `D(a, p) - D(a, n)`
    is multiplied back before the margin is added.

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
    distances, scale, degree, same_label, off_diagonal, output_dtype = (
        labelled_distances(y_true, y_pred, distance_metric)
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
        masked_minimum(distances_to_negatives, ops.cast(farther, dtype), axis=2),
        axis=2,
    )
    farthest_negative = masked_maximum(
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
    TensorFlow Addons' `tfa.losses.triplet_hard_loss`, which gives these
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
    `log1p(exp(.))` but stays finite where `exp` overflows. Half-precision
    and very large embeddings are handled as in `triplet_semihard_loss`.

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
        distance_metric: `"L2"`, `"squared-L2"`, `"angular"` or a callable,
            as in `triplet_semihard_loss`. Defaults to `"L2"`.

    Returns:
        Scalar tensor in the dtype of `y_pred`.

    Example:

    ```python
    import numpy as np
    from keras_stability.losses import triplet_hard_loss
    embeddings = np.random.default_rng(1).normal(size=(6, 3)).astype("float32")
    loss = triplet_hard_loss(np.array([0, 0, 0, 1, 1, 1]), embeddings, soft=True)
    ```

    Reference:
        - [Hermans et al., 2017. In Defense of the Triplet Loss for Person
          Re-Identification](https://arxiv.org/abs/1703.07737)
    """
    check_margin(margin)
    soft = check_bool(soft, "soft")
    distances, scale, degree, same_label, off_diagonal, output_dtype = (
        labelled_distances(y_true, y_pred, distance_metric)
    )
    dtype = distances.dtype
    negatives = ops.cast(ops.logical_not(same_label), dtype)
    positives = ops.cast(ops.logical_and(same_label, off_diagonal), dtype)
    hardest_negative = masked_minimum(distances, negatives, axis=1)
    hardest_positive = masked_maximum(distances, positives, axis=1)
    gap = hardest_positive - hardest_negative
    if scale is not None:
        gap = rescale(gap, scale, degree)
    if soft:
        per_anchor = ops.softplus(gap)
    else:
        per_anchor = ops.maximum(gap + ops.cast(margin, dtype), 0.0)
    return ops.cast(ops.mean(per_anchor), output_dtype)


class _BatchLoss(keras.losses.Loss):
    """A mining loss: one scalar for the whole batch, whatever the `reduction`.

    Keras divides a loss by the number of `tf.distribute` replicas while
    reducing per-sample values, and leaves a scalar alone. This class divides
    the scalar itself, so that summing gradients over replicas averages them
    as it does for every other Keras loss. It also stores and serializes the
    `margin` and `distance_metric` (a built-in name or a registered
    callable) of both mining losses.
    """

    def __init__(self, margin, distance_metric, name=None, **kwargs):
        check_margin(margin)
        if isinstance(distance_metric, dict):
            distance_metric = keras.saving.deserialize_keras_object(distance_metric)
        check_choice(
            "distance_metric", distance_metric, PAIRWISE_DISTANCES, allow_callable=True
        )
        super().__init__(name=name, **kwargs)
        self.margin = margin
        self.distance_metric = distance_metric

    def __call__(self, y_true, y_pred, sample_weight=None):
        loss = super().__call__(y_true, y_pred, sample_weight=sample_weight)
        # Per-sample weights turn the scalar into per-sample values, which
        # Keras has already divided.
        if sample_weight is None and self.reduction in _MEAN_REDUCTIONS:
            loss = scale_for_replicas(loss)
        return loss

    def get_config(self):
        distance_metric = self.distance_metric
        if callable(distance_metric):
            distance_metric = keras.saving.serialize_keras_object(distance_metric)
        return {
            **super().get_config(),
            "dtype": self.dtype,
            "margin": self.margin,
            "distance_metric": distance_metric,
        }


@keras.saving.register_keras_serializable(package="keras_stability")
class TripletSemiHardLoss(_BatchLoss):
    """Computes the triplet loss with semi-hard negatives mined in the batch.

    A drop-in replacement for TensorFlow Addons' `tfa.losses.
    TripletSemiHardLoss`: the loss is `triplet_semihard_loss` (see it for the
    formula and the answers at the edges; the one difference from
    TensorFlow Addons is that a batch without any positive pair gives 0, not
    NaN). It is one scalar per batch, whatever the `reduction`, as with
    TensorFlow Addons.

    Keras casts `y_true` and `y_pred` to the loss's `dtype` before the call:
    labels compare exactly in float32 up to 2**24. With the default `dtype`
    the loss is returned in float32; TensorFlow Addons' class returned the
    embeddings' dtype, which `dtype="float16"` reproduces.

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
        super().__init__(margin, distance_metric, name=name, **kwargs)

    def call(self, y_true, y_pred):
        return triplet_semihard_loss(
            y_true,
            y_pred,
            margin=self.margin,
            distance_metric=self.distance_metric,
        )


@keras.saving.register_keras_serializable(package="keras_stability")
class TripletHardLoss(_BatchLoss):
    """Computes the triplet loss with the hardest positive and negative.

    A drop-in replacement for TensorFlow Addons' `tfa.losses.
    TripletHardLoss`: the loss is `triplet_hard_loss` (see it for the
    formula and the answers at the edges, which are TensorFlow Addons'). It
    is one scalar per batch, whatever the `reduction`, and is returned in
    the loss's `dtype`, as described in `TripletSemiHardLoss`.

    Args:
        margin: finite non-negative float, the margin of the hinge; unused when
            `soft`. Defaults to `1.0`.
        soft: bool, whether to use the soft margin `log(1 + exp(gap))`
            instead of the hinge. Defaults to `False`.
        distance_metric: `"L2"`, `"squared-L2"`, `"angular"` or a callable,
            as in `TripletSemiHardLoss`. Defaults to `"L2"`.
        name: name of the loss instance. Defaults to `None`, which uses
            `"triplet_hard_loss"`.
        **kwargs: `reduction` and `dtype`, passed to `keras.losses.Loss`.

    Example:

    ```python
    import keras
    import numpy as np
    from keras_stability.losses import TripletHardLoss
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
    model.compile(loss=TripletHardLoss(soft=True, distance_metric="angular"))
    x = np.random.default_rng(0).normal(size=(6, 8)).astype("float32")
    loss = model.evaluate(x, np.array([0, 0, 0, 1, 1, 1]), verbose=0)
    ```

    Reference:
        - [Hermans et al., 2017. In Defense of the Triplet Loss for Person
          Re-Identification](https://arxiv.org/abs/1703.07737)
    """

    def __init__(
        self, margin=1.0, soft=False, distance_metric="L2", name=None, **kwargs
    ):
        check_margin(margin)  # before `soft`, in the order of the arguments
        soft = check_bool(soft, "soft")
        super().__init__(margin, distance_metric, name=name, **kwargs)
        self.soft = soft

    def call(self, y_true, y_pred):
        return triplet_hard_loss(
            y_true,
            y_pred,
            margin=self.margin,
            soft=self.soft,
            distance_metric=self.distance_metric,
        )

    def get_config(self):
        return {**super().get_config(), "soft": self.soft}
