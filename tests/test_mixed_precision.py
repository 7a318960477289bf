"""Mixed precision: a few hundred steps on real images, no NaN, loss scaling intact."""

import keras
import numpy as np
import pytest

from keras_stability import StabilityModel
from keras_stability import data
from keras_stability import perturbations


@pytest.fixture
def policy(request):
    keras.mixed_precision.set_global_policy(request.param)
    yield request.param
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"], indirect=True)
@pytest.mark.parametrize("stability_loss", ["kl", "l2"])
def test_hundreds_of_steps_on_digits_stay_finite(policy, stability_loss):
    (x, y), _ = data.load_digits(image_size=16)
    x, y = x[:640], y[:640]
    inputs = keras.Input((16, 16, 1))
    hidden = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    hidden = keras.layers.Flatten()(keras.layers.MaxPooling2D()(hidden))
    logits = keras.layers.Dense(10)(hidden)
    # Keras's advice: the last activation in float32.
    outputs = keras.layers.Activation("softmax", dtype="float32")(logits)
    model = StabilityModel(
        inputs,
        outputs,
        perturbation=perturbations.GaussianNoise(0.1),
        stability_loss=stability_loss,
        alpha=1.0,
        seed=0,
    )
    model.compile(
        keras.optimizers.Adam(3e-3),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    if policy == "mixed_float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    history = model.fit(x, y, batch_size=32, epochs=10, verbose=0)  # 200 steps
    assert int(model.perturbation_seed.numpy()[1]) == 200
    for name, values in history.history.items():
        assert np.all(np.isfinite(values)), name
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    assert history.history["stability_loss"][-1] > 0
    # It learned: the digits are far from chance (0.1) after 200 steps.
    assert history.history["accuracy"][-1] > 0.8
    # The stability term is computed in float32 whatever the policy.
    term = model._stability_term(x[:8] + 0.1, model(x[:8]), None, training=False)
    assert keras.backend.standardize_dtype(term.dtype) == "float32"
