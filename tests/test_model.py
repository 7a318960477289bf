"""StabilityModel: exact training steps, logs, wrapping, saving and export."""

import inspect
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from keras import ops

from keras_stability import StabilityModel
from keras_stability import losses
from keras_stability import perturbations
from keras_stability.model import default_perturbation

SHIFT = 0.5


def shift(x):
    """A deterministic perturbation, so that a step can be computed by hand."""
    return x + SHIFT


def _np_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _linear_model(stability_loss="kl", alpha=0.7, **kwargs):
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(3, kernel_initializer="glorot_uniform")(inputs)
    return StabilityModel(
        inputs,
        outputs,
        perturbation=shift,
        stability_loss=stability_loss,
        alpha=alpha,
        from_logits=True,
        **kwargs,
    )


@pytest.fixture
def linear_data(rng):
    x = rng.normal(size=(5, 4)).astype("float32")
    y = np.array([0, 2, 1, 1, 0])
    return x, y


def _np_step(w, b, x, y, alpha, lr, term, stop_gradient_clean):
    """One SGD step of CE + alpha * term on logits z = xW + b, by hand."""
    n = x.shape[0]
    x_p = x + SHIFT
    z, z_p = x @ w + b, x_p @ w + b
    p, q = _np_softmax(z), _np_softmax(z_p)
    log_p, log_q = np.log(p), np.log(q)
    onehot = np.eye(3)[y]
    d_z = (p - onehot) / n  # cross-entropy
    if term == "kl":
        value = (p * (log_p - log_q)).sum(-1).mean()
        d = log_p - log_q
        d_term_z = p * (d - (p * d).sum(-1, keepdims=True)) / n
    else:  # the paper's cross-entropy form -sum p log q
        value = -(p * log_q).sum(-1).mean()
        d_term_z = -p * (log_q - (p * log_q).sum(-1, keepdims=True)) / n
    d_term_zp = (q - p) / n  # same for both forms
    if stop_gradient_clean:
        d_term_z = np.zeros_like(d_term_z)
    d_z = d_z + alpha * d_term_z
    d_zp = alpha * d_term_zp
    grad_w = x.T @ d_z + x_p.T @ d_zp
    grad_b = d_z.sum(0) + d_zp.sum(0)
    return w - lr * grad_w, b - lr * grad_b, value


