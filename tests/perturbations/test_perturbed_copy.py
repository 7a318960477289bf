"""Tests of perturbations/perturbed_copy.py: x' computed in the tf.data pipeline."""

import re

import keras
import numpy as np
import pytest

from keras_stability import StabilityModel
from keras_stability import perturbations


class _NeverCalled:
    """A perturbation that fails the test if the model ever draws x' itself."""

    def __call__(self, x):
        raise AssertionError("the model perturbed the batch instead of using x'")


def _model(perturbation):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    model = StabilityModel(
        inputs, outputs, perturbation=perturbation, alpha=2.0, seed=7
    )
    model.compile(keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy")
    return model


@pytest.fixture
def small_dataset(rng):
    import tensorflow as tf

    x = rng.random((24, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 3, 24)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


@pytest.mark.tensorflow
def test_pipeline_copies_train_like_in_step_perturbation(small_dataset):
    # The piped model's own perturbation fails if called: it must train on
    # the copies, made here with a thumbnail, exactly as a model that draws
    # the same thumbnail in its step.
    in_step = _model(perturbations.ThumbnailResize(scale=0.5))
    piped = _model(_NeverCalled())
    in_step.fit(small_dataset, epochs=2, shuffle=False, verbose=0)
    copies = perturbations.with_perturbed_copy(
        small_dataset, perturbations.ThumbnailResize(scale=0.5)
    )
    history = piped.fit(copies, epochs=2, shuffle=False, verbose=0)
    assert history.history["stability_loss"][0] > 0
    weights = zip(in_step.trainable_weights, piped.trainable_weights, strict=True)
    for a, b in weights:
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    # Each training step advances the step slot of (seed, step), 3 batches x
    # 2 epochs, whether the model draws its copy or is given it (the count
    # is what signal annealing reads).
    np.testing.assert_array_equal(in_step.perturbation_seed.numpy(), [7, 6])
    np.testing.assert_array_equal(piped.perturbation_seed.numpy(), [7, 6])
    # The forward pass and predict see only the clean batch.
    batch = next(iter(copies))[0]
    np.testing.assert_allclose(
        piped(batch), piped(batch[perturbations.CLEAN_KEY]), atol=0
    )


@pytest.mark.tensorflow
def test_pipeline_copies_are_fresh_each_epoch_and_repeatable(small_dataset):
    noise = perturbations.GaussianNoise(0.1)
    copies = perturbations.with_perturbed_copy(small_dataset, noise, seed=5)
    first = [b[0][perturbations.PERTURBED_KEY].numpy() for b in copies]
    second = [b[0][perturbations.PERTURBED_KEY].numpy() for b in copies]
    again = [
        b[0][perturbations.PERTURBED_KEY].numpy()
        for b in perturbations.with_perturbed_copy(small_dataset, noise, seed=5)
    ]
    clean = [b[0][perturbations.CLEAN_KEY].numpy() for b in copies]
    assert not np.allclose(first[0], second[0])  # a new draw each epoch
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)  # the same run to run
    residual = np.concatenate([p - c for p, c in zip(first, clean, strict=True)])
    assert abs(residual.mean()) < 0.01 and abs(residual.std() - 0.1) < 0.005


@pytest.mark.tensorflow
def test_pipeline_copy_k_is_drawn_from_the_seed_and_draw_k(small_dataset):
    import tensorflow as tf

    from keras_stability._seeds import StepSeed

    noise = perturbations.GaussianNoise(0.1)
    for seed in (5, 6):
        draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        batches = tf.data.Dataset.zip((small_dataset, draws))
        copies = perturbations.with_perturbed_copy(small_dataset, noise, seed=seed)
        for ((x, _), draw), (pair, _) in zip(batches, copies, strict=True):
            expected = noise(
                x, seed=StepSeed(tf.stack([tf.constant(seed, tf.int64), draw]))
            )
            np.testing.assert_array_equal(
                pair[perturbations.PERTURBED_KEY].numpy(), expected.numpy()
            )
    five, six = (
        next(iter(perturbations.with_perturbed_copy(small_dataset, noise, seed=s)))[0]
        for s in (5, 6)
    )
    assert (
        np.abs(
            five[perturbations.PERTURBED_KEY] - six[perturbations.PERTURBED_KEY]
        ).min()
        > 0
    )


@pytest.mark.tensorflow
def test_pipeline_refuses_a_copy_of_another_shape(small_dataset):
    # The same check as the training step's: both go through one function.
    with pytest.raises(
        ValueError,
        match=re.escape("[(None, 8, 8, 1)] into [(None, 4, 4, 1)]"),
    ):
        perturbations.with_perturbed_copy(small_dataset, lambda x: x[:, ::2, ::2, :])


@pytest.mark.tensorflow
def test_pipeline_keeps_labels_and_weights(rng):
    import tensorflow as tf

    x = rng.random((6, 8, 8, 1)).astype("float32")
    y, w = np.arange(6), np.linspace(0, 1, 6).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((x, y, w)).batch(3)
    out = list(perturbations.with_perturbed_copy(dataset, lambda t: t * 0.5))
    assert len(out) == 2 and len(out[0]) == 3
    np.testing.assert_array_equal(out[1][1], y[3:])
    np.testing.assert_array_equal(out[1][2], w[3:])
    np.testing.assert_allclose(out[0][0][perturbations.PERTURBED_KEY], x[:3] * 0.5)


@pytest.mark.tensorflow
def test_split_perturbed_copy_and_errors(small_dataset):
    x = np.zeros((2, 3))
    assert perturbations.split_perturbed_copy(x) == (x, None)
    assert perturbations.split_perturbed_copy(
        {perturbations.CLEAN_KEY: 1, perturbations.PERTURBED_KEY: 2}
    ) == (
        1,
        2,
    )
    assert perturbations.split_perturbed_copy({"image": 1})[1] is None
    for seed in ("a", -1, 2**31, 1.0):
        with pytest.raises(
            ValueError,
            match=re.escape(f"Received: seed={seed!r}"),
        ):
            perturbations.with_perturbed_copy(small_dataset, lambda t: t, seed=seed)
    with pytest.raises(ValueError, match=re.escape("Received: perturbation=3")):
        perturbations.with_perturbed_copy(small_dataset, 3)


@pytest.mark.tensorflow
@pytest.mark.parametrize("calls", [0, -2, True, 1.5, "4"])
def test_with_perturbed_copy_num_parallel_calls_errors(small_dataset, calls):
    with pytest.raises(
        ValueError,
        match=re.escape(f"Received: num_parallel_calls={calls!r}"),
    ):
        perturbations.with_perturbed_copy(
            small_dataset, lambda t: t, num_parallel_calls=calls
        )


@pytest.mark.tensorflow
def test_with_perturbed_copy_num_parallel_calls_values(small_dataset):
    import tensorflow as tf

    expected = [b[0].numpy() * 0.5 for b in small_dataset]
    for calls in (None, tf.data.AUTOTUNE, 1, 3):
        copies = perturbations.with_perturbed_copy(
            small_dataset, lambda t: t * 0.5, num_parallel_calls=calls
        )
        got = [b[0][perturbations.PERTURBED_KEY].numpy() for b in copies]
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "name",
    [
        "split_perturbed_copy",
        pytest.param("with_perturbed_copy", marks=pytest.mark.tensorflow),
    ],
)
def test_docstring_example_runs(name, run_example):
    run_example(getattr(perturbations, name))
