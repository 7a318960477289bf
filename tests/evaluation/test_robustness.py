"""robustness_report on models whose predictions can be counted by hand.

Error tests match the argument and the value received, not the wording.
"""

import json
import re

import keras
import numpy as np
import pytest

from keras_stability import evaluation
from keras_stability import perturbations
from keras_stability._seeds import StepSeed
from keras_stability.evaluation import robustness

TESTED = robustness


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
    assert report["reverse@1/top2"] == pytest.approx(
        np.mean(flat[:, ::-1].argmin(-1) != y)
    )
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
    # The suite of None is the one named "default", number for number.
    again = evaluation.robustness_report(
        model, x, y, batch_size=8, verbose=0, distortions="default"
    )
    assert again == report
    # Another seed draws other noise: shown on the one condition alone (the
    # other 13 would compile again on JAX for nothing).
    noise = {"noise@0.08": evaluation.default_distortions()["noise@0.08"]}
    same_seed, other_seed = (
        evaluation.robustness_report(
            model, x, y, distortions=noise, batch_size=8, verbose=0, seed=seed
        )
        for seed in (0, 1)
    )
    assert other_seed["noise@0.08/kl"] != same_seed["noise@0.08/kl"]
    written = json.loads((tmp_path / "report.json").read_text())
    assert written == pytest.approx(report)
    rows = (tmp_path / "report.csv").read_text().splitlines()
    assert rows[0] == "model,condition,metric,value"
    assert len(rows) == 1 + len(expected) - 1  # every key but num_images
    assert (tmp_path / "robustness.png").stat().st_size > 10_000


@pytest.mark.skipif(
    keras.backend.backend() == "jax",
    reason="compiling the 55 distortions with XLA takes about a minute; each "
    "layer's jax.jit is tested in tests/perturbations/test_corruptions.py",
)
def test_the_imagenet_c_suite_reports_every_corruption_and_level(rng):
    x = rng.random((4, 16, 16, 3)).astype("float32")
    y = rng.integers(0, 10, 4)
    inputs = keras.Input((16, 16, 3))
    outputs = keras.layers.Dense(10, activation="softmax")(
        keras.layers.Flatten()(inputs)
    )
    report = evaluation.robustness_report(
        keras.Model(inputs, outputs), x, y, distortions="imagenet-c", verbose=0
    )
    conditions = {key.rsplit("/", 1)[0] for key in report if "/" in key}
    assert conditions == {"clean"} | {
        f"{family}@{level}"
        for family in evaluation.CORRUPTION_FAMILIES
        for level in (1, 2, 3, 4, 5)
    }
    assert len(conditions) == 1 + 11 * 5
    assert all(f"{c}/flip_rate" in report for c in conditions - {"clean"})


def test_an_unknown_suite_is_refused(pixels):
    x, y = pixels
    with pytest.raises(
        ValueError, match=r"`distortions`.*'imagenet-c'.*Received: distortions='c'$"
    ):
        evaluation.robustness_report(
            _pixel_classifier(), x, y, distortions="c", verbose=0
        )


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


def test_errors(pixels):
    x, y = pixels
    model = _pixel_classifier()
    with pytest.raises(ValueError, match=r"`top_k`.*Received: top_k=\(0,\)"):
        evaluation.robustness_report(model, x, y, top_k=(0,), verbose=0)
    with pytest.raises(ValueError, match=r"`y`.*10 images, 3 labels"):
        evaluation.robustness_report(
            model, x, y[:3], distortions={"r@1": reverse}, verbose=0
        )
    with pytest.raises(
        ValueError, match=r"\[\(10, 1, 3, 1\)\] into \[\(10, 1, 2, 1\)\]"
    ):
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
        match=rf"`batch_size`.*Received: batch_size={batch_size!r}$",
    ):
        evaluation.robustness_report(
            model, x, y, distortions={"r@1": reverse}, batch_size=batch_size, verbose=0
        )
    assert model.calls == 0


