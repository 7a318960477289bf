"""Tests of perturbations/adversarial.py: PGD against closed forms and NumPy."""

import inspect
import re

import keras
import numpy as np
import pytest
from keras import ops
from keras.ops import convert_to_numpy as to_numpy

from keras_stability._seeds import StepSeed
from keras_stability.perturbations import Adversarial
from keras_stability.perturbations import Compose
from keras_stability.perturbations import GaussianNoise
from keras_stability.perturbations import OneOf
from keras_stability.perturbations import ThumbnailResize
from keras_stability.perturbations import attack_objective
from keras_stability.perturbations import needs_objective

PAIR = np.array([3, 5])
SHAPE = (3, 4, 4, 1)


@pytest.fixture
def weights(rng):
    """One linear output's weights, none near zero (their signs matter)."""
    w = rng.normal(size=(1, *SHAPE[1:]))
    return (np.sign(w) * (0.5 + np.abs(w))).astype("float32")


@pytest.fixture
def clean(rng):
    """Images around 0.5, so that a small ball stays inside (0, 1)."""
    return (0.5 + 0.05 * rng.uniform(-1, 1, SHAPE)).astype("float32")


def stability_objective(weights, clean):
    """sum_i (w . x'_i - w . x_i)^2: a linear model's L2 stability term."""

    def objective(images):
        difference = ops.multiply(ops.subtract(images, clean), weights)
        return ops.sum(ops.square(ops.sum(difference, axis=(1, 2, 3))))

    return objective


def stability_gradient(weights, clean):
    def gradient(images):
        margin = ((images - clean) * weights).sum(axis=(1, 2, 3), keepdims=True)
        return 2 * margin * weights

    return gradient


def seed_pairs(count):
    """The pairs a fresh `StepSeed(PAIR)` hands out, its first `count` draws."""
    seed = StepSeed(PAIR)
    return [to_numpy(seed.next()) for _ in range(count)]


def reference_start(shape, norm, radius, pairs, uniform):
    """The random start in NumPy, from the seed pairs and `portable_uniform`'s
    reference draws: uniform in the cube, or Box-Muller normals normalized
    per image and a radius uniform in the ball's volume."""
    if norm == "inf":
        return radius * (2 * uniform(shape, pairs[0]) - 1)
    first, second = 1 - uniform(shape, pairs[0]), uniform(shape, pairs[1])
    normals = np.sqrt(-2 * np.log(first)) * np.cos(2 * np.pi * second)
    norms = np.sqrt((normals**2).sum(axis=(1, 2, 3), keepdims=True))
    fraction = uniform((shape[0], 1, 1, 1), pairs[2])
    return radius * fraction ** (1 / np.prod(shape[1:])) * normals / norms


def reference_attack(x, gradient, delta, radius, step, steps, norm, low, high):
    """Projected gradient ascent in float64, as the layer's docstring states it."""
    x = x.astype(np.float64)
    delta = np.clip(x + delta, low, high) - x
    for _ in range(steps):
        g = gradient(x + delta)
        if norm == "inf":
            delta = np.clip(delta + step * np.sign(g), -radius, radius)
        else:
            g_norm = np.sqrt((g**2).sum(axis=(1, 2, 3), keepdims=True))
            delta = delta + step * np.where(
                g_norm > 0, g / np.maximum(g_norm, 1e-300), 0
            )
            norm2 = np.sqrt((delta**2).sum(axis=(1, 2, 3), keepdims=True))
            delta = delta * np.minimum(1, radius / np.maximum(norm2, 1e-300))
        delta = np.clip(x + delta, low, high) - x
    return np.clip(x + delta, low, high)


def attack(layer, images, objective, seed=None):
    with attack_objective(objective):
        return to_numpy(layer(images, seed=seed))


