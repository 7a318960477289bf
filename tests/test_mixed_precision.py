"""Mixed precision: a few hundred steps on real images, no NaN, loss scaling intact."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_stability import StabilityModel
from keras_stability import data
from keras_stability import losses
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
    # Low-precision logits straight from Dense, with no float32 layer after
    # them: the losses themselves must compute in float32.
    logits = keras.layers.Dense(10)(hidden)
    model = StabilityModel(
        inputs,
        logits,
        perturbation=perturbations.GaussianNoise(0.1),
        stability_loss=stability_loss,
        alpha=1.0,
        from_logits=stability_loss == "kl",
        seed=0,
    )
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
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
    # The stability term is computed in float32 from the low-precision logits.
    clean = model(x[:8])
    assert keras.backend.standardize_dtype(clean.dtype) == policy.split("_")[1]
    term = StabilityModel.from_model(
        model,
        perturbation=lambda images: images + 0.1,
        alpha=1.0,
        stability_loss=stability_loss,
        from_logits=stability_loss == "kl",
    ).compute_loss(x[:8], y_pred=clean, training=False)
    assert keras.backend.standardize_dtype(term.dtype) == "float32"


def _np_kl_from_logits(clean, perturbed):
    """Mean over rows of KL(softmax(clean) || softmax(perturbed)), float64."""

    def log_softmax(z):
        z = z - z.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))

    log_p, log_q = log_softmax(clean), log_softmax(perturbed)
    return (np.exp(log_p) * (log_p - log_q)).sum(axis=-1).mean()


def _halve(x):
    """A deterministic perturbation: its copies are known exactly."""
    return x * 0.5


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"], indirect=True)
def test_low_precision_logits_give_the_float32_kl_of_their_values(policy, rng):
    low = policy.split("_")[1]
    inputs = keras.Input((6,))
    dense = keras.layers.Dense(5)
    model = StabilityModel(
        inputs, dense(inputs), perturbation=_halve, from_logits=True, seed=0
    )
    kernel = rng.normal(scale=1.5, size=(6, 5)).astype("float32")
    bias = rng.normal(size=5).astype("float32")
    dense.set_weights([kernel, bias])
    x = rng.normal(size=(8, 6)).astype("float32")
    clean, perturbed = model(x), model(_halve(x))
    assert keras.backend.standardize_dtype(clean.dtype) == low
    z, z_p = (
        ops.convert_to_numpy(ops.cast(t, "float32")).astype("float64")
        for t in (clean, perturbed)
    )
    # The network's logits are x W + b, to the low precision's resolution.
    resolution = {"float16": 2**-10, "bfloat16": 2**-7}[low]
    np.testing.assert_allclose(z, x @ kernel + bias, rtol=4 * resolution, atol=0.05)

    # With no compiled loss and alpha 1, `compute_loss` is the term alone.
    model.alpha = 1.0
    term = model.compute_loss(x, y_pred=clean, training=False)
    assert keras.backend.standardize_dtype(term.dtype) == "float32"
    expected = _np_kl_from_logits(z, z_p)
    assert expected > 0.01
    assert float(ops.convert_to_numpy(term)) == pytest.approx(expected, rel=1e-5)
    # Control: the same KL computed in the low precision misses by far more
    # than that tolerance, so the match above needs the float32 upcast.
    in_low = ops.mean(losses.kl_divergence(clean, perturbed, from_logits=True))
    assert keras.backend.standardize_dtype(in_low.dtype) == low
    in_low = float(ops.convert_to_numpy(ops.cast(in_low, "float32")))
    assert in_low != pytest.approx(expected, rel=1e-4)
