"""Stability losses against NumPy references written here."""

import re

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
        match=r"`stability_loss`.*Received: stability_loss='kld'",
    ):
        losses.get("kld")
    with pytest.raises(
        ValueError, match=r"`stability_loss`.*Received: stability_loss=3"
    ):
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
        match=rf"`from_logits`.*Received: from_logits={re.escape(repr(value))}$",
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
        # The triplet losses it re-exports are run in tests/triplet/.
        if getattr(losses, name).__module__ == losses.__name__
    ],
)
def test_docstring_example_runs(name, run_example):
    run_example(getattr(losses, name))


# ---------------------------------------------------------------------------
# Callables as stability losses, extreme inputs and shape checks.


def _private_term(clean, perturbed):
    return ops.sum(ops.abs(clean - perturbed), axis=-1)


def l1_term(clean, perturbed):
    return ops.sum(ops.abs(clean - perturbed), axis=-1)


def test_get_names_a_callable_only_by_a_valid_scope_name():
    # TensorFlow refuses "<lambda>" and "_private_term" as root name scopes.
    assert losses.get(lambda a, b: a - b).name == "stability_loss"
    assert losses.get(_private_term).name == "stability_loss"
    assert losses.get(l1_term).name == "l1_term"


def test_fit_with_a_lambda_stability_loss():
    from keras_stability import StabilityModel

    # Dense(2) without bias and a perturbation adding 1 to every input:
    # f(x') - f(x) = 1 @ W, the column sums of W, (3, -0.5), for every
    # sample, so the L1 term is 3 + 0.5 = 3.5.
    kernel = np.array([[1.0, -2.0], [3.0, 0.5], [-1.0, 1.0]], "float32")
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(
        2, use_bias=False, kernel_initializer=keras.initializers.Constant(kernel)
    )(inputs)
    model = StabilityModel(
        inputs,
        outputs,
        perturbation=lambda x: x + 1.0,
        stability_loss=lambda clean, perturbed: ops.sum(
            ops.abs(clean - perturbed), axis=-1
        ),
        seed=0,
    )
    term = model.stability_loss
    assert term.__name__ == "<lambda>"
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0))
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    history = model.fit(x, epochs=1, batch_size=4, verbose=0)
    reported = history.history["stability_loss"][0]
    assert reported == pytest.approx(3.5, rel=1e-6)
    clean = model.predict(x, verbose=0)
    perturbed = model.predict(x + 1.0, verbose=0)
    by_lambda = float(np.mean(ops.convert_to_numpy(term(clean, perturbed))))
    assert reported == pytest.approx(by_lambda, rel=1e-6)


# Logits more than float32's range apart: log_softmax gives -inf, and the
# probability of those classes is exactly 0.
_HUGE_CLEAN = np.array([[3e38, -3e38, 0.0], [3e38, -3e38, 0.0]], "float32")
_HUGE_PERTURBED = np.array([[0.0, -3e38, 3e38], [3e38, -3e38, 0.0]], "float32")


def test_distribution_losses_at_logits_beyond_float32_range():
    # In float64 the log-softmax is exact here: row 0 has clean p = (1, 0, 0)
    # and perturbed log q = (-3e38, -6e38, 0); row 1 is the same on both.
    log_p = _np_log_softmax(_HUGE_CLEAN.astype("float64"))
    log_q = _np_log_softmax(_HUGE_PERTURBED.astype("float64"))
    p = np.exp(log_p)
    # Over the classes of nonzero p (0 log 0 = 0), from the float64 logs.
    kl = np.array(
        [sum(p[i][p[i] > 0] * (log_p[i] - log_q[i])[p[i] > 0]) for i in range(2)]
    )
    ce = np.array([-sum(p[i][p[i] > 0] * log_q[i][p[i] > 0]) for i in range(2)])
    logit = float(np.float32(3e38))  # the float32 nearest to 3e38
    np.testing.assert_array_equal(kl, [logit, 0.0])
    np.testing.assert_array_equal(ce, [logit, 0.0])
    got = ops.convert_to_numpy(
        losses.kl_divergence(_HUGE_CLEAN, _HUGE_PERTURBED, from_logits=True)
    )
    np.testing.assert_allclose(got, kl, rtol=1e-6)
    # Disjoint one-hot rows: log 2; equal rows: 0.
    jsd = ops.convert_to_numpy(
        losses.jensen_shannon_divergence(_HUGE_CLEAN, _HUGE_PERTURBED, from_logits=True)
    )
    np.testing.assert_allclose(jsd, [np.log(2.0), 0.0], atol=1e-7)
    # Cross-entropy: -log q of the clean class, 3e38 and 0; the entropy of a
    # one-hot p is 0.
    ce_reference = ce
    ce = ops.convert_to_numpy(
        losses.cross_entropy(_HUGE_CLEAN, _HUGE_PERTURBED, from_logits=True)
    )
    np.testing.assert_allclose(ce, ce_reference, rtol=1e-6)