def test_fgsm_reaches_the_worst_linf_corner(weights, clean, portable_uniform_reference):
    epsilon = 0.02
    layer = Adversarial(epsilon)
    out = attack(layer, clean, stability_objective(weights, clean), StepSeed(PAIR))
    delta = out.astype(np.float64) - clean
    # The worst L-inf change of w . x is +-eps * sign(w); one step of 2.5 eps
    # reaches it from any start, on the side of w . delta_0.
    start = reference_start(
        SHAPE, "inf", epsilon, seed_pairs(1), portable_uniform_reference
    )
    side = np.sign((start * weights).sum(axis=(1, 2, 3)))
    expected = side[:, None, None, None] * epsilon * np.sign(weights)
    np.testing.assert_allclose(delta, expected, rtol=0, atol=1e-7)
    assert set(side) == {-1.0, 1.0}  # both sides occur in this batch


def test_l2_pgd_converges_to_the_worst_direction(weights, clean):
    epsilon = 0.05
    unit = weights / np.sqrt((weights**2).sum())
    # Steps of eps halve the start's component off the direction of w.
    layer = Adversarial(epsilon, steps=20, step_size=epsilon, norm="l2")
    out = attack(layer, clean, stability_objective(weights, clean), StepSeed(PAIR))
    delta = out.astype(np.float64) - clean
    side = np.sign((delta * weights).sum(axis=(1, 2, 3)))[:, None, None, None]
    np.testing.assert_allclose(delta, side * epsilon * unit, rtol=0, atol=1e-6)


@pytest.mark.parametrize("norm, steps", [("inf", 3), ("l2", 1), ("l2", 7)])
def test_the_attack_matches_numpy(
    norm, steps, weights, clean, portable_uniform_reference
):
    # Fixed seed, fixed x': the same on every backend, since the reference
    # is NumPy's. The default step size is 2.5 eps / steps.
    epsilon = 0.03
    layer = Adversarial(epsilon, steps=steps, norm=norm)
    out = attack(layer, clean, stability_objective(weights, clean), StepSeed(PAIR))
    start = reference_start(
        SHAPE, norm, epsilon, seed_pairs(3), portable_uniform_reference
    )
    expected = reference_attack(
        clean,
        stability_gradient(weights, clean),
        start,
        epsilon,
        2.5 * epsilon / steps,
        steps,
        norm,
        0,
        1,
    )
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("norm", ["inf", "l2"])
def test_the_random_start_matches_numpy(norm, clean, portable_uniform_reference):
    # With a flat objective no step moves: x' is the clipped random start.
    def flat(images):
        return ops.sum(ops.multiply(images, 0.0))

    epsilon = 0.04
    out = attack(Adversarial(epsilon, steps=2, norm=norm), clean, flat, StepSeed(PAIR))
    start = reference_start(
        SHAPE, norm, epsilon, seed_pairs(3), portable_uniform_reference
    )
    np.testing.assert_allclose(out, clean + start, rtol=0, atol=1e-6)
    # The layer's own generator, seeded with 7, hands out [7, 0], [7, 1], ...
    own = attack(Adversarial(epsilon, norm=norm, seed=7), clean, flat)
    pairs = [[7, 0], [7, 1], [7, 2]]
    start = reference_start(SHAPE, norm, epsilon, pairs, portable_uniform_reference)
    np.testing.assert_allclose(own, clean + start, rtol=0, atol=1e-6)


@pytest.mark.parametrize("norm", ["inf", "l2"])
def test_the_ball_and_the_value_range_bound_x_prime(norm, rng):
    epsilon = 0.03
    images = rng.integers(0, 256, (4, 6, 6, 3)).astype("float32")
    images[0] = 0.0
    images[1] = 255.0  # the range clips x' on both sides

    def objective(x):
        return ops.sum(ops.multiply(ops.square(x), np.float32(1 / 255)))

    layer = Adversarial(epsilon, steps=4, norm=norm, value_range=(0, 255))
    out = attack(layer, images, objective, StepSeed(PAIR))
    assert out.min() >= 0 and out.max() <= 255
    delta = out.astype(np.float64) - images
    bound = epsilon * 255 * (1 + 1e-6)
    if norm == "inf":
        assert np.abs(delta).max() <= bound
        assert np.abs(delta[2:]).max() > 0.9 * epsilon * 255  # the ball is used
    else:
        norms = np.sqrt((delta**2).sum(axis=(1, 2, 3)))
        assert norms.max() <= bound
        assert norms[2:].min() > 0.9 * epsilon * 255


