"""How stable a model is: accuracy, flip rate and KL under the paper's distortions.

`robustness_report` runs a model on clean images and on distorted copies
(JPEG re-compression, thumbnails, shifted crops, sensor noise) and returns
flat, canonical keys such as `clean/top1`, `jpeg@10/top1`,
`jpeg@10/flip_rate` and `thumbnail@0.5/kl`.
"""

import collections.abc
import csv
import inspect
import json
import math
import os
import re
import reprlib
import weakref

import keras
import numpy as np
from keras import ops

from keras_stability import perturbations
from keras_stability._backend import is_tensorflow
from keras_stability._checks import check_bool
from keras_stability._checks import check_int
from keras_stability._checks import is_int
from keras_stability._checks import is_number
from keras_stability._checks import value_range_error
from keras_stability._seeds import MAX_SEED
from keras_stability._seeds import StepSeed
from keras_stability.data import iterate_batches

__all__ = [
    "SUGGESTABLE_FAMILIES",
    "default_distortions",
    "feature_distances",
    "format_report",
    "mean_strongest_flip_rate",
    "near_duplicate_pr",
    "negative_partners",
    "precision_recall_curve",
    "perturbation_code",
    "robustness_report",
    "severity_table",
    "suggest_perturbation",
    "write_csv",
    "write_report",
]

JPEG_QUALITIES = (10, 30, 50, 70, 90)
THUMBNAIL_SCALES = (0.25, 0.5, 0.75)
CROP_OFFSETS = (2, 5, 10)
NOISE_STDDEVS = (0.02, 0.04, 0.08)


def default_distortions(value_range=(0, 1)):
    """The default suite: name -> perturbation at one severity.

    JPEG quality 10, 30, 50, 70, 90 (libjpeg on TensorFlow, the bit-identical
    `method="dct"` on other backends); thumbnail scale 0.25, 0.5,
    0.75; crop offset 2, 5, 10 pixels; Gaussian noise 0.02, 0.04, 0.08 (in
    units of the value range). Names are `family@severity`.

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
    # libjpeg on TensorFlow; elsewhere the tensor-op method, which gives the
    # same pixels (tests/test_jpeg.py).
    method = "libjpeg" if is_tensorflow() else "dct"
    suite = {}
    for quality in JPEG_QUALITIES:
        suite[f"jpeg@{quality}"] = perturbations.JpegCompression(
            quality, method=method, value_range=value_range
        )
    for scale in THUMBNAIL_SCALES:
        suite[f"thumbnail@{scale}"] = perturbations.ThumbnailResize(
            scale=scale, value_range=value_range
        )
    for offset in CROP_OFFSETS:
        suite[f"crop@{offset}"] = perturbations.RandomCropOffset(
            offset, value_range=value_range
        )
    for stddev in NOISE_STDDEVS:
        suite[f"noise@{stddev}"] = perturbations.GaussianNoise(
            stddev, value_range=value_range
        )
    return suite


def _probability_tolerance(outputs):
    """How far from 1 a row of probabilities may sum.

    Float32 rounding for 32- and 64-bit outputs; for float16 and bfloat16
    outputs their own, coarser rounding (a bfloat16 softmax is off by about
    4e-3).
    """
    return 2e-2 if np.asarray(outputs).dtype.itemsize <= 2 else 1e-3


def _looks_like_probabilities(outputs, tolerance):
    return bool(
        np.all(outputs >= 0) and np.allclose(outputs.sum(-1), 1.0, atol=tolerance)
    )


def _check_outputs(outputs, count, where):
    """The model's raw outputs as float64 `(count, classes >= 2)`, all finite.

    `where` says which call they came from, e.g. "batch 0 of the clean
    images".
    """
    array = np.asarray(outputs, "float64")
    if array.ndim != 2 or array.shape[-1] < 2:
        raise ValueError(
            "robustness_report needs a classifier whose output has shape "
            "(batch, classes) with at least 2 classes. Received output shape "
            f"{array.shape} for {where}."
        )
    if array.shape[0] != count:
        raise ValueError(
            f"The model must return one row per image: {count} images in {where}, "
            f"output shape {array.shape}."
        )
    _check_finite_outputs(array, "outputs", where)
    return array


def _check_finite_outputs(array, kind, where):
    """Refuses NaN or inf in a model's `kind` ("outputs", "embeddings")."""
    finite = np.isfinite(array)
    if not np.all(finite):
        raise ValueError(
            f"The model returned non-finite {kind} ({int(np.sum(~finite))} NaN "
            f"or inf values) for {where}."
        )


def _check_probabilities(outputs, tolerance):
    """Refuses outputs that are not probabilities when `from_logits=False`."""
    if _looks_like_probabilities(outputs, tolerance):
        return
    sums = outputs.sum(-1)
    worst = float(sums[np.argmax(np.abs(sums - 1.0))])
    raise ValueError(
        "`from_logits=False` needs a model whose outputs are probabilities "
        f"(values in [0, 1], rows summing to 1 within {tolerance:g}). The first "
        f"batch has values in [{float(outputs.min()):.4g}, "
        f"{float(outputs.max()):.4g}] and a row summing to {worst:.4g}. Pass "
        "from_logits=True for logits, or None to detect."
    )