@pytest.mark.parametrize(
    "fn",
    [losses.kl_divergence, losses.cross_entropy, losses.jensen_shannon_divergence],
)
def test_gradients_at_logits_beyond_float32_range_are_finite(fn, value_and_gradient):
    def total(perturbed):
        return ops.sum(fn(_HUGE_CLEAN, perturbed, from_logits=True))

    value, gradient = value_and_gradient(total, _HUGE_PERTURBED)
    assert np.isfinite(value)
    assert np.all(np.isfinite(gradient))
    if fn is not losses.jensen_shannon_divergence:
        # d KL / d logits_q = d CE / d logits_q = softmax(q) - p.
        expected = _np_softmax(_HUGE_PERTURBED.astype("float64")) - _np_softmax(
            _HUGE_CLEAN.astype("float64")
        )
        np.testing.assert_allclose(gradient, expected, atol=1e-7)

    def total_clean(clean):
        return ops.sum(fn(clean, _HUGE_PERTURBED, from_logits=True))

    value, gradient = value_and_gradient(total_clean, _HUGE_CLEAN)
    assert np.isfinite(value)
    assert np.all(np.isfinite(gradient))


def test_l2_distance_of_huge_outputs(value_and_gradient):
    # Squares of 1e20 overflow float32; the distances, 5e20 and 0, do not.
    clean = np.array([[0.0, 0.0], [1e20, -1e20]], "float32")
    perturbed = np.array([[3e20, 4e20], [1e20, -1e20]], "float32")
    expected = np.sqrt(
        ((clean.astype("float64") - perturbed.astype("float64")) ** 2).sum(axis=-1)
    )
    got = ops.convert_to_numpy(losses.l2_distance(clean, perturbed))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert float(losses.L2Distance()(clean, perturbed)) == pytest.approx(
        expected.mean(), rel=1e-6
    )
    # Outputs 3.4e38 apart: the distance itself fits float32.
    far = ops.convert_to_numpy(
        losses.l2_distance(
            np.array([[1.7e38, 0.0]], "float32"), np.array([[-1.7e38, 0.0]], "float32")
        )
    )
    np.testing.assert_allclose(far, [3.4e38], rtol=1e-6)

    # d||b - a|| / db = (b - a) / ||b - a||; 0 at distance 0.
    def total(b):
        return ops.sum(losses.l2_distance(clean, b))

    value, gradient = value_and_gradient(total, perturbed)
    assert value == pytest.approx(5e20, rel=1e-6)
    np.testing.assert_allclose(gradient, [[0.6, 0.8], [0.0, 0.0]], atol=1e-7)


def test_squared_l2_distance_beyond_float32_is_inf_not_nan():
    # The documented limit: 25e40 does not fit float32.
    clean = np.array([[0.0, 0.0], [1.0, 2.0]], "float32")
    perturbed = np.array([[3e20, 4e20], [4.0, 6.0]], "float32")
    got = ops.convert_to_numpy(losses.squared_l2_distance(clean, perturbed))
    np.testing.assert_array_equal(got, [np.inf, 25.0])


# Both names, and both shapes received.
_SHAPE_MESSAGE = r"`clean` and `perturbed`.*" + re.escape(
    "Received: clean.shape=(2, 3), perturbed.shape=(1, 3)"
)