@pytest.mark.parametrize("norm", ["inf", "l2"])
def test_epsilon_is_in_units_of_the_range_width(norm, weights, clean):
    # The same attack on 0..255 images is 255 times the one on 0..1 images.
    def run(scale):
        layer = Adversarial(0.03, steps=3, norm=norm, value_range=(0, scale))
        images = clean * np.float32(scale)
        return attack(
            layer, images, stability_objective(weights, images), StepSeed(PAIR)
        )

    np.testing.assert_allclose(run(255.0), 255 * run(1.0), rtol=1e-5)


@pytest.mark.parametrize("norm", ["inf", "l2"])
def test_a_zero_gradient_without_random_start_leaves_x(norm, weights, clean):
    # The stability term's gradient vanishes at x' = x.
    layer = Adversarial(0.05, steps=3, norm=norm, random_start=False)
    out = attack(layer, clean, stability_objective(weights, clean))
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out, clean)


def test_inside_compose_the_attack_starts_from_the_noisy_copy(weights):
    images = np.full(SHAPE, 0.5, "float32")

    def objective(x):
        # Gradient 2 w (x - 0.5): zero at the clean images, not at the noisy.
        return ops.sum(ops.multiply(ops.square(ops.subtract(x, 0.5)), weights))

    epsilon = 0.01
    layer = Compose([GaussianNoise(0.05), Adversarial(epsilon, random_start=False)])
    out = attack(layer, images, objective, StepSeed(PAIR))
    # The noise draws first from the seed given to the combination.
    noisy = to_numpy(GaussianNoise(0.05)(images, seed=StepSeed(PAIR))).astype(
        np.float64
    )
    expected = np.clip(noisy + epsilon * np.sign(weights * (noisy - 0.5)), 0, 1)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)
    assert np.abs(out - noisy).max() <= epsilon + 1e-6
    assert np.abs(out - images).max() > 2 * epsilon


def test_a_keras_models_stability_term(weights, clean, portable_uniform_reference):
    # The objective the model passes: its clean prediction fixed, rows apart.
    model = keras.Sequential([keras.Input(SHAPE[1:]), keras.layers.Flatten()])
    model.add(keras.layers.Dense(1, use_bias=False))
    model.layers[-1].set_weights([weights.reshape(-1, 1)])
    reference = ops.stop_gradient(model(clean, training=False))

    def objective(images):
        return ops.sum(ops.square(model(images, training=False) - reference))

    out = attack(Adversarial(0.02), clean, objective, StepSeed(PAIR))
    start = reference_start(
        SHAPE, "inf", 0.02, seed_pairs(1), portable_uniform_reference
    )
    side = np.sign((start * weights).sum(axis=(1, 2, 3)))[:, None, None, None]
    np.testing.assert_allclose(
        out - clean, side * 0.02 * np.sign(weights), rtol=0, atol=1e-6
    )


