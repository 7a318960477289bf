"""StabilityModel: exact training steps, logs, wrapping, saving and export."""

import inspect
import json
import os
import re
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


@pytest.mark.parametrize(
    "inputs, perturbation, message",
    [
        # The default perturbation distorts images.
        (
            lambda: keras.Input((10,), name="features"),
            None,
            "`perturbation` cannot apply to images of shape (None, 10)",
        ),
        (
            lambda: keras.Input((4, 4, 1), name="tiny"),
            perturbations.RandomCropOffset(4),
            "Received: max_offset=4 for images of height=4 and width=4",
        ),
        (
            lambda: keras.Input((8, 8, 4), name="rgba"),
            perturbations.JpegCompression(50, method="dct"),
            "images of shape (None, 8, 8, 4): JPEG encoding needs images "
            "with 1 (grayscale) or 3 (RGB) channels",
        ),
        (
            lambda: keras.Input((8, 8, 3)),
            perturbations.GaussianNoise,
            "Received: perturbation=<class ",
        ),
    ],
)
def test_a_perturbation_that_cannot_apply_is_refused_at_construction(
    inputs, perturbation, message
):
    inputs = inputs()
    outputs = keras.layers.Dense(3, activation="softmax")(
        keras.layers.Flatten()(inputs) if len(inputs.shape) > 2 else inputs
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        StabilityModel(inputs, outputs, perturbation=perturbation)


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


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"alpha": -0.1},
            r"Received: alpha=-0.1$",
        ),
        ({"alpha": float("inf")}, r"Received: alpha=inf"),
        # Finite in float64 but inf in the float32 loss it scales.
        (
            {"alpha": 1e39},
            r"Received: alpha=1e\+39$",
        ),
        ({"alpha": float("nan")}, r"Received: alpha=nan"),
        ({"alpha": "1"}, r"Received: alpha='1'"),
        (
            {"perturbation": 3},
            r"Received: perturbation=3$",
        ),
        ({"stability_loss": "kld"}, r"Received: stability_loss='kld'"),
        (
            {"stability_outputs": ["nope"]},
            r"Received: stability_outputs=\['nope'\]",
        ),
        (
            {"seed": 1.5},
            r"Received: seed=1.5$",
        ),
        (
            {"seed": True},
            r"Received: seed=True$",
        ),
        (
            {"seed": -5},
            r"Received: seed=-5$",
        ),
        ({"seed": 2**31}, r"Received: seed=2147483648$"),
        ({"seed": 2**33}, r"Received: seed=8589934592$"),
        (
            {"seed": 2**70},
            r"Received: seed=1180591620717411303424$",
        ),
        (
            {"stability_outputs": 5},
            r"Received: stability_outputs=5$",
        ),
        (
            {"from_logits": "no"},
            r"Received: from_logits='no'$",
        ),
        (
            {"from_logits": "False"},
            r"Received: from_logits='False'$",
        ),
        ({"from_logits": 0}, r"Received: from_logits=0$"),
        (
            {"stop_gradient_clean": "no"},
            r"Received: stop_gradient_clean='no'$",
        ),
        (
            {"stop_gradient_clean": None},
            r"Received: stop_gradient_clean=None$",
        ),
    ],
)
def test_bad_arguments_raise_at_construction(kwargs, message):
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2, activation="softmax")(inputs)
    with pytest.raises(ValueError, match=message):
        StabilityModel(inputs, outputs, **kwargs)


@pytest.mark.parametrize(
    "stability_loss, shown",
    [
        ("l2", "'l2'"),
        ("squared_l2", "'squared_l2'"),
        # A loss object keeps its own from_logits; the model's would be ignored.
        (losses.KLDivergence(), "<keras_stability.losses.KLDivergence"),
        (losses.L2Distance(), "<keras_stability.losses.L2Distance"),
        (losses.kl_divergence, "<function kl_divergence"),
    ],
)
def test_from_logits_is_refused_where_it_would_be_ignored(stability_loss, shown):
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2)(inputs)
    with pytest.raises(
        ValueError,
        match=r"`from_logits=True` applies only to stability_loss 'kl', "
        r"'cross_entropy' or 'jsd' given by name .*Received: "
        rf"stability_loss={shown}.*, from_logits=True$",
    ):
        StabilityModel(inputs, outputs, stability_loss=stability_loss, from_logits=True)


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


