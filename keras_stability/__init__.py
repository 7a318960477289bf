"""Stability Training for Keras 3 (Zheng, Song, Leung, Goodfellow, CVPR 2016).

Replace `keras.Model` with `StabilityModel`, `fit` as usual: each step also
pulls the output on a perturbed copy of the batch towards the clean output.
"""

import os

# TensorFlow's C++ start-up messages (CUDA probing on CPU-only machines) are
# noise for users of this library; a level the user set is kept.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from keras_stability import losses  # noqa: E402
from keras_stability import perturbations  # noqa: E402
from keras_stability.model import StabilityModel  # noqa: E402

__version__ = "0.1.0"

__all__ = ["StabilityModel", "__version__", "losses", "perturbations"]