def test_no_gradient_flows_through_the_attack(weights, clean, value_and_gradient):
    # With objective v . x', one L2 step puts x' at x + eps v / ||v||. The
    # gradient of v . x' with respect to v is x' when x' is a constant; it
    # would gain eps v / ||v|| if it flowed through the attack.
    epsilon = 0.02
    layer = Adversarial(epsilon, norm="l2", random_start=False)

    def loss(v):
        with attack_objective(lambda x: ops.sum(ops.multiply(x, v))):
            attacked = layer(clean)
        return ops.sum(ops.multiply(attacked, v))

    v = weights.astype("float32")
    attacked = clean + epsilon * v / np.sqrt((v**2).sum())
    value, gradient = value_and_gradient(loss, v)
    np.testing.assert_allclose(value, (attacked * v).sum(), rtol=1e-5)
    np.testing.assert_allclose(gradient, attacked.sum(axis=0, keepdims=True), rtol=1e-5)


def test_under_torch_no_grad_as_in_evaluation(weights, clean):
    if keras.backend.backend() != "torch":
        pytest.skip("torch.no_grad is PyTorch's")
    import torch

    layer = Adversarial(0.03, steps=2, norm="l2")
    objective = stability_objective(weights, clean)
    with torch.no_grad():
        inside = attack(layer, clean, objective, StepSeed(PAIR))
    outside = attack(layer, clean, objective, StepSeed(PAIR))
    np.testing.assert_array_equal(inside, outside)
    assert not np.array_equal(inside, clean)


def test_needs_objective():
    adversarial = Adversarial(0.1)
    noise = GaussianNoise(0.1)
    assert needs_objective(adversarial)
    assert needs_objective(Compose([noise, adversarial]))
    assert needs_objective(
        OneOf([noise, Compose([ThumbnailResize(scale=0.5), adversarial])])
    )
    assert not needs_objective(noise)
    assert not needs_objective(OneOf([noise, Compose([ThumbnailResize(scale=0.5)])]))
    assert not needs_objective(Compose([noise, lambda x: x]))
    assert not needs_objective(keras.layers.Identity())
    assert not needs_objective(lambda x: x)
    assert not needs_objective(None)


def test_outside_a_scope_the_layer_refuses(clean):
    layer = Adversarial(0.1)
    message = "`Adversarial` needs the model it attacks: use it as a `StabilityModel`"
    with pytest.raises(ValueError, match=re.escape(message)):
        layer(clean)
    with pytest.raises(ValueError, match=re.escape(message)):
        Compose([GaussianNoise(0.01), layer])(clean)
    with attack_objective(lambda x: ops.sum(x)):
        layer(clean)
    with pytest.raises(ValueError, match=re.escape(message)):
        layer(clean)  # the scope closed
    # Inference leaves the images alone and needs no objective.
    np.testing.assert_array_equal(to_numpy(layer(clean, training=False)), clean)


def test_scopes_nest_and_the_objective_sees_float32_batches(clean):
    seen = []

    def inner(x):
        seen.append((tuple(x.shape), keras.backend.standardize_dtype(x.dtype)))
        return ops.sum(ops.negative(x))

    layer = Adversarial(0.1, random_start=False)
    with attack_objective(lambda x: ops.sum(x)):
        with attack_objective(inner):
            lowered = attack(layer, clean[0], inner)  # one image: a batch of 1
        raised = to_numpy(layer(clean))
    assert seen and all(s == ((1, *SHAPE[1:]), "float32") for s in seen)
    np.testing.assert_allclose(lowered, clean[0] - 0.1, atol=1e-6)
    np.testing.assert_allclose(raised, clean + 0.1, atol=1e-6)


def test_attack_objective_refuses_a_non_callable():
    with pytest.raises(ValueError, match=re.escape("Received: fn=3")):
        with attack_objective(3):
            pass


@pytest.mark.parametrize("norm", ["inf", "l2"])
def test_compiled_calls_give_the_eager_result(norm, weights, clean, xla_compile):
    layer = Adversarial(0.03, steps=3, norm=norm)
    objective = stability_objective(weights, clean)

    def run(images):
        with attack_objective(objective):
            return layer(images, seed=StepSeed(PAIR))

    np.testing.assert_allclose(
        to_numpy(xla_compile(run)(clean)), to_numpy(run(clean)), rtol=0, atol=1e-6
    )


