"""`data.with_unlabeled`: labeled and unlabeled images in the batches of one fit."""

import keras
import numpy as np
import pytest

from keras_stability import StabilityModel
from keras_stability import data
from keras_stability import perturbations

pytestmark = pytest.mark.tensorflow


@pytest.fixture
def tf():
    import tensorflow

    return tensorflow


def _labeled(tf, n=10, weights=False):
    # Images whose value is their index: a labeled row can be traced back.
    x = np.arange(n, dtype="float32")[:, None, None, None] * np.ones((1, 2, 2, 1))
    y = np.arange(n) % 3
    parts = (x.astype("float32"), y)
    if weights:
        parts += (np.linspace(0.5, 2.0, n).astype("float32"),)
    return tf.data.Dataset.from_tensor_slices(parts)


def _unlabeled(tf, n=7):
    x = -1.0 - np.arange(n, dtype="float32")[:, None, None, None] * np.ones(
        (1, 2, 2, 1)
    )
    return tf.data.Dataset.from_tensor_slices(x.astype("float32"))


def test_example_runs(run_example):
    run_example(data.with_unlabeled)
    run_example(data.split_labeled)


@pytest.mark.parametrize("batched", [False, True])
def test_each_batch_holds_its_labeled_rows_and_ratio_times_as_many_unlabeled(
    tf, batched
):
    labeled, unlabeled = _labeled(tf), _unlabeled(tf)
    if batched:
        joined = data.with_unlabeled(labeled.batch(4), unlabeled.batch(3), 1.5)
    else:
        joined = data.with_unlabeled(labeled, unlabeled, 1.5, batch_size=4)
    batches = list(joined.as_numpy_iterator())
    # One pass over the 10 labeled rows, 4 at a time; 6 unlabeled rows each.
    assert len(batches) == 3
    seen_labeled, seen_unlabeled = [], []
    for x, y in batches:
        images, mask = x[data.CLEAN_KEY], x[data.LABELED_KEY]
        values = images[:, 0, 0, 0]
        assert mask.dtype == bool and (~mask).sum() == 6
        assert np.all(values[mask] >= 0) and np.all(values[~mask] < 0)
        # Labels stay with their images; unlabeled rows get 0.
        np.testing.assert_array_equal(y[mask], values[mask].astype(int) % 3)
        assert np.all(y[~mask] == 0)
        seen_labeled.extend(values[mask])
        seen_unlabeled.extend(values[~mask])
    assert sorted(seen_labeled) == list(range(10))
    # The 7 unlabeled images, repeated in order as often as needed.
    assert seen_unlabeled == [-1.0 - (i % 7) for i in range(18)]


def test_labeled_rows_are_spread_through_the_batch(tf):
    joined = data.with_unlabeled(_labeled(tf), _unlabeled(tf), 3, batch_size=2)
    x, _ = next(iter(joined))
    mask = x[data.LABELED_KEY].numpy()
    assert mask.sum() == 2 and mask[:4].sum() == 1 and mask[4:].sum() == 1


def test_sample_weights_stay_on_labeled_rows_and_are_one_elsewhere(tf):
    joined = data.with_unlabeled(
        _labeled(tf, weights=True), _unlabeled(tf), 1, batch_size=5
    )
    expected = np.linspace(0.5, 2.0, 10)
    for x, _, w in joined.as_numpy_iterator():
        mask = x[data.LABELED_KEY]
        index = x[data.CLEAN_KEY][mask, 0, 0, 0].astype(int)
        np.testing.assert_allclose(w[mask], expected[index], rtol=1e-6)
        assert np.all(w[~mask] == 1)


def test_a_stability_model_fits_on_it_and_evaluates(tf, rng, tmp_path):
    images = rng.random((40, 8, 8, 1)).astype("float32")
    labels = np.arange(40) % 3
    labeled = tf.data.Dataset.from_tensor_slices((images[:8], labels[:8]))
    unlabeled = tf.data.Dataset.from_tensor_slices(images[8:]).shuffle(32, seed=0)
    joined = data.with_unlabeled(labeled, unlabeled, 3, batch_size=4)
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(inputs))
    model = StabilityModel(
        inputs,
        outputs,
        perturbation=perturbations.GaussianNoise(0.1),
        from_logits=True,
        confidence_threshold=0.3,
        seed=0,
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(joined, epochs=2, verbose=0, shuffle=False)
    assert all(np.isfinite(history.history["loss"]))
    results = model.evaluate(joined, verbose=0, return_dict=True)
    assert np.isfinite(results["loss"]) and "stability_loss" in results
    model.save(tmp_path / "uda.keras")
    loaded = keras.saving.load_model(tmp_path / "uda.keras", safe_mode=True)
    assert loaded.confidence_threshold == 0.3


@pytest.mark.parametrize("ratio", [0, -1, "3", None, 2000, float("nan")])
def test_a_bad_ratio_is_refused(tf, ratio):
    with pytest.raises(ValueError, match=rf"Received: unlabeled_ratio={ratio!r}"):
        data.with_unlabeled(_labeled(tf), _unlabeled(tf), ratio, batch_size=2)


def test_bad_datasets_are_refused(tf):
    labeled, unlabeled = _labeled(tf), _unlabeled(tf)
    with pytest.raises(ValueError, match=r"Received: batch_size=0"):
        data.with_unlabeled(labeled, unlabeled, 1, batch_size=0)
    with pytest.raises(ValueError, match=r"`labeled` must be a tf.data.Dataset"):
        data.with_unlabeled(np.zeros((4, 2, 2, 1)), unlabeled, 1, batch_size=2)
    with pytest.raises(ValueError, match=r"`labeled` must yield `\(x, y\)`"):
        data.with_unlabeled(unlabeled, unlabeled, 1, batch_size=2)
    with pytest.raises(ValueError, match=r"`unlabeled` must yield images `x` only"):
        data.with_unlabeled(labeled, labeled, 1, batch_size=2)
    with pytest.raises(ValueError, match=r"pass `batch_size`"):
        data.with_unlabeled(labeled, unlabeled, 1)
    with pytest.raises(ValueError, match=r"holds no images"):
        data.with_unlabeled(labeled, unlabeled.take(0), 1, batch_size=2)
    small = tf.data.Dataset.from_tensor_slices(np.zeros((3, 3, 3, 1), "float32"))
    with pytest.raises(ValueError, match=r"shape of `labeled`"):
        data.with_unlabeled(labeled, small, 1, batch_size=2)
