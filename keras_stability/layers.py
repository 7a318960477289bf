"""Layers that add a loss of their own, for models trained with `fit(x)`."""

import keras
from keras import ops

from keras_stability._checks import check_choice
from keras_stability._checks import check_margin
from keras_stability.triplet.hinge import HINGE_DISTANCES
from keras_stability.triplet.hinge import triplet_hinge_loss

__all__ = ["RankingTripletHinge"]


@keras.saving.register_keras_serializable(package="keras_stability")
class RankingTripletHinge(keras.layers.Layer):
    """Adds the ranking hinge loss of a triplet of embeddings to the model.

    Called on `[anchor, positive, negative]`, three embeddings of shape
    `(batch, dim)`, it computes the hinge of each triplet with
    `keras_stability.triplet.triplet_hinge_loss` (see it for the numerics),
    adds their mean to the model's losses with `add_loss`, and returns the
    per-triplet losses so that they can be inspected or logged. A three-tower model that applies
    one embedding model to the three inputs (so the towers share weights)
    then trains with `compile(optimizer=...)` and `fit(x)`, with neither a
    `loss` nor targets. The added loss is computed in float32 under mixed
    precision.

    Formula:

    ```
    loss_i = max(0, margin + D(anchor_i, positive_i) - D(anchor_i, negative_i))
    added loss = mean over i of loss_i
    ```

    Args:
        margin: finite non-negative float, the gap required between the two
            distances. Defaults to `0.1`.
        distance: `"l2"` (the paper's Euclidean distance), `"squared_l2"` or
            `"cosine"` (one minus cosine similarity). Defaults to `"l2"`.
        **kwargs: base layer arguments, such as `name` and `dtype`.

    Returns:
        Tensor of shape `(batch,)`: the loss of each triplet.

    Example:

    ```python
    import keras
    import numpy as np
    from keras_stability.layers import RankingTripletHinge

    keras.utils.set_random_seed(0)
    embed = keras.Sequential(
        [keras.layers.Dense(8), keras.layers.UnitNormalization()], name="embed"
    )
    inputs = [keras.Input((16,)) for _ in range(3)]
    per_triplet = RankingTripletHinge(margin=0.2)([embed(x) for x in inputs])
    model = keras.Model(inputs, per_triplet)
    model.compile(optimizer="adam")
    x = [np.random.default_rng(i).normal(size=(32, 16)) for i in range(3)]
    model.fit(x, epochs=1, verbose=0)
    ```

    Reference:
        - [Wang et al., 2014. Learning Fine-grained Image Similarity with Deep
          Ranking](https://arxiv.org/abs/1404.4661)
        - [Zheng et al., 2016. Improving the Robustness of Deep Neural Networks
          via Stability Training](https://arxiv.org/abs/1604.04326)
    """

    def __init__(self, margin=0.1, distance="l2", **kwargs):
        check_margin(margin)
        check_choice("distance", distance, HINGE_DISTANCES)
        super().__init__(**kwargs)
        self.margin = margin
        self.distance = distance

    def call(self, inputs):
        if not isinstance(inputs, list | tuple) or len(inputs) != 3:
            received = len(inputs) if isinstance(inputs, list | tuple) else 1
            raise ValueError(
                "`RankingTripletHinge` expects a list of three embeddings "
                f"[anchor, positive, negative]. Received: {received} input(s)"
            )
        anchor, positive, negative = inputs
        per_triplet = triplet_hinge_loss(
            anchor, positive, negative, margin=self.margin, distance=self.distance
        )
        self.add_loss(ops.mean(ops.cast(per_triplet, "float32")))
        return per_triplet

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0],)

    def get_config(self):
        return {
            **super().get_config(),
            "margin": self.margin,
            "distance": self.distance,
        }
