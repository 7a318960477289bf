"""How stable a classifier is: accuracy, flip rate and KL under distortions.

`robustness_report` runs a model on clean images and on distorted copies
(by default the paper's JPEG re-compression, thumbnails, shifted crops and
sensor noise; ImageNet-C's corruptions with `distortions="imagenet-c"`)
and returns flat keys such as `clean/top1`, `jpeg@10/top1`,
`jpeg@10/flip_rate` and `thumbnail@0.5/kl`.
"""

import collections.abc

import keras
import numpy as np

from keras_stability import perturbations
from keras_stability._checks import check_bool
from keras_stability._checks import check_int
from keras_stability._checks import is_int
from keras_stability._seeds import MAX_SEED
from keras_stability.evaluation._inputs import class_indices
from keras_stability.evaluation._inputs import distortion_batches
from keras_stability.evaluation._inputs import is_dataset
from keras_stability.evaluation._predictions import check_probabilities
from keras_stability.evaluation._predictions import classifier_outputs
from keras_stability.evaluation._predictions import probabilities
from keras_stability.evaluation._predictions import probability_tolerance
from keras_stability.evaluation.distort import distort_batch
from keras_stability.evaluation.families import SUITES
from keras_stability.evaluation.reports import write_report

__all__ = ["robustness_report"]


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
    flip probability) and the mean KL divergence of the distorted
    prediction from the clean one (`.../kl`). Distortion `i` of the
    dictionary makes the copies of batch `b` with
    `distort_batch(distortion, images, (seed + i, b))`, so a report is
    deterministic for a seed.

    Formula:

    ```
    flip_rate = mean_x [argmax P(y|x) != argmax P(y|x')]
    kl = mean_x sum_y P(y|x) * (log P(y|x) - log P(y|x'))
    ```

    Args:
        model: a classifier returning `(batch, classes)` probabilities or
            logits, with at least 2 classes and finite values.
        x: images (array or tensor) or a `tf.data.Dataset` of batches, either
            images or `(images, labels)`.
        y: class indices in `[0, classes)` for array `x`, shape
            `(num_images,)` or `(num_images, 1)` (integers, or floats with
            integer values; not one-hot). Defaults to `None` (no accuracy).
        distortions: dict name -> perturbation (a `Perturbation`, a layer or
            a callable on a batch), or the name of a suite: `"default"`
            (`default_distortions(value_range)`) or `"imagenet-c"`
            (`corruption_distortions(value_range)`, for
            `mean_corruption_error`). Names of the form `family@severity`
            with a number for severity (`"rotate@15"`) are plotted against
            severity by `severity_table`, `plot_robustness` and
            `mean_strongest_flip_rate`; other names (`"rotate"`,
            `"rotate@15deg"`) are reported and written all the same, but
            left out of those. Defaults to `None`, the default suite.
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
        value_range: the images' value range, for a named suite, e.g.
            `(0, 255)` for what `keras.utils.image_dataset_from_directory`
            yields. Images outside the range of any of our distortions are
            refused (see `Perturbation.check_images`): array `x` before any
            work, a dataset batch by batch. Defaults to `(0, 1)`.
        verbose: 1 shows a progress bar. Defaults to 1.
        output_dir: if given, writes `report.json`, `report.csv` and
            `robustness.png` there (see `write_report`). Defaults to `None`.

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

    Reference:
        - [Zheng et al., "Improving the Robustness of Deep Neural Networks via
          Stability Training", CVPR 2016](https://arxiv.org/abs/1604.04326)
        - [Hendrycks and Dietterich, "Benchmarking Neural Network Robustness
          to Common Corruptions and Perturbations", ICLR 2019](
          https://arxiv.org/abs/1903.12261)
    """
    check_int(seed, "seed", 0, MAX_SEED)
    if from_logits is not None:
        from_logits = check_bool(from_logits, "from_logits")
    ks = _validate_top_k(top_k)
    distortions = _suite(distortions, value_range)
    _validate_distortions(distortions)
    dataset = is_dataset(x)
    if y is not None and not dataset:
        y = class_indices(y, "`y`", "y")
    names = list(distortions)
    labelled = {f"distortions[{name!r}]": distortions[name] for name in names}
    batches = distortion_batches(
        x,
        y,
        batch_size,
        labelled,
        "to robustness_report (for a named suite) or to the distortions",
    )
    tallies = {name: _Tally() for name in ["clean", *names]}
    total = None if dataset else int(np.shape(x)[0])
    progress = keras.utils.Progbar(total, unit_name="image") if verbose else None
    for batch_index, images, labels in batches:
        raw = model.predict_on_batch(images)
        outputs = classifier_outputs(
            raw, len(images), f"batch {batch_index} of the clean images"
        )
        if tallies["clean"].count == 0:  # The first batch: classes now known.
            num_classes = outputs.shape[-1]
            ks = _top_k_for_classes(ks, top_k, num_classes)
            if from_logits is False:
                check_probabilities(outputs, probability_tolerance(raw))
            if y is not None:
                class_indices(y, "`y`", "y", num_classes)
        if dataset and labels is not None:
            labels = class_indices(
                labels,
                "The labels that `x` yields",
                f"the labels of batch {batch_index}",
                num_classes,
                count=len(images),
            )
        clean = probabilities(outputs, from_logits, probability_tolerance(raw))
        clean_top1 = clean.argmax(-1)
        tallies["clean"].add_accuracy(clean, labels, ks)
        for index, (argument, distortion) in enumerate(labelled.items()):
            copies = distort_batch(
                distortion, images, (seed + index, batch_index), argument
            )
            raw = model.predict_on_batch(copies)
            where = f"batch {batch_index} under `{argument}`"
            distorted = probabilities(
                classifier_outputs(raw, len(images), where),
                from_logits,
                probability_tolerance(raw),
            )
            tally = tallies[names[index]]
            tally.add_accuracy(distorted, labels, ks)
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


class _Tally:
    """Running sums of one condition's per-image results."""

    def __init__(self):
        self.count = 0
        self.sums = {}

    def add(self, name, values):
        self.sums[name] = self.sums.get(name, 0.0) + float(np.sum(values))

    def add_accuracy(self, probabilities, labels, top_k):
        """Adds the top-k hits for each k, when there are labels."""
        if labels is None:
            return
        labels = np.asarray(labels).reshape(-1)
        ranked = np.argsort(-probabilities, axis=-1, kind="stable")
        for k in top_k:
            self.add(f"top{k}", (ranked[:, :k] == labels[:, None]).any(-1))

    def means(self):
        return {name: total / self.count for name, total in self.sums.items()}


def _kl(p, q):
    eps = keras.config.epsilon()
    p = np.clip(p, eps, 1.0)
    q = np.clip(q, eps, 1.0)
    return (p * (np.log(p) - np.log(q))).sum(-1)


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


def _suite(distortions, value_range):
    """`distortions`, or the suite it names (`None`: the default suite)."""
    name = "default" if distortions is None else distortions
    if not isinstance(name, str):
        return distortions
    if name not in SUITES:
        raise ValueError(
            "`distortions` must be a dict name -> perturbation, None or the "
            f"name of a suite, one of {tuple(SUITES)}. "
            f"Received: distortions={distortions!r}"
        )
    return SUITES[name](value_range)


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
