"""robustness_report on models whose predictions can be counted by hand."""

import json
import re

import keras
import numpy as np
import pytest

from keras_stability import evaluation
from keras_stability import perturbations


def _pixel_classifier():
    """Class j = the brightest of three pixels: softmax(10 * pixels)."""
    inputs = keras.Input((1, 3, 1))
    logits = keras.layers.Rescaling(10.0)(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Softmax()(logits))


def _np_softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def reverse(images):
    return images[:, :, ::-1, :]


@pytest.fixture
def pixels(rng):
    x = rng.random((10, 1, 3, 1)).astype("float32")
    y = x.reshape(10, 3).argmax(-1)
    y[:3] = (y[:3] + 1) % 3  # three wrong labels: clean top-1 is 0.7
    return x, y


def test_counts_match_a_hand_count(pixels):
    x, y = pixels
    report = evaluation.robustness_report(
        _pixel_classifier(),
        x,
        y,
        distortions={"reverse@1": reverse},
        top_k=(1, 2),
        batch_size=4,
        verbose=0,
    )
    flat = x.reshape(10, 3).astype("float64")
    clean_class = flat.argmax(-1)
    reversed_class = flat[:, ::-1].argmax(-1)
    assert report["num_images"] == 10
    assert report["clean/top1"] == pytest.approx(0.7)
    assert report["reverse@1/top1"] == pytest.approx(np.mean(reversed_class == y))
    assert report["reverse@1/flip_rate"] == pytest.approx(
        np.mean(reversed_class != clean_class)
    )
    # Top-2 by hand: the label is not the smallest pixel.
    assert report["clean/top2"] == pytest.approx(np.mean(flat.argmin(-1) != y))
    p, q = _np_softmax(10 * flat), _np_softmax(10 * flat[:, ::-1])
    assert report["reverse@1/kl"] == pytest.approx(
        np.mean((p * (np.log(p) - np.log(q))).sum(-1)), rel=1e-4
    )


def test_logits_are_detected_and_softmaxed(pixels):
    x, y = pixels
    inputs = keras.Input((1, 3, 1))
    logits_model = keras.Model(
        inputs, keras.layers.Rescaling(10.0)(keras.layers.Flatten()(inputs))
    )
    common = dict(distortions={"reverse@1": reverse}, verbose=0)
    from_logits = evaluation.robustness_report(logits_model, x, y, **common)
    from_probabilities = evaluation.robustness_report(
        _pixel_classifier(), x, y, **common
    )
    for key, value in from_probabilities.items():
        assert from_logits[key] == pytest.approx(value, rel=1e-5), key


def test_identity_distortion_flips_nothing(pixels):
    x, y = pixels
    report = evaluation.robustness_report(
        _pixel_classifier(),
        x,
        y,
        distortions={"thumbnail@1.0": perturbations.ThumbnailResize(scale=1.0)},
        verbose=0,
    )
    assert report["thumbnail@1.0/flip_rate"] == 0.0
    assert report["thumbnail@1.0/kl"] == pytest.approx(0.0, abs=1e-9)
    assert report["thumbnail@1.0/top1"] == report["clean/top1"]


def _tiny_cnn(channels=1):
    inputs = keras.Input((32, 32, channels))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


def test_default_suite_keys_and_determinism(rng, tmp_path):
    x = rng.random((20, 32, 32, 1)).astype("float32")
    y = rng.integers(0, 10, 20)
    model = _tiny_cnn()
    report = evaluation.robustness_report(
        model, x, y, batch_size=8, verbose=0, output_dir=tmp_path
    )
    expected_conditions = (
        [f"jpeg@{q}" for q in (10, 30, 50, 70, 90)]
        + [f"thumbnail@{s}" for s in (0.25, 0.5, 0.75)]
        + [f"crop@{o}" for o in (2, 5, 10)]
        + [f"noise@{s}" for s in (0.02, 0.04, 0.08)]
    )
    expected = {"num_images", "clean/top1", "clean/top5"}
    for condition in expected_conditions:
        expected |= {f"{condition}/{m}" for m in ("top1", "top5", "flip_rate", "kl")}
    assert set(report) == expected
    again = evaluation.robustness_report(model, x, y, batch_size=8, verbose=0)
    assert again == report
    other_seed = evaluation.robustness_report(
        model, x, y, batch_size=8, verbose=0, seed=1
    )
    assert other_seed["noise@0.08/kl"] != report["noise@0.08/kl"]
    written = json.loads((tmp_path / "report.json").read_text())
    assert written == pytest.approx(report)
    rows = (tmp_path / "report.csv").read_text().splitlines()
    assert rows[0] == "model,condition,metric,value"
    assert len(rows) == 1 + len(expected) - 1  # every key but num_images
    assert (tmp_path / "robustness.png").stat().st_size > 10_000


