"""Pictures of stability: accuracy and flip rate against severity, PR curves.

The functions live in `keras_stability.evaluation.plots`; this module keeps
their historical import path. matplotlib is an optional dependency
(`pip install 'keras-stability[examples]'`).
"""

from keras_stability.evaluation.plots import plot_distance_cdf
from keras_stability.evaluation.plots import plot_precision_recall
from keras_stability.evaluation.plots import plot_robustness

__all__ = ["plot_distance_cdf", "plot_precision_recall", "plot_robustness"]
