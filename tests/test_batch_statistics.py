"""BatchNormalization inside StabilityModel's joined clean and perturbed batch."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_stability import StabilityModel

SHIFT = 10.0


def _shift(t):
    # A perturbation that moves every value far: statistics taken over both
    # halves would differ plainly from the clean half's.
    return t + SHIFT


def _bn_model(momentum=0.5, **bn_kwargs):
    inputs = keras.Input((4, 4, 2))
    normalized = keras.layers.BatchNormalization(momentum=momentum, **bn_kwargs)(inputs)
    flat = keras.layers.Flatten()(normalized)
    outputs = keras.layers.Dense(3, activation="softmax")(flat)
    return StabilityModel(inputs, outputs, perturbation=_shift, seed=0)


def _numpy(t):
    return ops.convert_to_numpy(t)


def test_moving_statistics_are_the_clean_halfs(rng):
    x = rng.random((8, 4, 4, 2)).astype("float32")
    y = rng.integers(0, 3, 8)
    model = _bn_model(momentum=0.5)
    model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    bn = model.layers[1]
    # One step from mean 0, variance 1 with momentum 0.5.
    np.testing.assert_allclose(
        _numpy(bn.moving_mean), 0.5 * x.mean((0, 1, 2)), rtol=1e-5
    )
    np.testing.assert_allclose(
        _numpy(bn.moving_variance), 0.5 + 0.5 * x.var((0, 1, 2)), rtol=1e-5
    )


def test_clean_outputs_equal_a_plain_models_training_outputs(rng):
    x = rng.random((8, 4, 4, 2)).astype("float32")
    model = _bn_model()
    plain = keras.Model(model.input, model.output)
    np.testing.assert_allclose(
        _numpy(model(x, training=True)), _numpy(plain(x, training=True)), atol=1e-6
    )


def test_perturbed_half_is_normalized_with_the_clean_statistics(rng):
    x = rng.random((16, 3)).astype("float32")
    inputs = keras.Input((3,))
    outputs = keras.layers.BatchNormalization(center=False, scale=False)(inputs)
    model = StabilityModel(
        inputs,
        outputs,
        perturbation=_shift,
        stability_loss="squared_l2",
        alpha=1.0,
        seed=0,
    )
    model.compile(keras.optimizers.SGD(0.0))
    y_pred = model(x, training=True)
    term = model.compute_loss(x, None, y_pred, training=True)
    # f(x') - f(x) = SHIFT / sqrt(var + epsilon) per feature, with the clean
    # batch's variance; over both halves the variance would be var + 25.
    expected = np.sum(SHIFT**2 / (x.var(0) + 1e-3))
    assert float(_numpy(term)) == pytest.approx(expected, rel=1e-4)


def test_a_shared_layer_is_unchanged_outside_the_stability_model(rng):
    x = rng.random((8, 4, 4, 2)).astype("float32")
    model = _bn_model(momentum=0.5)
    model(x, training=True)  # one joined pass first
    bn = model.layers[1]
    before = _numpy(bn.moving_mean)
    plain = keras.Model(model.input, model.output)
    shifted = x + SHIFT
    plain(shifted, training=True)
    np.testing.assert_allclose(
        _numpy(bn.moving_mean),
        0.5 * before + 0.5 * shifted.mean((0, 1, 2)),
        rtol=1e-5,
    )


@pytest.mark.tensorflow  # synchronized=True is TensorFlow's only
def test_a_synchronized_layer_keeps_the_statistics_of_both_halves(rng):
    x = rng.random((8, 4, 4, 2)).astype("float32")
    model = _bn_model(momentum=0.5, synchronized=True)
    model(x, training=True)
    joint = np.concatenate([x, x + SHIFT])
    np.testing.assert_allclose(
        _numpy(model.layers[1].moving_mean), 0.5 * joint.mean((0, 1, 2)), rtol=1e-5
    )