@pytest.mark.parametrize("term", ["kl", "cross_entropy"])
@pytest.mark.parametrize("stop_gradient_clean", [False, True])
def test_one_sgd_step_equals_numpy(term, stop_gradient_clean, linear_data):
    x, y = linear_data
    model = _linear_model(stability_loss=term, stop_gradient_clean=stop_gradient_clean)
    w0, b0 = (v.numpy().astype("float64") for v in model.layers[1].weights)
    lr, alpha = 0.1, 0.7
    model.compile(
        optimizer=keras.optimizers.SGD(lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(x, y, batch_size=5, epochs=1, shuffle=False, verbose=0)
    w1, b1, value = _np_step(
        w0, b0, x.astype("float64"), y, alpha, lr, term, stop_gradient_clean
    )
    np.testing.assert_allclose(model.layers[1].kernel.numpy(), w1, atol=1e-5)
    np.testing.assert_allclose(model.layers[1].bias.numpy(), b1, atol=1e-5)
    assert history.history["stability_loss"][0] == pytest.approx(value, rel=1e-4)


def test_alpha_zero_trains_like_keras_model(linear_data):
    x, y = linear_data
    model = _linear_model(alpha=0.0)
    plain = keras.Model.from_config(keras.Model(model.input, model.output).get_config())
    plain.set_weights(model.layers[1].get_weights())
    for m in (model, plain):
        m.compile(
            optimizer=keras.optimizers.SGD(0.1),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        m.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(model.layers[1].get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_logs_and_evaluate_report_the_stability_term(rng):
    x = rng.random((32, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 3, 32)
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(3, activation="softmax")(
        keras.layers.Flatten()(inputs)
    )
    model = StabilityModel(
        inputs, outputs, perturbation=perturbations.GaussianNoise(0.1), seed=3
    )
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, validation_data=(x, y))
    assert set(history.history) == {
        "loss",
        "accuracy",
        "stability_loss",
        "val_loss",
        "val_accuracy",
        "val_stability_loss",
    }
    assert all(v > 0 for v in history.history["stability_loss"])
    first = model.evaluate(x, y, verbose=0, return_dict=True)
    assert first["stability_loss"] > 0
    # Training advanced the step counter by the number of batches; evaluate
    # did not.
    pair = model.perturbation_seed.numpy()  # [seed, step]
    assert pair.tolist() == [3, 2 * 4]
    # A fixed evaluation seed, not the current step: moving the stored step
    # (as more training would) leaves evaluate's perturbations unchanged.
    model.perturbation_seed.assign(pair + np.array([0, 1000], pair.dtype))
    second = model.evaluate(x, y, verbose=0, return_dict=True)
    assert first == second
    assert model.perturbation_seed.numpy().tolist() == [3, 2 * 4 + 1000]
    # Control: evaluate does follow the stored seed, so the equality above
    # is not a perturbation that ignores its seed.
    model.perturbation_seed.assign(pair + np.array([1, 0], pair.dtype))
    other_seed = model.evaluate(x, y, verbose=0, return_dict=True)
    assert other_seed["stability_loss"] != first["stability_loss"]


def test_evaluate_value_matches_numpy_with_sample_weights(linear_data):
    x, y = linear_data
    model = _linear_model(alpha=0.3)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    weights = np.array([1.0, 0.0, 2.0, 0.5, 1.0], "float32")
    w, b = (v.numpy().astype("float64") for v in model.layers[1].weights)
    x64 = x.astype("float64")
    p, q = _np_softmax(x64 @ w + b), _np_softmax((x64 + SHIFT) @ w + b)
    ce = -np.log(p[np.arange(5), y])
    kl = (p * (np.log(p) - np.log(q))).sum(-1)
    expected_term = (kl * weights).sum() / 5
    expected = (ce * weights).sum() / 5 + 0.3 * expected_term
    result = model.evaluate(
        x, y, sample_weight=weights, batch_size=5, verbose=0, return_dict=True
    )
    assert result["loss"] == pytest.approx(expected, rel=1e-5)
    assert result["stability_loss"] == pytest.approx(expected_term, rel=1e-5)


def test_predict_and_call_never_perturb(rng):
    x = rng.random((4, 2, 3, 1)).astype("float32")
    inputs = keras.Input((2, 3, 1))
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(inputs))
    model = StabilityModel(
        inputs, outputs, perturbation=perturbations.GaussianNoise(0.5), from_logits=True
    )
    dense = model.layers[-1]
    expected = x.reshape(4, 6) @ dense.kernel.numpy() + dense.bias.numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-6)
    np.testing.assert_allclose(
        ops.convert_to_numpy(model(x, training=True)), expected, atol=1e-6
    )


def test_multi_output_selects_outputs_and_weights_both_terms(rng):
    x = rng.normal(size=(6, 4)).astype("float32")
    y = {"a": rng.integers(0, 3, 6), "b": rng.normal(size=(6, 2)).astype("float32")}
    inputs = keras.Input((4,))
    # Dict keys differ from layer names: either names an output.
    a = keras.layers.Dense(3, name="dense_a")(inputs)
    b = keras.layers.Dense(2, name="dense_b")(inputs)
    model = StabilityModel(
        inputs,
        {"a": a, "b": b},
        perturbation=shift,
        stability_loss="squared_l2",
        alpha=2.0,
        stability_outputs=["b"],
    )
    model.compile(
        loss={
            "a": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "b": "mse",
        }
    )
    wa, ba = (v.numpy().astype("float64") for v in model.get_layer("dense_a").weights)
    wb, bb = (v.numpy().astype("float64") for v in model.get_layer("dense_b").weights)
    x64 = x.astype("float64")
    za = x64 @ wa + ba
    ce = -np.log(_np_softmax(za)[np.arange(6), y["a"]]).mean()
    out_b = x64 @ wb + bb
    mse = ((out_b - y["b"]) ** 2).mean()
    # Only output "b": ||(x + s)Wb - xWb||^2 = ||s * 1 Wb||^2 for every row.
    term = (((SHIFT * np.ones(4)) @ wb) ** 2).sum()
    result = model.evaluate(x, y, batch_size=6, verbose=0, return_dict=True)
    assert result["stability_loss"] == pytest.approx(term, rel=1e-5)
    assert result["loss"] == pytest.approx(ce + mse + 2.0 * term, rel=1e-5)
    # Per-output sample weights: the term of "b" takes b's weights, not a's.
    weights_a = np.full(6, 3.0, "float32")
    weights_b = np.arange(6, dtype="float32")
    # The same with list outputs and a list of weights.
    as_list = StabilityModel(
        inputs,
        [a, b],
        perturbation=shift,
        stability_loss="squared_l2",
        stability_outputs=["dense_b"],
    )
    as_list.compile(
        loss=[keras.losses.SparseCategoricalCrossentropy(from_logits=True), "mse"]
    )
    for weighted_model, targets, sample_weight in (
        (model, y, {"a": weights_a, "b": weights_b}),
        (as_list, [y["a"], y["b"]], [weights_a, weights_b]),
    ):
        weighted = weighted_model.evaluate(
            x,
            targets,
            sample_weight=sample_weight,
            batch_size=6,
            verbose=0,
            return_dict=True,
        )
        assert weighted["stability_loss"] == pytest.approx(
            term * weights_b.mean(), rel=1e-5
        )
    # A dict output answers to its layer's name too: "dense_b" is "b".
    by_layer_name = StabilityModel(
        inputs,
        {"a": a, "b": b},
        perturbation=shift,
        stability_loss="squared_l2",
        alpha=1.0,
        stability_outputs="dense_b",
    )
    by_name_term = by_layer_name.compute_loss(
        x, y_pred=by_layer_name(x), training=False
    )
    assert float(ops.convert_to_numpy(by_name_term)) == pytest.approx(term, rel=1e-5)


def test_dict_and_tuple_inputs_train_and_every_input_is_perturbed(rng):
    seen = []

    def recording_shift(x):
        seen.append(keras.tree.map_structure(lambda t: tuple(t.shape), x))
        return keras.tree.map_structure(lambda t: t + 1.0, x)

    left, right = keras.Input((3,), name="left"), keras.Input((2,), name="right")
    merged = keras.layers.Concatenate()([left, right])
    outputs = keras.layers.Dense(2)(merged)
    model = StabilityModel(
        {"left": left, "right": right},
        outputs,
        perturbation=recording_shift,
        stability_loss="l2",
        alpha=1.0,
    )
    model.compile("sgd", "mse")
    x = {
        "left": rng.normal(size=(8, 3)).astype("float32"),
        "right": rng.normal(size=(8, 2)).astype("float32"),
    }
    y = rng.normal(size=(8, 2)).astype("float32")
    result = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    kernel = model.layers[-1].kernel.numpy()
    # Both inputs shifted by 1: the output moves by 1 @ W for every row.
    assert result["stability_loss"] == pytest.approx(
        np.linalg.norm(np.ones(5) @ kernel), rel=1e-5
    )
    assert set(seen[-1]) == {"left", "right"}
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])

    # A tuple of image inputs: a Perturbation layer perturbs each one.
    first, second = keras.Input((4, 4, 1)), keras.Input((4, 4, 1))
    pooled = keras.layers.Flatten()(keras.layers.Add()([first, second]))
    model_tuple = StabilityModel(
        (first, second),
        keras.layers.Dense(2)(pooled),
        perturbation=perturbations.GaussianNoise(0.1),
        stability_loss="squared_l2",
    )
    model_tuple.compile("sgd", "mse")
    images = rng.random((8, 4, 4, 1)).astype("float32")
    history = model_tuple.fit((images, images), y, batch_size=4, epochs=1, verbose=0)
    assert history.history["stability_loss"][0] > 0
    # Each element gets its own draw.
    copy_first, copy_second = (
        ops.convert_to_numpy(t)
        for t in perturbations.apply_perturbation(
            model_tuple.perturbation, (images, images), keras.random.SeedGenerator(0)
        )
    )
    assert np.abs(copy_first - images).min() > 0
    assert np.abs(copy_second - images).min() > 0
    assert np.abs(copy_first - copy_second).min() > 0
    # With a zero-noise perturbation the term vanishes, so it was the noise.
    model_tuple.perturbation = perturbations.GaussianNoise(0.0)
    result = model_tuple.evaluate((images, images), y, verbose=0, return_dict=True)
    assert result["stability_loss"] == 0.0