def _dense_output(activation=None, name="head"):
    # Image inputs, so that the default perturbation (a crop) applies.
    inputs = keras.Input((6, 6, 1))
    hidden = keras.layers.Dense(5, activation="relu")(keras.layers.Flatten()(inputs))
    return inputs, keras.layers.Dense(3, activation=activation, name=name)(hidden)


@pytest.mark.parametrize(
    "stability_loss", ["kl", "cross_entropy", "jsd", losses.KLDivergence()]
)
def test_linear_output_read_as_probabilities_is_refused(stability_loss):
    with pytest.raises(
        ValueError,
        match=r"Output 'head' comes from layer 'head', whose activation is "
        r"linear: it holds logits.*(Pass|Build the loss with) `from_logits=True`.*"
        r"Received: from_logits=False$",
    ):
        StabilityModel(*_dense_output(), stability_loss=stability_loss)
    # An explicit linear Activation layer holds logits as well.
    inputs, dense = _dense_output(name="logits")
    linear = keras.layers.Activation("linear", name="head")(dense)
    with pytest.raises(ValueError, match=r"Output 'head' comes from layer 'head'"):
        StabilityModel(inputs, linear, stability_loss=stability_loss)


@pytest.mark.parametrize(
    "make_loss, advice",
    [
        (
            keras.losses.KLDivergence,
            r"Use stability_loss='kl' with `from_logits=True` "
            r"\(keras.losses.KLDivergence takes no `from_logits`\)",
        ),
        (
            keras.losses.CategoricalCrossentropy,
            r"Build the loss with `from_logits=True`",
        ),
    ],
    ids=["KLDivergence", "CategoricalCrossentropy"],
)
def test_keras_probability_losses_on_a_linear_output_are_refused(make_loss, advice):
    # What the refusal prevents: Keras clips both sides to [epsilon, 1], so
    # two different rows of negative logits are "identical" distributions.
    clean = np.array([[-1.0, -2.0, -3.0]], "float32")
    perturbed = np.array([[-3.0, -1.0, -0.5]], "float32")
    assert float(keras.losses.KLDivergence()(clean, perturbed)) == 0.0
    with pytest.raises(
        ValueError,
        match=r"^Output 'head' comes from layer 'head', whose activation is linear"
        r".*" + advice + r", or end the output in a softmax\. "
        r"Received: from_logits=False$",
    ):
        StabilityModel(*_dense_output(), stability_loss=make_loss())
    # On a softmax head they are fine, and the crossentropy takes logits.
    StabilityModel(*_dense_output("softmax"), stability_loss=make_loss())
    StabilityModel(
        *_dense_output(),
        stability_loss=keras.losses.CategoricalCrossentropy(from_logits=True),
    )


def test_outputs_not_known_to_be_logits_are_accepted():
    # A softmax head, as probabilities.
    assert StabilityModel(*_dense_output("softmax")).from_logits is False
    # Logits with from_logits=True, by name or on the loss object.
    assert StabilityModel(*_dense_output(), from_logits=True).from_logits is True
    StabilityModel(*_dense_output(), stability_loss=losses.KLDivergence(True))
    # Distances compare raw outputs; a linear head is fine.
    StabilityModel(*_dense_output(), stability_loss="l2")
    # A softmax outside a layer's `activation` (its own layer, or an op).
    inputs, logits = _dense_output()
    StabilityModel(inputs, keras.layers.Softmax()(logits))
    StabilityModel(inputs, keras.ops.softmax(logits))
    # A linear head left out of the stability term.
    inputs = keras.Input((6, 6, 1))
    flat = keras.layers.Flatten()(inputs)
    probabilities = keras.layers.Dense(3, activation="softmax", name="p")(flat)
    embedding = keras.layers.Dense(2, name="embedding")(flat)
    StabilityModel(inputs, [probabilities, embedding], stability_outputs=["p"])
    with pytest.raises(ValueError, match=r"Output 'embedding' comes from layer"):
        StabilityModel(inputs, [probabilities, embedding])


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