def _probabilities(outputs, from_logits, tolerance):
    if from_logits is None:
        from_logits = not _looks_like_probabilities(outputs, tolerance)
    if not from_logits:
        return outputs
    shifted = outputs - outputs.max(-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(-1, keepdims=True)


def _top_k_hits(probabilities, labels, k):
    top = np.argsort(-probabilities, axis=-1, kind="stable")[:, :k]
    return (top == labels[:, None]).any(-1)


def _kl(p, q):
    eps = keras.config.epsilon()
    p = np.clip(p, eps, 1.0)
    q = np.clip(q, eps, 1.0)
    return (p * (np.log(p) - np.log(q))).sum(-1)


class _Tally:
    """Running sums of one condition's per-image results."""

    def __init__(self):
        self.count = 0
        self.sums = {}

    def add(self, name, values):
        self.sums[name] = self.sums.get(name, 0.0) + float(np.sum(values))

    def means(self):
        return {name: total / self.count for name, total in self.sums.items()}


def robustness_report(
    model,
    x,
    y=None,
    *,
    distortions=None,
    batch_size=128,
    top_k=None,
    seed=0,
    from_logits=None,
    value_range=(0, 1),
    verbose=1,
    output_dir=None,
):
    """Accuracy, flip rate and KL on clean and distorted copies of `x`.

    For the clean images and every distortion it reports, when labels are
    given, top-k accuracy for each k in `top_k` (`clean/top1`,
    `jpeg@10/top5`); for every distortion, the flip rate (the share of
    images whose top-1 prediction differs from the clean one, ImageNet-P's
    flip probability) and the mean KL(P(y|x) || P(y|x')) (`.../kl`).
    Random distortions are drawn from `seed` and the batch index, so a
    report is deterministic for a seed.

    Args:
        model: a classifier returning `(batch, classes)` probabilities or
            logits, with at least 2 classes and finite values.
        x: images (array or tensor) or a `tf.data.Dataset` of batches, either
            images or `(images, labels)`.
        y: class indices in `[0, classes)` for array `x`, shape
            `(num_images,)` or `(num_images, 1)` (integers, or floats with
            integer values; not one-hot). Defaults to `None` (no accuracy).
        distortions: dict name -> perturbation (a `Perturbation`, a layer or
            a callable on a batch). Names of the form `family@severity` with
            a number for severity (`"rotate@15"`) are plotted against
            severity by `severity_table`, `plot_robustness` and
            `mean_strongest_flip_rate`; other names (`"rotate"`,
            `"rotate@15deg"`) are reported and written all the same, but
            left out of those. Defaults to `default_distortions()`.
        batch_size: batch size for arrays, an int >= 1. Defaults to 128.
        top_k: the k of the accuracies: an int or a tuple of ints, each
            between 1 and the model's number of classes. Defaults to
            `None`: `(1, 5)`, without 5 when the model has fewer than 5
            classes.
        seed: seed of the random distortions, an int in `[0, 2**31 - 1]`.
            Defaults to 0.
        from_logits: `True` if the outputs are logits, `False` if they are
            probabilities (checked on the first batch: values in [0, 1],
            rows summing to 1), `None` to detect it (rows of non-negative
            values summing to 1 are probabilities). Defaults to `None`.
        value_range: the images' value range, for the default suite, e.g.
            `(0, 255)` for what `keras.utils.image_dataset_from_directory`
            yields. Images outside the range of any of our distortions are
            refused (see `Perturbation.check_images`): array `x` before any
            work, a dataset batch by batch. Defaults to `(0, 1)`.
        verbose: 1 shows a progress bar. Defaults to 1.
        output_dir: if given, writes `report.json`, `report.csv` and
            `robustness.png` there. Defaults to `None`.

    Returns:
        A dict of floats with keys `condition/metric`, plus `num_images`.

    Example:

    ```python
    import keras
    import numpy as np
    from keras_stability.evaluation import robustness_report
    from keras_stability.perturbations import GaussianNoise

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(3, activation="softmax")(
        keras.layers.Flatten()(inputs)
    )
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).random((16, 8, 8, 1), "float32")
    y = np.arange(16) % 3
    report = robustness_report(
        model, x, y, distortions={"noise@0.1": GaussianNoise(0.1)}, verbose=0
    )
    assert sorted(report) == [
        "clean/top1",
        "noise@0.1/flip_rate",
        "noise@0.1/kl",
        "noise@0.1/top1",
        "num_images",
    ]
    assert report["num_images"] == 16 and 0 <= report["noise@0.1/flip_rate"] <= 1
    ```
    """
    check_int(seed, "seed", 0, MAX_SEED)
    if from_logits is not None:
        from_logits = check_bool(from_logits, "from_logits")
    ks = _validate_top_k(top_k)
    if distortions is None:
        distortions = default_distortions(value_range)
    _validate_distortions(distortions)
    is_dataset = hasattr(x, "as_numpy_iterator")
    if y is not None and not is_dataset:
        y = _class_indices(y, "`y`", "y")
    batches = iterate_batches(x, y, batch_size)
    names = list(distortions)
    shape = _image_shape(x)
    for name in names:
        perturbations.check_fits(distortions[name], shape, f"distortions[{name!r}]")
    owners = {f"`distortions[{name!r}]`": d for name, d in distortions.items()}
    range_fix = "to robustness_report (for the default suite) or to the distortions"
    if not is_dataset:
        _check_value_ranges(x, owners, range_fix)
    tallies = {name: _Tally() for name in ["clean", *names]}
    total = None if is_dataset else int(np.shape(x)[0])
    progress = keras.utils.Progbar(total, unit_name="image") if verbose else None
    functions = {name: _distortion_function(distortions[name]) for name in names}
    for batch_index, (images, labels) in enumerate(batches):
        if len(images) == 0:
            continue
        if is_dataset:
            _check_value_ranges(images, owners, range_fix)
        raw = model.predict_on_batch(images)
        tolerance = _probability_tolerance(raw)
        outputs = _check_outputs(
            raw, len(images), f"batch {batch_index} of the clean images"
        )
        if tallies["clean"].count == 0:  # The first batch: classes now known.
            num_classes = outputs.shape[-1]
            ks = _top_k_for_classes(ks, top_k, num_classes)
            if from_logits is False:
                _check_probabilities(outputs, tolerance)
            if y is not None:
                _class_indices(y, "`y`", "y", num_classes)
        if is_dataset and labels is not None:
            labels = _class_indices(
                labels,
                "The labels that `x` yields",
                f"the labels of batch {batch_index}",
                num_classes,
                count=len(images),
            )
        clean = _probabilities(outputs, from_logits, tolerance)
        clean_top1 = clean.argmax(-1)
        _tally_accuracy(tallies["clean"], clean, labels, ks)
        for index, name in enumerate(names):
            argument = f"`distortions[{name!r}]`"
            distorted_images = _apply(
                functions[name], images, np.array([seed + index, batch_index]), argument
            )
            raw = model.predict_on_batch(distorted_images)
            distorted = _probabilities(
                _check_outputs(
                    raw, len(images), f"batch {batch_index} under {argument}"
                ),
                from_logits,
                _probability_tolerance(raw),
            )
            tally = tallies[name]
            _tally_accuracy(tally, distorted, labels, ks)
            tally.add("flip_rate", distorted.argmax(-1) != clean_top1)
            tally.add("kl", _kl(clean, distorted))
        for tally in tallies.values():
            tally.count += len(images)
        if progress is not None:
            progress.add(len(images))
    if tallies["clean"].count == 0:
        raise ValueError("robustness_report received no images.")
    report = {"num_images": tallies["clean"].count}
    for name, tally in tallies.items():
        for metric, value in tally.means().items():
            report[f"{name}/{metric}"] = value
    if output_dir is not None:
        write_report(report, output_dir)
    return report


def _class_indices(labels, subject, received, num_classes=None, count=None):
    """`labels` as a 1-D array of class indices in `[0, num_classes)`.

    Takes shape `(n,)` or `(n, 1)`, integers or integral floats; anything
    else raises a `ValueError` that starts with `subject` (the argument) and
    names what was received as `received`. With `num_classes=None` only
    `>= 0` is checked; with `count`, the number of labels too.
    """
    array = np.asarray(labels)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(
            f"{subject} must hold one class index per image, shape (num_images,) "
            "or (num_images, 1); for one-hot labels pass their argmax. "
            f"Received: {received} of shape {np.shape(labels)}"
        )
    if count is not None and len(array) != count:
        raise ValueError(
            f"{subject} must hold one label per image. Received: {received} "
            f"with {len(array)} labels for {count} images"
        )
    if array.dtype.kind not in "iuf":
        raise ValueError(
            f"{subject} must be integer class indices. Received: {received} of "
            f"dtype {array.dtype}"
        )
    if array.dtype.kind == "f":
        integral = np.isfinite(array) & (array == np.round(array))
        if not np.all(integral):
            value = array[~integral][0].item()
            raise ValueError(
                f"{subject} must be integer class indices. Received: {received} "
                f"holding {value!r}"
            )
    high = np.inf if num_classes is None else num_classes
    outside = (array < 0) | (array >= high)
    if np.any(outside):
        value = array[outside][0].item()
        expected = (
            ">= 0"
            if num_classes is None
            else f"in [0, {num_classes}) for the model's {num_classes} classes"
        )
        raise ValueError(
            f"{subject} must be class indices {expected}. Received: {received} "
            f"holding {value!r}"
        )
    return array


def _image_shape(x):
    """The shape of `x`'s batches when known before any work, else None."""
    if hasattr(x, "as_numpy_iterator"):
        spec = x.element_spec
        spec = spec[0] if isinstance(spec, tuple) else spec
        shape = getattr(spec, "shape", None)
        if shape is None or shape.rank is None:
            return None
        return tuple(shape.as_list())
    return tuple(np.shape(x))


def _check_value_ranges(images, distortions, fix):
    """Refuses images outside the value range of any of our distortions.

    `distortions` maps names to distortions; `fix` says where the user
    passes `value_range`. One pass over `images` (an array) whatever the
    number of distortions; other layers and callables are not judged.
    """
    ranges = {}
    for name, distortion in distortions.items():
        if isinstance(distortion, perturbations.Perturbation):
            for value_range in distortion.input_value_ranges():
                ranges.setdefault(value_range, name)
    images = np.asarray(images)
    if not ranges or images.size == 0 or images.dtype.kind not in "fiub":
        return
    low, high = float(np.min(images)), float(np.max(images))
    for value_range, name in ranges.items():
        error = value_range_error(low, high, value_range, name, fix)
        if error is not None:
            raise error


def _validate_top_k(top_k):
    """`top_k` as a tuple of ints >= 1, or None for the default."""
    if top_k is None:
        return None
    values = (top_k,) if is_int(top_k) else top_k
    if (
        not isinstance(values, (list, tuple))
        or not values
        or not all(is_int(k) and k >= 1 for k in values)
    ):
        raise ValueError(f"`top_k` must hold ints >= 1. Received: top_k={top_k!r}")
    return tuple(int(k) for k in values)


def _top_k_for_classes(ks, top_k, num_classes):
    """The default `(1, 5)` cut to the classes; a given `top_k` checked.

    `ks` is `_validate_top_k(top_k)`; `top_k` is what the user passed.
    """
    if ks is None:
        return tuple(k for k in (1, 5) if k <= num_classes)
    if max(ks) > num_classes:
        raise ValueError(
            "`top_k` must not exceed the model's number of classes "
            f"({num_classes}). Received: top_k={top_k!r}"
        )
    return ks


def _validate_distortions(distortions):
    if not isinstance(distortions, collections.abc.Mapping):
        raise ValueError(
            "`distortions` must be a dict name -> perturbation. "
            f"Received: distortions={distortions!r}"
        )
    if not distortions:
        raise ValueError(
            "`distortions` must name at least one distortion. "
            f"Received: distortions={distortions!r}"
        )
    for name, distortion in distortions.items():
        perturbations.check_perturbation(distortion, f"distortions[{name!r}]")


def _tally_accuracy(tally, probabilities, labels, top_k):
    if labels is None:
        return
    labels = np.asarray(labels).reshape(-1)
    for k in top_k:
        tally.add(f"top{k}", _top_k_hits(probabilities, labels, k))


_COMPILED = weakref.WeakKeyDictionary()


def _distortion_function(distortion):
    """`(images, seed_pair) -> distorted images`, compiled for our perturbations.

    Our `Perturbation` layers draw from a `StepSeed`, so they are pure
    functions of their inputs and compile with `tf.function` or `jax.jit`
    (libjpeg included, with `tf.function`); the compiled function is kept
    with the layer for the next report. Other layers and callables run as
    they are.
    """
    if isinstance(distortion, perturbations.Perturbation):
        if distortion not in _COMPILED:
            _COMPILED[distortion] = _compile_perturbation(distortion)
        return _COMPILED[distortion]
    return lambda images, seed_pair: perturbations.apply_perturbation(
        distortion, images, name="distortion"
    )


class _Distort:
    """`(images, seed_pair) -> distortion(images)` drawn from a `StepSeed`.

    A callable object rather than a closure: TensorFlow counts retracings per
    code object, and one closure per distortion would read as a function
    retraced in a loop.
    """

    def __init__(self, distortion):
        self.distortion = distortion

    def __call__(self, images, seed_pair):
        return perturbations.apply_perturbation(
            self.distortion, images, StepSeed(seed_pair), name="distortion"
        )


def _compile_perturbation(distortion):
    call = _Distort(distortion)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(call, reduce_retracing=True)
    if backend == "jax":
        import jax

        return jax.jit(call)
    return call


def _apply(function, images, seed_pair, name):
    """`function(images, seed_pair)`; errors name the distortion as `name`."""
    try:
        out = function(images, seed_pair)
    except ValueError as error:
        raise ValueError(
            f"{name} failed on images of shape {tuple(images.shape)}: {_gist(error)}"
        ) from error
    return out


_ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")


def _gist(error):
    """An error's message on one line.

    A Keras layer's error reads "Exception encountered when calling ...",
    then the message, then the call's arguments; under `tf.function` it also
    comes after "in user code:" and a traceback. The message is the line
    after the first; a plain error's is its last line.
    """
    text = _ANSI_CODE.sub("", str(error))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for index, line in enumerate(lines[:-1]):
        if "Exception encountered when calling" in line:
            return lines[index + 1]
    return lines[-1] if lines else type(error).__name__


def _severity(text):
    """The number after `@` in a condition, or None when it is not one."""
    try:
        severity = float(text)
    except ValueError:
        return None
    return severity if math.isfinite(severity) else None


def severity_table(report):
    """Splits `family@severity/metric` keys into {family: {metric: [(s, v)]}}.

    Only conditions whose severity is a finite number (`jpeg@10`,
    `rotate@1.5`) are kept, sorted by severity; other keys (`clean/top1`,
    `rotate/kl`, `rotate@15deg/kl`) are left out.
    """
    table = {}
    for key, value in report.items():
        if "/" not in key:
            continue
        condition, metric = key.rsplit("/", 1)
        family, at, text = condition.partition("@")
        severity = _severity(text) if at else None
        if severity is None:
            continue
        table.setdefault(family, {}).setdefault(metric, []).append((severity, value))
    for metrics in table.values():
        for pairs in metrics.values():
            pairs.sort()
    return table


# Families of the default suite whose strongest severity is the lowest value
# (the lowest JPEG quality, the smallest thumbnail); for every other family
# the largest value is the strongest.
_LOWER_IS_STRONGER = ("jpeg", "thumbnail")


def _strongest_first(family, pairs):
    """`(severity, value)` pairs sorted from the strongest severity down."""
    return sorted(pairs, reverse=family not in _LOWER_IS_STRONGER)


def mean_strongest_flip_rate(report):
    """Flip rate at each family's strongest severity, averaged over families.

    The strongest severity is the lowest JPEG quality or thumbnail scale and
    the largest crop offset or noise stddev (and, for other families, the
    largest severity).
    """
    flips = []
    for family, metrics in severity_table(report).items():
        pairs = metrics.get("flip_rate")
        if not pairs:
            continue
        flips.append(_strongest_first(family, pairs)[0][1])
    if not flips:
        raise ValueError(
            "The report has no `family@severity/flip_rate` entries with a "
            "numeric severity."
        )
    return float(np.mean(flips))


def _range_or_value(values, cast):
    low, high = cast(min(values)), cast(max(values))
    return low if low == high else (low, high)


def _suggested_family(family, severities, value_range, method):
    """The training perturbation of a family over `severities`, or None."""
    if family == "jpeg":
        return perturbations.JpegCompression(
            _range_or_value(severities, int), method=method, value_range=value_range
        )
    if family == "thumbnail":
        return perturbations.ThumbnailResize(
            scale=_range_or_value(severities, float), value_range=value_range
        )
    if family == "crop":
        return perturbations.RandomCropOffset(
            _range_or_value(severities, int), value_range=value_range
        )
    if family == "noise":
        return perturbations.GaussianNoise(
            _range_or_value(severities, float), value_range=value_range
        )
    return None


SUGGESTABLE_FAMILIES = ("jpeg", "thumbnail", "crop", "noise")


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
        ordered = _strongest_first(family, pairs)
        seen[family] = ordered[0][1]
        flipping = []
        for severity, flip_rate in ordered:
            if flip_rate < min_flip_rate:
                break
            flipping.append(severity)
        if not flipping:
            continue
        elements.append(_suggested_family(family, flipping, value_range, jpeg_method))
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


def format_report(reports, metrics=("top1", "flip_rate", "kl")):
    """An aligned text table: one row per condition, columns per model.

    Args:
        reports: a report, or a dict name -> report to show side by side.
        metrics: the metrics to show. Defaults to `("top1", "flip_rate", "kl")`.

    Returns:
        The table as a string.

    Example:

    ```python
    from keras_stability.evaluation import format_report

    report = {"num_images": 4, "clean/top1": 0.75, "jpeg@10/top1": 0.5,
              "jpeg@10/flip_rate": 0.25}
    table = format_report(report, metrics=("top1", "flip_rate"))
    assert table.splitlines()[0].split() == [
        "condition", "top1:model", "flip_rate:model"
    ]
    assert table.splitlines()[3].split() == ["jpeg@10", "0.5000", "0.2500"]
    ```
    """
    if not isinstance(reports, collections.abc.Mapping):
        raise ValueError(
            "`reports` must be a report (a dict from `robustness_report`) or a "
            f"dict name -> report. Received: reports={reprlib.repr(reports)}"
        )
    if "num_images" in reports:
        reports = {"model": reports}
    for name, report in reports.items():
        if not isinstance(report, collections.abc.Mapping):
            raise ValueError(
                f"`reports[{name!r}]` must be a report (a dict from "
                "`robustness_report`); a single report must hold `num_images`. "
                f"Received: reports[{name!r}]={reprlib.repr(report)}"
            )
    if not isinstance(metrics, (list, tuple)) or not all(
        isinstance(metric, str) for metric in metrics
    ):
        raise ValueError(
            "`metrics` must be a list or tuple of metric names. "
            f"Received: metrics={metrics!r}"
        )
    conditions = []
    for report in reports.values():
        for key in report:
            if "/" in key:
                condition = key.rsplit("/", 1)[0]
                if condition not in conditions:
                    conditions.append(condition)
    columns = [(m, name) for m in metrics for name in reports]
    header = ["condition"] + [f"{m}:{name}" for m, name in columns]
    rows = [header]
    for condition in conditions:
        row = [condition]
        for metric, name in columns:
            value = reports[name].get(f"{condition}/{metric}")
            row.append("" if value is None else f"{value:.4f}")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_csv(reports, path, spreads=None):
    """Writes reports as CSV rows `model,condition,metric,value[,std]`.

    Args:
        reports: dict model name -> report.
        path: the CSV file.
        spreads: optional dict model name -> report of standard deviations.
            Defaults to `None`.

    Example:

    ```python
    import csv
    import os
    import tempfile
    from keras_stability.evaluation import write_csv

    report = {"num_images": 4, "clean/top1": 0.75, "jpeg@10/flip_rate": 0.25}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "report.csv")
        write_csv({"baseline": report}, path)
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    assert rows == [
        ["model", "condition", "metric", "value"],
        ["baseline", "clean", "top1", "0.75"],
        ["baseline", "jpeg@10", "flip_rate", "0.25"],
    ]
    ```
    """
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["model", "condition", "metric", "value"] + (["std"] if spreads else [])
        )
        for name, report in reports.items():
            for key, value in report.items():
                if "/" not in key:
                    continue
                condition, metric = key.rsplit("/", 1)
                row = [name, condition, metric, value]
                if spreads:
                    row.append(spreads[name].get(key, ""))
                writer.writerow(row)