@pytest.mark.parametrize("seed", [-1, True, 2.5, None, "0", 2**31, 2**32])
def test_seed_is_checked_before_any_work(pixels, seed):
    x, y = pixels
    model = _CountingModel(_pixel_classifier())
    with pytest.raises(
        ValueError,
        match=r"`seed`.*\[0, 2147483647\].*Received: seed="
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
        match=r"`top_k`.*Received: top_k=" + re.escape(repr(top_k)) + "$",
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
            match=r"`top_k`.*number of classes \(3\).*Received: top_k="
            + re.escape(repr(top_k)),
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
            r"`distortions\['x'\]`.*Received: distortions\['x'\]=3$",
        ),
        (
            {},
            r"`distortions`.*at least one.*Received: distortions=\{\}$",
        ),
        (
            [reverse],
            r"`distortions`.*dict.*Received: distortions=\[<function reverse",
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


def test_docstring_example_runs(public_function, run_example):
    run_example(public_function)


def test_the_largest_seed_is_taken(pixels):
    x, y = pixels
    distortions = {"noise@0.1": perturbations.GaussianNoise(0.1)}
    report = evaluation.robustness_report(
        _pixel_classifier(), x, y, distortions=distortions, seed=2**31 - 1, verbose=0
    )
    assert report["num_images"] == 10


def _linear_softmax(image_shape, kernel, bias):
    """Flatten + Dense softmax with the given weights."""
    inputs = keras.Input(image_shape)
    dense = keras.layers.Dense(kernel.shape[1], activation="softmax")
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.set_weights([kernel, bias])
    return model


def test_each_batch_and_distortion_draws_its_own_seed(rng):
    # Distortion `index` on batch `b` draws from StepSeed([seed + index, b]):
    # redone here in NumPy, batch by batch, with the model's weights.
    x = rng.random((12, 3, 3, 1)).astype("float32")
    y = rng.integers(0, 3, 12)
    kernel = rng.normal(size=(9, 3)).astype("float32") * 3
    bias = rng.normal(size=3).astype("float32")
    model = _linear_softmax((3, 3, 1), kernel, bias)
    distortions = {
        "noise@0.3": perturbations.GaussianNoise(0.3),
        "crop@1": perturbations.RandomCropOffset(1),
    }
    seed = 3
    report = evaluation.robustness_report(
        model, x, y, distortions=distortions, batch_size=4, seed=seed, verbose=0
    )

    def probabilities(images):
        flat = np.asarray(images, "float64").reshape(len(images), -1)
        return _np_softmax(flat @ kernel.astype("float64") + bias)

    clean = probabilities(x)
    assert report["clean/top1"] == pytest.approx(np.mean(clean.argmax(-1) == y))
    for index, (name, distortion) in enumerate(distortions.items()):
        copies = []
        for batch_index, start in enumerate(range(0, 12, 4)):
            step_seed = StepSeed(np.array([seed + index, batch_index]))
            copies.append(
                keras.ops.convert_to_numpy(
                    distortion(x[start : start + 4], training=True, seed=step_seed)
                )
            )
        distorted = probabilities(np.concatenate(copies))
        kl = (clean * (np.log(clean) - np.log(distorted))).sum(-1)
        assert report[f"{name}/top1"] == pytest.approx(
            np.mean(distorted.argmax(-1) == y)
        )
        assert report[f"{name}/flip_rate"] == pytest.approx(
            np.mean(distorted.argmax(-1) != clean.argmax(-1))
        )
        assert report[f"{name}/kl"] == pytest.approx(np.mean(kl), rel=1e-4)
        assert report[f"{name}/kl"] > 1e-3, name  # the copies differ


class _FunctionModel:
    """A 'model' whose `predict_on_batch` is a function of the images."""

    def __init__(self, function):
        self.function, self.calls = function, 0

    def predict_on_batch(self, images):
        self.calls += 1
        return self.function(np.asarray(images))


@pytest.mark.parametrize("from_logits", ["no", 1, 0, "True", 1.0])
def test_from_logits_must_be_a_bool(pixels, from_logits):
    x, y = pixels
    model = _CountingModel(_pixel_classifier())
    with pytest.raises(
        ValueError,
        match=r"`from_logits`.*Received: from_logits=" + re.escape(repr(from_logits)),
    ):
        evaluation.robustness_report(
            model, x, y, distortions={"r@1": reverse}, from_logits=from_logits
        )
    assert model.calls == 0


def test_from_logits_false_needs_probabilities():
    # Logits 10 * pixels: rows [1, 5, 2] and [3, 0, 4], summing to 8 and 7.
    x = np.array([[0.1, 0.5, 0.2], [0.3, 0.0, 0.4]], "float32").reshape(2, 1, 3, 1)
    inputs = keras.Input((1, 3, 1))
    logits_model = keras.Model(
        inputs, keras.layers.Rescaling(10.0)(keras.layers.Flatten()(inputs))
    )
    with pytest.raises(
        ValueError,
        # What was seen (the range of values, the worst row's sum) and the fix.
        match=r"`from_logits=False`.*within 0\.001.*values in \[0, 5\].*summing "
        r"to 8\..*from_logits=True",
    ):
        evaluation.robustness_report(
            logits_model, x, distortions={"r@1": reverse}, from_logits=False
        )
    # Sigmoids: in [0, 1] but rows do not sum to 1.
    sigmoids = _FunctionModel(lambda images: np.full((len(images), 3), 0.5))
    with pytest.raises(ValueError, match=r"and a row summing to 1\.5\. Pass"):
        evaluation.robustness_report(
            sigmoids, x, distortions={"r@1": reverse}, from_logits=False, verbose=0
        )
    # Probabilities pass, and give what detection gives.
    common = dict(distortions={"r@1": reverse}, verbose=0)
    stated = evaluation.robustness_report(
        _pixel_classifier(), x, from_logits=False, **common
    )
    assert stated == evaluation.robustness_report(_pixel_classifier(), x, **common)
    # Logits with from_logits=True give the same report.
    assert evaluation.robustness_report(
        logits_model, x, from_logits=True, **common
    ) == pytest.approx(stated, rel=1e-6)


def test_sixteen_bit_probabilities_get_a_wider_tolerance():
    # 0.3 + 0.3 + 0.405 in float16 sums to 1.0049...: probabilities within
    # float16 rounding, but not within float32's 1e-3.
    rows = np.array([[0.3, 0.3, 0.405], [0.405, 0.3, 0.3]])
    x = np.zeros((2, 1, 3, 1), "float32")
    half = _FunctionModel(lambda images: rows.astype("float16"))
    report = evaluation.robustness_report(
        half, x, np.array([2, 0]), distortions={"r@1": reverse}, verbose=0
    )
    # Detected as probabilities (not softmaxed again): KL 0, top-1 right.
    assert report["clean/top1"] == 1.0 and report["r@1/kl"] == 0.0
    evaluation.robustness_report(
        half, x, distortions={"r@1": reverse}, from_logits=False, verbose=0
    )
    single = _FunctionModel(lambda images: rows.astype("float32"))
    with pytest.raises(ValueError, match=r"rows summing to 1 within 0\.001\)"):
        evaluation.robustness_report(
            single, x, distortions={"r@1": reverse}, from_logits=False, verbose=0
        )


def _one_output_model():
    inputs = keras.Input((1, 3, 1))
    dense = keras.layers.Dense(1, activation="sigmoid")
    return keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))


