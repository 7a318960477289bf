"""The distortion families of the evaluation suites and their `family@severity` names.

The one place that knows the distortion families: the four of the paper
(JPEG re-compression, thumbnails, shifted crops, sensor noise) in the
default suite, and ImageNet-C's corruptions at its severity levels 1 to 5
in the `"imagenet-c"` suite; for each, its severities, which end is the
strongest, the axis a plot draws it on and the perturbation that applies
it. A condition of a report is named `family@severity` (`jpeg@10`,
`thumbnail@0.5`, `defocus_blur@3`); `severity_table` reads such names back.
"""

import math
from typing import NamedTuple

from keras_stability import perturbations
from keras_stability._backend import is_tensorflow
from keras_stability.perturbations import Brightness
from keras_stability.perturbations import Contrast
from keras_stability.perturbations import DefocusBlur
from keras_stability.perturbations import GaussianBlur
from keras_stability.perturbations import GaussianNoise
from keras_stability.perturbations import ImpulseNoise
from keras_stability.perturbations import JpegCompression
from keras_stability.perturbations import MotionBlur
from keras_stability.perturbations import Pixelate
from keras_stability.perturbations import RandomCropOffset
from keras_stability.perturbations import Saturate
from keras_stability.perturbations import ShotNoise
from keras_stability.perturbations import ThumbnailResize

__all__ = [
    "CORRUPTION_FAMILIES",
    "CORRUPTION_LEVELS",
    "CROP_OFFSETS",
    "DEFAULT_FAMILIES",
    "FAMILIES",
    "JPEG_QUALITIES",
    "NOISE_STDDEVS",
    "SUITES",
    "THUMBNAIL_SCALES",
    "Family",
    "axis_label",
    "corruption_distortions",
    "default_distortions",
    "family_perturbation",
    "parse_condition",
    "resolve_distortion",
    "severity_table",
    "strongest_first",
]

JPEG_QUALITIES = (10, 30, 50, 70, 90)
THUMBNAIL_SCALES = (0.25, 0.5, 0.75)
CROP_OFFSETS = (2, 5, 10)
NOISE_STDDEVS = (0.02, 0.04, 0.08)
CORRUPTION_LEVELS = (1, 2, 3, 4, 5)


class Family(NamedTuple):
    """What the evaluation knows of one distortion family.

    Args:
        severities: the severities of the default suite.
        quantity: what a severity measures, for a plot's axis.
        lower_is_stronger: whether the lowest severity distorts most (the
            lowest JPEG quality, the smallest thumbnail).
        layer: the `Perturbation` class that applies the family.
        argument: the name of the layer's severity argument.
        severity_type: `int` or `float`, the type that argument takes.
        values: the argument at each of `severities`, for families whose
            severities are levels (ImageNet-C's 1 to 5); `None` where the
            severity is the argument itself. Defaults to `None`.
        options: `(name, value)` pairs of further arguments of the layer.
            Defaults to `()`.
    """

    severities: tuple
    quantity: str
    lower_is_stronger: bool
    layer: type
    argument: str
    severity_type: type
    values: tuple | None = None
    options: tuple = ()


def _levels(name, layer, argument, values, severity_type=float, **options):
    """A family whose severities are ImageNet-C's levels 1 to 5."""
    return Family(
        CORRUPTION_LEVELS,
        f"{name} (ImageNet-C level)",
        False,
        layer,
        argument,
        severity_type,
        tuple(values),
        tuple(options.items()),
    )


# ImageNet-C's constants (Hendrycks and Dietterich, ICLR 2019: the reference
# make_imagenet_c.py) for 224 x 224 images; lengths in pixels are divided by
# 224 into fractions of the shorter side, so a level means the same at every
# size. Each layer's docstring says how it differs from the reference.
_SIDE = 224


