"""distort_batch: the copies the evaluations make, and how failures read."""

import keras
import numpy as np
import pytest

from keras_stability import evaluation
from keras_stability import perturbations
from keras_stability._seeds import StepSeed
from keras_stability.evaluation import distort

TESTED = distort


def test_docstring_example_runs(public_function, run_example):
    run_example(public_function)


@pytest.fixture
def images(rng):
    return rng.random((3, 6, 6, 1)).astype("float32")


@pytest.mark.parametrize(
    "make",
    [
        lambda: perturbations.GaussianNoise(0.2),
        lambda: perturbations.RandomCropOffset(2),
        lambda: perturbations.OneOf(
            [
                perturbations.GaussianNoise(0.1),
                perturbations.ThumbnailResize(scale=0.5),
            ]
        ),
    ],
    ids=["noise", "crop", "one_of"],
)
def test_a_perturbation_draws_from_the_step_seed_of_the_pair(images, make):
    layer = make()
    for pair in ((0, 0), (7, 3)):
        copy = keras.ops.convert_to_numpy(evaluation.distort_batch(layer, images, pair))
        direct = layer(images, training=True, seed=StepSeed(np.array(pair)))
        np.testing.assert_allclose(copy, keras.ops.convert_to_numpy(direct), atol=1e-6)
        again = evaluation.distort_batch(layer, images, pair)
        np.testing.assert_array_equal(copy, keras.ops.convert_to_numpy(again))
    first = evaluation.distort_batch(layer, images, (0, 0))
    other = evaluation.distort_batch(layer, images, (0, 1))
    assert not np.array_equal(
        keras.ops.convert_to_numpy(first), keras.ops.convert_to_numpy(other)
    )


def test_layers_and_callables_run_as_they_are(images):
    flipped = evaluation.distort_batch(lambda x: x[:, ::-1], images, (0, 0))
    np.testing.assert_array_equal(flipped, images[:, ::-1])
    rescaled = evaluation.distort_batch(keras.layers.Rescaling(2.0), images)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(rescaled), 2 * images)


def test_failures_name_the_distortion_and_the_batch(images):
    def boom(batch):
        raise ValueError("first line\nboom")

    with pytest.raises(
        ValueError, match=r"^`distortions\['b@1'\]` failed on images of shape "
        r"\(3, 6, 6, 1\): boom$",
    ) as error:  # fmt: skip
        evaluation.distort_batch(boom, images, (0, 0), "distortions['b@1']")
    assert str(error.value.__cause__) == "first line\nboom"
    with pytest.raises(
        ValueError,
        match=r"`distortion` failed on images of shape \(3, 6, 6, 1\):.*"
        r"\[\(3, 6, 6, 1\)\] into \[\(3, 3, 6, 1\)\]",
    ):
        evaluation.distort_batch(lambda x: x[:, :3], images)
    # A layer's error is cut to its message, on one line.
    with pytest.raises(ValueError, match=r"Received: max_offset=10") as error:
        evaluation.distort_batch(perturbations.RandomCropOffset(10), images)
    assert "\n" not in str(error.value)