def test_images_of_unknown_size_are_accepted_at_construction():
    inputs = keras.Input((None, None, 3))
    outputs = keras.layers.Dense(3, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(inputs)
    )
    assert isinstance(
        StabilityModel(inputs, outputs).perturbation, perturbations.Perturbation
    )


def test_a_plain_keras_layer_perturbs_in_training_mode(rng):
    calls = []

    class RecordingNoise(keras.layers.GaussianNoise):
        def call(self, inputs, training=False):
            calls.append(training)
            return super().call(inputs, training=training)

    inputs = keras.Input((4,))
    model = StabilityModel(
        inputs,
        keras.layers.Dense(2)(inputs),
        perturbation=RecordingNoise(0.3, seed=1),
        stability_loss="squared_l2",
    )
    model.compile("sgd", "mse")
    x = rng.normal(size=(8, 4)).astype("float32")
    y = rng.normal(size=(8, 2)).astype("float32")
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    # Keras's GaussianNoise is the identity unless called with training=True.
    assert calls and all(training is True for training in calls)
    assert history.history["stability_loss"][0] > 0


def test_stability_only_training_without_a_compiled_loss(rng):
    x = rng.normal(size=(8, 4)).astype("float32")
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2)(inputs)
    model = StabilityModel(
        inputs, outputs, perturbation=shift, stability_loss="squared_l2", alpha=1.0
    )
    model.compile(keras.optimizers.SGD(0.05))
    before = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    model.fit(x, batch_size=8, epochs=5, verbose=0)
    after = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    # The term is ||SHIFT * 1 @ W||^2: gradient descent shrinks it.
    assert after["stability_loss"] < before["stability_loss"]
    assert after["loss"] == pytest.approx(after["stability_loss"], rel=1e-6)