@pytest.mark.tensorflow
def test_dataset_input_equals_array_input(rng):
    import tensorflow as tf

    x = rng.random((12, 32, 32, 1)).astype("float32")
    y = rng.integers(0, 10, 12)
    model = _tiny_cnn()
    distortions = {
        "noise@0.04": perturbations.GaussianNoise(0.04),
        "thumbnail@0.5": perturbations.ThumbnailResize(scale=0.5),
    }
    from_arrays = evaluation.robustness_report(
        model, x, y, distortions=distortions, batch_size=5, verbose=0
    )
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(5)
    from_dataset = evaluation.robustness_report(
        model, dataset, distortions=distortions, verbose=0
    )
    assert from_dataset == pytest.approx(from_arrays)


def test_mean_strongest_flip_rate_and_table():
    report = {
        "clean/top1": 0.9,
        "jpeg@10/flip_rate": 0.4,
        "jpeg@90/flip_rate": 0.0,
        "thumbnail@0.25/flip_rate": 0.2,
        "thumbnail@0.75/flip_rate": 0.1,
        "crop@2/flip_rate": 0.0,
        "crop@10/flip_rate": 0.3,
        "noise@0.02/flip_rate": 0.05,
        "noise@0.08/flip_rate": 0.1,
    }
    assert evaluation.mean_strongest_flip_rate(report) == pytest.approx(
        (0.4 + 0.2 + 0.3 + 0.1) / 4
    )
    table = evaluation.format_report({"a": report, "b": report}, metrics=("flip_rate",))
    lines = table.splitlines()
    assert lines[0].split() == ["condition", "flip_rate:a", "flip_rate:b"]
    assert any(line.split() == ["jpeg@10", "0.4000", "0.4000"] for line in lines)


def test_errors(pixels):
    x, y = pixels
    model = _pixel_classifier()
    with pytest.raises(
        ValueError, match=r"`top_k` must hold ints >= 1. Received: top_k=\(0,\)"
    ):
        evaluation.robustness_report(model, x, y, top_k=(0,), verbose=0)
    with pytest.raises(ValueError, match="one label per image: 10 images, 3 labels"):
        evaluation.robustness_report(
            model, x, y[:3], distortions={"r@1": reverse}, verbose=0
        )
    with pytest.raises(ValueError, match=r"must keep the images' shape"):
        evaluation.robustness_report(
            model, x, y, distortions={"bad@1": lambda t: t[:, :, :2]}, verbose=0
        )
    with pytest.raises(ValueError, match="received no images"):
        evaluation.robustness_report(
            model, x[:0], y[:0], distortions={"r@1": reverse}, verbose=0
        )
    inputs = keras.Input((1, 3, 1))
    with pytest.raises(ValueError, match=r"output has shape \(batch, classes\)"):
        evaluation.robustness_report(
            keras.Model(inputs, inputs), x, distortions={"r@1": reverse}, verbose=0
        )


class _CountingModel:
    """Wraps a model and counts its `predict_on_batch` calls."""

    def __init__(self, model):
        self.model, self.calls = model, 0

    def predict_on_batch(self, images):
        self.calls += 1
        return self.model.predict_on_batch(images)


@pytest.mark.parametrize("batch_size", [0, -1, True, 2.5, None])
def test_batch_size_is_checked_before_any_work(pixels, batch_size):
    x, y = pixels
    model = _CountingModel(_pixel_classifier())
    with pytest.raises(
        ValueError,
        match=rf"`batch_size` must be an int >= 1. Received: batch_size={batch_size!r}$",
    ):
        evaluation.robustness_report(
            model, x, y, distortions={"r@1": reverse}, batch_size=batch_size, verbose=0
        )
    assert model.calls == 0


@pytest.mark.parametrize("seed", [-1, True, 2.5, None, "0"])
def test_seed_is_checked_before_any_work(pixels, seed):
    x, y = pixels
    model = _CountingModel(_pixel_classifier())
    with pytest.raises(
        ValueError,
        match=r"`seed` must be an int >= 0. Received: seed="
        + re.escape(repr(seed))
        + "$",
    ):
        evaluation.robustness_report(
            model, x, y, distortions={"r@1": reverse}, seed=seed, verbose=0
        )
    assert model.calls == 0


@pytest.mark.parametrize("top_k", [True, (1, False), (), "1", 1.0, (0,)])
def test_top_k_must_be_ints(pixels, top_k):
    x, y = pixels
    with pytest.raises(
        ValueError,
        match=r"`top_k` must hold ints >= 1. Received: top_k=" + re.escape(repr(top_k)),
    ):
        evaluation.robustness_report(
            _pixel_classifier(), x, y, distortions={"r@1": reverse}, top_k=top_k
        )