# fmt: off
FAMILIES = {
    "jpeg": Family(JPEG_QUALITIES, "JPEG quality", True, JpegCompression, "quality", int),
    "thumbnail": Family(
        THUMBNAIL_SCALES, "thumbnail scale", True, ThumbnailResize, "scale", float
    ),
    "crop": Family(
        CROP_OFFSETS, "crop offset (pixels)", False, RandomCropOffset, "max_offset", int
    ),
    "noise": Family(NOISE_STDDEVS, "noise stddev", False, GaussianNoise, "stddev", float),
    # ImageNet-C's order: noise, blur, weather (none here), digital; then its
    # held-out corruptions Gaussian blur and saturate.
    "gaussian_noise": _levels(
        "Gaussian noise", GaussianNoise, "stddev", (0.08, 0.12, 0.18, 0.26, 0.38),
        clip=True,
    ),
    # Photons at full intensity c = 60, 25, 12, 5, 3: stddev 1 / sqrt(c).
    "shot_noise": _levels(
        "shot noise", ShotNoise, "stddev", (c**-0.5 for c in (60, 25, 12, 5, 3))
    ),
    "impulse_noise": _levels(
        "impulse noise", ImpulseNoise, "amount", (0.03, 0.06, 0.09, 0.17, 0.27)
    ),
    "defocus_blur": _levels(
        "defocus blur", DefocusBlur, "radius", (r / _SIDE for r in (3, 4, 6, 8, 10))
    ),
    "motion_blur": _levels(
        "motion blur", MotionBlur, "sigma", (s / _SIDE for s in (3, 5, 8, 12, 15))
    ),
    "brightness": _levels("brightness", Brightness, "delta", (0.1, 0.2, 0.3, 0.4, 0.5)),
    "contrast": _levels("contrast", Contrast, "factor", (0.4, 0.3, 0.2, 0.1, 0.05)),
    "pixelate": _levels("pixelation", Pixelate, "scale", (0.6, 0.5, 0.4, 0.3, 0.25)),
    "jpeg_compression": _levels(
        "JPEG", JpegCompression, "quality", (25, 18, 15, 10, 7), int
    ),
    "gaussian_blur": _levels(
        "Gaussian blur", GaussianBlur, "sigma", (c / _SIDE for c in (1, 2, 3, 4, 6))
    ),
    "saturate": _levels("saturation", Saturate, "factor", (0.3, 0.1, 2, 5, 20)),
}
# fmt: on

# The paper's families, in the default suite, and ImageNet-C's.
DEFAULT_FAMILIES = ("jpeg", "thumbnail", "crop", "noise")
CORRUPTION_FAMILIES = tuple(f for f in FAMILIES if f not in DEFAULT_FAMILIES)


def family_perturbation(family, severities, value_range=(0, 1), jpeg_method=None):
    """The perturbation of one family over a set of severities.

    One severity gives the family's layer at that severity; several give the
    layer that draws a severity per image between the smallest and the
    largest of them. Severities are cast to the family's type (JPEG
    qualities and crop offsets are ints); for ImageNet-C's families they are
    levels 1 to 5, each standing for the layer's argument at that level.

    Args:
        family: one of `FAMILIES`: the default suite's `"jpeg"`,
            `"thumbnail"`, `"crop"` or `"noise"`, or one of
            `CORRUPTION_FAMILIES` such as `"defocus_blur"`.
        severities: a number, or a non-empty sequence of numbers.
        value_range: the images' value range. Defaults to `(0, 1)`.
        jpeg_method: `"libjpeg"` or `"dct"` for `JpegCompression`. Defaults
            to `None`: libjpeg on TensorFlow, the same-pixel `"dct"` method
            on other backends.

    Returns:
        A `keras_stability.perturbations.Perturbation`.

    Example:

    ```python
    from keras_stability.evaluation.families import family_perturbation

    noise = family_perturbation("noise", [0.08, 0.04])
    assert noise.stddev == (0.04, 0.08)
    assert family_perturbation("jpeg", 10.0, jpeg_method="dct").quality == 10
    # ImageNet-C's levels 2 to 4 of contrast: factors 0.3 down to 0.1.
    assert family_perturbation("contrast", [2, 4]).factor == (0.1, 0.3)
    ```
    """
    if family not in FAMILIES:
        raise ValueError(
            f"`family` must be one of {sorted(FAMILIES)}. Received: family={family!r}"
        )
    spec = FAMILIES[family]
    values = severities if isinstance(severities, (list, tuple)) else [severities]
    if spec.values is not None:
        if not all(value in spec.severities for value in values):
            raise ValueError(
                f"The severities of `{family}` are its levels {spec.severities}. "
                f"Received: severities={severities!r}"
            )
        values = [spec.values[spec.severities.index(value)] for value in values]
    low, high = spec.severity_type(min(values)), spec.severity_type(max(values))
    arguments = {
        spec.argument: low if low == high else (low, high),
        **dict(spec.options),
    }
    if spec.layer is JpegCompression:
        if jpeg_method is None:
            jpeg_method = "libjpeg" if is_tensorflow() else "dct"
        arguments["method"] = jpeg_method
    return spec.layer(**arguments, value_range=value_range)


