"""Triplet losses: the ranking hinge of deep ranking, and batch-mined triplets.

- `keras_stability.triplet.hinge`: `triplet_hinge_loss` and
  `TripletHingeLoss`, the ranking loss L0 of Stability Training's
  near-duplicate experiments, on explicit (anchor, positive, negative)
  triplets.
- `keras_stability.triplet.mining`: `triplet_semihard_loss`,
  `triplet_hard_loss` and their classes, which mine the triplets inside a
  batch of labelled embeddings as TensorFlow Addons did.
- `keras_stability.triplet.distances`: `pairwise_distance`, the distance
  matrix the miners work on, and how every triplet loss treats half-precision
  and very large embeddings.

Everything here is written with `keras.ops` and runs on every Keras backend.
The losses are also importable from `keras_stability.losses`.
"""

from keras_stability.triplet.distances import pairwise_distance
from keras_stability.triplet.hinge import TripletHingeLoss
from keras_stability.triplet.hinge import triplet_hinge_loss
from keras_stability.triplet.mining import TripletHardLoss
from keras_stability.triplet.mining import TripletSemiHardLoss
from keras_stability.triplet.mining import triplet_hard_loss
from keras_stability.triplet.mining import triplet_semihard_loss

__all__ = [
    "TripletHardLoss",
    "TripletHingeLoss",
    "TripletSemiHardLoss",
    "pairwise_distance",
    "triplet_hard_loss",
    "triplet_hinge_loss",
    "triplet_semihard_loss",
]