def test_top_k_beyond_the_classes_is_refused(pixels):
    x, y = pixels
    for top_k in ((5,), 4, (1, 3, 4)):
        model = _CountingModel(_pixel_classifier())  # 3 classes
        with pytest.raises(
            ValueError,
            match=r"`top_k` must not exceed the model's number of classes \(3\). "
            r"Received: top_k=" + re.escape(repr(top_k)),
        ):
            evaluation.robustness_report(
                model, x, y, distortions={"r@1": reverse}, top_k=top_k, verbose=0
            )
        assert model.calls == 1  # the clean batch that told the classes
    # k equal to the number of classes is allowed: every label is in the top 3.
    report = evaluation.robustness_report(
        _pixel_classifier(), x, y, distortions={"r@1": reverse}, top_k=3, verbose=0
    )
    assert report["clean/top3"] == 1.0 and "clean/top1" not in report


def test_default_top_k_leaves_out_top5_below_five_classes(pixels):
    x, y = pixels
    report = evaluation.robustness_report(
        _pixel_classifier(), x, y, distortions={"r@1": reverse}, verbose=0
    )
    assert sorted(report) == [
        "clean/top1",
        "num_images",
        "r@1/flip_rate",
        "r@1/kl",
        "r@1/top1",
    ]
    assert report["clean/top1"] == pytest.approx(0.7)


def test_distortions_are_checked_before_any_work(pixels):
    x, y = pixels
    cases = [
        (
            {"x": 3},
            r"`distortions\['x'\]` must be a perturbation, a layer or a "
            r"callable. Received: distortions\['x'\]=3",
        ),
        (
            {},
            r"`distortions` must name at least one distortion. "
            r"Received: distortions=\{\}",
        ),
        (
            [reverse],
            r"`distortions` must be a dict name -> perturbation. "
            r"Received: distortions=\[<function reverse",
        ),
    ]
    for distortions, message in cases:
        model = _CountingModel(_pixel_classifier())
        with pytest.raises(ValueError, match=message):
            evaluation.robustness_report(
                model, x, y, distortions=distortions, verbose=0
            )
        assert model.calls == 0


def test_non_numeric_severities_are_reported_but_not_plotted(pixels, tmp_path):
    x, y = pixels
    distortions = {
        "rot@15deg": reverse,
        "reverse": reverse,
        "flip@nan": reverse,
        "reverse@1": reverse,
    }
    report = evaluation.robustness_report(
        _pixel_classifier(),
        x,
        y,
        distortions=distortions,
        verbose=0,
        output_dir=tmp_path,
    )
    flat = x.reshape(10, 3)
    expected_flip = np.mean(flat[:, ::-1].argmax(-1) != flat.argmax(-1))
    for name in distortions:
        assert report[f"{name}/flip_rate"] == pytest.approx(expected_flip), name
    written = json.loads((tmp_path / "report.json").read_text())
    assert written == pytest.approx(report)
    assert (tmp_path / "robustness.png").stat().st_size > 10_000
    table = evaluation.severity_table(report)
    assert list(table) == ["reverse"]
    assert table["reverse"]["flip_rate"] == [(1.0, report["reverse@1/flip_rate"])]
    # Without any numeric severity: the files but no plot.
    only_names = tmp_path / "names"
    evaluation.robustness_report(
        _pixel_classifier(),
        x,
        y,
        distortions={"rot@15deg": reverse},
        verbose=0,
        output_dir=only_names,
    )
    assert sorted(p.name for p in only_names.iterdir()) == [
        "report.csv",
        "report.json",
    ]


def test_severity_table_sorts_numeric_severities():
    report = {
        "num_images": 4,
        "clean/top1": 0.5,
        "jpeg@90/kl": 0.1,
        "jpeg@10/kl": 0.7,
        "jpeg@1e1x/kl": 0.3,
        "crop@2/flip_rate": 0.25,
    }
    assert evaluation.severity_table(report) == {
        "jpeg": {"kl": [(10.0, 0.7), (90.0, 0.1)]},
        "crop": {"flip_rate": [(2.0, 0.25)]},
    }


def test_mean_strongest_flip_rate_needs_a_severity():
    for report in (
        {"num_images": 3, "clean/top1": 1.0, "reverse/flip_rate": 0.5},
        {"num_images": 3, "rot@15deg/flip_rate": 0.5, "jpeg@10/kl": 0.1},
    ):
        with pytest.raises(
            ValueError,
            match=r"^The report has no `family@severity/flip_rate` entries with a "
            r"numeric severity\.$",
        ):
            evaluation.mean_strongest_flip_rate(report)


@pytest.mark.parametrize(
    "name",
    [
        "default_distortions",
        "feature_distances",
        "format_report",
        "near_duplicate_pr",
        "negative_partners",
        "precision_recall_curve",
        "robustness_report",
        "write_csv",
        "write_report",
    ],
)
def test_docstring_example_runs(name, run_example):
    run_example(getattr(evaluation, name))
