"""The ranking hinge of explicit (anchor, positive, negative) triplets.

The ranking loss L0 of Stability Training's near-duplicate experiments: a
hinge on the difference of two distances. `keras_stability.layers.
RankingTripletHinge` adds the same loss to a model trained without targets.
"""

import keras
from keras import ops

from keras_stability._checks import check_choice
from keras_stability._checks import check_margin
from keras_stability._checks import check_same_shape
from keras_stability._checks import static_shape
from keras_stability._numerics import as_float
from keras_stability._numerics import l2_normalize
from keras_stability._numerics import overflow_scale
from keras_stability._numerics import rescale
from keras_stability._numerics import safe_sqrt

__all__ = ["TripletHingeLoss", "triplet_hinge_loss"]

HINGE_DISTANCES = ("l2", "squared_l2", "cosine")

# Scaling the embeddings by `s` scales each distance by `s**degree`.
_DEGREES = {"l2": 1, "squared_l2": 2, "cosine": 0}


def _pair_distance(x, y, distance):
    """The distance of each row of `x` to the same row of `y`."""
    if distance == "cosine":
        return 1.0 - ops.sum(l2_normalize(x) * l2_normalize(y), axis=-1)
    squared = ops.sum(ops.square(x - y), axis=-1)
    if distance == "squared_l2":
        return squared
    return safe_sqrt(squared, ops.less_equal(squared, 0.0))


def triplet_hinge_loss(anchor, positive, negative, margin=0.1, distance="l2"):
    """Computes the ranking hinge loss of each explicit triplet.

    For each row, the loss is zero once the negative is at least `margin`
    farther from the anchor than the positive, and grows linearly otherwise.
    This is the ranking loss of Wang et al. (2014) that Stability Training
    (Zheng et al., 2016) adds its stability term to. The Euclidean distance
    has value and gradient 0 for identical embeddings.

    Half-precision and very large inputs are handled as described in
    `keras_stability.triplet.pairwise_distance`; for a scaled triplet the
    gap `D(a, p) - D(a, n)` is multiplied back before the margin is added,
    so the loss stays finite where the distances alone would overflow.

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
        margin: finite non-negative float, the gap required between the two
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

    margin = ops.cast(margin, anchor.dtype)
    to_positive = _pair_distance(anchor, positive, distance)
    to_negative = _pair_distance(anchor, negative, distance)
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
class TripletHingeLoss(keras.losses.Loss):
    """Computes the ranking hinge loss of explicit triplets.

    The loss of each triplet is `triplet_hinge_loss` (see it for the
    formula and the numerics); the `reduction` (the mean by default)
    combines the triplets.

    `y_pred` stacks the three embeddings of each triplet along axis 1, in the
    order anchor, positive, negative: shape `(batch, 3, dim)`, e.g.
    `keras.ops.stack([anchor, positive, negative], axis=1)`. `y_true` is
    ignored: pass anything with a batch dimension (zeros) to `fit`. For a
    model without targets, use `keras_stability.layers.RankingTripletHinge`.

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