@pytest.mark.parametrize(
    "make_model, distortion, batch_size, message",
    [
        # Two classes at least, one row per image, finite values; the error
        # says which call returned them.
        (
            _one_output_model,
            reverse,
            4,
            r"\(batch, classes\).*Received output shape \(4, 1\) for batch 0 of "
            r"the clean images",
        ),
        (
            lambda: _FunctionModel(lambda images: np.full((1, 3), 1 / 3)),
            reverse,
            128,
            r"one row per image: 10 images in batch 0.*output shape \(1, 3\)",
        ),
        (
            lambda: _FunctionModel(lambda images: np.full((len(images), 3), np.nan)),
            reverse,
            4,
            r"non-finite outputs \(12 NaN or inf values\) for batch 0 of the clean "
            r"images",
        ),
        (
            _pixel_classifier,
            lambda images: images * np.nan,
            128,
            r"non-finite outputs \(30 NaN or inf values\) for batch 0 under "
            r"`distortions\['d@1'\]`",
        ),
    ],
    ids=["one_class", "one_row", "nan_clean", "nan_distorted"],
)
def test_bad_model_outputs_are_refused(
    pixels, make_model, distortion, batch_size, message
):
    x, y = pixels
    with pytest.raises(ValueError, match=message):
        evaluation.robustness_report(
            make_model(),
            x,
            y,
            distortions={"d@1": distortion},
            batch_size=batch_size,
            verbose=0,
        )


