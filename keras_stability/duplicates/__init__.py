"""Near-duplicates in a folder of images: the work of `keras-stability duplicates`.

Every image below a folder is embedded by a model (`embed_images`), every
pair of embeddings within a threshold is found (`find_duplicates`, through
`evaluation.close_pairs`), and the pairs are written as CSV, JSON and an
HTML page (`write_duplicates`). The threshold is given, or calibrated for a
target precision on near-duplicates made from a sample of images
(`calibrate_on_folder`). `run_duplicates` does it all, as the command does.

One module a topic: `images` (finding, reading and embedding a folder's
images), `search` (the threshold and the pairs), `report` (the files),
`run` (the whole job).
"""

from keras_stability.duplicates.images import embed_images
from keras_stability.duplicates.images import image_paths
from keras_stability.duplicates.images import read_images
from keras_stability.duplicates.report import MAX_HTML_PAIRS
from keras_stability.duplicates.report import write_duplicates
from keras_stability.duplicates.run import run_duplicates
from keras_stability.duplicates.search import CALIBRATION_IMAGES
from keras_stability.duplicates.search import calibrate_on_folder
from keras_stability.duplicates.search import find_duplicates

__all__ = [
    "CALIBRATION_IMAGES",
    "MAX_HTML_PAIRS",
    "calibrate_on_folder",
    "embed_images",
    "find_duplicates",
    "image_paths",
    "read_images",
    "run_duplicates",
    "write_duplicates",
]