def _assert_shares_weights(original, wrapped):
    original_ids = {id(v) for v in original.trainable_variables}
    wrapped_ids = {id(v) for v in wrapped.trainable_variables}
    assert original_ids and original_ids == wrapped_ids


def test_from_model_shares_weights_for_every_kind_of_model(rng):
    x = rng.random((2, 32, 32, 3)).astype("float32")

    sequential = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(4)]
    )
    inputs = keras.Input((32, 32, 3))
    functional = keras.Model(
        inputs, keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(inputs))
    )

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.pool = keras.layers.GlobalAveragePooling2D()
            self.dense = keras.layers.Dense(4)

        def call(self, x):
            return self.dense(self.pool(x))

    subclassed = Subclassed()
    subclassed(x)
    application = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), weights=None, classes=4, include_preprocessing=False
    )

    for model, kwargs in [
        (sequential, {"from_logits": True}),
        (functional, {"from_logits": True}),
        # A subclassed model's outputs are not known to be logits: allowed.
        (subclassed, {"inputs": keras.Input((32, 32, 3))}),
        (application, {}),  # ends in a softmax
    ]:
        wrapped = StabilityModel.from_model(model, alpha=0.5, **kwargs)
        assert isinstance(wrapped, StabilityModel) and wrapped.alpha == 0.5
        _assert_shares_weights(model, wrapped)
        np.testing.assert_allclose(
            wrapped.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
        )

    # Rebuilt on their own graph, the linear heads are recognised as logits.
    for model in (sequential, functional):
        with pytest.raises(
            ValueError, match=r"activation is linear.*`from_logits=True`"
        ):
            StabilityModel.from_model(model)
    with pytest.raises(ValueError, match="pass `inputs=keras.Input"):
        StabilityModel.from_model(Subclassed())
    with pytest.raises(ValueError, match="`model` must be a keras.Model"):
        StabilityModel.from_model(lambda x: x)


def _model_with_non_defaults():
    inputs = keras.Input((8, 8, 3), name="image")
    hidden = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    logits = keras.layers.Dense(5, name="logits")(
        keras.layers.GlobalAveragePooling2D()(hidden)
    )
    embedding = keras.layers.Dense(2, name="embedding")(hidden)
    return StabilityModel(
        inputs,
        [logits, embedding],
        perturbation=perturbations.Compose(
            [
                perturbations.GaussianNoise(0.02, seed=4),
                perturbations.ThumbnailResize(scale=0.5),
            ]
        ),
        stability_loss="jsd",
        alpha=0.25,
        from_logits=True,
        stop_gradient_clean=True,
        stability_outputs=["logits"],
        seed=11,
        num_views=2,
        perturb_fraction=0.5,
        confidence_threshold=0.3,
        sharpen_temperature=0.5,
        name="stable",
    )


def test_config_round_trip_with_non_default_values():
    model = _model_with_non_defaults()
    config = model.get_config()
    # Functional models keep inputs and outputs as input_layers/output_layers.
    renamed = {"inputs": "input_layers", "outputs": "output_layers"}
    for parameter in inspect.signature(StabilityModel.__init__).parameters:
        if parameter not in ("self", "kwargs"):
            assert renamed.get(parameter, parameter) in config, parameter
    restored = StabilityModel.from_config(config)
    assert restored.get_config() == config
    assert isinstance(restored.perturbation, perturbations.Compose)


