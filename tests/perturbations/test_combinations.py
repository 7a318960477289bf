"""Tests of perturbations/combinations.py: Compose and OneOf."""

import json
import re

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy as to_numpy

from keras_stability._seeds import StepSeed
from keras_stability.perturbations import Compose
from keras_stability.perturbations import GaussianNoise
from keras_stability.perturbations import OneOf
from keras_stability.perturbations import RandomCropOffset
from keras_stability.perturbations import ThumbnailResize

PAIR = np.array([3, 5])


def _as_json(config):
    return json.loads(json.dumps(config))


def test_compose_applies_in_order(images):
    add_one = Compose([lambda x: x + 1, lambda x: x * 2])
    np.testing.assert_array_equal(to_numpy(add_one(images)), (images + 1) * 2)
    times_two = Compose([keras.layers.Rescaling(2.0), lambda x: x + 1])
    np.testing.assert_array_equal(to_numpy(times_two(images)), images * 2 + 1)


def test_compose_passes_the_seed_through(images):
    # In the layers' default range, with room for the first noise.
    images = 0.25 + images / 510
    first, second = GaussianNoise(0.01), GaussianNoise(0.02)
    seed = StepSeed(PAIR)
    expected = to_numpy(second(first(images, seed=seed), seed=seed))
    composed = Compose([GaussianNoise(0.01), GaussianNoise(0.02)])
    np.testing.assert_array_equal(
        to_numpy(composed(images, seed=StepSeed(PAIR))), expected
    )


def test_compose_seed_drives_unseeded_elements(images):
    images = images / 255  # the layers' default range

    def make():
        return Compose([GaussianNoise(0.1), RandomCropOffset(2)], seed=21)

    np.testing.assert_array_equal(to_numpy(make()(images)), to_numpy(make()(images)))


@pytest.mark.tensorflow
def test_compose_training_false_runs_nothing(images):
    import tensorflow as tf

    def fail(x):
        raise AssertionError("must not run")

    tensor = tf.constant(images)
    assert Compose([fail])(tensor, training=False) is tensor


def test_compose_serializes_registered_functions(images):
    @keras.saving.register_keras_serializable(package="test_perturbations")
    def halve(x):
        return x / 2

    layer = Compose([halve, ThumbnailResize(scale=1.0)])
    restored = Compose.from_config(layer.get_config())
    np.testing.assert_array_equal(to_numpy(restored(images)), images / 2)


@pytest.mark.parametrize("cls", [Compose, OneOf])
def test_combination_takes_no_value_range(cls):
    message = f"`{cls.__name__}` takes no `value_range`"
    with pytest.raises(ValueError, match=re.escape(message)):
        cls([GaussianNoise(value_range=(0, 255))], value_range=(0, 255))
    with pytest.raises(ValueError, match=re.escape("Received: value_range=(0, 255)")):
        cls([GaussianNoise(value_range=(0, 255))], value_range=(0, 255))
    # Configs as saved have none, and load as before.
    layer = cls([GaussianNoise(0.1, value_range=(0, 255))], seed=2, name="mix")
    config = layer.get_config()
    assert "value_range" not in config
    rebuilt = cls.from_config(_as_json(config))
    assert _as_json(rebuilt.get_config()) == _as_json(config)
    assert rebuilt.perturbations[0].value_range == (0, 255)