def _label_cases(y):
    """(labels, what the error must say, model calls before it)."""
    negative = y.copy()
    negative[4] = -1
    return [
        (y + 10, r"`y`.*\[0, 3\).*Received: y holding " + str(int(y[0]) + 10), 1),
        (negative, r"`y`.*>= 0.*Received: y holding -1", 0),
        (y + 0.5, r"`y`.*integer.*Received: y holding " + repr(float(y[0]) + 0.5), 0),
        (np.where(y == 1, np.nan, y.astype("float32")), r"`y`.*integer.*Received: "
         r"y holding nan", 0),
        (np.array(["a"] * 10), r"`y`.*integer.*Received: y of dtype <U1", 0),
        (y == 1, r"`y`.*integer.*Received: y of dtype bool", 0),
        (np.eye(3)[y], r"`y`.*one class index per image.*argmax.*Received: y of "
         r"shape \(10, 3\)", 0),
        (3, r"`y`.*one class index per image.*Received: y of shape \(\)", 0),
    ]  # fmt: skip


def test_labels_must_be_class_indices(pixels):
    x, y = pixels
    for labels, message, calls in _label_cases(y):
        model = _CountingModel(_pixel_classifier())
        with pytest.raises(ValueError, match=message):
            evaluation.robustness_report(
                model, x, labels, distortions={"r@1": reverse}, verbose=0
            )
        # Only the upper bound waits for the first batch to tell the classes.
        assert model.calls == calls, message


def test_labels_as_a_column_or_integral_floats_are_class_indices(pixels):
    x, y = pixels
    common = dict(distortions={"r@1": reverse}, top_k=(1, 2), verbose=0)
    report = evaluation.robustness_report(_pixel_classifier(), x, y, **common)
    for labels in (y[:, None], y.astype("float32"), list(y)):
        assert (
            evaluation.robustness_report(_pixel_classifier(), x, labels, **common)
            == report
        )


@pytest.mark.tensorflow
def test_labels_of_a_dataset_are_checked_per_batch(pixels):
    import tensorflow as tf

    x, y = pixels
    late = y.copy()
    late[9] = 3
    cases = [
        (
            np.eye(3)[y],
            r"labels that `x` yields.*argmax.*Received: the labels of batch 0 "
            r"of shape \(4, 3\)",
        ),
        (
            late,
            r"labels that `x` yields.*\[0, 3\).*Received: the labels of batch 2 "
            r"holding 3",
        ),
    ]
    for labels, message in cases:
        dataset = tf.data.Dataset.from_tensor_slices((x, labels)).batch(4)
        with pytest.raises(ValueError, match=message):
            evaluation.robustness_report(
                _pixel_classifier(), dataset, distortions={"r@1": reverse}, verbose=0
            )


def test_crop_larger_than_the_images_is_refused_before_any_work(rng):
    x = rng.random((4, 8, 8, 1)).astype("float32")
    model = _CountingModel(_linear_softmax((8, 8, 1), np.zeros((64, 3)), np.zeros(3)))
    with pytest.raises(
        ValueError,
        match=r"`distortions\['crop@10'\]` cannot apply to images of shape "
        r"\(4, 8, 8, 1\).*Received: max_offset=10",
    ):
        evaluation.robustness_report(model, x, verbose=0)  # the default suite
    assert model.calls == 0


