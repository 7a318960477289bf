"""Tests for `keras_stability.layers`.

Expected values come from a NumPy hinge written here with a loop over
triplets, never from the layer's own output.
"""

import inspect
import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_stability import layers
from keras_stability.layers import RankingTripletHinge


def np_distance(x, y, distance):
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if distance == "l2":
        return math.sqrt(float(np.sum((x - y) ** 2)))
    if distance == "squared_l2":
        return float(np.sum((x - y) ** 2))
    if distance == "cosine":
        return 1.0 - float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))
    raise AssertionError(distance)


def np_hinge(anchor, positive, negative, margin, distance):
    return np.array(
        [
            max(
                margin + np_distance(a, p, distance) - np_distance(a, n, distance),
                0.0,
            )
            for a, p, n in zip(anchor, positive, negative, strict=True)
        ]
    )


@pytest.mark.parametrize("distance", ["l2", "squared_l2", "cosine"])
def test_call_returns_per_triplet_loss_and_adds_its_mean(rng, distance):
    anchor, positive, negative = rng.normal(size=(3, 10, 4)).astype("float32")
    layer = RankingTripletHinge(margin=0.5, distance=distance)
    per_triplet = layer([anchor, positive, negative])
    expected = np_hinge(anchor, positive, negative, 0.5, distance)
    assert ops.shape(per_triplet) == (10,)
    np.testing.assert_allclose(
        ops.convert_to_numpy(per_triplet), expected, rtol=1e-5, atol=1e-6
    )
    assert len(layer.losses) == 1
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer.losses[0]), expected.mean(), rtol=1e-5
    )


def test_mixed_precision_returns_float16_and_adds_a_float32_loss(rng):
    anchor, positive, negative = rng.normal(size=(3, 8, 4)).astype("float32")
    layer = RankingTripletHinge(margin=1.0, dtype="mixed_float16")
    per_triplet = layer([anchor, positive, negative])
    assert keras.backend.standardize_dtype(per_triplet.dtype) == "float16"
    assert keras.backend.standardize_dtype(layer.losses[0].dtype) == "float32"
    # The layer casts its inputs to float16 before the hinge.
    rounded = [
        x.astype("float16").astype("float64") for x in (anchor, positive, negative)
    ]
    expected = np_hinge(*rounded, 1.0, "l2")
    np.testing.assert_allclose(
        ops.convert_to_numpy(per_triplet).astype("float64"),
        expected,
        rtol=2e-3,
        atol=2e-3,
    )


def _triplets(rng, count):
    """Triplets from 4 overlapping Gaussian clusters in 12 dimensions."""
    centers = rng.normal(size=(4, 12))
    anchor_class = rng.integers(0, 4, size=count)
    negative_class = (anchor_class + rng.integers(1, 4, size=count)) % 4

    def sample(classes):
        noise = rng.normal(size=(count, 12))
        return (centers[classes] + noise).astype("float32")

    return [sample(anchor_class), sample(anchor_class), sample(negative_class)]


def _three_tower_model(margin):
    embedding = keras.Sequential(
        [
            keras.Input((12,)),
            keras.layers.Dense(6),
            keras.layers.UnitNormalization(),
        ],
        name="embedding",
    )
    inputs = [keras.Input((12,), name=name) for name in ("anchor", "pos", "neg")]
    per_triplet = RankingTripletHinge(margin=margin, name="hinge")(
        [embedding(x) for x in inputs]
    )
    return keras.Model(inputs, per_triplet)


def test_three_tower_model_trains_with_fit_x_and_round_trips(rng, tmp_path):
    x = _triplets(rng, 256)
    model = _three_tower_model(margin=1.0)
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    embedding = model.get_layer("embedding")
    # One embedding model, applied three times: the towers share weights.
    assert len(model.trainable_weights) == len(embedding.trainable_weights) == 2

    def hinge_of_embeddings():
        anchor, positive, negative = (
            embedding.predict(part, verbose=0, batch_size=256) for part in x
        )
        return np_hinge(anchor, positive, negative, 1.0, "l2")

    initial = hinge_of_embeddings().mean()
    history = model.fit(x, epochs=6, batch_size=32, verbose=0, shuffle=False)
    losses = history.history["loss"]
    # The epoch losses fall every epoch.
    assert np.all(np.diff(losses) < 0)
    final = hinge_of_embeddings()
    assert final.mean() < 0.25 * initial

    # The model's output is the per-triplet hinge of the shared embeddings.
    predictions = model.predict(x, verbose=0, batch_size=256)
    assert predictions.shape == (256,)
    np.testing.assert_allclose(predictions, final, rtol=1e-5, atol=1e-6)
    # `evaluate` reports the mean added by `add_loss`.
    np.testing.assert_allclose(
        model.evaluate(x, verbose=0, batch_size=256), final.mean(), rtol=1e-5
    )

    path = tmp_path / "three_tower.keras"
    model.save(path)
    restored = keras.saving.load_model(path)  # default safe_mode=True
    np.testing.assert_array_equal(
        restored.predict(x, verbose=0, batch_size=256), predictions
    )
    hinge = restored.get_layer("hinge")
    assert type(hinge) is RankingTripletHinge
    assert (hinge.margin, hinge.distance) == (1.0, "l2")


def test_config_round_trip():
    layer = RankingTripletHinge(
        margin=0.3, distance="squared_l2", name="ranking", dtype="float64"
    )
    config = layer.get_config()
    parameters = set(inspect.signature(RankingTripletHinge).parameters) - {"kwargs"}
    assert parameters <= set(config)
    assert config["margin"] == 0.3
    assert config["distance"] == "squared_l2"
    assert config["name"] == "ranking"
    restored = RankingTripletHinge.from_config(config)
    assert restored.get_config() == config
    assert (restored.margin, restored.distance) == (0.3, "squared_l2")

    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == "keras_stability>RankingTripletHinge"
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is RankingTripletHinge
    assert revived.get_config() == config


def test_validation():
    with pytest.raises(
        ValueError,
        match=r"`margin`.*Received: margin=-1$",
    ):
        RankingTripletHinge(margin=-1)
    with pytest.raises(
        ValueError,
        match=r"`distance`.*'l2', 'squared_l2', 'cosine'.*Received: distance='L2'",
    ):
        RankingTripletHinge(distance="L2")
    layer = RankingTripletHinge()
    embeddings = np.zeros((2, 3), "float32")
    with pytest.raises(
        ValueError,
        match=r"three embeddings.*Received: 2 input",
    ):
        layer([embeddings, embeddings])


@pytest.mark.parametrize("name", layers.__all__)
def test_docstring_example_runs(name, run_example):
    run_example(getattr(layers, name))
