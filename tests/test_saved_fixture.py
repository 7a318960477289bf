"""A `.keras` file saved by release 0.1.0 (before the layout redesign) still loads."""

import os
import warnings

import keras
import numpy as np
import pytest

from keras_stability import StabilityModel
from keras_stability import losses
from keras_stability import perturbations

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def _load():
    return keras.saving.load_model(
        os.path.join(FIXTURES, "stability_model.keras"), safe_mode=True
    )


def test_old_file_loads_and_predicts_the_same():
    model = _load()
    saved = np.load(os.path.join(FIXTURES, "stability_model_io.npz"))
    predictions = keras.ops.convert_to_numpy(model.predict(saved["x"], verbose=0))
    np.testing.assert_allclose(predictions, saved["predictions"], rtol=1e-5, atol=1e-6)


def test_old_file_keeps_its_stability_settings():
    model = _load()
    assert isinstance(model, StabilityModel)
    assert model.alpha == 2.5 and model.seed == 7
    assert isinstance(model.stability_loss, losses.JensenShannonDivergence)
    outer = model.perturbation
    assert isinstance(outer, perturbations.Compose) and outer.seed == 3
    inner, noise = outer.perturbations
    assert isinstance(inner, perturbations.OneOf)
    assert [type(p) for p in inner.perturbations] == [
        perturbations.GaussianNoise,
        perturbations.JpegCompression,
        perturbations.RandomCropOffset,
        perturbations.ThumbnailResize,
    ]
    assert inner.perturbations[1].method == "dct"
    assert inner.perturbations[3].scale == (0.25, 0.75)
    assert isinstance(noise, perturbations.GaussianNoise) and noise.stddev == 0.01
    # Two epochs of two steps were taken before saving: the random stream
    # resumes after them.
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model.perturbation_seed), [7, 4]
    )


# Compiling this model's training step (a OneOf of all four families, DCT
# JPEG included) is slow on JAX; loading and predicting run on every backend
# above, and training with these layers is tested per backend elsewhere.
@pytest.mark.tensorflow
def test_old_file_trains_on():
    model = _load()
    saved = np.load(os.path.join(FIXTURES, "stability_model_io.npz"))
    history = model.fit(saved["x"], np.zeros(8, "int32"), epochs=1, verbose=0)
    assert np.isfinite(history.history["stability_loss"][0])


def test_old_and_new_files_take_a_single_input_bare(tmp_path):
    # Release 0.1.0 stored a single input as a list of one; predicting on the
    # bare images must not warn that the structure differs, on any backend.
    saved = np.load(os.path.join(FIXTURES, "stability_model_io.npz"))
    old = _load()
    old.save(tmp_path / "resaved.keras")
    new = keras.saving.load_model(tmp_path / "resaved.keras", safe_mode=True)
    for model in (old, new):
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            predictions = model.predict(saved["x"], verbose=0)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(predictions),
            saved["predictions"],
            rtol=1e-5,
            atol=1e-6,
        )