def test_loss_object_round_trip():
    inputs = keras.Input((6, 6, 1))
    model = StabilityModel(
        inputs,
        keras.layers.Dense(2)(keras.layers.Flatten()(inputs)),
        stability_loss=losses.L2Distance(name="embedding_l2"),
    )
    restored = StabilityModel.from_config(model.get_config())
    assert isinstance(restored._stability_loss_fn, losses.L2Distance)
    assert restored._stability_loss_fn.name == "embedding_l2"


def _as_json(config):
    return json.loads(json.dumps(config))


def test_save_and_load_model_restores_everything(tmp_path, rng):
    model = _model_with_non_defaults()
    x = rng.random((6, 8, 8, 3)).astype("float32")
    y = [rng.integers(0, 5, 6), rng.normal(size=(6, 6, 6, 2)).astype("float32")]
    model.compile("adam", [keras.losses.SparseCategoricalCrossentropy(True), "mse"])
    model.fit(x, y, epochs=1, batch_size=3, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # safe_mode=True
    assert type(loaded) is StabilityModel
    # JSON turns Keras's build-shape tuples into lists: compare as JSON.
    assert _as_json(loaded.get_config()) == _as_json(model.get_config())
    np.testing.assert_array_equal(
        loaded.perturbation_seed.numpy(), model.perturbation_seed.numpy()
    )
    for got, expected in zip(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), strict=True
    ):
        np.testing.assert_array_equal(got, expected)
    # The reloaded model goes on training with its compiled state.
    loaded.fit(x, y, epochs=1, batch_size=3, verbose=0)


@pytest.mark.tensorflow  # SavedModel
def test_export_serves_the_plain_forward_pass_without_keras_stability(tmp_path, rng):
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(4, activation="softmax")(
        keras.layers.Flatten()(keras.layers.Conv2D(2, 3)(inputs))
    )
    model = StabilityModel(
        inputs, outputs, perturbation=perturbations.GaussianNoise(0.3)
    )
    export_dir = tmp_path / "exported"
    model.export(str(export_dir), verbose=False)
    x = rng.random((5, 8, 8, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        import tensorflow as tf
        loaded = tf.saved_model.load({str(export_dir)!r})
        out = loaded.serve(tf.constant(np.load({str(tmp_path / "x.npy")!r})))
        assert not any(m.startswith("keras_stability") for m in sys.modules)
        np.save({str(tmp_path / "out.npy")!r}, out.numpy())
        """
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=300)
    np.testing.assert_allclose(
        np.load(tmp_path / "out.npy"), model.predict(x, verbose=0), atol=1e-6
    )


def test_mixed_float16_trains_with_float32_stability_term(rng):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs = keras.Input((8, 8, 1))
        hidden = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
        # float16 logits straight from Dense: no float32 layer in between.
        logits = keras.layers.Dense(3)(keras.layers.Flatten()(hidden))
        model = StabilityModel(inputs, logits, perturbation=shift, from_logits=True)
        model.compile(
            keras.optimizers.SGD(0.01),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        x = rng.random((32, 8, 8, 1)).astype("float32")
        y = rng.integers(0, 3, 32)
        history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
        assert np.all(np.isfinite(history.history["loss"]))
        assert np.all(np.isfinite(history.history["stability_loss"]))
        clean, perturbed = model(x[:4]), model(x[:4] + SHIFT)
        assert keras.backend.standardize_dtype(clean.dtype) == "float16"
        term = StabilityModel.from_model(
            model, perturbation=shift, from_logits=True, alpha=1.0
        ).compute_loss(x[:4], y_pred=clean, training=False)
        assert keras.backend.standardize_dtype(term.dtype) == "float32"
        # KL in float64 on the float16 logits the network produced.
        z = ops.convert_to_numpy(clean).astype("float64")
        z_p = ops.convert_to_numpy(perturbed).astype("float64")
        p, q = _np_softmax(z), _np_softmax(z_p)
        expected = (p * (np.log(p) - np.log(q))).sum(-1).mean()
        assert expected > 1e-4
        # The float32 sum of p * (log p - log q) carries about 1e-8 of
        # rounding per class: 1e-5 relative to a term of 1e-3, or more.
        assert float(keras.ops.convert_to_numpy(term)) == pytest.approx(
            expected, rel=1e-4
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")


_MIRRORED_SCRIPT = """
import json, os, sys
import numpy as np
import tensorflow as tf
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration()] * 2,
)
import keras
from keras_stability import StabilityModel
from keras_stability.model import default_perturbation

def shift(x):
    return x * 0.9 + 0.1