def default_distortions(value_range=(0, 1)):
    """The default suite of distortions, one per family and severity.

    JPEG quality 10, 30, 50, 70, 90 (libjpeg on TensorFlow, the
    bit-identical `method="dct"` on other backends); thumbnail scale 0.25,
    0.5, 0.75; crop offset 2, 5, 10 pixels; Gaussian noise 0.02, 0.04, 0.08
    (in units of the value range). Names are `family@severity`.

    Args:
        value_range: the images' value range. Defaults to `(0, 1)`.

    Returns:
        A dict from name to a `keras_stability.perturbations.Perturbation`.

    Example:

    ```python
    from keras_stability.evaluation import default_distortions
    from keras_stability.perturbations import ThumbnailResize

    suite = default_distortions(value_range=(0, 255))
    assert len(suite) == 14 and "jpeg@10" in suite and "noise@0.08" in suite
    assert isinstance(suite["thumbnail@0.5"], ThumbnailResize)
    ```
    """
    return {
        f"{family}@{severity}": family_perturbation(family, severity, value_range)
        for family in DEFAULT_FAMILIES
        for severity in FAMILIES[family].severities
    }


def corruption_distortions(value_range=(0, 1)):
    """ImageNet-C's corruptions that this package has, at levels 1 to 5.

    Nine of ImageNet-C's fifteen corruptions (Gaussian, shot and impulse
    noise; defocus and motion blur; brightness, contrast, pixelation, JPEG)
    and two of its four held-out ones (Gaussian blur, saturate), with
    ImageNet-C's constants for 224 x 224 images and lengths as fractions of
    the image size (`FAMILIES` holds them; each layer's docstring says how
    it differs from the reference code). Glass and zoom blur, snow, frost,
    fog and elastic transforms are missing, so a mean corruption error over
    this suite is not comparable with published ImageNet-C numbers. Names
    are `family@level`, e.g. `defocus_blur@3`.

    Args:
        value_range: the images' value range. Defaults to `(0, 1)`.

    Returns:
        A dict from name to a `keras_stability.perturbations.Perturbation`.

    Example:

    ```python
    from keras_stability.evaluation import corruption_distortions
    from keras_stability.perturbations import Contrast

    suite = corruption_distortions(value_range=(0, 255))
    assert len(suite) == 55 and "shot_noise@1" in suite
    assert isinstance(suite["contrast@5"], Contrast)
    assert suite["contrast@5"].factor == 0.05
    ```
    """
    return {
        f"{family}@{level}": family_perturbation(family, level, value_range)
        for family in CORRUPTION_FAMILIES
        for level in CORRUPTION_LEVELS
    }


# The suites `robustness_report(..., distortions=name)` runs, by name.
SUITES = {"default": default_distortions, "imagenet-c": corruption_distortions}


