"""Stability losses against NumPy references written here."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_stability import losses


def _np_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def _np_log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _np_kl(p, q):
    """KL(p || q) per row by an explicit loop, 0 log 0 = 0."""
    out = np.zeros(p.shape[0])
    for i in range(p.shape[0]):
        for j in range(p.shape[1]):
            if p[i, j] > 0:
                out[i] += p[i, j] * (np.log(p[i, j]) - np.log(q[i, j]))
    return out


def _np_cross_entropy(p, q):
    out = np.zeros(p.shape[0])
    for i in range(p.shape[0]):
        for j in range(p.shape[1]):
            if p[i, j] > 0:
                out[i] -= p[i, j] * np.log(q[i, j])
    return out


def _np_jsd(p, q):
    m = (p + q) / 2
    return (_np_kl(p, m) + _np_kl(q, m)) / 2


@pytest.fixture
def distributions(rng):
    p = rng.dirichlet(np.ones(5), size=8)
    q = rng.dirichlet(np.ones(5), size=8)
    return p.astype("float64"), q.astype("float64")


@pytest.fixture
def logits(rng):
    return (
        rng.normal(scale=3.0, size=(8, 5)).astype("float32"),
        rng.normal(scale=3.0, size=(8, 5)).astype("float32"),
    )


@pytest.mark.parametrize(
    "fn, reference",
    [
        (losses.kl_divergence, _np_kl),
        (losses.cross_entropy, _np_cross_entropy),
        (losses.jensen_shannon_divergence, _np_jsd),
    ],
)
def test_distribution_losses_from_probabilities(fn, reference, distributions):
    p, q = distributions
    got = ops.convert_to_numpy(fn(p.astype("float32"), q.astype("float32")))
    np.testing.assert_allclose(got, reference(p, q), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "fn, reference",
    [
        (losses.kl_divergence, _np_kl),
        (losses.cross_entropy, _np_cross_entropy),
        (losses.jensen_shannon_divergence, _np_jsd),
    ],
)
def test_distribution_losses_from_logits(fn, reference, logits):
    a, b = logits
    got = ops.convert_to_numpy(fn(a, b, from_logits=True))
    expected = reference(
        _np_softmax(a.astype("float64")), _np_softmax(b.astype("float64"))
    )
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_cross_entropy_is_kl_plus_clean_entropy(distributions):
    p, q = distributions
    entropy = -(p * np.log(p)).sum(axis=-1)
    ce = ops.convert_to_numpy(losses.cross_entropy(p, q))
    kl = ops.convert_to_numpy(losses.kl_divergence(p, q))
    np.testing.assert_allclose(ce, kl + entropy, rtol=1e-6)


@pytest.mark.tensorflow  # gradients through tf.GradientTape
def test_kl_at_extreme_logits_is_finite_with_finite_gradients():
    clean = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], "float32")
    perturbed = np.array([[-1e4, 1e4, 0.0], [-1e4, 1e4, 5.0]], "float32")
    # Reference by log-softmax in float64: row 0 puts all mass on class 0 in
    # the clean copy and log-probability -2e4 there in the perturbed one.
    log_p = _np_log_softmax(clean.astype("float64"))
    log_q = _np_log_softmax(perturbed.astype("float64"))
    expected = (np.exp(log_p) * (log_p - log_q)).sum(axis=-1)
    assert expected[0] == pytest.approx(2e4)

    for fn in (
        losses.kl_divergence,
        losses.cross_entropy,
        losses.jensen_shannon_divergence,
    ):
        value = ops.convert_to_numpy(fn(clean, perturbed, from_logits=True))
        assert np.all(np.isfinite(value)), fn.__name__
    kl = ops.convert_to_numpy(losses.kl_divergence(clean, perturbed, from_logits=True))
    np.testing.assert_allclose(kl, expected, rtol=1e-6, atol=1e-3)
    jsd = ops.convert_to_numpy(
        losses.jensen_shannon_divergence(clean, perturbed, from_logits=True)
    )
    # Disjoint one-hot rows: JSD is log 2; identical rows: 0.
    np.testing.assert_allclose(jsd, [np.log(2), 0.0], atol=1e-6)

    import tensorflow as tf

    variable = tf.Variable(perturbed)
    with tf.GradientTape() as tape:
        loss = ops.sum(losses.kl_divergence(clean, variable, from_logits=True))
    gradient = tape.gradient(loss, variable).numpy()
    assert np.all(np.isfinite(gradient))
    # d KL / d logits_q = softmax(q) - p.
    np.testing.assert_allclose(
        gradient,
        _np_softmax(perturbed.astype("float64")) - np.exp(log_p),
        atol=1e-6,
    )


def test_probability_inputs_with_zeros_stay_finite():
    p = np.array([[1.0, 0.0, 0.0]], "float32")
    q = np.array([[0.0, 1.0, 0.0]], "float32")
    eps = keras.config.epsilon()
    kl = float(ops.convert_to_numpy(losses.kl_divergence(p, q))[0])
    # All mass of p on a class where q is 0, floored at epsilon.
    assert kl == pytest.approx(-np.log(eps), rel=1e-5)


def test_l2_and_squared_l2(rng):
    a = rng.normal(size=(6, 4)).astype("float32")
    b = rng.normal(size=(6, 4)).astype("float32")
    expected_sq = np.array(
        [sum((a[i, j] - b[i, j]) ** 2 for j in range(4)) for i in range(6)]
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(losses.squared_l2_distance(a, b)), expected_sq, rtol=1e-5
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(losses.l2_distance(a, b)), np.sqrt(expected_sq), rtol=1e-5
    )


@pytest.mark.tensorflow  # gradients through tf.GradientTape
def test_l2_gradient_at_zero_distance_is_zero_not_nan():
    import tensorflow as tf

    a = tf.constant([[1.0, 2.0], [0.0, 0.0]])
    b = tf.Variable([[1.0, 2.0], [3.0, 4.0]])
    with tf.GradientTape() as tape:
        loss = ops.sum(losses.l2_distance(a, b))
    gradient = tape.gradient(loss, b).numpy()
    # Row 0: distance 0, gradient 0. Row 1: d||b-a||/db = (b-a)/||b-a||.
    np.testing.assert_allclose(gradient, [[0.0, 0.0], [0.6, 0.8]], atol=1e-7)


@pytest.mark.parametrize(
    "loss, fn",
    [
        (losses.KLDivergence(from_logits=True), losses.kl_divergence),
        (losses.CrossEntropy(from_logits=True), losses.cross_entropy),
        (
            losses.JensenShannonDivergence(from_logits=True),
            losses.jensen_shannon_divergence,
        ),
    ],
)
def test_classes_reduce_with_sample_weight(loss, fn, logits):
    a, b = logits
    weights = np.linspace(0.0, 2.0, a.shape[0]).astype("float32")
    per_sample = ops.convert_to_numpy(fn(a, b, from_logits=True))
    # Keras's "sum_over_batch_size": weighted sum over the batch size.
    expected = (per_sample * weights).sum() / a.shape[0]
    got = float(ops.convert_to_numpy(loss(a, b, sample_weight=weights)))
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_inputs_are_computed_in_float32(dtype, logits):
    a, b = logits
    loss = losses.KLDivergence(from_logits=True)
    got = loss(ops.cast(a, dtype), ops.cast(b, dtype))
    assert keras.backend.standardize_dtype(got.dtype) == "float32"
    a_low = ops.convert_to_numpy(ops.cast(ops.cast(a, dtype), "float32")).astype(
        "float64"
    )
    b_low = ops.convert_to_numpy(ops.cast(ops.cast(b, dtype), "float32")).astype(
        "float64"
    )
    expected = _np_kl(_np_softmax(a_low), _np_softmax(b_low)).mean()
    assert float(ops.convert_to_numpy(got)) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize(
    "loss",
    [
        losses.KLDivergence(
            from_logits=True, reduction="sum", name="kl2", dtype="float64"
        ),
        losses.CrossEntropy(from_logits=True, reduction="none", name="ce2"),
        losses.JensenShannonDivergence(from_logits=True, reduction="mean", name="js2"),
        losses.L2Distance(reduction="sum", name="l2b"),
        losses.SquaredL2Distance(reduction="none", name="sq2"),
    ],
)
def test_config_round_trip(loss):
    config = loss.get_config()
    restored = type(loss).from_config(config)
    assert restored.get_config() == config
    import inspect

    for parameter in inspect.signature(type(loss).__init__).parameters:
        if parameter not in ("self", "kwargs"):
            assert parameter in config
    serialized = keras.saving.serialize_keras_object(loss)
    assert serialized["registered_name"].startswith("keras_stability>")
    again = keras.saving.deserialize_keras_object(serialized)
    assert type(again) is type(loss) and again.get_config() == config


@pytest.mark.parametrize(
    "name, cls",
    [
        ("kl", losses.KLDivergence),
        ("cross_entropy", losses.CrossEntropy),
        ("jsd", losses.JensenShannonDivergence),
        ("l2", losses.L2Distance),
        ("squared_l2", losses.SquaredL2Distance),
    ],
)
def test_get_by_name(name, cls):
    loss = losses.get(name, from_logits=True)
    assert type(loss) is cls
    if hasattr(loss, "from_logits"):
        assert loss.from_logits is True


def test_get_wraps_a_callable_with_keras_reduction():
    loss = losses.get(
        lambda clean, perturbed: ops.sum(ops.abs(clean - perturbed), axis=-1)
    )
    a = np.array([[0.0, 1.0], [2.0, 2.0]], "float32")
    b = np.array([[1.0, 1.0], [0.0, 0.0]], "float32")
    assert float(ops.convert_to_numpy(loss(a, b))) == pytest.approx((1.0 + 4.0) / 2)


def test_get_rejects_unknown_names_and_objects():
    with pytest.raises(
        ValueError,
        match=r"`stability_loss` must be one of .*Received: stability_loss='kld'",
    ):
        losses.get("kld")
    with pytest.raises(ValueError, match=r"Received: stability_loss=3"):
        losses.get(3)


def test_logits_read_as_probabilities_are_clipped_to_a_zero_term():
    # The documented failure that `from_logits=True` avoids: negative logits
    # all clip to epsilon, so both rows read as the same "distribution".
    clean = np.array([[-3.0, -1.0, -2.0]], "float32")
    perturbed = np.array([[-1.0, -2.0, -5.0]], "float32")
    assert float(losses.KLDivergence()(clean, perturbed)) == 0.0
    expected = _np_kl(
        _np_softmax(clean.astype("float64")), _np_softmax(perturbed.astype("float64"))
    )[0]
    assert expected > 0.5
    got = float(losses.KLDivergence(from_logits=True)(clean, perturbed))
    assert got == pytest.approx(expected, rel=1e-5)


_PROBABILISTIC = [
    losses.KLDivergence,
    losses.CrossEntropy,
    losses.JensenShannonDivergence,
]


@pytest.mark.parametrize("cls", _PROBABILISTIC)
@pytest.mark.parametrize("value", ["no", "False", 1, 0, None, 1.0])
def test_from_logits_must_be_a_bool(cls, value):
    with pytest.raises(
        ValueError,
        match=rf"`from_logits` must be a bool. Received: from_logits={value!r}$",
    ):
        cls(from_logits=value)


@pytest.mark.parametrize("cls", _PROBABILISTIC)
def test_from_logits_accepts_numpy_bools_as_python_bools(cls):
    loss = cls(from_logits=np.bool_(True))
    assert loss.from_logits is True
    assert loss.get_config()["from_logits"] is True
    assert cls(from_logits=np.False_).from_logits is False


_ALL_CLASSES = [*_PROBABILISTIC, losses.L2Distance, losses.SquaredL2Distance]


@pytest.mark.parametrize("cls", _ALL_CLASSES)
def test_keyword_arguments_reach_keras_loss(cls, monkeypatch):
    # A keyword only keras.losses.Loss knows (as a later Keras may add one)
    # goes through the class to its parent.
    received = {}
    original = keras.losses.Loss.__init__

    def init(self, *args, future_option=None, **kwargs):
        received["future_option"] = future_option
        original(self, *args, **kwargs)

    monkeypatch.setattr(keras.losses.Loss, "__init__", init)
    loss = cls(name="custom", reduction="sum", dtype="float16", future_option=7)
    assert received == {"future_option": 7}
    assert (loss.name, loss.reduction, loss.dtype) == ("custom", "sum", "float16")


@pytest.mark.parametrize("cls", _ALL_CLASSES)
def test_name_reduction_and_dtype_pass_through_and_round_trip(cls, logits):
    a, b = logits
    kwargs = {"name": "custom", "reduction": "none", "dtype": "float16"}
    if cls in _PROBABILISTIC:
        kwargs["from_logits"] = True
    loss = cls(**kwargs)
    config = loss.get_config()
    assert {k: config[k] for k in kwargs} == kwargs
    restored = cls.from_config(config)
    assert restored.get_config() == config
    # dtype is used, not only stored: the loss is computed in float16.
    per_sample = restored(a, b)
    assert keras.backend.standardize_dtype(per_sample.dtype) == "float16"
    assert tuple(per_sample.shape) == (a.shape[0],)  # reduction="none"


@pytest.mark.parametrize(
    "name",
    [
        name
        for name in losses.__all__
        # The triplet losses it re-exports are run in tests/test_triplet.py.
        if getattr(losses, name).__module__ == losses.__name__
        and "Example:" in getattr(losses, name).__doc__
    ],
)
def test_docstring_example_runs(name, run_example):
    run_example(getattr(losses, name))