def _image_classifier(size=16, channels=3, **kwargs):
    inputs = keras.Input((size, size, channels))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    model = StabilityModel(inputs, outputs, seed=0, **kwargs)
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def test_fit_refuses_images_outside_the_perturbations_range(rng):
    levels = (rng.random((8, 16, 16, 3)) * 255).astype("float32")
    labels = np.arange(8) % 2
    model = _image_classifier()
    # The argument, the values seen and the range that fits them.
    expected = r"`x` does not fit.*\[0\.\d+, 25\d\.\d+\].*value_range=\(0, 255\)"
    with pytest.raises(ValueError, match=expected):
        model.fit(levels, labels, verbose=0)
    with pytest.raises(ValueError, match=r"`validation_data` does not fit"):
        model.fit(levels / 255, labels, validation_data=(levels, labels), verbose=0)
    with pytest.raises(ValueError, match=r"`x` does not fit"):
        model.evaluate(levels, labels, verbose=0)
    # Built for the images' range, the same model trains.
    fitting = _image_classifier(
        perturbation=perturbations.default_perturbation(
            (16, 16, 3), value_range=(0, 255)
        )
    )
    history = fitting.fit(levels, labels, epochs=1, verbose=0)
    assert np.isfinite(history.history["stability_loss"][0])
    # Another layer or a callable is not judged.
    _image_classifier(perturbation=lambda x: x * 1.0).fit(levels, labels, verbose=0)


def _write_png_folder(root, rng, count=8):
    """Two classes of smooth 20x20 pictures, as 8-bit PNG files."""
    ramp = np.linspace(0, 1, 20)
    for label, name in enumerate(("dark", "light")):
        (root / name).mkdir(parents=True)
        for index in range(count):
            base = 0.2 + 0.5 * label + 0.2 * np.add.outer(ramp, ramp) / 2
            image = base[..., None] + 0.02 * rng.normal(size=(20, 20, 3))
            pixels = np.clip(image * 255, 0, 255).astype("uint8")
            keras.utils.save_img(root / name / f"{index}.png", pixels, scale=False)
    return root


@pytest.mark.tensorflow
def test_trains_on_image_dataset_from_directory_end_to_end(tmp_path, rng):
    folder = _write_png_folder(tmp_path / "images", rng)
    dataset = keras.utils.image_dataset_from_directory(
        folder, image_size=(16, 16), batch_size=4, seed=0, verbose=False
    )
    batch, _ = next(iter(dataset))
    assert float(np.max(batch)) > 100  # Keras yields 0..255 floats
    # The default perturbation is built for [0, 1]: refused with the fix.
    with pytest.raises(ValueError, match=r"value_range=\(0, 255\)"):
        _image_classifier().fit(dataset, epochs=1, verbose=0, shuffle=False)
    layer = perturbations.default_perturbation((16, 16, 3), value_range=(0, 255))
    model = _image_classifier(perturbation=layer)
    history = model.fit(dataset, epochs=2, verbose=0, shuffle=False)
    assert np.all(np.isfinite(history.history["loss"]))
    # The copies stay pictures on the 0..255 scale: with the wrong range the
    # JPEG branch would turn them white (a mean change of about 127 levels).
    copies = ops.convert_to_numpy(layer(batch, training=True))
    assert np.abs(copies - batch.numpy()).mean() < 25
    assert copies.max() < 300 and copies.min() > -45


@pytest.mark.tensorflow
def test_a_later_batch_outside_the_range_stops_training(rng):
    import tensorflow as tf

    images = rng.random((8, 16, 16, 3)).astype("float32")
    images[4:] *= 255  # the second batch is on the 0..255 scale
    dataset = tf.data.Dataset.from_tensor_slices((images, np.arange(8) % 2))
    model = _image_classifier(perturbation=perturbations.GaussianNoise(0.1))
    # The first batch passes `fit`'s look; the step's own check stops it.
    with pytest.raises(tf.errors.InvalidArgumentError, match="value_range"):
        model.fit(dataset.batch(4), epochs=1, verbose=0, shuffle=False)


@pytest.mark.parametrize(
    "perturbation", [None, perturbations.RandomCropOffset(4)], ids=["default", "crop"]
)
def test_images_of_another_size_get_keras_shape_error(perturbation, rng):
    # Keras's own check of the inputs comes before any perturbation, whose
    # crop would otherwise fail on the unexpected size.
    inputs = keras.Input((32, 32, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    model = StabilityModel(
        inputs,
        keras.layers.Dense(3, activation="softmax")(pooled),
        perturbation=perturbation,
        seed=0,
    )
    model.compile("sgd", "sparse_categorical_crossentropy")
    small = rng.random((8, 16, 16, 3)).astype("float32")
    for run in (
        lambda: model.fit(small, np.zeros(8), verbose=0),
        lambda: model.evaluate(small, np.zeros(8), verbose=0),
        lambda: model(small, training=True),
    ):
        with pytest.raises(ValueError, match=r"expected shape=\(None, 32, 32, 3\)"):
            run()
