"""Perturbations: the x' of stability training and the paper's distortions.

Every perturbation is a Keras layer that takes a batch `(batch, height, width,
channels)` or a single image `(height, width, channels)` with values in
`value_range`, and returns a perturbed copy of the same shape in the layer's
compute dtype (`Perturbation` says what they all do). Randomness comes from
`keras.random` with the layer's own `keras.random.SeedGenerator`, or from the
`seed` given to the call (a `SeedGenerator` or a
`keras_stability._seeds.StepSeed`), which is how `StabilityModel` draws a
fresh, replayable x' at every step.

One module per topic: `base` (the `Perturbation` class), `apply` (applying a
perturbation, a Keras layer or a callable), one module per distortion family
(`noise`, `jpeg_compression`, `crop`, `thumbnail`), the corruptions of
ImageNet-C beyond them (`pixel_noise`, `blurs`, `photometric`, `pixelate`;
lengths are fractions of the image size, so a severity means the same at
32 x 32 and at 224 x 224), `adversarial` (the worst-case x' of TRADES,
which attacks an objective the model hands over with `attack_objective`),
`combinations`, `defaults` and `perturbed_copy` (x' computed in the
`tf.data` pipeline).
"""

from keras_stability.perturbations.adversarial import Adversarial
from keras_stability.perturbations.adversarial import attack_objective
from keras_stability.perturbations.adversarial import needs_objective
from keras_stability.perturbations.apply import apply_perturbation
from keras_stability.perturbations.apply import check_fits
from keras_stability.perturbations.apply import check_perturbation
from keras_stability.perturbations.base import Perturbation
from keras_stability.perturbations.blurs import DefocusBlur
from keras_stability.perturbations.blurs import GaussianBlur
from keras_stability.perturbations.blurs import MotionBlur
from keras_stability.perturbations.combinations import Compose
from keras_stability.perturbations.combinations import OneOf
from keras_stability.perturbations.crop import RandomCropOffset
from keras_stability.perturbations.defaults import default_perturbation
from keras_stability.perturbations.jpeg_compression import JpegCompression
from keras_stability.perturbations.noise import GaussianNoise
from keras_stability.perturbations.perturbed_copy import CLEAN_KEY
from keras_stability.perturbations.perturbed_copy import PERTURBED_KEY
from keras_stability.perturbations.perturbed_copy import split_perturbed_copy
from keras_stability.perturbations.perturbed_copy import with_perturbed_copy
from keras_stability.perturbations.photometric import Brightness
from keras_stability.perturbations.photometric import Contrast
from keras_stability.perturbations.photometric import Saturate
from keras_stability.perturbations.pixel_noise import ImpulseNoise
from keras_stability.perturbations.pixel_noise import ShotNoise
from keras_stability.perturbations.pixelate import Pixelate
from keras_stability.perturbations.thumbnail import ThumbnailResize

__all__ = [
    "CLEAN_KEY",
    "PERTURBED_KEY",
    "Adversarial",
    "Brightness",
    "Compose",
    "Contrast",
    "DefocusBlur",
    "GaussianBlur",
    "GaussianNoise",
    "ImpulseNoise",
    "JpegCompression",
    "MotionBlur",
    "OneOf",
    "Perturbation",
    "Pixelate",
    "RandomCropOffset",
    "Saturate",
    "ShotNoise",
    "ThumbnailResize",
    "apply_perturbation",
    "attack_objective",
    "check_fits",
    "check_perturbation",
    "default_perturbation",
    "needs_objective",
    "split_perturbed_copy",
    "with_perturbed_copy",
]
