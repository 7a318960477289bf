"""Stability Training for Keras 3 (Zheng, Song, Leung, Goodfellow, CVPR 2016).

Replace `keras.Model` with `StabilityModel`, `fit` as usual: each step also
pulls the output on a perturbed copy of the batch towards the clean output.
"""

from keras_stability._quiet_start import quiet_start

with quiet_start():  # TensorFlow's start-up log, under the command only
    import keras  # noqa: F401

from keras_stability import data
from keras_stability import evaluation
from keras_stability import jpeg
from keras_stability import layers
from keras_stability import losses
from keras_stability import perturbations
from keras_stability import plotting
from keras_stability import serving
from keras_stability.model import StabilityModel

__version__ = "0.3.1"

__all__ = [
    "StabilityModel",
    "__version__",
    "data",
    "evaluation",
    "jpeg",
    "layers",
    "losses",
    "perturbations",
    "plotting",
    "serving",
]