def test_a_failing_distortion_is_named(pixels):
    x, y = pixels

    def boom(images):
        raise ValueError("boom")

    with pytest.raises(
        ValueError,
        match=r"`distortions\['boom@1'\]` failed on images of shape "
        r"\(10, 1, 3, 1\): boom$",
    ) as error:
        evaluation.robustness_report(
            _pixel_classifier(), x, y, distortions={"boom@1": boom}, verbose=0
        )
    assert str(error.value.__cause__) == "boom"
    with pytest.raises(
        ValueError,
        match=r"`distortions\['list@1'\]` failed on images of shape "
        r"\(10, 1, 3, 1\):.*returned list",
    ):
        evaluation.robustness_report(
            _pixel_classifier(),
            x,
            y,
            distortions={"list@1": lambda images: list(images)},
            verbose=0,
        )


@pytest.mark.tensorflow
def test_a_crop_on_images_of_unknown_size_fails_naming_it(rng):
    # The dataset does not tell the image size up front, so the crop fails
    # inside tf.function; the error still names it, on one line.
    import tensorflow as tf

    x = rng.random((6, 8, 8, 1)).astype("float32")
    dataset = tf.data.Dataset.from_generator(
        lambda: iter([x]), output_signature=tf.TensorSpec((None, None, None, 1))
    )
    inputs = keras.Input((None, None, 1))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(pooled))
    with pytest.raises(
        ValueError,
        match=r"`distortions\['crop@10'\]` failed on images of shape "
        r"\(6, 8, 8, 1\):.*Received: max_offset=10 for images of height=8",
    ) as error:
        evaluation.robustness_report(
            model,
            dataset,
            distortions={"crop@10": perturbations.RandomCropOffset(10)},
            verbose=0,
        )
    assert "\n" not in str(error.value)  # the gist of the traced error


def test_images_outside_the_value_range_are_refused_before_any_work(rng):
    calls = []

    class Counting(keras.Model):
        def predict_on_batch(self, x):
            calls.append(len(x))
            return super().predict_on_batch(x)

    inputs = keras.Input((16, 16, 1))
    outputs = keras.layers.Dense(3, activation="softmax")(
        keras.layers.Flatten()(inputs)
    )
    model = Counting(inputs, outputs)
    levels = (rng.random((8, 16, 16, 1)) * 255).astype("float32")
    y = np.arange(8) % 3
    # 8-bit levels against the default (0, 1): the range seen and the fix.
    with pytest.raises(
        ValueError, match=r"values in \[.*, 25\d\.\d+\].*value_range=\(0, 255\)"
    ):
        evaluation.robustness_report(model, levels, y, verbose=0)
    assert calls == []
    # Told the range, the same images pass, and the JPEG suite keeps them on
    # their 0..255 scale (a wrong range would give near-white images).
    suite = {"jpeg@10": evaluation.default_distortions((0, 255))["jpeg@10"]}
    report = evaluation.robustness_report(
        model, levels, y, distortions=suite, value_range=(0, 255), verbose=0
    )
    assert report["num_images"] == 8
    # A custom distortion's own range is what counts.
    noise = {"noise@0.1": perturbations.GaussianNoise(0.1, value_range=(-1, 1))}
    with pytest.raises(ValueError, match=r"distortions\['noise@0.1'\].*\(-1, 1\)"):
        evaluation.robustness_report(model, levels / 127.5, y, distortions=noise)
    # Slack of a tenth of the width passes (resampling overshoot).
    evaluation.robustness_report(
        model, levels / 255 * 1.05, y, distortions=noise, verbose=0
    )


@pytest.mark.tensorflow
def test_dataset_batches_outside_the_value_range_are_refused(rng):
    import tensorflow as tf

    model = _tiny_cnn()
    images = (rng.random((6, 32, 32, 1)) * 255).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((images, np.arange(6))).batch(3)
    with pytest.raises(ValueError, match=r"outside its value_range=\(0, 1\)"):
        evaluation.robustness_report(model, dataset, verbose=0)
