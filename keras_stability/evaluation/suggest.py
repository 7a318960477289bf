"""A training perturbation aimed at what flips a model, read off its report."""

import collections.abc
import inspect
import reprlib

from keras_stability import perturbations
from keras_stability._checks import is_number
from keras_stability.evaluation.families import DEFAULT_FAMILIES
from keras_stability.evaluation.families import family_perturbation
from keras_stability.evaluation.families import severity_table
from keras_stability.evaluation.families import strongest_first

__all__ = ["SUGGESTABLE_FAMILIES", "perturbation_code", "suggest_perturbation"]

# The families `suggest_perturbation` can build a training perturbation for:
# the default suite's. ImageNet-C's corruptions are left out: a model trained
# on them no longer measures its robustness to them.
SUGGESTABLE_FAMILIES = DEFAULT_FAMILIES


def suggest_perturbation(
    report, *, min_flip_rate=0.02, value_range=(0, 1), jpeg_method="dct"
):
    """A training perturbation aimed at what flips a model, from its report.

    Reads a baseline's `robustness_report` and returns the perturbation to
    train a `StabilityModel` with: a `OneOf` over the families that flip the
    model (JPEG, thumbnails, crops, noise: `SUGGESTABLE_FAMILIES`; other
    families of a custom suite are left out), each image getting family `f`
    with odds proportional to `f`'s flip rate at its strongest severity, and
    each family drawn per image over the severities that flip the model:
    from the weakest severity whose flip rate reaches `min_flip_rate` to the
    strongest (e.g. `GaussianNoise(stddev=(0.04, 0.08))` when noise of 0.02
    flips too few images). A family that flips fewer than `min_flip_rate`
    even at its strongest severity is left out. `perturbation_code` prints
    the result as a line of Python.

    Formula:

    ```
    weight(f) = flip_rate(f@strongest) / sum_g flip_rate(g@strongest)
    ```

    Args:
        report: a `robustness_report` of the model to stabilize, usually a
            plain `keras.Model`, with `family@severity/flip_rate` entries.
        min_flip_rate: the flip rate a severity needs to count as one that
            flips the model, in `[0, 1]`. Defaults to 0.02.
        value_range: the images' value range, given to every perturbation.
            Defaults to `(0, 1)`.
        jpeg_method: `"dct"` (every backend, XLA) or `"libjpeg"` (the real
            codec, TensorFlow only) for `JpegCompression`. Defaults to
            `"dct"`.

    Returns:
        A `keras_stability.perturbations.OneOf`, or the family's own layer
        when only one family flips the model.

    Raises:
        ValueError: if no family of the report reaches `min_flip_rate`.

    Example:

    ```python
    from keras_stability.evaluation import perturbation_code
    from keras_stability.evaluation import suggest_perturbation

    report = {
        "clean/top1": 0.9,
        "noise@0.02/flip_rate": 0.01, "noise@0.04/flip_rate": 0.05,
        "noise@0.08/flip_rate": 0.30,
        "jpeg@10/flip_rate": 0.10, "jpeg@50/flip_rate": 0.0,
        "crop@10/flip_rate": 0.01,
    }
    layer = suggest_perturbation(report)
    assert perturbation_code(layer) == (
        "perturbations.OneOf([perturbations.GaussianNoise(stddev=(0.04, 0.08)), "
        "perturbations.JpegCompression(quality=10, method='dct')], "
        "weights=[0.75, 0.25])"
    )
    ```
    """
    if not (is_number(min_flip_rate) and 0 <= min_flip_rate <= 1):
        raise ValueError(
            "`min_flip_rate` must be a number in [0, 1]. "
            f"Received: min_flip_rate={min_flip_rate!r}"
        )
    if not isinstance(report, collections.abc.Mapping):
        raise ValueError(
            "`report` must be a dict from `robustness_report`. "
            f"Received: report={reprlib.repr(report)}"
        )
    elements, weights, seen = [], [], {}
    for family, metrics in severity_table(report).items():
        pairs = metrics.get("flip_rate")
        if family not in SUGGESTABLE_FAMILIES or not pairs:
            continue
        ordered = strongest_first(family, pairs)
        seen[family] = ordered[0][1]
        flipping = []
        for severity, flip_rate in ordered:
            if flip_rate < min_flip_rate:
                break
            flipping.append(severity)
        if not flipping:
            continue
        elements.append(family_perturbation(family, flipping, value_range, jpeg_method))
        weights.append(ordered[0][1])
    if not elements:
        raise ValueError(
            f"No family of the report flips at least min_flip_rate="
            f"{min_flip_rate} of the images at its strongest severity (seen: "
            f"{ {f: round(v, 4) for f, v in seen.items()} }): there is nothing "
            "to stabilize against, or lower `min_flip_rate`."
        )
    if len(elements) == 1:
        return elements[0]
    total = sum(weights)
    return perturbations.OneOf(
        elements, weights=[round(w / total, 2) or 0.01 for w in weights]
    )


def perturbation_code(perturbation):
    """Our perturbation as the line of Python that builds it.

    Arguments left at their defaults are omitted, so the line is what a
    user would type; `Compose` and `OneOf` show their elements.

    Args:
        perturbation: a `keras_stability.perturbations.Perturbation`.

    Returns:
        A string such as `"perturbations.GaussianNoise(stddev=0.08)"`, to
        follow `from keras_stability import perturbations`.

    Example:

    ```python
    from keras_stability import perturbations
    from keras_stability.evaluation import perturbation_code

    layer = perturbations.RandomCropOffset(6, value_range=(0, 255))
    code = perturbation_code(layer)
    assert code == "perturbations.RandomCropOffset(max_offset=6, value_range=(0, 255))"
    rebuilt = eval(code)
    assert rebuilt.max_offset == 6 and rebuilt.value_range == (0, 255)
    ```
    """
    if not isinstance(perturbation, perturbations.Perturbation):
        raise ValueError(
            "`perturbation` must be one of keras_stability's perturbations. "
            f"Received: perturbation={perturbation!r}"
        )
    cls = type(perturbation)
    if isinstance(perturbation, (perturbations.Compose, perturbations.OneOf)):
        inner = ", ".join(perturbation_code(e) for e in perturbation.perturbations)
        arguments = [f"[{inner}]"]
        weights = getattr(perturbation, "choice_weights", None)
        if weights is not None:
            arguments.append(f"weights={[float(w) for w in weights]}")
        if perturbation.seed is not None:
            arguments.append(f"seed={perturbation.seed}")
        return f"perturbations.{cls.__name__}({', '.join(arguments)})"
    config = perturbation.get_config()
    parameters = inspect.signature(cls.__init__).parameters
    arguments = []
    for name, parameter in parameters.items():
        if name in ("self", "kwargs") or name not in config:
            continue
        value = config[name]
        if isinstance(value, list):
            value = tuple(value)
        if value != parameter.default:
            arguments.append(f"{name}={value!r}")
    return f"perturbations.{cls.__name__}({', '.join(arguments)})"
