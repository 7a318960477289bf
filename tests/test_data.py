"""Data: the demo's digits, image folders, and perturbed copies made in tf.data."""

import keras
import numpy as np
import pytest

from keras_stability import StabilityModel
from keras_stability import data
from keras_stability import perturbations


def test_load_digits_split_is_stratified_and_fixed():
    (x_train, y_train), (x_test, y_test) = data.load_digits()
    assert x_train.shape[1:] == (32, 32, 1) and len(x_train) + len(x_test) == 1797
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    counts = np.bincount(y_test, minlength=10)
    assert np.all(np.abs(counts - np.bincount(y_train) / 3) <= 2)
    (_, _), (x_again, _) = data.load_digits()
    np.testing.assert_array_equal(x_test, x_again)


def test_load_digits_errors():
    with pytest.raises(
        ValueError, match=r"`image_size` must be an int >= 8. Received: image_size=4"
    ):
        data.load_digits(image_size=4)
    with pytest.raises(
        ValueError,
        match=r"`test_fraction` must be in \(0, 1\). Received: test_fraction=1",
    ):
        data.load_digits(test_fraction=1)


def _model(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    model = StabilityModel(
        inputs,
        outputs,
        perturbation=perturbations.ThumbnailResize(scale=0.5),
        alpha=2.0,
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
    in_step, piped = _model(0), _model(0)
    in_step.fit(small_dataset, epochs=2, shuffle=False, verbose=0)
    copies = data.with_perturbed_copy(small_dataset, piped.perturbation)
    history = piped.fit(copies, epochs=2, shuffle=False, verbose=0)
    assert history.history["stability_loss"][0] > 0
    for a, b in zip(in_step.get_weights()[1:], piped.get_weights()[1:], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # The forward pass and predict see only the clean batch.
    batch = next(iter(copies))[0]
    np.testing.assert_allclose(piped(batch), piped(batch[data.CLEAN_KEY]), atol=0)


@pytest.mark.tensorflow
def test_pipeline_copies_are_fresh_each_epoch_and_repeatable(small_dataset):
    noise = perturbations.GaussianNoise(0.1)
    copies = data.with_perturbed_copy(small_dataset, noise, seed=5)
    first = [b[0][data.PERTURBED_KEY].numpy() for b in copies]
    second = [b[0][data.PERTURBED_KEY].numpy() for b in copies]
    again = [
        b[0][data.PERTURBED_KEY].numpy()
        for b in data.with_perturbed_copy(small_dataset, noise, seed=5)
    ]
    clean = [b[0][data.CLEAN_KEY].numpy() for b in copies]
    assert not np.allclose(first[0], second[0])  # a new draw each epoch
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)  # the same run to run
    residual = np.concatenate([p - c for p, c in zip(first, clean, strict=True)])
    assert abs(residual.mean()) < 0.01 and abs(residual.std() - 0.1) < 0.005


@pytest.mark.tensorflow
def test_pipeline_keeps_labels_and_weights(rng):
    import tensorflow as tf

    x = rng.random((6, 8, 8, 1)).astype("float32")
    y, w = np.arange(6), np.linspace(0, 1, 6).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((x, y, w)).batch(3)
    out = list(data.with_perturbed_copy(dataset, lambda t: t * 0.5))
    assert len(out) == 2 and len(out[0]) == 3
    np.testing.assert_array_equal(out[1][1], y[3:])
    np.testing.assert_array_equal(out[1][2], w[3:])
    np.testing.assert_allclose(out[0][0][data.PERTURBED_KEY], x[:3] * 0.5)


@pytest.mark.tensorflow
def test_split_perturbed_copy_and_errors(small_dataset):
    x = np.zeros((2, 3))
    assert data.split_perturbed_copy(x) == (x, None)
    assert data.split_perturbed_copy({data.CLEAN_KEY: 1, data.PERTURBED_KEY: 2}) == (
        1,
        2,
    )
    assert data.split_perturbed_copy({"image": 1})[1] is None
    with pytest.raises(ValueError, match=r"`seed` must be an int. Received: seed='a'"):
        data.with_perturbed_copy(small_dataset, lambda t: t, seed="a")
    with pytest.raises(
        ValueError, match=r"`perturbation` must be a layer or a callable"
    ):
        data.with_perturbed_copy(small_dataset, 3)


def test_iterate_batches_errors():
    with pytest.raises(
        ValueError, match="must be a NumPy array, a tensor or a tf.data.Dataset"
    ):
        list(data.iterate_batches([1, 2, 3]))
