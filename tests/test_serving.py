"""ONNX serving: Keras's export read back by onnxruntime, evaluated as the model."""

import sys

import keras
import numpy as np
import pytest

from keras_stability import StabilityModel
from keras_stability import evaluation
from keras_stability import perturbations
from keras_stability import serving

# Keras exports ONNX through one converter per backend.
CONVERTERS = {"tensorflow": "tf2onnx", "jax": "jax2onnx", "torch": "onnxscript"}
pytest.importorskip("onnxruntime")
pytest.importorskip(CONVERTERS[keras.backend.backend()])


def _classifier(**kwargs):
    inputs = keras.Input((8, 8, 3))
    hidden = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(hidden)
    )
    return StabilityModel(inputs, outputs, seed=0, **kwargs)


@pytest.fixture
def images(rng):
    return rng.random((20, 8, 8, 3)).astype("float32")


def test_example_runs(run_example):
    run_example(serving.load_onnx)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"perturbation": perturbations.Adversarial(0.03, steps=2)},
        {"num_views": 2, "perturb_fraction": 0.5, "confidence_threshold": 0.2},
    ],
    ids=["default", "adversarial", "views_and_uda"],
)
def test_onnxruntime_gives_predicts_outputs_after_training(kwargs, images, tmp_path):
    model = _classifier(**kwargs)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(images, np.arange(20) % 3, batch_size=8, epochs=1, verbose=0)
    path = str(tmp_path / "model.onnx")
    model.export(path, format="onnx", verbose=False)
    served = serving.load_onnx(path)
    assert served.input_shape == (None, 8, 8, 3)
    expected = model.predict(images, verbose=0)
    np.testing.assert_allclose(
        served.predict(images, batch_size=7), expected, atol=1e-6
    )
    np.testing.assert_allclose(
        served.predict_on_batch(images[:3]), expected[:3], atol=1e-6
    )


def test_the_robustness_report_of_the_file_is_the_models(images, tmp_path):
    model = _classifier()
    y = np.arange(20) % 3
    path = str(tmp_path / "model.onnx")
    model.predict(images[:1], verbose=0)
    model.export(path, format="onnx", verbose=False)
    distortions = {
        "noise@0.1": perturbations.GaussianNoise(0.1),
        "crop@2": perturbations.RandomCropOffset(2),
    }
    ours = evaluation.robustness_report(
        model, images, y, distortions=distortions, seed=3, verbose=0
    )
    served = evaluation.robustness_report(
        serving.load_onnx(path), images, y, distortions=distortions, seed=3, verbose=0
    )
    assert served.keys() == ours.keys()
    for key, value in ours.items():
        assert served[key] == pytest.approx(value, abs=1e-5), key


def test_several_outputs_come_back_as_a_list(images, tmp_path):
    inputs = keras.Input((8, 8, 3))
    flat = keras.layers.Flatten()(inputs)
    model = keras.Model(
        inputs, [keras.layers.Dense(2)(flat), keras.layers.Dense(5)(flat)]
    )
    expected = model.predict(images, verbose=0)
    # Keras exports only a model that was called; on JAX `predict` is not a
    # call.
    model(images[:1])
    path = str(tmp_path / "two.onnx")
    model.export(path, format="onnx", verbose=False)
    served = serving.load_onnx(path).predict(images, batch_size=6)
    assert isinstance(served, list) and len(served) == 2
    for a, b in zip(served, expected, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_bad_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"Received: path="):
        serving.load_onnx(str(tmp_path / "missing.onnx"))
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ValueError, match=r"onnxruntime could not read"):
        serving.load_onnx(str(garbage))


def test_without_onnxruntime_the_error_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"keras-stability\[onnx\]"):
        serving.load_onnx(str(tmp_path / "model.onnx"))
