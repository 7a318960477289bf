"""How stable a model is, measured the ways the paper measures it.

One module a topic:

- `families`: the distortion families (JPEG, thumbnails, crops, noise, and
  ImageNet-C's corruptions), the default and `"imagenet-c"` suites and
  `family@severity` names;
- `distort`: running a distortion on a batch with a seed;
- `robustness`: `robustness_report`, accuracy, flip rate and KL of a
  classifier under distortions;
- `reports`: summaries and files of those reports;
- `corruption_error`: ImageNet-C's mean corruption error against a
  reference model's report;
- `suggest`: a training perturbation aimed at what flips a model;
- `near_duplicates`: the near-duplicate ranking evaluation of embeddings;
- `retrieval`: recall@k of embeddings;
- `pairs`: every pair of embeddings within a threshold, searched by blocks;
- `calibration`: the threshold that keeps a target precision, and labelled
  pairs made from unlabelled images to find it;
- `plots`: the figures (also under `keras_stability.plotting`).
"""

from keras_stability.evaluation.calibration import CALIBRATION_DISTORTIONS
from keras_stability.evaluation.calibration import CalibratedThreshold
from keras_stability.evaluation.calibration import calibrate_threshold
from keras_stability.evaluation.calibration import synthetic_pair_distances
from keras_stability.evaluation.corruption_error import mean_corruption_error
from keras_stability.evaluation.distort import distort_batch
from keras_stability.evaluation.families import CORRUPTION_FAMILIES
from keras_stability.evaluation.families import CORRUPTION_LEVELS
from keras_stability.evaluation.families import CROP_OFFSETS
from keras_stability.evaluation.families import JPEG_QUALITIES
from keras_stability.evaluation.families import NOISE_STDDEVS
from keras_stability.evaluation.families import THUMBNAIL_SCALES
from keras_stability.evaluation.families import corruption_distortions
from keras_stability.evaluation.families import default_distortions
from keras_stability.evaluation.families import severity_table
from keras_stability.evaluation.near_duplicates import PRECISION_LEVELS
from keras_stability.evaluation.near_duplicates import RECALL_LEVELS
from keras_stability.evaluation.near_duplicates import feature_distances
from keras_stability.evaluation.near_duplicates import near_duplicate_pr
from keras_stability.evaluation.near_duplicates import negative_partners
from keras_stability.evaluation.near_duplicates import precision_recall_curve
from keras_stability.evaluation.pairs import PAIR_METHODS
from keras_stability.evaluation.pairs import close_pairs
from keras_stability.evaluation.reports import format_report
from keras_stability.evaluation.reports import mean_strongest_flip_rate
from keras_stability.evaluation.reports import write_csv
from keras_stability.evaluation.reports import write_report
from keras_stability.evaluation.retrieval import RECALL_AT_K
from keras_stability.evaluation.retrieval import recall_at_k
from keras_stability.evaluation.robustness import robustness_report
from keras_stability.evaluation.suggest import SUGGESTABLE_FAMILIES
from keras_stability.evaluation.suggest import perturbation_code
from keras_stability.evaluation.suggest import suggest_perturbation

__all__ = [
    "CALIBRATION_DISTORTIONS",
    "CORRUPTION_FAMILIES",
    "CORRUPTION_LEVELS",
    "CROP_OFFSETS",
    "JPEG_QUALITIES",
    "NOISE_STDDEVS",
    "PAIR_METHODS",
    "PRECISION_LEVELS",
    "RECALL_AT_K",
    "RECALL_LEVELS",
    "SUGGESTABLE_FAMILIES",
    "THUMBNAIL_SCALES",
    "CalibratedThreshold",
    "calibrate_threshold",
    "close_pairs",
    "corruption_distortions",
    "default_distortions",
    "distort_batch",
    "feature_distances",
    "format_report",
    "mean_corruption_error",
    "mean_strongest_flip_rate",
    "near_duplicate_pr",
    "negative_partners",
    "precision_recall_curve",
    "perturbation_code",
    "recall_at_k",
    "robustness_report",
    "severity_table",
    "suggest_perturbation",
    "synthetic_pair_distances",
    "write_csv",
    "write_report",
]
