"""StabilityModel with an `Adversarial` x': TRADES in `fit`, on every backend."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from keras import ops

from keras_stability import StabilityModel
from keras_stability import perturbations

EPSILON = 0.05


def _np_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _numpy(x):
    return np.asarray(ops.convert_to_numpy(x), dtype="float64")


@keras.saving.register_keras_serializable(package="test_model_adversarial")
class _Recorded(perturbations.Adversarial):
    """`Adversarial` that keeps the last x' it made."""

    def perturb(self, images, seed):
        self.last = super().perturb(images, seed)
        return self.last


def _linear(perturbation, **kwargs):
    inputs = keras.Input((2, 2, 1))
    dense = keras.layers.Dense(3)
    outputs = dense(keras.layers.Flatten()(inputs))
    model = StabilityModel(
        inputs,
        outputs,
        perturbation=perturbation,
        stability_loss="kl",
        from_logits=True,
        alpha=1.0,
        seed=3,
        **kwargs,
    )
    return model, dense


def test_the_term_is_trades_kl_at_the_attacked_copy(rng):
    attack = _Recorded(EPSILON, steps=1)
    model, dense = _linear(attack)
    x = rng.uniform(0.3, 0.7, size=(6, 2, 2, 1)).astype("float32")
    term = model.compute_loss(x, y_pred=model(x), training=False)
    x_adv = _numpy(attack.last)
    # One saturating L-inf step: every pixel moved by epsilon, up or down.
    np.testing.assert_allclose(np.abs(x_adv - x), EPSILON, rtol=1e-5)
    w, b = (_numpy(v) for v in dense.weights)
    p = _np_softmax(x.reshape(6, -1) @ w + b)
    q = _np_softmax(x_adv.reshape(6, -1) @ w + b)
    # TRADES: KL(f(x) || f(x')), summed over classes, averaged over the batch.
    trades = (p * (np.log(p) - np.log(q))).sum(-1).mean()
    # float32 logits: the small KL carries a relative error of ~1e-5.
    assert float(_numpy(term)) == pytest.approx(trades, rel=1e-3)


def test_adversarial_training_fits_saves_and_reloads(rng, tmp_path):
    inputs = keras.Input((8, 8, 1))
    hidden = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(hidden)
    )
    model = StabilityModel(
        inputs,
        outputs,
        perturbation=perturbations.Compose(
            [
                perturbations.GaussianNoise(0.02),
                perturbations.Adversarial(EPSILON, steps=2, norm="l2"),
            ]
        ),
        seed=0,
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    x = rng.random((16, 8, 8, 1)).astype("float32")
    history = model.fit(x, np.arange(16) % 3, batch_size=8, epochs=2, verbose=0)
    assert all(np.isfinite(v) and v > 0 for v in history.history["stability_loss"])
    model.save(tmp_path / "adversarial.keras")
    loaded = keras.saving.load_model(tmp_path / "adversarial.keras", safe_mode=True)
    attack = loaded.perturbation.perturbations[1]
    assert isinstance(attack, perturbations.Adversarial)
    assert (attack.epsilon, attack.steps, attack.norm) == (EPSILON, 2, "l2")
    np.testing.assert_allclose(
        _numpy(loaded.predict(x, verbose=0)), _numpy(model.predict(x, verbose=0))
    )


@pytest.mark.tensorflow
def test_adversarial_training_compiles_with_xla_and_mixed_precision(rng):
    keras.config.set_dtype_policy("mixed_float16")
    try:
        inputs = keras.Input((8, 8, 1))
        hidden = keras.layers.Dense(3)(keras.layers.Flatten()(inputs))
        outputs = keras.layers.Activation("softmax", dtype="float32")(hidden)
        model = StabilityModel(
            inputs, outputs, perturbation=perturbations.Adversarial(EPSILON), seed=0
        )
    finally:
        keras.config.set_dtype_policy("float32")
    model.compile("adam", "sparse_categorical_crossentropy", jit_compile=True)
    x = rng.random((16, 8, 8, 1)).astype("float32")
    history = model.fit(x, np.arange(16) % 3, batch_size=8, epochs=2, verbose=0)
    assert all(np.isfinite(history.history["stability_loss"]))


def test_a_model_with_two_inputs_is_refused():
    a, b = keras.Input((4, 4, 1)), keras.Input((4, 4, 1))
    outputs = keras.layers.Dense(2, activation="softmax")(
        keras.layers.Flatten()(keras.layers.Add()([a, b]))
    )
    with pytest.raises(ValueError, match=r"Received: perturbation=<Adversarial"):
        StabilityModel([a, b], outputs, perturbation=perturbations.Adversarial(0.1))


_MIRRORED = textwrap.dedent(
    """
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras
    from keras_stability import StabilityModel, perturbations

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    x = np.random.default_rng(0).random((32, 8, 8, 1)).astype("float32")
    print("replicas", strategy.num_replicas_in_sync)
    for name, arguments in [
        ("adversarial", {"perturbation": perturbations.Adversarial(0.05)}),
        ("fraction", {"perturb_fraction": 0.5, "num_views": 2}),
    ]:
        with strategy.scope():
            inputs = keras.Input((8, 8, 1))
            outputs = keras.layers.Dense(3, activation="softmax")(
                keras.layers.Flatten()(inputs)
            )
            model = StabilityModel(inputs, outputs, seed=0, **arguments)
            model.compile("adam", "sparse_categorical_crossentropy")
        history = model.fit(x, np.arange(32) % 3, batch_size=16, epochs=2, verbose=0)
        print(name, *history.history["stability_loss"])
    """
)


@pytest.mark.tensorflow
def test_adversarial_and_fraction_training_under_a_mirrored_strategy(tmp_path):
    script = tmp_path / "mirrored.py"
    script.write_text(_MIRRORED)
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(
        line.split(" ", 1) for line in result.stdout.splitlines() if " " in line
    )
    assert lines["replicas"] == "2"
    for name in ("adversarial", "fraction"):
        values = [float(v) for v in lines[name].split()]
        assert len(values) == 2 and all(np.isfinite(values)), name
        assert all(v > 0 for v in values), name
