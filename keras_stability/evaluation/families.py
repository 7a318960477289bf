"""The distortion families of the evaluation suite and their `family@severity` names.

The one place that knows the four families of the paper's distortions
(JPEG re-compression, thumbnails, shifted crops, sensor noise): their
severities in the default suite, which end of a family is the strongest,
the axis a plot draws it on and the perturbation that applies it. A
condition of a report is named `family@severity` (`jpeg@10`,
`thumbnail@0.5`); `severity_table` reads such names back.
"""

import math
from typing import NamedTuple

from keras_stability import perturbations
from keras_stability._backend import is_tensorflow
from keras_stability.perturbations import GaussianNoise
from keras_stability.perturbations import JpegCompression
from keras_stability.perturbations import RandomCropOffset
from keras_stability.perturbations import ThumbnailResize

__all__ = [
    "CROP_OFFSETS",
    "FAMILIES",
    "JPEG_QUALITIES",
    "NOISE_STDDEVS",
    "THUMBNAIL_SCALES",
    "Family",
    "axis_label",
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
    """

    severities: tuple
    quantity: str
    lower_is_stronger: bool
    layer: type
    argument: str
    severity_type: type


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
}
# fmt: on


def family_perturbation(family, severities, value_range=(0, 1), jpeg_method=None):
    """The perturbation of one family over a set of severities.

    One severity gives the family's layer at that severity; several give the
    layer that draws a severity per image between the smallest and the
    largest of them. Severities are cast to the family's type (JPEG
    qualities and crop offsets are ints).

    Args:
        family: one of `FAMILIES`: `"jpeg"`, `"thumbnail"`, `"crop"` or
            `"noise"`.
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
    ```
    """
    if family not in FAMILIES:
        raise ValueError(
            f"`family` must be one of {sorted(FAMILIES)}. Received: family={family!r}"
        )
    spec = FAMILIES[family]
    values = severities if isinstance(severities, (list, tuple)) else [severities]
    low, high = spec.severity_type(min(values)), spec.severity_type(max(values))
    arguments = {spec.argument: low if low == high else (low, high)}
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
        for family, spec in FAMILIES.items()
        for severity in spec.severities
    }


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