@pytest.mark.parametrize(
    "perturbations, message",
    [
        ([], "`perturbations` must be a non-empty list of layers or callables."),
        (GaussianNoise(), "`perturbations` must be a non-empty list"),
        ([GaussianNoise(), 3], "Received: perturbations[1]=3"),
    ],
)
@pytest.mark.parametrize("cls", [Compose, OneOf])
def test_combination_validation(cls, perturbations, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        cls(perturbations)


@pytest.mark.parametrize("cls", [Compose, OneOf])
def test_a_class_is_not_an_element(cls):
    with pytest.raises(
        ValueError,
        match=re.escape("Received: perturbations[1]=<class "),
    ):
        cls([GaussianNoise(0.1), RandomCropOffset])


def _offsets(k):
    return lambda x: x + 10.0 * k


@pytest.mark.parametrize(
    "weights, allowed",
    [([1, 0], {0}), ([0, 1], {1}), ([1, 0, 1], {0, 2}), ([2, 1, 0], {0, 1})],
)
def test_one_of_never_picks_a_zero_weight(weights, allowed):
    images = np.zeros((500, 2, 2, 1), "float32")
    layer = OneOf([_offsets(k) for k in range(len(weights))], weights=weights, seed=1)
    picked = to_numpy(layer(images))[:, 0, 0, 0] / 10
    assert set(picked.astype(int)) == allowed


def test_one_of_picks_per_image_with_the_weights(rng):
    weights, batch = [1, 2, 1], 3000
    images = rng.random((batch, 2, 3, 1)).astype("float32")
    layer = OneOf([_offsets(k) for k in range(3)], weights=weights, seed=4)
    shifts = to_numpy(layer(images)) - images
    picked = np.round(shifts[:, 0, 0, 0] / 10).astype(int)
    # One branch per image, for all its pixels.
    np.testing.assert_allclose(
        shifts,
        np.broadcast_to(10.0 * picked[:, None, None, None], shifts.shape),
        atol=1e-5,
    )
    counts = np.bincount(picked, minlength=3)
    p = np.array(weights) / sum(weights)
    assert np.all(np.abs(counts - batch * p) < 5 * np.sqrt(batch * p * (1 - p)))


def test_one_of_replays_with_a_step_seed(images):
    images = images / 255  # the noise's default range
    layer = OneOf([_offsets(0), _offsets(1), GaussianNoise(0.1)])
    first = to_numpy(layer(images, seed=StepSeed(PAIR)))
    np.testing.assert_array_equal(to_numpy(layer(images, seed=StepSeed(PAIR))), first)
    other = [to_numpy(layer(images, seed=StepSeed(np.array([3, s])))) for s in (6, 7)]
    assert any(not np.array_equal(first, o) for o in other)


def test_one_of_with_one_element_is_that_element(images):
    layer = OneOf([_offsets(3)])
    np.testing.assert_array_equal(to_numpy(layer(images)), images + 30)


@pytest.mark.tensorflow
def test_one_of_compiles_with_xla(rng):
    import tensorflow as tf

    images = rng.random((64, 4, 4, 1)).astype("float32")
    layer = OneOf([_offsets(0), _offsets(1)], weights=[1, 1])
    compiled = tf.function(lambda x: layer(x, seed=StepSeed(PAIR)), jit_compile=True)
    shifts = np.round((compiled(images).numpy() - images)[:, 0, 0, 0] / 10)
    assert set(shifts.astype(int)) == {0, 1}


@pytest.mark.parametrize(
    "weights, message",
    [
        (
            [1],
            "Received: weights=[1]",
        ),
        ((1, 2, 3), "Received: weights=(1, 2, 3)"),
        ([1, -1], "Received: weights=[1, -1]"),
        ([1, float("nan")], "`weights` must be non-negative numbers."),
        ([1, "2"], "`weights` must be non-negative numbers."),
        ([0, 0], "Received: weights=[0, 0]"),
        (
            np.ones((1, 2)),
            "Received: weights=array([[1., 1.]])",
        ),
    ],
)
def test_one_of_weights_validation(weights, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        OneOf([_offsets(0), _offsets(1)], weights=weights)


@pytest.mark.parametrize(
    "weights", [[1e308, 1e308], np.array([2.0, 2.0]), [np.float32(1), 1]]
)
def test_one_of_weights_of_any_scale_pick_evenly(weights):
    # 1e308 + 1e308 overflows float64: the weights are scaled first.
    batch = 2000
    layer = OneOf([_offsets(0), _offsets(1)], weights=weights, seed=2)
    picked = np.round(to_numpy(layer(np.zeros((batch, 1, 1, 1), "float32"))) / 10)
    share = picked.mean()
    assert abs(share - 0.5) < 5 * np.sqrt(0.25 / batch)
    assert layer.choice_weights == (float(weights[0]), float(weights[1]))


@pytest.mark.parametrize(
    "cls", [pytest.param(Compose, marks=pytest.mark.tensorflow), OneOf]
)
def test_docstring_example_runs(cls, run_example):
    run_example(cls)


@pytest.mark.parametrize(
    "make, received",
    [
        (lambda: OneOf([]), r"perturbations=\[\]$"),
        (lambda: Compose([]), r"perturbations=\[\]$"),
        (
            lambda: OneOf([GaussianNoise(0.1), GaussianNoise(0.2)], weights=[1, -1]),
            r"weights=\[1, -1\]$",
        ),
    ],
)
def test_bad_elements_and_weights_are_refused_at_construction(make, received):
    with pytest.raises(ValueError, match=rf"Received: {received}"):
        make()