def run(strategy):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        inputs = keras.Input((6,))
        hidden = keras.layers.Dense(8, activation="tanh")(inputs)
        outputs = keras.layers.Dense(3)(hidden)
        model = StabilityModel(inputs, outputs, perturbation=shift, alpha=2.0,
                               from_logits=True)
        model.compile(keras.optimizers.SGD(0.5),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = rng.integers(0, 3, 32)
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    return [w.tolist() for w in model.get_weights()], history.history

single = run(tf.distribute.OneDeviceStrategy("/cpu:0"))
mirrored = run(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
json.dump({"single": single, "mirrored": mirrored}, open(sys.argv[1], "w"))
"""


@pytest.mark.tensorflow
def test_mirrored_strategy_equals_one_device(tmp_path):
    out = tmp_path / "result.json"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run(
        [sys.executable, "-c", _MIRRORED_SCRIPT, str(out)],
        check=True,
        env=env,
        timeout=600,
    )
    result = json.loads(out.read_text())
    (single_weights, single_logs), (mirrored_weights, mirrored_logs) = (
        result["single"],
        result["mirrored"],
    )
    for a, b in zip(single_weights, mirrored_weights, strict=True):
        np.testing.assert_allclose(np.array(a), np.array(b), atol=1e-5)
    # The run trained: the stability term was non-zero and the logs agree.
    assert min(single_logs["stability_loss"]) > 0
    # Sums over one batch of 2B rows or two replicas' batches of B rows
    # round differently in float32: a few ulps of these small logs.
    for key in ("loss", "stability_loss"):
        np.testing.assert_allclose(single_logs[key], mirrored_logs[key], rtol=1e-4)


_REPLICA_SEED_SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration()] * 2,
)
import keras
from keras_stability import StabilityModel, perturbations

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    inputs = keras.Input((4, 4, 1))
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(inputs))
    # The output is the input: the stability term is ||x - x'||^2 itself.
    model = StabilityModel(inputs, keras.layers.Flatten()(inputs),
                           perturbation=perturbations.GaussianNoise(0.5), seed=7,
                           stability_loss="squared_l2", alpha=1.0)
x = tf.constant(np.full((3, 4, 4, 1), 0.5, "float32"))


@tf.function
def terms():
    # The same slice on each replica: only the seed can tell them apart.
    return strategy.run(
        lambda: model.compute_loss(x, y_pred=model(x), training=False))


json.dump([float(r.numpy()) for r in
           strategy.experimental_local_results(terms())], open(sys.argv[1], "w"))
"""


@pytest.mark.tensorflow
def test_replicas_draw_different_perturbations(tmp_path):
    out = tmp_path / "copies.json"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run(
        [sys.executable, "-c", _REPLICA_SEED_SCRIPT, str(out)],
        check=True,
        env=env,
        timeout=300,
    )
    first, second = json.loads(out.read_text())
    # Each replica perturbed its copy (noise of stddev 0.5 on 16 pixels a
    # row), and not with the same draw: the same draw gives the same term.
    assert first > 0.1 and second > 0.1
    assert first != second


def test_boundary_seeds_and_numpy_flags_are_accepted(rng):
    inputs = keras.Input((4, 4, 1))
    flat = keras.layers.Flatten()(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(flat)
    x = rng.random((8, 4, 4, 1)).astype("float32")
    y = rng.integers(0, 3, 8)
    for seed in (0, 2**31 - 1, np.int64(5)):
        model = StabilityModel(
            inputs,
            outputs,
            perturbation=perturbations.GaussianNoise(0.1),
            seed=seed,
            stop_gradient_clean=np.bool_(True),
        )
        assert type(model.seed) is int and model.seed == seed
        assert model.stop_gradient_clean is True
        assert model.perturbation_seed.numpy().tolist() == [int(seed), 0]
        model.compile("sgd", "sparse_categorical_crossentropy")
        history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
        assert history.history["stability_loss"][0] > 0
        json.dumps(model.get_config())  # plain Python values, JSON-ready


class _CrashAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.crash_epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.crash_epoch:
            raise RuntimeError("simulated crash")


def _noisy_model(seed):
    """The perturbation's seed comes from `seed`; None draws one at random."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 1))
    hidden = keras.layers.Dense(4, activation="tanh")(keras.layers.Flatten()(inputs))
    outputs = keras.layers.Dense(3, activation="softmax")(hidden)
    model = StabilityModel(
        inputs, outputs, perturbation=perturbations.GaussianNoise(0.2), seed=seed
    )
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    return model


def test_backup_and_restore_resumes_the_perturbation_stream(tmp_path, rng):
    x = rng.random((40, 6, 6, 1)).astype("float32")
    y = rng.integers(0, 3, 40)
    fit = dict(batch_size=8, epochs=4, shuffle=False, verbose=0)

    uninterrupted = _noisy_model(seed=7)
    uninterrupted.fit(x, y, **fit)

    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    crashed = _noisy_model(seed=7)
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashed.fit(x, y, callbacks=[backup, _CrashAtEpoch(2)], **fit)
    # A new process would build the model again; seed=None proves the
    # perturbation's seed comes back from the backup, not the constructor.
    resumed = _noisy_model(seed=None)
    epochs_run = []
    history = resumed.fit(
        x,
        y,
        callbacks=[
            backup,
            keras.callbacks.LambdaCallback(
                on_epoch_begin=lambda epoch, logs: epochs_run.append(epoch)
            ),
        ],
        **fit,
    )
    assert epochs_run == [2, 3]  # only the remaining epochs
    assert len(history.history["loss"]) == 2
    np.testing.assert_array_equal(
        resumed.perturbation_seed.numpy(), uninterrupted.perturbation_seed.numpy()
    )
    for a, b in zip(resumed.get_weights(), uninterrupted.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # Control: resuming with another seed diverges, so the match above
    # depends on the restored perturbation stream.
    other = _noisy_model(seed=8)
    other.fit(x, y, **fit)
    assert not np.allclose(other.get_weights()[-2], uninterrupted.get_weights()[-2])


def test_model_checkpoint_on_val_stability_loss(tmp_path, rng):
    x = rng.random((32, 6, 6, 1)).astype("float32")
    y = rng.integers(0, 3, 32)
    model = _noisy_model(seed=1)
    path = tmp_path / "best.keras"
    seen = []
    # Keras infers "min" only for `loss` and compiled metrics; ours is
    # neither, so mode is given (Keras's error says so when it is not).
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(path), monitor="val_stability_loss", save_best_only=True, mode="min"
    )
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(logs["val_stability_loss"])
    )
    model.fit(
        x,
        y,
        epochs=4,
        batch_size=8,
        validation_data=(x, y),
        callbacks=[checkpoint, record],
        verbose=0,
    )
    best = keras.saving.load_model(path)
    assert isinstance(best, StabilityModel)
    # Same batches as fit's validation: evaluation noise depends on the shape.
    result = best.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    # The saved model is the epoch with the lowest validation stability loss.
    assert result["stability_loss"] == pytest.approx(min(seen), rel=1e-5)


@pytest.mark.parametrize(
    "obj",
    [StabilityModel, StabilityModel.from_model, default_perturbation],
    ids=lambda obj: obj.__name__,
)
def test_docstring_example_runs(obj, run_example):
    run_example(obj)


def _small_classifier(shape):
    inputs = keras.Input(shape)
    x = keras.layers.Flatten()(inputs)
    return inputs, keras.layers.Dense(3, activation="softmax")(x)


def _uniform(n):
    return np.random.default_rng(0).random((n, 8, 8, 1)).astype("float32")


def _all_finite(history):
    return all(np.all(np.isfinite(v)) for v in history.history.values())


@pytest.mark.parametrize(
    "name, images, make_perturbation",
    [
        (
            "all black",
            np.zeros((8, 8, 8, 1), "float32"),
            lambda: perturbations.GaussianNoise(0.04),
        ),
        (
            "all white",
            np.ones((8, 8, 8, 1), "float32"),
            lambda: perturbations.GaussianNoise(0.04),
        ),
        pytest.param(
            "all black through JPEG",
            np.zeros((8, 8, 8, 3), "float32"),
            lambda: perturbations.JpegCompression((10, 90)),
            marks=pytest.mark.tensorflow,
        ),
        (
            "all white through crops",
            np.ones((8, 8, 8, 1), "float32"),
            lambda: perturbations.RandomCropOffset(2),
        ),
        (
            "uint8 in 0..255",
            np.random.default_rng(1).integers(0, 256, (8, 8, 8, 1)).astype("uint8"),
            lambda: perturbations.GaussianNoise(0.04, value_range=(0, 255)),
        ),
        (
            "grayscale thumbnails",
            _uniform(8),
            lambda: perturbations.ThumbnailResize(scale=0.25),
        ),
        ("one image", _uniform(1), lambda: perturbations.GaussianNoise(0.04)),
    ],
)
@pytest.mark.parametrize("stability_loss", ["kl", "jsd", "l2"])
def test_degenerate_but_valid_inputs_train_without_nan(
    name, images, make_perturbation, stability_loss
):
    model = StabilityModel(
        *_small_classifier(images.shape[1:]),
        perturbation=make_perturbation(),
        stability_loss=stability_loss,
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    y = np.arange(len(images)) % 3
    history = model.fit(images, y, epochs=3, batch_size=4, verbose=0)
    assert _all_finite(history), name
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


def test_lambda_perturbation_is_refused_under_safe_mode(tmp_path):
    model = StabilityModel(
        *_small_classifier((8, 8, 1)),
        perturbation=keras.layers.Lambda(lambda t: t * 0.5),
    )
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match="safe_mode"):
        keras.saving.load_model(tmp_path / "lambda.keras")
    loaded = keras.saving.load_model(tmp_path / "lambda.keras", safe_mode=False)
    assert isinstance(loaded, StabilityModel)


def _shifting_views(shifts):
    """A callable perturbation whose n-th call adds the n-th shift."""
    remaining = list(shifts)

    def perturb(x):
        return x + remaining.pop(0)

    return perturb


@pytest.mark.parametrize("stability_loss", ["jsd", "squared_l2"])
def test_several_views_give_the_term_of_every_view(stability_loss, rng):
    shifts = [0.3, -0.5, 1.2]
    inputs = keras.Input((4,))
    dense = keras.layers.Dense(3)
    model = StabilityModel(
        inputs,
        dense(inputs),
        perturbation=_shifting_views(shifts),
        stability_loss=stability_loss,
        from_logits=stability_loss == "jsd",
        alpha=1.0,
        num_views=3,
    )
    x = rng.normal(size=(6, 4)).astype("float32")
    term = model.compute_loss(x, y_pred=model(x), training=False)
    w, b = (ops.convert_to_numpy(v).astype("float64") for v in dense.weights)
    z = x.astype("float64") @ w + b
    views = [(x.astype("float64") + s) @ w + b for s in shifts]
    if stability_loss == "jsd":
        # AugMix: the mean KL of the four distributions from their mixture.
        distributions = [_np_softmax(t) for t in (z, *views)]
        m = np.mean(distributions, axis=0)
        per_row = np.mean(
            [(d * (np.log(d) - np.log(m))).sum(-1) for d in distributions], axis=0
        )
        expected = per_row.mean()
    else:
        expected = np.mean([((z - v) ** 2).sum(-1).mean() for v in views])
    assert float(ops.convert_to_numpy(term)) == pytest.approx(expected, rel=1e-4)


def test_several_views_train_in_one_joined_pass(rng, tmp_path):
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(3, activation="softmax")(
        keras.layers.Flatten()(inputs)
    )
    model = StabilityModel(
        inputs, outputs, perturbation=perturbations.GaussianNoise(0.1), num_views=2
    )
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = rng.random((16, 8, 8, 1)).astype("float32")
    history = model.fit(x, np.arange(16) % 3, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["stability_loss"][0])
    assert history.history["stability_loss"][0] > 0
    config = model.get_config()
    assert config["num_views"] == 2
    restored = StabilityModel.from_config(config)
    assert restored.num_views == 2 and restored.get_config() == config
    model.save(tmp_path / "views.keras")
    loaded = keras.saving.load_model(tmp_path / "views.keras", safe_mode=True)
    assert loaded.num_views == 2
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded.predict(x, verbose=0)),
        ops.convert_to_numpy(model.predict(x, verbose=0)),
        rtol=1e-6,
    )


@pytest.mark.parametrize("num_views", [0, 17, 1.5, True, "2"])
def test_a_bad_number_of_views_is_refused(num_views):
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2, activation="softmax")(inputs)
    with pytest.raises(ValueError, match=rf"Received: num_views={num_views!r}"):
        StabilityModel(inputs, outputs, num_views=num_views)


@pytest.mark.tensorflow
def test_a_batch_with_one_given_copy_is_refused_with_several_views(rng):
    import tensorflow as tf

    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(3, activation="softmax")(
        keras.layers.Flatten()(inputs)
    )
    model = StabilityModel(inputs, outputs, num_views=2, seed=0)
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = rng.random((8, 8, 8, 1)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((x, np.arange(8) % 3)).batch(4)
    paired = perturbations.with_perturbed_copy(
        dataset, perturbations.GaussianNoise(0.1)
    )
    with pytest.raises(ValueError, match=r"Received: num_views=2"):
        model.fit(paired, epochs=1, verbose=0, shuffle=False)