def resolve_distortion(distortion, value_range=(0, 1)):
    """A distortion, or the member of the default suite that a name gives.

    Args:
        distortion: a perturbation, a Keras layer, a callable, or a name
            from `default_distortions(value_range)` such as `"jpeg@50"`.
        value_range: the images' value range, for a name. Defaults to
            `(0, 1)`.

    Returns:
        `distortion`, or the suite's perturbation of that name.

    Example:

    ```python
    from keras_stability.evaluation.families import resolve_distortion

    assert resolve_distortion("crop@5").max_offset == 5
    ```
    """
    if not isinstance(distortion, str):
        return perturbations.check_perturbation(distortion, "distortion")
    suite = default_distortions(value_range)
    if distortion not in suite:
        raise ValueError(
            f"`distortion` must be a perturbation, a callable or one of "
            f"{sorted(suite)}. Received: distortion={distortion!r}"
        )
    return suite[distortion]


def parse_condition(condition):
    """Splits a condition name into its family and numeric severity.

    Args:
        condition: a condition of a report, e.g. `"jpeg@10"` or `"clean"`.

    Returns:
        `(family, severity)`, with `severity` a finite float, or `None` when
        the name has no `@` or no finite number after it.

    Example:

    >>> parse_condition("thumbnail@0.5")
    ('thumbnail', 0.5)
    >>> parse_condition("rotate@15deg")
    ('rotate', None)
    """
    family, at, text = condition.partition("@")
    try:
        severity = float(text) if at else None
    except ValueError:
        severity = None
    if severity is not None and not math.isfinite(severity):
        severity = None
    return family, severity


def severity_table(report):
    """Splits `family@severity/metric` keys into `{family: {metric: [(s, v)]}}`.

    Only conditions whose severity is a finite number (`jpeg@10`,
    `rotate@1.5`) are kept, sorted by severity; other keys (`clean/top1`,
    `rotate/kl`, `rotate@15deg/kl`) are left out.

    Args:
        report: a dict from `robustness_report`.

    Returns:
        A dict family -> metric -> list of `(severity, value)` pairs.

    Example:

    >>> severity_table({"clean/top1": 0.9, "jpeg@50/kl": 0.1, "jpeg@10/kl": 0.4})
    {'jpeg': {'kl': [(10.0, 0.4), (50.0, 0.1)]}}
    """
    table = {}
    for key, value in report.items():
        if "/" not in key:
            continue
        condition, metric = key.rsplit("/", 1)
        family, severity = parse_condition(condition)
        if severity is None:
            continue
        table.setdefault(family, {}).setdefault(metric, []).append((severity, value))
    for metrics in table.values():
        for pairs in metrics.values():
            pairs.sort()
    return table


def strongest_first(family, pairs):
    """`(severity, value)` pairs sorted from the strongest severity down.

    The lowest severity is the strongest for JPEG quality and thumbnail
    scale; for every other family, known or not, the largest.

    Args:
        family: the family's name.
        pairs: `(severity, value)` pairs, as in `severity_table`.

    Returns:
        A new sorted list.

    Example:

    >>> strongest_first("jpeg", [(50.0, 0.1), (10.0, 0.4)])
    [(10.0, 0.4), (50.0, 0.1)]
    >>> strongest_first("noise", [(0.02, 0.1), (0.08, 0.3)])
    [(0.08, 0.3), (0.02, 0.1)]
    """
    spec = FAMILIES.get(family)
    return sorted(pairs, reverse=not (spec and spec.lower_is_stronger))


def axis_label(family):
    """The label of a family's severity axis, saying which end is stronger.

    Args:
        family: the family's name; an unknown family is its own label.

    Returns:
        A string.

    Example:

    >>> axis_label("jpeg")
    'JPEG quality (lower is stronger)'
    >>> axis_label("rotate")
    'rotate'
    """
    spec = FAMILIES.get(family)
    if spec is None:
        return family
    return spec.quantity + (" (lower is stronger)" if spec.lower_is_stronger else "")