@pytest.mark.tensorflow
def test_an_unknown_batch_size_in_a_tf_function(weights, clean):
    import tensorflow as tf

    layer = Adversarial(0.03, steps=2, norm="l2")
    objective = stability_objective(weights, clean)

    @tf.function(input_signature=[tf.TensorSpec((None, *SHAPE[1:]), "float32")])
    def run(images):
        with attack_objective(objective):
            return layer(images, seed=StepSeed(PAIR))

    with attack_objective(objective):
        eager = to_numpy(layer(clean, seed=StepSeed(PAIR)))
    np.testing.assert_allclose(run(clean).numpy(), eager, rtol=0, atol=1e-6)


@pytest.mark.parametrize("norm", ["inf", "l2"])
def test_mixed_precision_returns_float16(norm, weights, clean):
    layer = Adversarial(0.05, steps=2, norm=norm, dtype="mixed_float16")
    out = attack(layer, clean, stability_objective(weights, clean), StepSeed(PAIR))
    assert out.dtype == np.float16
    assert np.all(np.isfinite(out))
    delta = out.astype(np.float64) - clean
    # float16 rounds values near 0.5 to within 2**-12.
    if norm == "inf":
        assert np.abs(delta).max() <= 0.05 + 2**-11
    else:
        assert np.sqrt((delta**2).sum(axis=(1, 2, 3))).max() <= 0.05 + 4 * 2**-11


NON_DEFAULT = {
    "epsilon": 0.02,
    "steps": 7,
    "step_size": 0.005,
    "norm": "l2",
    "random_start": False,
    "value_range": (0, 255),
    "seed": 4,
}


def test_config_round_trip():
    layer = Adversarial(**NON_DEFAULT, name="attack")
    config = layer.get_config()
    parameters = set(inspect.signature(Adversarial.__init__).parameters)
    assert parameters - {"self", "kwargs"} <= set(config)
    for key, value in NON_DEFAULT.items():
        assert config[key] == value
    assert Adversarial.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(Compose([GaussianNoise(0.1), layer]))
    )
    assert isinstance(restored.perturbations[1], Adversarial)
    assert restored.perturbations[1].get_config() == config
    assert needs_objective(restored)


@pytest.mark.parametrize(
    "name, value",
    [
        ("epsilon", 0),
        ("epsilon", -1),
        ("epsilon", float("nan")),
        ("epsilon", float("inf")),
        ("epsilon", "0.1"),
        ("epsilon", True),
        ("epsilon", None),
        ("steps", 0),
        ("steps", 101),
        ("steps", 2.0),
        ("steps", True),
        ("step_size", 0),
        ("step_size", -0.1),
        ("step_size", float("nan")),
        ("step_size", "big"),
        ("norm", "2"),
        ("norm", 2),
        ("norm", "L2"),
        ("norm", float("inf")),
        ("random_start", "yes"),
        ("random_start", 1),
        ("random_start", None),
        ("seed", -1),
        ("value_range", (1, 0)),
    ],
)
def test_bad_arguments_are_refused(name, value):
    arguments = {"epsilon": 0.1, name: value}
    with pytest.raises(ValueError, match=re.escape(f"`{name}` must")):
        Adversarial(**arguments)
    with pytest.raises(ValueError, match=re.escape(f"Received: {name}={value!r}")):
        Adversarial(**arguments)


@pytest.mark.parametrize("name", ["epsilon", "step_size"])
def test_a_ball_beyond_float32_is_refused(name):
    arguments = {"epsilon": 0.1, name: 1e38, "value_range": (0, 255)}
    with pytest.raises(ValueError, match=re.escape(f"Received: {name}=1e+38")):
        Adversarial(**arguments)


@pytest.mark.parametrize("obj", [Adversarial, attack_objective, needs_objective])
def test_docstring_example_runs(obj, run_example):
    run_example(obj)
