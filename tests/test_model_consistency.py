"""StabilityModel's consistency options: a fraction of rows, UDA, unlabeled rows."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_stability import StabilityModel
from keras_stability import perturbations
from keras_stability.data import CLEAN_KEY
from keras_stability.data import LABELED_KEY

SHIFT = 0.5


def _np_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _numpy(x):
    return np.asarray(ops.convert_to_numpy(x), dtype="float64")


class _Recorder:
    """A deterministic perturbation that remembers the rows it was given."""

    def __init__(self):
        self.seen = []

    def __call__(self, x):
        self.seen.append(_numpy(x))
        return x + SHIFT


def _linear(perturbation, stability_loss="squared_l2", from_logits=None, **kwargs):
    inputs = keras.Input((4,))
    dense = keras.layers.Dense(3)
    model = StabilityModel(
        inputs,
        dense(inputs),
        perturbation=perturbation,
        stability_loss=stability_loss,
        from_logits=stability_loss in ("kl", "jsd")
        if from_logits is None
        else from_logits,
        **kwargs,
    )
    return model, dense


def _logits(dense, x):
    w, b = (_numpy(v) for v in dense.weights)
    return x.astype("float64") @ w + b


def _rows_of(seen, x):
    """The indices of `x`'s rows that `seen` holds, in `seen`'s order."""
    return [int(np.flatnonzero(np.all(np.isclose(x, row), axis=1))[0]) for row in seen]


@pytest.mark.parametrize(("fraction", "count"), [(0.5, 4), (0.3, 2), (0.01, 1)])
def test_a_fraction_perturbs_that_many_rows_and_averages_over_them(
    fraction, count, rng
):
    recorder = _Recorder()
    model, dense = _linear(recorder, perturb_fraction=fraction, alpha=1.0, seed=3)
    x = rng.normal(size=(8, 4)).astype("float32")
    weight = rng.random(8).astype("float32")
    term = model.compute_loss(x, y_pred=model(x), sample_weight=weight, training=False)
    (seen,) = recorder.seen
    rows = _rows_of(seen, x)
    assert len(rows) == len(set(rows)) == count
    z = _logits(dense, x)
    per_row = ((z - _logits(dense, x + SHIFT)) ** 2).sum(-1)
    expected = (weight[rows] * per_row[rows]).sum() / count
    assert float(_numpy(term)) == pytest.approx(expected, rel=1e-5)


def test_a_fraction_draws_other_rows_at_each_step(rng):
    recorder = _Recorder()
    model, _ = _linear(recorder, perturb_fraction=0.25, seed=5)
    x = rng.normal(size=(16, 4)).astype("float32")
    drawn = set()
    for _ in range(6):
        model.compute_loss(x, y_pred=model(x), training=True)
        drawn.add(tuple(sorted(_rows_of(recorder.seen[-1], x))))
    assert len(drawn) > 1
    # evaluate's draws are fixed: the same rows every time.
    for _ in range(2):
        model.compute_loss(x, y_pred=model(x), training=False)
    assert _rows_of(recorder.seen[-1], x) == _rows_of(recorder.seen[-2], x)


def test_a_fraction_trains_saves_and_reloads(rng, tmp_path):
    inputs = keras.Input((8, 8, 1))
    hidden = keras.layers.BatchNormalization()(keras.layers.Conv2D(4, 3)(inputs))
    outputs = keras.layers.Dense(3, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(hidden)
    )
    model = StabilityModel(
        inputs,
        outputs,
        perturbation=perturbations.GaussianNoise(0.1),
        perturb_fraction=0.5,
        num_views=2,
        seed=0,
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    x = rng.random((20, 8, 8, 1)).astype("float32")
    # 20 rows in batches of 8: the last batch has 4, of which 2 are perturbed.
    history = model.fit(x, np.arange(20) % 3, batch_size=8, epochs=2, verbose=0)
    assert all(np.isfinite(v) and v > 0 for v in history.history["stability_loss"])
    model.save(tmp_path / "fraction.keras")
    loaded = keras.saving.load_model(tmp_path / "fraction.keras", safe_mode=True)
    assert (loaded.perturb_fraction, loaded.num_views) == (0.5, 2)
    np.testing.assert_allclose(
        _numpy(loaded.predict(x, verbose=0)), _numpy(model.predict(x, verbose=0))
    )


@pytest.mark.parametrize("fraction", [0, -0.5, 1.01, float("nan"), "half", True])
def test_a_bad_fraction_is_refused(fraction):
    with pytest.raises(ValueError, match=rf"Received: perturb_fraction={fraction!r}"):
        _linear(lambda x: x, perturb_fraction=fraction)


def test_the_confidence_mask_drops_unsure_rows_and_is_logged(rng):
    model, dense = _linear(
        lambda x: x + SHIFT, stability_loss="kl", alpha=1.0, confidence_threshold=0.5
    )
    x = (rng.normal(size=(32, 4)) * 2).astype("float32")
    term = model.compute_loss(x, y_pred=model(x), training=False)
    p = _np_softmax(_logits(dense, x))
    q = _np_softmax(_logits(dense, x + SHIFT))
    mask = p.max(-1) > 0.5
    assert 0 < mask.sum() < len(mask)  # the data has rows on both sides
    kl = (p * (np.log(p) - np.log(q))).sum(-1)
    assert float(_numpy(term)) == pytest.approx((kl * mask).mean(), rel=1e-5)
    share = _numpy(model.confidence_mask_tracker.result())
    assert float(share) == pytest.approx(mask.mean())


def test_sharpening_compares_with_the_sharpened_clean_distribution(rng):
    model, dense = _linear(
        lambda x: x + SHIFT, stability_loss="kl", alpha=1.0, sharpen_temperature=0.4
    )
    x = rng.normal(size=(6, 4)).astype("float32")
    term = model.compute_loss(x, y_pred=model(x), training=False)
    target = _np_softmax(_logits(dense, x) / 0.4)
    q = _np_softmax(_logits(dense, x + SHIFT))
    expected = (target * (np.log(target) - np.log(q))).sum(-1).mean()
    assert float(_numpy(term)) == pytest.approx(expected, rel=1e-5)


def _np_cross_entropy(z, y):
    p = _np_softmax(z)
    return -np.log(p[np.arange(len(y)), y])


def test_unlabeled_rows_leave_the_compiled_loss_but_not_the_term(rng):
    model, dense = _linear(lambda x: x + SHIFT, alpha=1.0)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = rng.normal(size=(6, 4)).astype("float32")
    y = np.array([0, 2, 0, 1, 0, 0])
    labeled = np.array([True, True, False, True, False, False])
    batch = {CLEAN_KEY: x, LABELED_KEY: labeled}
    loss = model.compute_loss(batch, y, y_pred=model(x), training=False)
    z = _logits(dense, x)
    task = _np_cross_entropy(z, y)[labeled].mean()
    term = ((z - _logits(dense, x + SHIFT)) ** 2).sum(-1).mean()
    assert float(_numpy(loss)) == pytest.approx(task + term, rel=1e-5)


def test_annealing_drops_rows_predicted_above_the_threshold(rng):
    model, dense = _linear(
        lambda x: x,
        alpha=0.0,
        from_logits=True,  # the logits annealing reads; the loss is squared_l2
        signal_annealing="linear",
        annealing_steps=10,
        seed=1,
    )
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = (rng.normal(size=(32, 4)) * 2).astype("float32")
    y = rng.integers(0, 3, size=32)
    # Four steps taken; this is the fifth: progress 0.5, threshold 2/3.
    model.perturbation_seed.assign(np.array([1, 4]))
    loss = model.compute_loss(x, y, y_pred=model(x), training=True)
    z = _logits(dense, x)
    p_true = _np_softmax(z)[np.arange(32), y]
    keep = p_true <= 0.5 * (1 - 1 / 3) + 1 / 3
    assert 0 < keep.sum() < 32
    expected = _np_cross_entropy(z, y)[keep].mean()
    assert float(_numpy(loss)) == pytest.approx(expected, rel=1e-5)
    kept = _numpy(model.signal_annealing_tracker.result())
    assert float(kept) == pytest.approx(keep.mean())
    # evaluate does not anneal.
    loss = model.compute_loss(x, y, y_pred=model(x), training=False)
    assert float(_numpy(loss)) == pytest.approx(
        _np_cross_entropy(z, y).mean(), rel=1e-5
    )


def _uda_model(**kwargs):
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(inputs))
    return StabilityModel(
        inputs,
        outputs,
        perturbation=perturbations.GaussianNoise(0.1),
        stability_loss="kl",
        from_logits=True,
        stop_gradient_clean=True,
        confidence_threshold=0.4,
        sharpen_temperature=0.5,
        signal_annealing="exp",
        annealing_steps=20,
        seed=2,
        **kwargs,
    )


def test_uda_trains_on_labeled_and_unlabeled_rows_saves_and_reloads(rng, tmp_path):
    model = _uda_model()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    images = rng.random((24, 8, 8, 1)).astype("float32")
    labeled = np.arange(24) % 4 == 0
    history = model.fit(
        {CLEAN_KEY: images, LABELED_KEY: labeled},
        np.where(labeled, np.arange(24) % 3, 0),
        batch_size=8,
        epochs=2,
        verbose=0,
    )
    logs = history.history
    assert {"confidence_mask_share", "signal_annealing_share"} <= set(logs)
    for key in ("loss", "stability_loss", "confidence_mask_share"):
        assert all(np.isfinite(logs[key])), key
    assert all(0 <= v <= 1 for v in logs["signal_annealing_share"])
    model.save(tmp_path / "uda.keras")
    loaded = keras.saving.load_model(tmp_path / "uda.keras", safe_mode=True)
    for key in (
        "confidence_threshold",
        "sharpen_temperature",
        "signal_annealing",
        "annealing_steps",
    ):
        assert getattr(loaded, key) == getattr(model, key), key
    assert (loaded.signal_annealing, loaded.annealing_steps) == ("exp", 20)
    np.testing.assert_allclose(
        _numpy(loaded.predict(images, verbose=0)),
        _numpy(model.predict(images, verbose=0)),
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    ("kwargs", "received"),
    [
        ({"confidence_threshold": 1.0}, "confidence_threshold=1.0"),
        ({"confidence_threshold": -0.2}, "confidence_threshold=-0.2"),
        ({"sharpen_temperature": 0}, "sharpen_temperature=0"),
        (
            {"signal_annealing": "cosine", "annealing_steps": 5},
            "signal_annealing='cosine'",
        ),
        ({"signal_annealing": "linear"}, "annealing_steps=None"),
        ({"signal_annealing": "linear", "annealing_steps": 0}, "annealing_steps=0"),
        ({"annealing_steps": 10}, "annealing_steps=10"),
    ],
)
def test_bad_uda_options_are_refused(kwargs, received):
    with pytest.raises(ValueError, match=rf"Received: {received}"):
        _linear(lambda x: x, stability_loss="kl", **kwargs)


def test_uda_options_need_a_distribution_loss_and_annealing_one_output():
    with pytest.raises(ValueError, match=r"Received: stability_loss='l2'"):
        _linear(lambda x: x, stability_loss="l2", confidence_threshold=0.5)
    inputs = keras.Input((4,))
    outputs = [keras.layers.Dense(3)(inputs), keras.layers.Dense(2)(inputs)]
    with pytest.raises(ValueError, match=r"output shapes"):
        StabilityModel(
            inputs,
            outputs,
            perturbation=lambda x: x,
            stability_loss="l2",
            signal_annealing="log",
            annealing_steps=5,
        )


REGULARIZERS = {
    "views": {"num_views": 3, "stability_loss": "jsd"},
    "fraction": {"perturb_fraction": 0.25},
    "adversarial": {
        "perturbation": perturbations.Adversarial(0.03, steps=2, norm="l2")
    },
    "uda": {
        "stop_gradient_clean": True,
        "confidence_threshold": 0.2,
        "sharpen_temperature": 0.5,
        "signal_annealing": "log",
        "annealing_steps": 10,
    },
}


@pytest.mark.tensorflow  # SavedModel
@pytest.mark.parametrize("name", list(REGULARIZERS))
def test_every_regularizer_fits_saves_reloads_and_exports(name, rng, tmp_path):
    import tensorflow as tf

    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(4, activation="softmax")(
        keras.layers.Flatten()(keras.layers.Conv2D(2, 3)(inputs))
    )
    arguments = {"perturbation": perturbations.GaussianNoise(0.05), "seed": 1}
    arguments.update(REGULARIZERS[name])
    model = StabilityModel(inputs, outputs, **arguments)
    model.compile("adam", "sparse_categorical_crossentropy")
    x = rng.random((16, 8, 8, 3)).astype("float32")
    history = model.fit(x, np.arange(16) % 4, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["stability_loss"][0])
    model.save(tmp_path / f"{name}.keras")
    loaded = keras.saving.load_model(tmp_path / f"{name}.keras", safe_mode=True)
    for key, value in REGULARIZERS[name].items():
        if key != "perturbation":
            assert getattr(loaded, key) == value, key
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-6)
    loaded.export(str(tmp_path / name), verbose=False)
    exported = tf.saved_model.load(str(tmp_path / name))  # kept: owns the weights
    served = exported.serve(tf.constant(x))
    np.testing.assert_allclose(served.numpy(), expected, rtol=1e-5, atol=1e-6)
