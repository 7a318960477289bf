"""The `keras-stability` command line, end to end on tiny configurations."""

import csv
import json
import os

import keras
import numpy as np
import pytest

from keras_stability import cli

# The demo and `evaluate` on a .keras file run on every backend (the default
# suite takes the dct JPEG where libjpeg is not there); SavedModels need
# TensorFlow.


def _write_image_folder(root, rng, size=(32, 32), classes=("cat", "dog"), count=6):
    for index, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(count):
            image = rng.random((*size, 3)) * 0.3 + 0.6 * index
            keras.utils.save_img(folder / f"{i}.png", (image * 255).astype("uint8"))
    return root


def _small_classifier(path, channels=3):
    inputs = keras.Input((32, 32, channels))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    model.save(path)
    return model


# The demo's code on other data: every backend runs the demo end to end in
# `test_demo_quick_end_to_end`; these run once, on TensorFlow, to keep CI short.
_ONCE = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="backend-independent demo code, run once (on TensorFlow)",
)


def test_demo_quick_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    status = cli.main(["demo", "--quick", "--epochs", "1", "--output", str(out)])
    assert status == 0
    report = json.loads((out / "report.json").read_text())
    assert set(report) == {"models", "spreads", "config"}
    assert set(report["models"]) == {"baseline", "augmentation", "stability"}
    config = report["config"]
    assert config["max_epochs"] == 1 and config["seeds"] == 1
    assert config["patience"] is None and config["best_epochs"]["stability"] == [1]
    assert "photographs" in config["data"] and config["train_images"] == 2000
    assert config["test_images"] == 200
    assert (out / "robustness.png").stat().st_size > 10_000
    with open(out / "report.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["model", "condition", "metric", "value", "std"]
    written = {(m, f"{c}/{k}"): (float(v), float(s)) for m, c, k, v, s in rows[1:]}
    printed = capsys.readouterr().out
    for name, model_report in report["models"].items():
        keys = set(model_report) - {"num_images"}
        assert {key for model, key in written if model == name} == keys
        assert set(report["spreads"][name]) == set(model_report)
        for key in keys:
            # The CSV holds the JSON's numbers; one seed has no spread.
            assert written[name, key] == (model_report[key], 0.0), (name, key)
            assert report["spreads"][name][key] == 0.0
        # An accuracy or flip rate counts images out of 200.
        for key in ("clean/top1", "jpeg@10/top1", "jpeg@10/flip_rate"):
            count = model_report[key] * 200
            assert count == pytest.approx(round(count), abs=1e-9), (name, key)
        # The printed summary shows the written clean accuracy.
        assert f"{name:>12}: clean top-1 {model_report['clean/top1']:.4f}" in printed
    assert "thumbnail@0.5/kl" in report["models"]["stability"]


def test_evaluate_a_saved_model(tmp_path, rng, capsys):
    data = _write_image_folder(tmp_path / "images", rng)
    model_path = tmp_path / "model.keras"
    _small_classifier(model_path)
    out = tmp_path / "report"
    status = cli.main(
        ["evaluate", str(model_path), "--data", str(data), "--output", str(out)]
    )
    assert status == 0
    report = json.loads((out / "report.json").read_text())
    assert report["num_images"] == 12
    assert "crop@10/flip_rate" in report
    assert "12 images, 2 classes" in capsys.readouterr().out


@pytest.mark.tensorflow
def test_evaluate_an_exported_saved_model(tmp_path, rng, capsys):
    data = _write_image_folder(tmp_path / "images", rng)
    model = _small_classifier(tmp_path / "model.keras")
    model.export(str(tmp_path / "exported"), verbose=False)
    assert cli.main(["evaluate", str(tmp_path / "exported"), "--data", str(data)]) == 0
    keras_status = cli.main(
        ["evaluate", str(tmp_path / "model.keras"), "--data", str(data)]
    )
    assert keras_status == 0
    printed = capsys.readouterr().out.strip().splitlines()
    summaries = [line for line in printed if line.startswith("12 images")]
    assert len(summaries) == 2 and summaries[0] == summaries[1]


@pytest.mark.tensorflow  # Keras exports ONNX through tf2onnx
def test_evaluate_an_onnx_file(tmp_path, rng, capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    data = _write_image_folder(tmp_path / "images", rng)
    model = _small_classifier(tmp_path / "model.keras")
    model.predict(np.zeros((1, 32, 32, 3), "float32"), verbose=0)  # export needs a call
    model.export(str(tmp_path / "model.onnx"), format="onnx", verbose=False)
    for path in ("model.onnx", "model.keras"):
        assert cli.main(["evaluate", str(tmp_path / path), "--data", str(data)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    summaries = [line for line in printed if line.startswith("12 images")]
    assert len(summaries) == 2 and summaries[0] == summaries[1]
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    assert (
        cli.main(["evaluate", str(tmp_path / "broken.onnx"), "--data", str(data)]) == 2
    )
    assert "onnxruntime could not read" in capsys.readouterr().err


def test_evaluate_errors(tmp_path, rng, capsys):
    data = _write_image_folder(tmp_path / "images", rng)
    model_path = tmp_path / "model.keras"
    _small_classifier(model_path)

    assert (
        cli.main(["evaluate", str(tmp_path / "missing.keras"), "--data", str(data)])
        == 2
    )
    assert "Model file not found" in capsys.readouterr().err

    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["evaluate", str(model_path), "--data", str(empty)]) == 2
    assert "has no subfolder" in capsys.readouterr().err

    (empty / "class_a").mkdir()
    assert cli.main(["evaluate", str(model_path), "--data", str(empty)]) == 2
    assert "No images" in capsys.readouterr().err

    inputs = keras.Input((5,))
    vector_model = keras.Model(
        inputs, keras.layers.Dense(2, activation="softmax")(inputs)
    )
    vector_model.save(tmp_path / "vector.keras")
    assert (
        cli.main(["evaluate", str(tmp_path / "vector.keras"), "--data", str(data)]) == 2
    )
    assert "must take images of a fixed size" in capsys.readouterr().err

    inputs = keras.Input((32, 32, 3))
    doubled = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(doubled)
    lambda_model = keras.Model(
        inputs, keras.layers.Dense(2, activation="softmax")(pooled)
    )
    lambda_model.save(tmp_path / "lambda.keras")
    assert (
        cli.main(["evaluate", str(tmp_path / "lambda.keras"), "--data", str(data)]) == 2
    )
    assert "Refused to load" in capsys.readouterr().err
    assert (
        cli.main(
            [
                "evaluate",
                str(tmp_path / "lambda.keras"),
                "--data",
                str(data),
                "--unsafe",
            ]
        )
        == 0
    )


def test_argument_errors(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--epochs", "0"])
    assert exit_info.value.code == 2
    assert "expected an integer >= 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main([])
    assert cli.main(["demo", "--dataset", "/nonexistent/folder"]) == 2
    assert (
        "--dataset /nonexistent/folder: neither one of photographs, digits nor a folder"
        in capsys.readouterr().err
    )


def test_help_for_every_command(capsys):
    for argv in (["--help"], ["demo", "--help"], ["evaluate", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 0
        assert "usage: keras-stability" in capsys.readouterr().out


@_ONCE
def test_demo_on_a_users_image_folder(tmp_path, rng):
    data = _write_image_folder(tmp_path / "images", rng, classes=("a", "b", "c"))
    out = tmp_path / "demo"
    argv = [
        "demo",
        "--quick",
        "--epochs",
        "1",
        "--dataset",
        str(data),
        "--output",
        str(out),
    ]
    assert cli.main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    # 18 images split 3:1 with a fixed seed.
    assert (
        report["config"]["train_images"] == 14 and report["config"]["test_images"] == 4
    )
    assert report["config"]["data"] == str(data.resolve())
    assert set(report["models"]) == {"baseline", "augmentation", "stability"}


@pytest.mark.skipif(
    keras.backend.backend() == "tensorflow", reason="the error of other backends"
)
def test_evaluate_a_saved_model_elsewhere_names_the_tensorflow_backend(
    tmp_path, rng, capsys
):
    data = _write_image_folder(tmp_path / "images", rng)
    folder = tmp_path / "exported"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"")
    assert cli.main(["evaluate", str(folder), "--data", str(data)]) == 2
    backend = keras.backend.backend()
    assert capsys.readouterr().err == (
        "keras-stability evaluate: error: Evaluating a SavedModel needs the "
        f"TensorFlow backend, but the Keras backend is '{backend}'. Set "
        "KERAS_BACKEND=tensorflow before importing keras. A .keras file loads on "
        "every backend.\n"
    )


def test_evaluate_a_corrupt_model_file(tmp_path, rng, capsys):
    data = _write_image_folder(tmp_path / "images", rng, count=1)
    corrupt = tmp_path / "bad.keras"
    corrupt.write_text("hi\n")
    assert cli.main(["evaluate", str(corrupt), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    # One line, with the path and Keras's own message.
    assert err.startswith(
        f"keras-stability evaluate: error: Could not load the model {corrupt} "
        "(the file exists but Keras cannot read it): ValueError: "
    )
    assert err.count("\n") == 1 and str(corrupt) in err.split("ValueError: ")[1]


def test_output_must_be_a_folder_before_any_work(tmp_path, capsys, monkeypatch):
    a_file = tmp_path / "report"
    a_file.write_text("")
    # The model is never looked at: the output is checked first.
    missing = str(tmp_path / "missing.keras")
    for output, shown in [
        (a_file, f"{a_file}"),
        (a_file / "sub", f"{a_file / 'sub'} ({a_file})"),
    ]:
        argv = ["evaluate", missing, "--data", str(tmp_path), "--output", str(output)]
        assert cli.main(argv) == 2
        assert capsys.readouterr().err == (
            f"keras-stability evaluate: error: --output must be a folder, but "
            f"{shown} is a file.\n"
        )
    assert cli.main(["demo", "--quick", "--output", str(a_file)]) == 2
    assert capsys.readouterr().err == (
        f"keras-stability demo: error: --output must be a folder, but {a_file} "
        "is a file.\n"
    )
    # A folder that cannot be written in (os.access is what decides).
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    new_folder = tmp_path / "new" / "report"
    assert cli.main(["demo", "--quick", "--output", str(new_folder)]) == 2
    assert capsys.readouterr().err == (
        f"keras-stability demo: error: --output {new_folder}: cannot write in "
        f"{tmp_path}.\n"
    )


def test_evaluate_images_too_small_for_the_crops(tmp_path, rng, capsys):
    data = _write_image_folder(tmp_path / "images", rng, size=(8, 8), count=2)
    inputs = keras.Input((8, 8, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(pooled)).save(
        tmp_path / "small.keras"
    )
    out = tmp_path / "report"
    argv = ["evaluate", str(tmp_path / "small.keras"), "--data", str(data)]
    assert cli.main([*argv, "--output", str(out)]) == 2
    assert capsys.readouterr().err == (
        "keras-stability evaluate: error: `distortions['crop@10']` cannot apply to "
        "images of shape (4, 8, 8, 3): `max_offset` must be smaller than the "
        "image height and width. Received: max_offset=10 for images of height=8 "
        "and width=8\n"
    )
    assert not out.exists()


@pytest.mark.tensorflow
def test_evaluate_a_corrupt_saved_model(tmp_path, rng, capsys):
    data = _write_image_folder(tmp_path / "images", rng, count=1)
    folder = tmp_path / "exported"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"not a protocol buffer")
    assert cli.main(["evaluate", str(folder), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"keras-stability evaluate: error: Could not load the SavedModel {folder}: "
    )
    assert err.count("\n") == 1


@_ONCE
def test_demo_keeps_the_digits(tmp_path):
    out = tmp_path / "demo"
    argv = ["demo", "--quick", "--epochs", "1", "--dataset", "digits"]
    assert cli.main([*argv, "--output", str(out)]) == 0
    config = json.loads((out / "report.json").read_text())["config"]
    assert config["data"].startswith("scikit-learn digits")
    assert config["train_images"] == 1347 and config["test_images"] == 200


def _rescaling_classifiers(tmp_path):
    """The same network twice: taking [0, 1] images, and 0..255 ones."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(2, 3)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    unit = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    levels = keras.Input((32, 32, 3))
    eight_bit = keras.Model(levels, unit(keras.layers.Rescaling(1 / 255)(levels)))
    unit.save(tmp_path / "unit.keras")
    eight_bit.save(tmp_path / "eight_bit.keras")
    return tmp_path / "unit.keras", tmp_path / "eight_bit.keras"


def test_evaluate_a_model_that_takes_8_bit_levels(tmp_path, rng, capsys):
    data = _write_image_folder(tmp_path / "images", rng)
    unit, eight_bit = _rescaling_classifiers(tmp_path)
    # It rescales by 1/255 first: [0, 1] images would be silently near black.
    assert cli.main(["evaluate", str(eight_bit), "--data", str(data)]) == 2
    assert "--value-range 0 255" in capsys.readouterr().err
    reports = {}
    for name, path, extra in (
        ("unit", unit, []),
        ("eight_bit", eight_bit, ["--value-range", "0", "255"]),
    ):
        out = tmp_path / name
        argv = ["evaluate", str(path), "--data", str(data), "--output", str(out)]
        assert cli.main(argv + extra) == 0
        reports[name] = json.loads((out / "report.json").read_text())
    # Told the range, it sees the same pictures under the same distortions.
    assert reports["eight_bit"] == pytest.approx(reports["unit"], abs=1e-4)
    assert (
        cli.main(
            ["evaluate", str(unit), "--data", str(data), "--value-range", "1", "0"]
        )
        == 2
    )
    assert "--value-range needs LOW < HIGH" in capsys.readouterr().err


def test_evaluate_suggests_a_training_perturbation(tmp_path, capsys):
    from keras_stability import perturbations

    # Grey pictures one level either side of 0.5, told apart by one pixel:
    # noise flips about half of them, thumbnails and crops none.
    folder = tmp_path / "images"
    for label, level in enumerate((127, 129)):
        (folder / str(label)).mkdir(parents=True)
        for index in range(6):
            pixels = np.full((32, 32, 3), level, "uint8")
            keras.utils.save_img(
                folder / str(label) / f"{index}.png", pixels, scale=False
            )
    inputs = keras.Input((32, 32, 3))
    dense = keras.layers.Dense(2, activation="softmax")
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    kernel = np.zeros((32 * 32 * 3, 2), "float32")
    kernel[0] = [1000.0, -1000.0]
    dense.set_weights([kernel, np.array([-500.0, 500.0], "float32")])
    model.save(tmp_path / "model.keras")
    argv = ["evaluate", str(tmp_path / "model.keras"), "--data", str(folder)]
    assert cli.main([*argv, "--suggest"]) == 0
    printed = capsys.readouterr().out
    lines = [line.strip() for line in printed.splitlines()]
    (line,) = [line for line in lines if line.startswith("perturbation = ")]
    layer = eval(line.split(" = ", 1)[1], {"perturbations": perturbations})
    kinds = [type(e).__name__ for e in getattr(layer, "perturbations", [layer])]
    assert "GaussianNoise" in kinds
    assert "ThumbnailResize" not in kinds and "RandomCropOffset" not in kinds
    assert "StabilityModel(inputs, outputs, perturbation=perturbation)" in printed
    # The summary is still the last line, after the suggestion.
    last = [line for line in lines if line][-1]
    assert last.startswith("12 images, 2 classes: clean top-1 ")


def test_version(capsys):
    import keras_stability

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert (
        capsys.readouterr().out.strip()
        == f"keras-stability {keras_stability.__version__}"
    )


def test_evaluate_measures_only_the_families_asked_for(tmp_path, rng, capsys):
    data = _write_image_folder(tmp_path / "images", rng)
    model_path = tmp_path / "model.keras"
    _small_classifier(model_path)
    out = tmp_path / "report"
    argv = ["evaluate", str(model_path), "--data", str(data), "--output", str(out)]
    assert cli.main([*argv, "--distortions", "crop", "noise"]) == 0
    report = json.loads((out / "report.json").read_text())
    families = {key.split("@")[0] for key in report if "@" in key}
    assert families == {"crop", "noise"}
    assert cli.main([*argv, "--distortions", "crop", "shot_noise"]) == 0
    report = json.loads((out / "report.json").read_text())
    families = {key.split("@")[0] for key in report if "@" in key}
    assert families == {"crop", "shot_noise"}
    assert cli.main([*argv[:4], "--distortions", "rotate"]) == 2
    assert "--distortions: unknown rotate" in capsys.readouterr().err


_COMMAND_START = """
import sys
sys.argv[0] = "{argv0}"
import keras_stability.cli
sys.exit(keras_stability.cli.main(["--version"]))
"""


@pytest.mark.tensorflow  # the start-up log is TensorFlow's
@pytest.mark.parametrize(
    ("argv0", "level", "quiet"),
    [
        ("keras-stability", None, True),  # the command: quiet
        ("keras-stability", "0", False),  # the user's own level wins
        ("my_program.py", None, False),  # a user's program: untouched
    ],
)
def test_the_command_holds_back_tensorflows_start_up_log(argv0, level, quiet):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["KERAS_BACKEND"] = "tensorflow"
    if level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = level
    result = subprocess.run(
        [sys.executable, "-c", _COMMAND_START.format(argv0=argv0)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("keras-stability ")
    # TensorFlow writes "I0000 ..." lines on every start, GPU or not.
    assert ("I0000" not in result.stderr) == quiet, result.stderr[-2000:]
