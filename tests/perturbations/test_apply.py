"""Tests of perturbations/apply.py: one way to apply a layer or a callable."""

import re

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy as to_numpy

from keras_stability._seeds import StepSeed
from keras_stability.perturbations import GaussianNoise
from keras_stability.perturbations import RandomCropOffset
from keras_stability.perturbations import apply_perturbation
from keras_stability.perturbations import check_fits
from keras_stability.perturbations import check_perturbation

PAIR = np.array([3, 5])


@pytest.mark.parametrize("value", [3, None, "noise", GaussianNoise])
def test_check_perturbation_refuses_what_cannot_perturb(value):
    with pytest.raises(
        ValueError, match=re.escape(f"Received: perturbation={value!r}")
    ):
        check_perturbation(value)
    with pytest.raises(ValueError, match=re.escape(f"Received: distortion={value!r}")):
        check_perturbation(value, "distortion")


@pytest.mark.parametrize(
    "value", [GaussianNoise(0.1), keras.layers.Dropout(0.5), lambda x: x]
)
def test_check_perturbation_returns_what_can(value):
    assert check_perturbation(value) is value


def test_check_fits_names_the_argument_the_shape_and_the_reason():
    with pytest.raises(
        ValueError,
        match=re.escape("`distortion` cannot apply to images of shape (None, 4, 9, 3)")
        + ".*"
        + re.escape("Received: max_offset=4"),
    ):
        check_fits(RandomCropOffset(4), (None, 4, 9, 3), "distortion")
    # Unknown shapes, fitting shapes, other layers and callables pass.
    check_fits(RandomCropOffset(4), None)
    check_fits(RandomCropOffset(4), (None, 5, 9, 3))
    check_fits(keras.layers.Dropout(0.5), (None, 4, 9, 3))
    check_fits(lambda x: x, (None, 1, 1, 3))
    with pytest.raises(ValueError, match=re.escape("Received: perturbation=3")):
        check_fits(3, (None, 4, 9, 3))


def test_a_perturbation_is_applied_to_every_tensor_with_the_seed(rng):
    images = rng.random((2, 8, 8, 1)).astype("float32")
    noise = GaussianNoise(0.1)
    perturbed = apply_perturbation(
        noise, {"a": images, "b": images}, seed=StepSeed(PAIR)
    )
    # Each tensor, in the structure's order, draws next from the same seed,
    # as two calls of the layer with that seed do.
    seed = StepSeed(PAIR)
    first, second = (to_numpy(noise(images, seed=seed)) for _ in range(2))
    np.testing.assert_array_equal(to_numpy(perturbed["a"]), first)
    np.testing.assert_array_equal(to_numpy(perturbed["b"]), second)
    assert not np.array_equal(first, second)


def test_a_keras_layer_is_called_in_training_mode(rng):
    images = 1 + rng.random((4, 8, 8, 1)).astype("float32")
    dropped = to_numpy(apply_perturbation(keras.layers.Dropout(0.5, seed=1), images))
    # In training mode dropout zeroes some values and doubles the others.
    assert np.any(dropped == 0)
    kept = dropped != 0
    np.testing.assert_allclose(dropped[kept], 2 * images[kept], rtol=1e-6)


def test_a_callable_is_called_on_the_batch(rng):
    images = rng.random((2, 8, 8, 1)).astype("float32")
    flipped = apply_perturbation(lambda x: x[:, ::-1], images)
    np.testing.assert_array_equal(to_numpy(flipped), images[:, ::-1])


def test_a_copy_of_another_shape_or_kind_is_an_error(rng):
    images = rng.random((2, 8, 8, 1)).astype("float32")
    with pytest.raises(
        ValueError, match=re.escape("turned [(2, 8, 8, 1)] into [(2, 4, 4, 1)]")
    ):
        apply_perturbation(lambda x: x[:, ::2, ::2], images)
    with pytest.raises(ValueError, match="Received: distortion="):
        apply_perturbation(lambda x: "image", images, name="distortion")


def test_docstring_example_runs(run_example):
    run_example(apply_perturbation)