def write_report(report, output_dir, plot=True):
    """Writes `report.json`, `report.csv` and (optionally) `robustness.png`.

    Args:
        report: a report from `robustness_report`.
        output_dir: the folder, created if needed.
        plot: also plot accuracy and flip rate against severity (needs
            matplotlib), when the report has conditions with a numeric
            severity (see `severity_table`). Defaults to `True`.

    Returns:
        A dict of the written paths.

    Example:

    ```python
    import json
    import tempfile
    from keras_stability.evaluation import write_report

    report = {"num_images": 4, "clean/top1": 0.75, "jpeg@10/flip_rate": 0.25}
    with tempfile.TemporaryDirectory() as folder:
        paths = write_report(report, folder, plot=False)
        with open(paths["json"]) as f:
            assert json.load(f) == report
    assert sorted(paths) == ["csv", "json"]
    ```
    """
    os.makedirs(output_dir, exist_ok=True)
    paths = {
        "json": os.path.join(output_dir, "report.json"),
        "csv": os.path.join(output_dir, "report.csv"),
    }
    with open(paths["json"], "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
    write_csv({"model": report}, paths["csv"])
    if plot and severity_table(report):
        from keras_stability import plotting

        paths["png"] = plotting.plot_robustness(
            {"model": report}, os.path.join(output_dir, "robustness.png")
        )
    return paths


# Near-duplicate detection (the paper's ranking evaluation).

RECALL_LEVELS = (0.9, 0.95)


def _resolve_distortion(distortion, value_range):
    if isinstance(distortion, str):
        suite = default_distortions(value_range)
        if distortion not in suite:
            raise ValueError(
                f"`distortion` must be a perturbation, a callable or one of "
                f"{sorted(suite)}. Received: distortion={distortion!r}"
            )
        return suite[distortion]
    if not callable(distortion):
        raise ValueError(
            "`distortion` must be a perturbation, a callable or a name from "
            f"`default_distortions()`. Received: distortion={distortion!r}"
        )
    return distortion


def _embeddings(outputs, where):
    outputs = np.asarray(ops.convert_to_numpy(outputs), "float64")
    if outputs.ndim != 2:
        raise ValueError(
            "Near-duplicate evaluation needs an embedding model whose output "
            f"has shape (batch, dim). Received output shape {outputs.shape}."
        )
    _check_finite_outputs(outputs, "embeddings", where)
    return outputs


def _clean_and_distorted_embeddings(model, images, distortion, batch_size, seed):
    """f(x) and f(x') for every image, in batches; x' drawn from (seed, batch)."""
    batches = iterate_batches(images, None, batch_size)
    clean, distorted = [], []
    function = _distortion_function(distortion)
    owners = {"`distortion`": distortion}
    range_fix = "to this function (for a distortion given by name) or to the distortion"
    is_dataset = hasattr(images, "as_numpy_iterator")
    if not is_dataset:
        _check_value_ranges(images, owners, range_fix)
    for batch_index, (batch, _) in enumerate(batches):
        if len(batch) == 0:
            continue
        if is_dataset:
            _check_value_ranges(batch, owners, range_fix)
        clean.append(
            _embeddings(
                model.predict_on_batch(batch), f"batch {batch_index} of the images"
            )
        )
        copies = _apply(function, batch, np.array([seed, batch_index]), "`distortion`")
        distorted.append(
            _embeddings(
                model.predict_on_batch(copies),
                f"batch {batch_index} under `distortion`",
            )
        )
    count = sum(len(c) for c in clean)
    if count < 2:
        raise ValueError(
            f"Near-duplicate evaluation needs at least 2 images. Received: {count}."
        )
    return np.concatenate(clean), np.concatenate(distorted)


def _l2(a, b):
    return np.sqrt(np.sum(np.square(a - b), axis=-1))


def _validate_negatives(negatives_per_image, count=None):
    check_int(negatives_per_image, "negatives_per_image", 1)
    if count is not None and negatives_per_image >= count:
        raise ValueError(
            "`negatives_per_image` must be smaller than the number of images "
            f"({count}): an image is never its own negative. "
            f"Received: negatives_per_image={negatives_per_image}"
        )


def _image_count(images):
    if hasattr(images, "as_numpy_iterator"):
        return None  # A dataset: counted once embedded.
    count = int(np.shape(images)[0])
    if count < 2:
        raise ValueError(
            f"Near-duplicate evaluation needs at least 2 images. Received: {count}."
        )
    return count


def negative_partners(count, negatives_per_image, seed=0):
    """For each image, `negatives_per_image` distinct other images, at random.

    Args:
        count: the number of images, an int >= 2.
        negatives_per_image: how many partners per image, in
            `[1, count - 1]`.
        seed: seed of the draw, an int in `[0, 2**31 - 1]` (the range of
            `near_duplicate_pr`, which passes its seed on). Defaults to 0.

    Returns:
        An int array `(count, negatives_per_image)`; row `i` holds distinct
        indices, none equal to `i`.

    Example:

    ```python
    import numpy as np
    from keras_stability.evaluation import negative_partners

    partners = negative_partners(5, 2, seed=0)
    assert partners.shape == (5, 2)
    assert not np.any(partners == np.arange(5)[:, None])
    assert all(row[0] != row[1] for row in partners)
    ```
    """
    check_int(count, "count", 2)
    _validate_negatives(negatives_per_image, count)
    # Only NumPy sees this seed, but it is the seed of `near_duplicate_pr`,
    # whose distortions take it as a backend seed: one range for both.
    check_int(seed, "seed", 0, MAX_SEED)
    rng = np.random.default_rng(seed)
    # Row i takes the offsets with the k smallest of n - 1 uniform keys: a
    # uniform k-subset of {1, ..., n - 1}, so never the image itself. Rows go
    # in chunks of about 2**20 keys.
    rows_per_chunk = max(1, 2**20 // (count - 1))
    offsets = np.concatenate(
        [
            1
            + np.argpartition(
                rng.random((min(rows_per_chunk, count - start), count - 1)),
                negatives_per_image - 1,
                axis=1,
            )[:, :negatives_per_image]
            for start in range(0, count, rows_per_chunk)
        ]
    )
    return (np.arange(count)[:, None] + offsets) % count


def precision_recall_curve(distances, is_positive):
    """Precision and recall of `distance <= threshold` at every threshold.

    The thresholds are the distinct distances, ascending; at threshold `t`
    every pair with distance `<= t` is called a near-duplicate, so tied
    pairs are always called together. Recall rises to 1 at the largest
    threshold.

    Formula:

    ```
    precision(t) = #{positives <= t} / #{pairs <= t}
    recall(t) = #{positives <= t} / #{positives}
    average_precision = sum_k (recall_k - recall_{k-1}) * precision_k,
        recall_0 = 0
    ```

    Args:
        distances: 1-D array of pair distances.
        is_positive: 1-D boolean array, same length: which pairs are
            near-duplicates; at least one must be.

    Returns:
        `(precision, recall, thresholds, average_precision)`: three NumPy
        arrays of one length and a float.

    Example:

    ```python
    import numpy as np
    from keras_stability.evaluation import precision_recall_curve

    distances = np.array([0.1, 0.2, 0.3, 0.4])
    is_positive = np.array([True, False, True, False])
    precision, recall, thresholds, average_precision = precision_recall_curve(
        distances, is_positive
    )
    assert np.allclose(precision, [1, 1 / 2, 2 / 3, 1 / 2])
    assert np.allclose(recall, [0.5, 0.5, 1, 1])
    assert np.isclose(average_precision, 0.5 * 1 + 0.5 * 2 / 3)
    ```
    """
    try:
        distances = np.asarray(distances, "float64").reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(
            "`distances` must be numbers. "
            f"Received: distances={reprlib.repr(distances)}"
        ) from None
    finite = np.isfinite(distances)
    if not np.all(finite):
        raise ValueError(
            "`distances` must be finite. Received: "
            f"{int(np.sum(~finite))} NaN or inf values among {distances.size} "
            "distances"
        )
    flags = np.asarray(is_positive).reshape(-1)
    if flags.dtype.kind not in "biuf" or not np.all((flags == 0) | (flags == 1)):
        raise ValueError(
            "`is_positive` must hold booleans (or 0 and 1). "
            f"Received: is_positive={reprlib.repr(is_positive)}"
        )
    is_positive = flags.astype(bool)
    if distances.shape != is_positive.shape or not is_positive.any():
        raise ValueError(
            "`distances` and `is_positive` must have the same length, with at "
            f"least one positive. Received {distances.size} distances and "
            f"{int(is_positive.sum())} positives among {is_positive.size}."
        )
    order = np.argsort(distances, kind="stable")
    distances, is_positive = distances[order], is_positive[order]
    true_positives = np.cumsum(is_positive)
    called = np.arange(1, distances.size + 1)
    # The last pair of each run of equal distances closes its threshold.
    last = np.r_[np.flatnonzero(np.diff(distances)), distances.size - 1]
    precision = true_positives[last] / called[last]
    recall = true_positives[last] / true_positives[-1]
    average_precision = float(np.sum(np.diff(recall, prepend=0.0) * precision))
    return precision, recall, distances[last], average_precision


def near_duplicate_pr(
    model,
    images,
    distortion,
    *,
    negatives_per_image=1,
    batch_size=128,
    seed=0,
    value_range=(0, 1),
):
    """Near-duplicate detection by thresholding embedding distance, as a PR curve.

    The paper's ranking evaluation. Each image and its distorted copy form a
    positive pair; each image and `negatives_per_image` other images, drawn
    with `seed` and never the image itself, form negative pairs (ordered,
    so the pair `(i, j)` may also appear as `(j, i)`). Both members of a
    negative pair are clean. Every pair gets the L2 distance of the model's
    embeddings, and a pair is called a near-duplicate when its distance is
    `<= threshold`; sweeping the threshold over every distance gives the
    precision-recall curve (see `precision_recall_curve`).

    `pr_auc` is the average precision as scikit-learn defines it (a step
    sum, not the trapezoidal area, which is optimistic): the mean over
    positives of the precision at the threshold that first includes them,
    ties included together. A perfect ranking gives 1, and a constant
    embedding (every distance tied) gives exactly `positive_share`.

    A `Perturbation` distortion is called with `training=True` and a
    `StepSeed` of `[seed, batch_index]`, so the distorted copies, and the
    result, are a function of `seed`.

    Args:
        model: a model mapping images to embeddings `(batch, dim)`, called
            with `predict_on_batch`.
        images: array or tensor of images, or a `tf.data.Dataset` of image
            batches (or `(images, labels)` batches); at least 2 images.
        distortion: a `Perturbation`, any Keras layer (called with
            `training=True`), a callable on a batch that keeps its shape, or
            a name from `default_distortions(value_range)` such as
            `"jpeg@50"`.
        negatives_per_image: how many other images each image is paired
            with, in `[1, number of images - 1]`. Defaults to 1 (as many
            negatives as positives).
        batch_size: batch size for arrays. Defaults to 128.
        seed: seed of the distortion and of the negatives, an int in
            `[0, 2**31 - 1]`. Defaults to 0.
        value_range: the images' value range, used to resolve a distortion
            given by name. Images outside the distortion's own range are
            refused (see `Perturbation.check_images`). Defaults to `(0, 1)`.

    Returns:
        A dict with `pr_auc` (float), `precision`, `recall`, `thresholds`
        (NumPy arrays, one entry per distinct distance, ascending),
        `precision_at_recall_0.9` and `precision_at_recall_0.95` (the
        highest precision among thresholds with recall >= 0.9 or 0.95),
        `positive_share` (positive pairs / all pairs), `num_pairs`,
        `num_images`, and the distances themselves as
        `positive_distances` (`(n,)`, D(f(x), f(x')) per image) and
        `negative_distances` (`(n, negatives_per_image)`).

    Example:

    ```python
    import keras
    import numpy as np
    from keras_stability.evaluation import near_duplicate_pr
    from keras_stability.perturbations import GaussianNoise

    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.UnitNormalization()(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    images = np.random.default_rng(0).random((32, 8, 8, 3), "float32")
    result = near_duplicate_pr(model, images, GaussianNoise(0.02), seed=0)
    assert result["pr_auc"] > 0.99 and result["num_pairs"] == 64
    ```

    Reference:
        - [Zheng et al., "Improving the Robustness of Deep Neural Networks via
          Stability Training", CVPR 2016](https://arxiv.org/abs/1604.04326)
    """
    _validate_negatives(negatives_per_image, _image_count(images))
    check_int(seed, "seed", 0, MAX_SEED)
    distortion = _resolve_distortion(distortion, value_range)
    perturbations.check_fits(distortion, _image_shape(images), "distortion")
    clean, distorted = _clean_and_distorted_embeddings(
        model, images, distortion, batch_size, seed
    )
    count = len(clean)
    partners = negative_partners(count, negatives_per_image, seed)
    positive_distances = _l2(clean, distorted)
    negative_distances = _l2(clean[:, None, :], clean[partners])
    distances = np.concatenate([positive_distances, negative_distances.reshape(-1)])
    is_positive = np.arange(distances.size) < count
    precision, recall, thresholds, average_precision = precision_recall_curve(
        distances, is_positive
    )
    result = {
        "pr_auc": average_precision,
        "precision": precision,
        "recall": recall,
        "thresholds": thresholds,
    }
    for level in RECALL_LEVELS:
        result[f"precision_at_recall_{level}"] = float(precision[recall >= level].max())
    result.update(
        {
            "positive_share": count / distances.size,
            "num_pairs": int(distances.size),
            "num_images": count,
            "positive_distances": positive_distances,
            "negative_distances": negative_distances,
        }
    )
    return result


def feature_distances(
    model, images, distortion, *, batch_size=128, seed=0, value_range=(0, 1)
):
    """D(f(x), f(x')): the L2 distance of each image's embedding to its copy's.

    The quantity whose cumulative distribution the paper plots to show
    stability directly. The distorted copies are drawn exactly as in
    `near_duplicate_pr` with the same `seed` and `batch_size`, so these are
    its `positive_distances`.

    Args:
        model: a model mapping images to embeddings `(batch, dim)`.
        images: array or tensor of images, or a `tf.data.Dataset` of
            batches; at least 2 images.
        distortion: a perturbation, layer, callable, or a name from
            `default_distortions(value_range)`.
        batch_size: batch size for arrays. Defaults to 128.
        seed: seed of the distortion, an int in `[0, 2**31 - 1]`. Defaults
            to 0.
        value_range: the images' value range, used to resolve a distortion
            given by name. Images outside the distortion's own range are
            refused (see `Perturbation.check_images`). Defaults to `(0, 1)`.

    Returns:
        A float64 NumPy array `(num_images,)`.

    Example:

    ```python
    import keras
    import numpy as np
    from keras_stability.evaluation import feature_distances
    from keras_stability.perturbations import GaussianNoise

    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.UnitNormalization()(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    images = np.random.default_rng(0).random((32, 8, 8, 3), "float32")
    distances = feature_distances(model, images, GaussianNoise(0.02), seed=0)
    assert distances.shape == (32,) and np.all(distances > 0)
    assert np.all(feature_distances(model, images, lambda x: x) == 0)
    ```
    """
    _image_count(images)
    check_int(seed, "seed", 0, MAX_SEED)
    distortion = _resolve_distortion(distortion, value_range)
    perturbations.check_fits(distortion, _image_shape(images), "distortion")
    clean, distorted = _clean_and_distorted_embeddings(
        model, images, distortion, batch_size, seed
    )
    return _l2(clean, distorted)