@pytest.mark.parametrize(
    "fn",
    [
        lambda a, b: losses.kl_divergence(a, b, from_logits=True),
        lambda a, b: losses.cross_entropy(a, b),
        lambda a, b: losses.jensen_shannon_divergence(a, b, from_logits=True),
        losses.l2_distance,
        losses.squared_l2_distance,
        losses.KLDivergence(from_logits=True),
        losses.CrossEntropy(),
        losses.JensenShannonDivergence(),
        losses.L2Distance(),
        losses.SquaredL2Distance(),
    ],
    ids=[
        "kl_divergence",
        "cross_entropy",
        "jensen_shannon_divergence",
        "l2_distance",
        "squared_l2_distance",
        "KLDivergence",
        "CrossEntropy",
        "JensenShannonDivergence",
        "L2Distance",
        "SquaredL2Distance",
    ],
)
def test_clean_and_perturbed_must_have_the_same_shape(fn):
    clean = np.full((2, 3), 1.0 / 3.0, "float32")
    perturbed = np.full((1, 3), 1.0 / 3.0, "float32")
    with pytest.raises(ValueError, match=_SHAPE_MESSAGE):
        fn(clean, perturbed)


def test_unknown_dimensions_pass_the_shape_check():
    # While tracing, the batch dimension is unknown: it matches any size.
    clean = keras.KerasTensor((None, 3))
    for perturbed in (keras.KerasTensor((None, 3)), keras.KerasTensor((4, 3))):
        for fn in (losses.kl_divergence, losses.l2_distance):
            assert len(fn(clean, perturbed).shape) == 1
    with pytest.raises(
        ValueError,
        match=re.escape("Received: clean.shape=(None, 3), perturbed.shape=(None, 4)"),
    ):
        losses.kl_divergence(clean, keras.KerasTensor((None, 4)))


def _np_consistency(distributions):
    """AugMix's term: the mean KL of each distribution from their mixture."""
    m = np.mean(distributions, axis=0)
    return np.mean([_np_kl(p, m) for p in distributions], axis=0)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_jensen_shannon_consistency_against_numpy(k, rng):
    probabilities = rng.dirichlet(np.ones(5), size=(k + 1, 8))
    got = losses.jensen_shannon_consistency(probabilities[0], probabilities[1:])
    np.testing.assert_allclose(
        ops.convert_to_numpy(got), _np_consistency(probabilities), rtol=1e-5
    )
    logits = rng.normal(scale=3.0, size=(k + 1, 8, 5)).astype("float32")
    got = losses.jensen_shannon_consistency(logits[0], logits[1:], from_logits=True)
    reference = _np_consistency(_np_softmax(logits.astype("float64")))
    np.testing.assert_allclose(ops.convert_to_numpy(got), reference, rtol=1e-4)


def test_jensen_shannon_consistency_of_one_view_is_the_divergence(distributions):
    p, q = distributions
    one_view = losses.jensen_shannon_consistency(p, q[None])
    np.testing.assert_allclose(
        ops.convert_to_numpy(one_view),
        ops.convert_to_numpy(losses.jensen_shannon_divergence(p, q)),
        rtol=1e-6,
    )


def test_jensen_shannon_consistency_at_extreme_logits_is_finite():
    clean = np.array([[1e30, -1e30, 0.0]], "float32")
    views = np.array([[[-1e30, 1e30, 0.0]], [[0.0, 0.0, 1e30]]], "float32")
    got = ops.convert_to_numpy(
        losses.jensen_shannon_consistency(clean, views, from_logits=True)
    )
    # Three disjoint one-hot distributions: log 3.
    np.testing.assert_allclose(got, [np.log(3.0)], rtol=1e-5)


def test_jensen_shannon_loss_takes_stacked_views(rng):
    probabilities = rng.dirichlet(np.ones(4), size=(3, 6))
    loss = losses.JensenShannonDivergence()
    got = float(ops.convert_to_numpy(loss(probabilities[0], probabilities[1:])))
    assert got == pytest.approx(_np_consistency(probabilities).mean(), rel=1e-5)


def test_jensen_shannon_consistency_refuses_unstacked_views():
    with pytest.raises(ValueError, match=r"Received: views\.shape=\(2, 3\)"):
        losses.jensen_shannon_consistency(np.ones((2, 3)), np.ones((2, 3)))
