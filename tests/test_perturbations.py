"""Tests of keras_stability/perturbations.py against NumPy and TensorFlow references.

JpegCompression's numbers are in tests/test_jpeg.py; here it only takes part in
the checks every perturbation must pass (config, saving, tf.data, dtypes).
"""

import inspect
import itertools
import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

try:
    import tensorflow as tf
except ImportError:  # the JAX CI venv: tests that need TensorFlow are skipped
    tf = None

from keras_stability import perturbations
from keras_stability._seeds import StepSeed
from keras_stability.perturbations import Compose
from keras_stability.perturbations import GaussianNoise
from keras_stability.perturbations import JpegCompression
from keras_stability.perturbations import OneOf
from keras_stability.perturbations import Perturbation
from keras_stability.perturbations import RandomCropOffset
from keras_stability.perturbations import ThumbnailResize

PAIR = np.array([3, 5])
TF_ONLY = pytest.mark.tensorflow  # libjpeg, tf.data, tf.function, tf.image

# Every class with non-default values for every argument it has.
FACTORIES = {
    "gaussian_noise": lambda: GaussianNoise(
        stddev=0.1, clip=True, value_range=(0, 255), seed=3, name="noise"
    ),
    "jpeg": lambda: JpegCompression(quality=(20, 80), value_range=(0, 255), seed=4),
    "crop": lambda: RandomCropOffset(
        max_offset=3, interpolation="nearest", value_range=(0, 255), seed=5
    ),
    "thumbnail_size": lambda: ThumbnailResize(
        size=(5, 7),
        interpolation="bicubic",
        antialias=True,
        value_range=(0, 255),
        seed=6,
    ),
    "thumbnail_scale": lambda: ThumbnailResize(
        scale=0.25, interpolation="nearest", value_range=(0, 255)
    ),
    "compose": lambda: Compose(
        [
            GaussianNoise(stddev=0.01, value_range=(0, 255)),
            ThumbnailResize(scale=0.5, value_range=(0, 255)),
        ],
        seed=7,
    ),
    "one_of": lambda: OneOf(
        [
            GaussianNoise(stddev=0.01, value_range=(0, 255)),
            RandomCropOffset(max_offset=2, value_range=(0, 255)),
        ],
        weights=[1, 3],
        seed=8,
    ),
}
FACTORY_NAMES = [
    pytest.param(name, marks=TF_ONLY) if name == "jpeg" else name for name in FACTORIES
]
CLASSES = [
    GaussianNoise,
    JpegCompression,
    RandomCropOffset,
    ThumbnailResize,
    Compose,
    OneOf,
]


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture
def images(rng):
    """A batch of 8-bit RGB images as float32 in [0, 255]."""
    return rng.integers(0, 256, (4, 16, 16, 3)).astype("float32")


# ---------------------------------------------------------------------------
# What every perturbation must do.


@pytest.mark.parametrize("name", FACTORY_NAMES)
@TF_ONLY
def test_training_false_returns_the_inputs(name, images):
    layer = FACTORIES[name]()
    tensor = tf.constant(images)
    assert layer(tensor, training=False) is tensor
    as_uint8 = images.astype("uint8")
    output = to_numpy(layer(as_uint8, training=False))
    assert output.dtype == np.uint8
    np.testing.assert_array_equal(output, as_uint8)


@pytest.mark.parametrize("name", FACTORY_NAMES)
@pytest.mark.parametrize("channels", [1, 3])
def test_single_image_is_a_batch_of_one(name, channels, rng):
    layer = FACTORIES[name]()
    batch = rng.integers(0, 256, (1, 16, 12, channels)).astype("float32")
    single = to_numpy(layer(batch[0], seed=StepSeed(PAIR)))
    batched = to_numpy(layer(batch, seed=StepSeed(PAIR)))
    assert single.shape == (16, 12, channels)
    assert batched.shape == (1, 16, 12, channels)
    np.testing.assert_array_equal(single, batched[0])


@pytest.mark.parametrize("name", FACTORY_NAMES)
@pytest.mark.parametrize(
    "dtype_policy, expected", [(None, "float32"), ("mixed_float16", "float16")]
)
def test_output_is_in_the_compute_dtype(name, dtype_policy, expected, images):
    layer = FACTORIES[name]()
    if dtype_policy is not None:
        config = layer.get_config()
        config["dtype"] = dtype_policy
        layer = type(layer).from_config(config)
    output = layer(images.astype("uint8"))
    assert keras.backend.standardize_dtype(output.dtype) == expected
    symbolic = layer(keras.Input((16, 16, 3), dtype="uint8"))
    assert symbolic.shape == (None, 16, 16, 3)
    assert keras.backend.standardize_dtype(symbolic.dtype) == expected


@pytest.mark.parametrize("name", FACTORY_NAMES)
@pytest.mark.parametrize("shape", [(16, 16), (2, 16, 16, 3, 1)])
def test_rank_other_than_3_or_4_is_an_error(name, shape):
    layer = FACTORIES[name]()
    with pytest.raises(ValueError, match=re.escape(f"Received: inputs.shape={shape}")):
        layer(np.zeros(shape, "float32"))


@pytest.mark.parametrize("name", FACTORY_NAMES)
def test_step_seed_replays_and_steps_differ(name, images):
    layer = FACTORIES[name]()
    first = to_numpy(layer(images, seed=StepSeed(PAIR)))
    again = to_numpy(layer(images, seed=StepSeed(PAIR)))
    np.testing.assert_array_equal(first, again)
    if name.startswith("thumbnail"):
        return  # deterministic: no seed to differ on
    # Each call draws anew: over a few steps the outputs cannot all agree.
    others = [
        to_numpy(layer(images, seed=StepSeed(np.array([3, step]))))
        for step in (6, 7, 8)
    ]
    assert any(not np.array_equal(first, other) for other in others)


@pytest.mark.parametrize("name", FACTORY_NAMES)
@TF_ONLY
def test_tf_data_map_matches_direct_call(name, images):
    layer = FACTORIES[name]()
    dataset = (
        tf.data.Dataset.from_tensor_slices(images)
        .batch(2)
        .map(lambda batch: layer(batch, seed=StepSeed(PAIR)))
    )
    mapped = [batch.numpy() for batch in dataset]
    direct = [to_numpy(layer(images[i : i + 2], seed=StepSeed(PAIR))) for i in (0, 2)]
    for got, expected in zip(mapped, direct, strict=True):
        np.testing.assert_array_equal(got, expected)
    # Unbatched: single images go through as 3-D.
    unbatched = tf.data.Dataset.from_tensor_slices(images).map(
        lambda image: layer(image, seed=StepSeed(PAIR))
    )
    for image, got in zip(images, unbatched, strict=True):
        assert got.shape == (16, 16, 3)
        expected = to_numpy(layer(image, seed=StepSeed(PAIR)))
        np.testing.assert_array_equal(got.numpy(), expected)


def _as_json(config):
    return json.loads(json.dumps(config))


def _init_parameters(cls):
    parameters = inspect.signature(cls.__init__).parameters
    return [p for p in parameters if p not in ("self", "kwargs")]


@pytest.mark.parametrize("name", FACTORY_NAMES)
def test_config_round_trip(name):
    layer = FACTORIES[name]()
    config = layer.get_config()
    for parameter in _init_parameters(type(layer)):
        assert parameter in config
    rebuilt = type(layer).from_config(config)
    assert rebuilt.get_config() == config
    # Through JSON too, as saving does (tuples come back as lists).
    serialized = keras.saving.serialize_keras_object(layer)
    restored = keras.saving.deserialize_keras_object(json.loads(json.dumps(serialized)))
    assert type(restored) is type(layer)
    assert restored.get_config() == config


@pytest.mark.parametrize("name", FACTORY_NAMES)
def test_saved_model_reloads_with_identical_outputs(name, images, tmp_path):
    layer = FACTORIES[name]()
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            layer,
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_array_equal(
        to_numpy(reloaded(images, training=False)),
        to_numpy(model(images, training=False)),
    )
    reloaded_layer = reloaded.layers[0]
    assert type(reloaded_layer) is type(layer)
    # Compared as JSON: nested build configs come back with lists for tuples.
    assert _as_json(reloaded_layer.get_config()) == _as_json(layer.get_config())
    np.testing.assert_array_equal(
        to_numpy(reloaded_layer(images, seed=StepSeed(PAIR))),
        to_numpy(layer(images, seed=StepSeed(PAIR))),
    )


@pytest.mark.parametrize("cls", [GaussianNoise, RandomCropOffset, ThumbnailResize])
@pytest.mark.parametrize("value_range", [(1, 0), (0, 0), (0,), "0-1", (0, None)])
def test_value_range_must_be_an_increasing_pair(cls, value_range):
    with pytest.raises(ValueError, match="`value_range` must be a pair"):
        cls(value_range=value_range)
    with pytest.raises(ValueError, match=re.escape(f"value_range={value_range!r}")):
        cls(value_range=value_range)


def test_base_class_needs_perturb():
    with pytest.raises(NotImplementedError, match="must implement `perturb"):
        Perturbation()(np.zeros((1, 4, 4, 1), "float32"))


def test_base_class_config_round_trip():
    layer = Perturbation(value_range=(0, 255), seed=3, name="p")
    config = layer.get_config()
    assert config["value_range"] == (0, 255) and config["seed"] == 3
    assert config["name"] == "p"
    for parameter in _init_parameters(Perturbation):
        assert parameter in config
    assert Perturbation.from_config(config).get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    restored = keras.saving.deserialize_keras_object(json.loads(json.dumps(serialized)))
    assert type(restored) is Perturbation
    assert restored.get_config() == config


_SEED_MESSAGE = "`seed` must be None or an int in [0, 2147483647]. Received: seed="


@pytest.mark.parametrize(
    "seed", [True, False, -1, 2**31, 2**32, 1.5, "3", np.float32(2), [1, 2]]
)
@pytest.mark.parametrize(
    "make",
    [
        lambda seed: Perturbation(seed=seed),
        lambda seed: GaussianNoise(seed=seed),
        lambda seed: ThumbnailResize(seed=seed),
        lambda seed: Compose([GaussianNoise()], seed=seed),
        lambda seed: OneOf([GaussianNoise()], seed=seed),
    ],
    ids=["Perturbation", "GaussianNoise", "ThumbnailResize", "Compose", "OneOf"],
)
def test_seed_must_be_none_or_an_int_every_backend_takes(make, seed):
    with pytest.raises(ValueError, match=re.escape(f"{_SEED_MESSAGE}{seed!r}")):
        make(seed)


@pytest.mark.parametrize("seed", [0, 5, 2**31 - 1, np.int64(5), np.uint32(5)])
def test_seeds_at_the_ends_of_the_range_and_numpy_ints_are_taken(seed, images):
    images = images / 255  # the layer's default range
    layer = GaussianNoise(seed=seed)
    assert type(layer.seed) is int and layer.seed == seed
    assert json.loads(json.dumps(layer.get_config()))["seed"] == seed
    # The same draws as the generator seeded with that Python int.
    expected = images + to_numpy(
        keras.random.normal(
            images.shape, stddev=0.04, seed=keras.random.SeedGenerator(int(seed))
        )
    )
    np.testing.assert_allclose(to_numpy(layer(images)), expected, rtol=0, atol=1e-4)


def test_all_lists_the_public_classes():
    assert sorted(perturbations.__all__) == sorted(
        [
            "Perturbation",
            "apply_perturbation",
            "check_fits",
            "check_perturbation",
            "default_perturbation",
            "CLEAN_KEY",
            "PERTURBED_KEY",
            "split_perturbed_copy",
            "with_perturbed_copy",
            *(cls.__name__ for cls in CLASSES),
        ]
    )


@pytest.mark.parametrize(
    "cls",
    [
        pytest.param(c, marks=TF_ONLY) if c in (JpegCompression, Compose) else c
        for c in [Perturbation, *CLASSES]
    ],
)
def test_docstring_example_runs(cls, run_example):
    run_example(cls)
    assert "Args:" in cls.__doc__


# ---------------------------------------------------------------------------
# GaussianNoise


@pytest.mark.parametrize(
    "value_range, stddev", [((0, 1), 0.04), ((0, 255), 0.04), ((-1, 1), 0.1)]
)
def test_gaussian_noise_statistics(value_range, stddev, rng):
    low, high = value_range
    sigma = stddev * (high - low)
    images = (low + (high - low) * rng.random((32, 64, 64, 3))).astype("float32")
    noise = to_numpy(GaussianNoise(stddev, value_range=value_range)(images))
    noise = noise.astype("float64") - images
    n = noise.size
    # The sample mean has standard error sigma / sqrt(n) and the sample
    # standard deviation sigma / sqrt(2 n): allow five of each.
    assert abs(noise.mean()) < 5 * sigma / np.sqrt(n)
    assert abs(noise.std() / sigma - 1) < 5 / np.sqrt(2 * n)
    # Independent per pixel and channel: neighbours are uncorrelated.
    for a, b in [
        (noise[:, :, :-1], noise[:, :, 1:]),
        (noise[:, :-1], noise[:, 1:]),
        (noise[..., 0], noise[..., 1]),
    ]:
        assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 5 / np.sqrt(a.size)
    # Gaussian tails: the share beyond 2 sigma is 4.55 %.
    tail = np.mean(np.abs(noise) > 2 * sigma)
    assert abs(tail - 0.0455) < 5 * np.sqrt(0.0455 * 0.9545 / n)


def test_gaussian_noise_is_not_clipped_unless_asked(rng):
    images = np.full((8, 16, 16, 1), 0.9, "float32")
    unclipped = to_numpy(GaussianNoise(0.2)(images, seed=StepSeed(PAIR)))
    assert unclipped.max() > 1.0 and unclipped.min() < 0.9
    clipped = to_numpy(GaussianNoise(0.2, clip=True)(images, seed=StepSeed(PAIR)))
    np.testing.assert_array_equal(clipped, np.clip(unclipped, 0.0, 1.0))
    clipped_255 = to_numpy(
        GaussianNoise(0.2, clip=True, value_range=(0, 255))(
            255 * images, seed=StepSeed(PAIR)
        )
    )
    assert clipped_255.max() == 255.0 and clipped_255.min() >= 0.0


def test_gaussian_noise_zero_stddev_is_the_identity(images):
    output = to_numpy(GaussianNoise(0.0, value_range=(0, 255))(images.astype("uint8")))
    np.testing.assert_array_equal(output, images)


def test_gaussian_noise_seeds(images):
    images = images / 255  # the layer's default range
    first = GaussianNoise(seed=11)
    second = GaussianNoise(seed=11)
    a, b = to_numpy(first(images)), to_numpy(first(images))
    assert not np.array_equal(a, b)  # the layer's generator advances
    np.testing.assert_array_equal(to_numpy(second(images)), a)
    np.testing.assert_array_equal(to_numpy(second(images)), b)
    # An explicit seed wins over the layer's own.
    with_step = to_numpy(first(images, seed=StepSeed(PAIR)))
    np.testing.assert_array_equal(
        to_numpy(GaussianNoise(seed=99)(images, seed=StepSeed(PAIR))), with_step
    )
    other_step = to_numpy(first(images, seed=StepSeed(np.array([3, 6]))))
    other_seed = to_numpy(first(images, seed=StepSeed(np.array([4, 5]))))
    assert not np.array_equal(other_step, with_step)
    assert not np.array_equal(other_seed, with_step)
    generator = to_numpy(first(images, seed=keras.random.SeedGenerator(5)))
    again = to_numpy(first(images, seed=keras.random.SeedGenerator(5)))
    np.testing.assert_array_equal(generator, again)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"stddev": -1},
            "`stddev` must be a number in [0, 3.4028234663852886e+38] (finite in float32). Received: stddev=-1",
        ),
        (
            {"stddev": "0.1"},
            "`stddev` must be a number in [0, 3.4028234663852886e+38] (finite in float32). Received: stddev='0.1'",
        ),
        (
            {"stddev": float("nan")},
            "`stddev` must be a number in [0, 3.4028234663852886e+38] (finite in float32). Received: stddev=nan",
        ),
        (
            {"stddev": 1e39},
            "`stddev` must be a number in [0, 3.4028234663852886e+38] (finite in float32). Received: stddev=1e+39",
        ),
        ({"clip": 1}, "`clip` must be a bool. Received: clip=1"),
        # Each finite in float32, but the noise they make is not.
        (
            {"stddev": 1e38, "value_range": (0, 255)},
            "`stddev` times the width of `value_range` must be at most 2.127e+37 "
            "(float32's largest / 16), or the noise overflows to inf. "
            "Received: stddev=1e+38, value_range=(0, 255)",
        ),
        (
            {"stddev": 3e38},
            "Received: stddev=3e+38, value_range=(0, 1)",
        ),
        (
            {"stddev": 0.5, "value_range": (-1e38, 1e38)},
            "Received: stddev=0.5, value_range=(-1e+38, 1e+38)",
        ),
    ],
)
def test_gaussian_noise_validation(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        GaussianNoise(**kwargs)


@TF_ONLY
def test_gaussian_noise_compiles_with_xla(images):
    layer = GaussianNoise(0.04, value_range=(0, 255))
    # The seed pair is an argument, so XLA draws the noise (a constant pair
    # would let TensorFlow fold the draw before XLA sees it).
    compiled = tf.function(
        lambda x, pair: layer(x, seed=StepSeed(pair)), jit_compile=True
    )
    noise = compiled(images, PAIR).numpy() - images
    assert noise.shape == images.shape
    assert 0.5 * 10.2 < noise.std() < 1.5 * 10.2

    # TensorFlow's Philox is named explicitly: the same draws as
    # keras.random.normal (whose "auto_select" XLA compiles 27x slower for a
    # CPU; benchmarks/RESULTS.md), under XLA and outside it.
    def keras_noise(pair):
        return keras.random.normal(images.shape, stddev=10.2, seed=StepSeed(pair))

    expected = tf.function(keras_noise, jit_compile=True)(PAIR).numpy()
    np.testing.assert_allclose(noise, expected, rtol=0, atol=1e-4)
    eager = to_numpy(layer(images, seed=StepSeed(PAIR))) - images
    np.testing.assert_allclose(eager, to_numpy(keras_noise(PAIR)), rtol=0, atol=1e-4)


# ---------------------------------------------------------------------------
# RandomCropOffset


def _crop_then_resize(image, dy, dx, max_offset, method):
    """The definition of crop-o: crop the window, resize it back (TensorFlow)."""
    height, width = image.shape[:2]
    window = image[dy : dy + height - max_offset, dx : dx + width - max_offset]
    return tf.image.resize(window, (height, width), method=method).numpy()


@pytest.mark.parametrize("channels", [1, 3])
@TF_ONLY
def test_crop_offset_bilinear_is_a_resized_shifted_crop(channels, rng):
    max_offset = 3
    images = rng.random((12, 20, 28, channels)).astype("float32")
    outputs = to_numpy(RandomCropOffset(max_offset, seed=1)(images))
    corners = set()
    for image, output in zip(images, outputs, strict=True):
        errors = {
            (dy, dx): np.abs(
                _crop_then_resize(image, dy, dx, max_offset, "bilinear") - output
            ).max()
            for dy in range(max_offset + 1)
            for dx in range(max_offset + 1)
        }
        corner = min(errors, key=errors.get)
        assert errors[corner] < 1e-6
        corners.add(corner)
    assert len(corners) > 1  # per image, not one window for the batch
    assert outputs.min() >= images.min() and outputs.max() <= images.max()


def _ramp(batch, height, width):
    rows = 1000 * np.arange(height)[:, None]
    return np.broadcast_to(
        (rows + np.arange(width))[None, :, :, None], (batch, height, width, 1)
    ).astype("float32")


def test_crop_offset_nearest_on_a_ramp_reads_the_window():
    height, width, max_offset = 16, 24, 4
    outputs = to_numpy(
        RandomCropOffset(
            max_offset, interpolation="nearest", value_range=(0, 2**16), seed=2
        )(_ramp(8, height, width))
    )
    # Half-pixel centres: output pixel i reads window pixel
    # floor((i + 1/2) * window / size), here in exact integer arithmetic.
    rows = (2 * np.arange(height) + 1) * (height - max_offset) // (2 * height)
    cols = (2 * np.arange(width) + 1) * (width - max_offset) // (2 * width)
    for output in outputs:
        dy, dx = divmod(int(output[0, 0, 0]), 1000)
        assert 0 <= dy <= max_offset and 0 <= dx <= max_offset
        expected = 1000 * (dy + rows)[:, None] + (dx + cols)[None, :]
        np.testing.assert_array_equal(output[..., 0], expected)


def test_crop_offset_corners_are_uniform():
    max_offset, batch = 4, 2000
    outputs = to_numpy(
        RandomCropOffset(
            max_offset, interpolation="nearest", value_range=(0, 2**16), seed=3
        )(_ramp(batch, 6, 6))
    )
    dy, dx = np.divmod(outputs[:, 0, 0, 0].astype(int), 1000)
    counts = np.zeros((max_offset + 1, max_offset + 1))
    np.add.at(counts, (dy, dx), 1)
    assert counts.sum() == batch  # every corner inside [0, o] x [0, o]
    p = 1 / counts.size
    assert np.all(np.abs(counts - batch * p) < 5 * np.sqrt(batch * p * (1 - p)))


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("shape", [(3, 9, 13, 1), (3, 9, 13, 3)])
def test_crop_offset_zero_is_the_identity(interpolation, shape, rng):
    images = rng.random(shape).astype("float32")
    layer = RandomCropOffset(0, interpolation=interpolation)
    np.testing.assert_array_equal(to_numpy(layer(images)), images)


@TF_ONLY
def test_crop_offset_compiles_with_xla():
    layer = RandomCropOffset(4, interpolation="nearest")
    compiled = tf.function(lambda x: layer(x, seed=StepSeed(PAIR)), jit_compile=True)
    for output in compiled(_ramp(4, 16, 24)).numpy():
        dy, dx = divmod(int(output[0, 0, 0]), 1000)
        np.testing.assert_array_equal(
            output, _crop_then_resize(_ramp(1, 16, 24)[0], dy, dx, 4, "nearest")
        )


def test_gaussian_noise_at_its_largest_scale_stays_finite():
    # The largest stddev the check lets through, on extreme pixels.
    layer = GaussianNoise(0.1, value_range=(-1e38, 1e38), seed=1)
    images = np.full((64, 8, 8, 3), -1e38, "float32")
    noisy = to_numpy(layer(images))
    assert np.isfinite(noisy).all()
    noise = noisy.astype("float64") - images
    assert np.std(noise) == pytest.approx(2e37, rel=0.05)


@pytest.mark.parametrize("value_range", [(-3e38, 3e38), (0, 1e39)])
def test_value_range_wider_than_float32_is_an_error(value_range):
    with pytest.raises(
        ValueError, match=re.escape(f"Received: value_range={value_range!r}")
    ):
        GaussianNoise(0.1, value_range=value_range)


@pytest.mark.parametrize(
    "make",
    [
        lambda: GaussianNoise(0.1),
        lambda: RandomCropOffset(2),
        lambda: OneOf([GaussianNoise(0.1), RandomCropOffset(2)]),
    ],
)
@pytest.mark.parametrize("seed", [3, np.int64(3), np.array([3, 4])])
def test_an_int_seed_at_call_is_an_error_on_every_backend(make, seed, images):
    layer = make()
    with pytest.raises(
        ValueError,
        match=r"The `seed` of a call must be a `keras\.random\.SeedGenerator` "
        r"\(such as a `StepSeed`\) or None; give an int seed to the constructor "
        r"instead, e\.g\. `\w+\(seed=3\)`\. Received: seed=",
    ):
        layer(images, seed=seed)


@pytest.mark.parametrize(
    "make, shape, message",
    [
        (
            lambda: RandomCropOffset(4),
            (None, 4, 9, 3),
            "Received: max_offset=4 for images of height=4 and width=9",
        ),
        (
            lambda: ThumbnailResize(size=8),
            (None, 6, 9, 3),
            "Received: size=8 for images of height=6 and width=9",
        ),
        (
            lambda: JpegCompression(50, method="dct"),
            (None, 8, 8, 4),
            "Received: 4 channels (images.shape=(None, 8, 8, 4))",
        ),
        (
            lambda: GaussianNoise(0.1),
            (None, 10),
            "expects a batch of images (batch, height, width, channels) or one "
            "image (height, width, channels). Received: inputs.shape=(None, 10)",
        ),
        (
            lambda: OneOf([GaussianNoise(0.1), RandomCropOffset(5)]),
            (None, 5, 5, 1),
            "Received: max_offset=5 for images of height=5 and width=5",
        ),
        (
            lambda: Compose([RandomCropOffset(1), ThumbnailResize(size=(3, 2))]),
            (2, 2, 1),
            "Received: size=(3, 2) for images of height=2 and width=2",
        ),
    ],
)
def test_compute_output_shape_checks_what_the_layer_needs(make, shape, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make().compute_output_shape(shape)


@pytest.mark.parametrize(
    "make",
    [
        lambda: RandomCropOffset(4),
        lambda: ThumbnailResize(size=8),
        lambda: JpegCompression(50, method="dct"),
        lambda: OneOf([GaussianNoise(0.1), RandomCropOffset(5)]),
    ],
)
def test_compute_output_shape_passes_unknown_and_fitting_shapes(make):
    layer = make()
    assert layer.compute_output_shape((None, None, None, 3)) == (None, None, None, 3)
    assert layer.compute_output_shape((None, 9, 9, 3)) == (None, 9, 9, 3)
    assert layer.compute_output_shape((9, 9, 1)) == (9, 9, 1)


def test_crop_offset_too_large_for_the_image():
    layer = RandomCropOffset(max_offset=8)
    with pytest.raises(
        ValueError,
        match=re.escape("Received: max_offset=8 for images of height=8 and width=12"),
    ):
        layer(np.zeros((1, 8, 12, 3), "float32"))


@pytest.mark.parametrize(
    "make", [lambda: RandomCropOffset(2), lambda: ThumbnailResize(scale=0.5)]
)
@pytest.mark.parametrize("shape", [(None, None, None, 3), (None, None, 3)])
@TF_ONLY
def test_unknown_height_and_width_is_an_error(make, shape):
    layer = make()
    spec = tf.TensorSpec(shape, tf.float32)
    traced = tf.function(lambda x: layer(x), input_signature=[spec])
    batch_shape = (None, None, None, 3)  # a single image is a batch of one
    if len(shape) == 3:
        batch_shape = (1, None, None, 3)
    message = (
        f"`{type(layer).__name__}` needs the image height and width to be "
        f"known when it is called. Received: inputs.shape={batch_shape}"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        traced.get_concrete_function()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"max_offset": -1},
            "`max_offset` must be an int >= 0. Received: max_offset=-1",
        ),
        (
            {"max_offset": 2.0},
            "`max_offset` must be an int >= 0. Received: max_offset=2.0",
        ),
        (
            {"interpolation": "bicubic"},
            "`interpolation` must be one of ('bilinear', 'nearest'). "
            "Received: interpolation='bicubic'",
        ),
    ],
)
def test_crop_offset_validation(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        RandomCropOffset(**kwargs)


# ---------------------------------------------------------------------------
# ThumbnailResize


def _resize_bilinear(images, height, width):
    """Bilinear resize with half-pixel centres and clamped edges, in NumPy."""

    def along(x, axis, size):
        n = x.shape[axis]
        coordinates = np.clip((np.arange(size) + 0.5) * n / size - 0.5, 0, n - 1)
        lower = np.floor(coordinates).astype(int)
        upper = np.minimum(lower + 1, n - 1)
        shape = [1] * x.ndim
        shape[axis] = size
        fraction = (coordinates - lower).reshape(shape)
        return (1 - fraction) * np.take(x, lower, axis) + fraction * np.take(
            x, upper, axis
        )

    return along(along(images.astype("float64"), 1, height), 2, width)


@pytest.mark.parametrize("channels", [1, 3])
def test_thumbnail_bilinear_matches_numpy(channels, rng):
    images = rng.random((2, 20, 28, channels)).astype("float32")
    output = to_numpy(ThumbnailResize(size=(7, 9))(images))
    expected = _resize_bilinear(_resize_bilinear(images, 7, 9), 20, 28)
    assert output.shape == images.shape
    np.testing.assert_allclose(output, expected, atol=1e-5)
    single = to_numpy(ThumbnailResize(size=8)(images[0]))
    expected = _resize_bilinear(_resize_bilinear(images[:1], 8, 8), 20, 28)[0]
    np.testing.assert_allclose(single, expected, atol=1e-5)


def test_thumbnail_nearest_halving(rng):
    images = rng.random((2, 12, 10, 3)).astype("float32")
    output = to_numpy(ThumbnailResize(scale=0.5, interpolation="nearest")(images))
    # Down: pixel i reads 2 i + 1; up: pixel i reads i // 2.
    rows = 2 * (np.arange(12) // 2) + 1
    cols = 2 * (np.arange(10) // 2) + 1
    np.testing.assert_array_equal(output, images[:, rows][:, :, cols])


@pytest.mark.parametrize("kwargs", [{"scale": 1.0}, {"scale": 1}, {"size": (9, 13)}])
def test_thumbnail_of_the_image_size_is_the_identity(kwargs, rng):
    images = rng.random((2, 9, 13, 3)).astype("float32")
    layer = ThumbnailResize(interpolation="bicubic", antialias=True, **kwargs)
    np.testing.assert_array_equal(to_numpy(layer(images)), images)


@pytest.mark.parametrize(
    "interpolation", ["bilinear", "nearest", "bicubic", "lanczos3", "lanczos5"]
)
@pytest.mark.parametrize("antialias", [False, True])
def test_thumbnail_keeps_a_constant_image_constant(interpolation, antialias):
    images = np.full((1, 17, 23, 3), 0.3, "float32")
    layer = ThumbnailResize(size=5, interpolation=interpolation, antialias=antialias)
    if keras.backend.backend() == "torch" and interpolation.startswith("lanczos"):
        # Keras's PyTorch backend has no Lanczos resize and says so.
        with pytest.raises(ValueError, match="Lanczos interpolation is not supported"):
            layer(images)
        return
    np.testing.assert_allclose(to_numpy(layer(images)), images, atol=1e-6)


THUMBNAIL_INTERPOLATIONS = ["bilinear", "nearest", "bicubic", "lanczos3", "lanczos5"]


@pytest.mark.parametrize("interpolation", THUMBNAIL_INTERPOLATIONS)
@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("kwargs", [{"size": (7, 9)}, {"scale": 0.3}])
@TF_ONLY
def test_thumbnail_is_tf_image_resize_down_then_up(
    interpolation, antialias, kwargs, rng
):
    # thumb-A by definition: shrink with the method (and antialias), then
    # enlarge back with the same method; antialias only filters the shrinking.
    images = rng.random((3, 20, 28, 3)).astype("float32")
    layer = ThumbnailResize(interpolation=interpolation, antialias=antialias, **kwargs)
    output = to_numpy(layer(images))
    # scale 0.3 of 20 x 28: round(6.0) x round(8.4).
    thumbnail = kwargs.get("size", (6, 8))
    small = tf.image.resize(
        images, thumbnail, method=interpolation, antialias=antialias
    )
    expected = tf.image.resize(small, (20, 28), method=interpolation).numpy()
    np.testing.assert_allclose(output, expected, rtol=0, atol=1e-6)


def test_thumbnail_interpolation_and_antialias_change_the_output(rng):
    images = rng.random((2, 20, 28, 3)).astype("float32")
    interpolations = THUMBNAIL_INTERPOLATIONS
    if keras.backend.backend() == "torch":
        interpolations = interpolations[:3]  # no Lanczos in Keras's PyTorch
    outputs = {
        (interpolation, antialias): to_numpy(
            ThumbnailResize(
                size=(7, 9), interpolation=interpolation, antialias=antialias
            )(images)
        )
        for interpolation in interpolations
        for antialias in (False, True)
    }
    for first, second in itertools.combinations(outputs, 2):
        difference = np.abs(outputs[first] - outputs[second]).max()
        if first[0] == second[0] == "nearest":
            # Nearest neighbours do not filter: antialias has no effect.
            assert difference == 0
        else:
            assert difference > 1e-3, (first, second)


@pytest.mark.parametrize(
    "size, shape",
    [
        (64, (1, 16, 20, 3)),
        ((17, 8), (2, 16, 20, 3)),
        ((8, 21), (2, 16, 20, 1)),
        ((8, 21), (16, 20, 3)),
    ],
)
def test_thumbnail_larger_than_the_image_is_an_error(size, shape):
    layer = ThumbnailResize(size=size)
    message = (
        "`size` must not be larger than the image in either dimension (a "
        f"thumbnail shrinks it). Received: size={size!r} for images of "
        "height=16 and width=20"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        layer(np.zeros(shape, "float32"))
    with pytest.raises(ValueError, match=re.escape(message)):
        layer.thumbnail_size(16, 20)
    # As large as the image in one dimension is fine.
    assert ThumbnailResize(size=(16, 5)).thumbnail_size(16, 20) == (16, 5)


def test_thumbnail_size_from_scale():
    # round(scale * side), half up, at least 1; scale 0.5 when nothing given.
    assert ThumbnailResize().thumbnail_size(37, 45) == (19, 23)
    assert ThumbnailResize(scale=0.25).thumbnail_size(37, 45) == (9, 11)
    assert ThumbnailResize(scale=0.01).thumbnail_size(20, 30) == (1, 1)
    assert ThumbnailResize(size=6).thumbnail_size(37, 45) == (6, 6)
    assert ThumbnailResize(size=[6, 8]).thumbnail_size(37, 45) == (6, 8)
    output = to_numpy(ThumbnailResize()(np.ones((1, 37, 45, 1), "float32")))
    assert output.shape == (1, 37, 45, 1)


def test_thumbnail_is_deterministic(images):
    layer = ThumbnailResize(size=6, value_range=(0, 255), seed=1)
    np.testing.assert_array_equal(to_numpy(layer(images)), to_numpy(layer(images)))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"size": 8, "scale": 0.5}, "Give either `size` or `scale`, not both."),
        ({"scale": 0}, "`scale` must be in (0, 1]. Received: scale=0"),
        ({"scale": 1.5}, "`scale` must be in (0, 1]. Received: scale=1.5"),
        ({"scale": -0.5}, "`scale` must be in (0, 1]. Received: scale=-0.5"),
        ({"size": 0}, "`size` must be an int >= 1 or a pair"),
        ({"size": (3,)}, "Received: size=(3,)"),
        ({"size": (2, 0)}, "Received: size=(2, 0)"),
        ({"size": 2.5}, "Received: size=2.5"),
        ({"interpolation": "cubic"}, "Received: interpolation='cubic'"),
        ({"antialias": "yes"}, "`antialias` must be a bool. Received: antialias='yes'"),
    ],
)
def test_thumbnail_validation(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ThumbnailResize(**kwargs)


# ---------------------------------------------------------------------------
# Compose


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


@TF_ONLY
def test_compose_training_false_runs_nothing(images):
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
    message = (
        f"`{cls.__name__}` takes no `value_range`: each element has its own, so "
        "give it to the elements. Received: value_range=(0, 255)"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
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


# ---------------------------------------------------------------------------
# OneOf


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


@TF_ONLY
def test_one_of_compiles_with_xla(rng):
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
            "`weights` must be a list with one entry per perturbation (2). "
            "Received: weights=[1]",
        ),
        ((1, 2, 3), "Received: weights=(1, 2, 3)"),
        ([1, -1], "`weights` must be non-negative numbers. Received: weights=[1, -1]"),
        ([1, float("nan")], "`weights` must be non-negative numbers."),
        ([1, "2"], "`weights` must be non-negative numbers."),
        ([0, 0], "`weights` must have a positive sum. Received: weights=[0, 0]"),
        (
            np.ones((1, 2)),
            "`weights` must be a list with one entry per perturbation (2). "
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


@pytest.mark.parametrize("cls", [Compose, OneOf])
def test_a_class_is_not_an_element(cls):
    with pytest.raises(
        ValueError,
        match=re.escape("Received: perturbations[1]=<class "),
    ):
        cls([GaussianNoise(0.1), RandomCropOffset])


# ---------------------------------------------------------------------------
# Other backends


_JAX_SCRIPT = """
import jax, numpy as np
from keras_stability._seeds import StepSeed
from keras_stability.perturbations import (
    GaussianNoise, JpegCompression, OneOf, RandomCropOffset, ThumbnailResize)

x = np.random.default_rng(0).random((4, 16, 16, 3), dtype="float32")
for layer in [GaussianNoise(), RandomCropOffset(3), ThumbnailResize(size=5),
              OneOf([GaussianNoise(), RandomCropOffset(2)])]:
    step = jax.jit(lambda x, pair: layer(x, seed=StepSeed(pair)))
    a = np.asarray(step(x, np.array([3, 5])))
    b = np.asarray(step(x, np.array([3, 5])))
    assert a.shape == x.shape and np.array_equal(a, b)
zero = RandomCropOffset(0)(x)
assert np.array_equal(np.asarray(zero), x)
try:
    JpegCompression()
except RuntimeError as error:
    print("jpeg:", error)
print("ok")
"""


def test_layers_run_under_jax_jit():
    pytest.importorskip("jax")
    result = subprocess.run(
        [sys.executable, "-c", _JAX_SCRIPT],
        env={**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "needs the TensorFlow backend, but the Keras backend is 'jax'" in (
        result.stdout
    )
    assert result.stdout.strip().endswith("ok")


# ---------------------------------------------------------------------------
# Severity ranges: ThumbnailResize(scale=(a, b)), RandomCropOffset(max_offset=(a, b))


def _side(scale, side):
    """A thumbnail side as the docstring defines it: round half up, at least 1."""
    return max(1, int(np.floor(scale * side + 0.5)))


def _thumbnail_candidates(height, width):
    """Every thumbnail size some scale in (0, 1] gives, with that scale."""
    sizes = {}
    for scale in np.linspace(0.0001, 1, 20001):
        sizes.setdefault((_side(scale, height), _side(scale, width)), scale)
    return sizes


def _nearest_resize(images, height, width):
    """Nearest-neighbour resize with half-pixel centres, in exact integer maths."""
    rows = (2 * np.arange(height) + 1) * images.shape[1] // (2 * height)
    cols = (2 * np.arange(width) + 1) * images.shape[2] // (2 * width)
    return images[:, rows][:, :, cols]


def _crop_candidates(images, offsets, interpolation):
    """NumPy crop-o for every budget in `offsets` and every corner of it."""
    height, width = images.shape[1:3]
    resize = _resize_bilinear if interpolation == "bilinear" else _nearest_resize
    return {
        (offset, dy, dx): resize(
            images[:, dy : dy + height - offset, dx : dx + width - offset],
            height,
            width,
        )
        for offset in offsets
        for dy in range(offset + 1)
        for dx in range(offset + 1)
    }


def _recover(outputs, candidates):
    """For each output image, the one candidate it equals (asserted unique)."""
    found = []
    for index, output in enumerate(outputs):
        matches = [
            key
            for key, candidate in candidates.items()
            if np.allclose(output, candidate[index], rtol=0, atol=1e-5)
        ]
        assert len(matches) == 1, (index, matches)
        found.append(matches[0])
    return found


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("shape", [(16, 16), (20, 28), (32, 32)])
@pytest.mark.parametrize("scale", [0.1, 0.3, 0.5, 0.77, 1.0])
def test_thumbnail_scale_pair_of_equal_ends_is_that_scale(
    interpolation, shape, scale, rng
):
    images = rng.random((3, *shape, 3)).astype("float32")
    ranged = ThumbnailResize(scale=(scale, scale), interpolation=interpolation)
    fixed = ThumbnailResize(scale=scale, interpolation=interpolation)
    np.testing.assert_allclose(
        to_numpy(ranged(images)), to_numpy(fixed(images)), rtol=0, atol=1e-5
    )


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("shape, scale", [((20, 28), (0.2, 0.8)), ((16, 16), (0.1, 1))])
def test_thumbnail_scale_range_draws_a_size_per_image(interpolation, shape, scale, rng):
    images = rng.random((64, *shape, 3)).astype("float32")
    layer = ThumbnailResize(scale=scale, interpolation=interpolation, seed=2)
    outputs = to_numpy(layer(images, seed=StepSeed(PAIR)))
    # Candidates: what the fixed-size layer makes at every size of every
    # scale in (0, 1], not only those of the range.
    candidates = {
        size: to_numpy(ThumbnailResize(size=size, interpolation=interpolation)(images))
        for size in _thumbnail_candidates(*shape)
    }
    sizes = _recover(outputs, candidates)
    smallest = (_side(scale[0], shape[0]), _side(scale[0], shape[1]))
    largest = (_side(scale[1], shape[0]), _side(scale[1], shape[1]))
    for size in sizes:
        assert smallest[0] <= size[0] <= largest[0]
        assert smallest[1] <= size[1] <= largest[1]
    assert len(set(sizes)) >= 4  # one size per image, not one per batch
    np.testing.assert_array_equal(to_numpy(layer(images, seed=StepSeed(PAIR))), outputs)


def test_thumbnail_scale_range_bilinear_matches_numpy(rng):
    images = rng.random((32, 20, 28, 3)).astype("float32")
    outputs = to_numpy(ThumbnailResize(scale=(0.2, 0.6), seed=3)(images))
    candidates = {
        size: _resize_bilinear(_resize_bilinear(images, *size), 20, 28)
        for size in _thumbnail_candidates(20, 28)
    }
    assert len(set(_recover(outputs, candidates))) >= 4


def test_thumbnail_scale_range_of_the_full_size_is_the_identity(rng):
    images = rng.random((4, 9, 13, 3)).astype("float32")
    # Every scale of the range rounds to 9 x 13.
    layer = ThumbnailResize(scale=(0.97, 1), interpolation="nearest")
    np.testing.assert_array_equal(to_numpy(layer(images)), images)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("shape", [(16, 16), (20, 28), (32, 32)])
@pytest.mark.parametrize("offset", [0, 1, 4])
def test_crop_offset_pair_of_equal_ends_is_that_offset(
    interpolation, shape, offset, rng
):
    images = rng.random((8, *shape, 3)).astype("float32")
    ranged = RandomCropOffset((offset, offset), interpolation=interpolation)
    fixed = RandomCropOffset(offset, interpolation=interpolation)
    np.testing.assert_allclose(
        to_numpy(ranged(images, seed=StepSeed(PAIR))),
        to_numpy(fixed(images, seed=StepSeed(PAIR))),
        rtol=0,
        atol=1e-5,
    )


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("channels", [1, 3])
def test_crop_offset_range_draws_a_budget_and_corner_per_image(
    interpolation, channels, rng
):
    images = rng.random((64, 20, 28, channels)).astype("float32")
    layer = RandomCropOffset((1, 4), interpolation=interpolation, seed=4)
    outputs = to_numpy(layer(images, seed=StepSeed(PAIR)))
    # Every budget from 0 to 6 is a candidate, not only those of the range.
    found = _recover(outputs, _crop_candidates(images, range(7), interpolation))
    for offset, dy, dx in found:
        assert 1 <= offset <= 4
        assert 0 <= dy <= offset and 0 <= dx <= offset
    assert len({offset for offset, _, _ in found}) == 4
    assert len(set(found)) >= 10
    assert outputs.min() >= images.min() and outputs.max() <= images.max()


def test_crop_offset_range_budgets_and_corners_are_uniform():
    low, high, size, batch = 1, 4, 12, 4000
    layer = RandomCropOffset(
        (low, high), interpolation="nearest", value_range=(0, 20000), seed=5
    )
    outputs = to_numpy(layer(_ramp(batch, size, size)))[..., 0].astype(int)
    # On the ramp, the first row reads window row 0 and the last row window
    # row size - o - 1 (half-pixel centres), so they give dy and o.
    dy, dx = np.divmod(outputs[:, 0, 0], 1000)
    offsets = size - 1 - (outputs[:, -1, 0] // 1000 - dy)
    assert np.all((low <= offsets) & (offsets <= high))
    assert np.all((dy <= offsets) & (dx <= offsets))
    counts = np.bincount(offsets - low, minlength=high - low + 1)
    p = 1 / (high - low + 1)
    assert np.all(np.abs(counts - batch * p) < 5 * np.sqrt(batch * p * (1 - p)))
    # Given its budget, a corner is uniform in {0, ..., o}: here o = high.
    corners = dy[offsets == high]
    counts = np.bincount(corners, minlength=high + 1)
    p = 1 / (high + 1)
    n = corners.size
    assert np.all(np.abs(counts - n * p) < 5 * np.sqrt(n * p * (1 - p)))


@pytest.mark.parametrize(
    "make",
    [
        lambda: ThumbnailResize(
            scale=(0.25, 0.75), interpolation="nearest", value_range=(0, 255), seed=9
        ),
        lambda: ThumbnailResize(scale=[0.5, 1], value_range=(0, 255)),
        lambda: RandomCropOffset(
            max_offset=(1, 3), interpolation="nearest", value_range=(0, 255), seed=9
        ),
        lambda: RandomCropOffset(max_offset=[0, 2], value_range=(0, 255)),
    ],
)
def test_range_config_round_trip(make, images):
    layer = make()
    config = layer.get_config()
    for parameter in _init_parameters(type(layer)):
        assert parameter in config
    rebuilt = type(layer).from_config(config)
    assert rebuilt.get_config() == config
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is type(layer)
    assert restored.get_config() == config
    # JSON turns the pair into a list; the layer stores it as a tuple again.
    name = "scale" if isinstance(layer, ThumbnailResize) else "max_offset"
    assert isinstance(restored.get_config()[name], tuple)
    np.testing.assert_array_equal(
        to_numpy(restored(images, seed=StepSeed(PAIR))),
        to_numpy(layer(images, seed=StepSeed(PAIR))),
    )


@pytest.mark.parametrize(
    "make",
    [lambda: ThumbnailResize(scale=(0.3, 0.7)), lambda: RandomCropOffset((0, 3))],
)
@pytest.mark.parametrize(
    "dtype_policy, expected", [(None, "float32"), ("mixed_float16", "float16")]
)
def test_range_output_is_in_the_compute_dtype(make, dtype_policy, expected, images):
    layer = make()
    config = layer.get_config()
    config["value_range"] = (0, 255)
    if dtype_policy is not None:
        config["dtype"] = dtype_policy
    layer = type(layer).from_config(config)
    output = layer(images.astype("uint8"))
    assert keras.backend.standardize_dtype(output.dtype) == expected
    assert output.shape == images.shape


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"scale": (0.8, 0.2)},
            "`scale` must be a number or a pair (a, b) of numbers with a <= b. "
            "Received: scale=(0.8, 0.2)",
        ),
        ({"scale": (0.5,)}, "Received: scale=(0.5,)"),
        ({"scale": (0.1, 0.2, 0.3)}, "Received: scale=(0.1, 0.2, 0.3)"),
        ({"scale": ("a", 0.5)}, "Received: scale=('a', 0.5)"),
        ({"scale": (True, 0.5)}, "Received: scale=(True, 0.5)"),
        (
            {"scale": (0, 0.5)},
            "`scale` must be a pair (a, b) of numbers in (0, 1] with a <= b. "
            "Received: scale=(0, 0.5)",
        ),
        ({"scale": [0.5, 1.5]}, "Received: scale=[0.5, 1.5]"),
        (
            {"scale": (0.2, 0.5), "antialias": True},
            "A `scale` range resamples with interpolation 'bilinear' or 'nearest' "
            "and antialias=False. Received: scale=(0.2, 0.5), "
            "interpolation='bilinear', antialias=True",
        ),
        (
            {"scale": (0.2, 0.5), "interpolation": "bicubic"},
            "Received: scale=(0.2, 0.5), interpolation='bicubic', antialias=False",
        ),
        (
            {"scale": (0.2, 0.2), "interpolation": "lanczos3"},
            "Received: scale=(0.2, 0.2), interpolation='lanczos3'",
        ),
    ],
)
def test_thumbnail_scale_range_validation(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ThumbnailResize(**kwargs)


def test_thumbnail_size_of_a_scale_range_is_an_error():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "With a `scale` range every image gets its own thumbnail size, from "
            "(4, 6) to (10, 15) here. Received: scale=(0.2, 0.5)"
        ),
    ):
        ThumbnailResize(scale=(0.2, 0.5)).thumbnail_size(20, 30)


@pytest.mark.parametrize(
    "max_offset, message",
    [
        (
            (3, 1),
            "`max_offset` must be a number or a pair (a, b) of numbers with "
            "a <= b. Received: max_offset=(3, 1)",
        ),
        ((2,), "Received: max_offset=(2,)"),
        ((1, 2, 3), "Received: max_offset=(1, 2, 3)"),
        (
            (1.0, 2),
            "`max_offset` must be a pair (a, b) of ints >= 0 with a <= b. "
            "Received: max_offset=(1.0, 2)",
        ),
        ((-1, 2), "Received: max_offset=(-1, 2)"),
        (("1", 2), "Received: max_offset=('1', 2)"),
        ([True, 2], "Received: max_offset=[True, 2]"),
    ],
)
def test_crop_offset_range_validation(max_offset, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        RandomCropOffset(max_offset)


@pytest.mark.parametrize("shape", [(None, 8, 12, 3), (None, 12, 8, 3), (8, 12, 1)])
def test_crop_offset_range_too_large_for_the_image(shape):
    layer = RandomCropOffset((2, 8))
    message = (
        "The upper end of `max_offset` must be smaller than the image height "
        f"and width. Received: max_offset=(2, 8) for images of height={shape[-3]} "
        f"and width={shape[-2]}"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        layer.compute_output_shape(shape)
    with pytest.raises(ValueError, match=re.escape(message)):
        layer(np.zeros([1 if d is None else d for d in shape], "float32"))
    assert RandomCropOffset((2, 7)).compute_output_shape(shape) == shape


def _jit(function):
    """`function` compiled with XLA by the backend, or a skip where it cannot."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return tf.function(function, jit_compile=True)
    if backend == "jax":
        import jax

        return jax.jit(function)
    pytest.skip(f"no XLA compilation of layers on the {backend} backend")


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_ranges_compile_with_xla(interpolation, rng):
    images = rng.random((32, 16, 20, 3)).astype("float32")
    thumbnail = ThumbnailResize(scale=(0.2, 0.9), interpolation=interpolation)
    crop = RandomCropOffset((1, 3), interpolation=interpolation)
    assert thumbnail.supports_jit and crop.supports_jit
    # The seed pair is an argument, so XLA draws (nothing folded before).
    compiled = _jit(lambda x, pair: thumbnail(x, seed=StepSeed(pair)))
    outputs = np.asarray(compiled(images, PAIR))
    candidates = {
        size: to_numpy(ThumbnailResize(size=size, interpolation=interpolation)(images))
        for size in _thumbnail_candidates(16, 20)
    }
    assert len(set(_recover(outputs, candidates))) >= 4
    compiled = _jit(lambda x, pair: crop(x, seed=StepSeed(pair)))
    outputs = np.asarray(compiled(images, PAIR))
    found = _recover(outputs, _crop_candidates(images, range(5), interpolation))
    assert {offset for offset, _, _ in found} == {1, 2, 3}


# Pixel ranges: a layer refuses images outside its `value_range`.

_EIGHT_BIT_LAYERS = [
    lambda: perturbations.GaussianNoise(0.04),
    lambda: perturbations.JpegCompression(50, method="dct"),
    lambda: perturbations.RandomCropOffset(2),
    lambda: perturbations.ThumbnailResize(scale=0.5),
    lambda: perturbations.OneOf([perturbations.GaussianNoise(0.1)]),
    lambda: perturbations.Compose([perturbations.JpegCompression(50, method="dct")]),
]


@pytest.mark.parametrize("make", _EIGHT_BIT_LAYERS)
def test_eight_bit_images_are_refused_by_a_unit_range_layer(make, rng):
    levels = (rng.random((2, 16, 16, 3)) * 255).astype("float32")
    layer = make()
    expected = r"values in \[0\.\d+, 25\d\.\d+\].*value_range=\(0, 1\).*`value_range=\(0, 255\)`"
    with pytest.raises(ValueError, match=expected):
        layer(levels)
    # A single image too, and uint8 inputs.
    with pytest.raises(ValueError, match=r"value_range=\(0, 255\)"):
        layer(levels[0])
    with pytest.raises(ValueError, match=r"value_range=\(0, 255\)"):
        layer(levels.astype("uint8"))
    # Images in range pass, and so does anything at training=False.
    assert layer(levels / 255).shape == levels.shape
    assert np.array_equal(np.asarray(layer(levels, training=False)), levels)


def test_the_range_fixes_what_the_trap_did(rng):
    """The failure the check prevents, in numbers: JPEG and noise on 0..255."""
    ramp = np.add.outer(np.arange(16), np.arange(16)) * 255 / 30
    levels = np.round(np.repeat(ramp[None, :, :, None], 3, -1)).astype("float32")
    jpeg = perturbations.JpegCompression(50, method="dct", value_range=(0, 255))
    out = np.asarray(jpeg(levels))
    # On its own range JPEG moves a smooth picture by a few levels; on the
    # wrong one, (0, 1), it would saturate every pixel above 1 to white.
    assert np.abs(out - levels).mean() < 5
    levels = np.repeat(levels, 16, axis=0)
    noise = perturbations.GaussianNoise(0.04, value_range=(0, 255), seed=0)
    assert np.std(np.asarray(noise(levels)) - levels) == pytest.approx(
        0.04 * 255, rel=0.05
    )


def test_slack_and_combinations_check_only_their_inputs(rng):
    images = rng.random((2, 16, 16, 3)).astype("float32")
    # Up to a tenth of the width outside the range passes (overshoot).
    perturbations.GaussianNoise(0.01)(images * 1.08 - 0.04)
    # Compose checks what it is given; its later elements see the earlier
    # ones' output (here noise far outside [0, 1]), which is not refused.
    composed = perturbations.Compose(
        [
            perturbations.GaussianNoise(1.0, seed=0),
            perturbations.JpegCompression(50, method="dct"),
        ]
    )
    out = np.asarray(composed(images))
    assert out.min() >= 0 and out.max() <= 1
    # OneOf checks against every element's range.
    mixed = perturbations.OneOf(
        [
            perturbations.GaussianNoise(0.1, value_range=(0, 255)),
            perturbations.GaussianNoise(0.1, value_range=(-1, 1)),
        ]
    )
    assert mixed.input_value_ranges() == [(0, 255), (-1, 1)]
    with pytest.raises(ValueError, match=r"value_range=\(-1, 1\)"):
        mixed(images * 200)
    # Other layers and callables in a combination are not judged.
    assert perturbations.Compose([lambda x: x]).input_value_ranges() == []


def test_nan_images_are_refused(rng):
    images = rng.random((2, 8, 8, 1)).astype("float32")
    images[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        perturbations.GaussianNoise(0.1)(images)


@pytest.mark.tensorflow
def test_in_a_tf_data_map_the_check_is_an_assertion(rng):
    import tensorflow as tf

    layer = perturbations.GaussianNoise(0.1, seed=0)
    levels = (rng.random((4, 8, 8, 1)) * 255).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices(levels).batch(2).map(layer)
    with pytest.raises(tf.errors.InvalidArgumentError, match="value_range"):
        list(dataset)
    fine = tf.data.Dataset.from_tensor_slices(levels / 255).batch(2).map(layer)
    assert len(list(fine)) == 2
    # XLA drops the assertion: a compiled call gives the (wrong) copy.
    compiled = tf.function(lambda x: layer(x), jit_compile=True)
    assert compiled(levels).shape == levels.shape


# The default perturbation.


def test_default_perturbation_mixes_the_four_families_at_drawn_severities():
    layer = perturbations.default_perturbation((32, 32, 3), value_range=(0, 255))
    noise, jpeg, crop, thumbnail = layer.perturbations
    assert isinstance(layer, OneOf) and layer.choice_weights is None
    assert isinstance(noise, GaussianNoise) and noise.stddev == (0.02, 0.1)
    assert isinstance(jpeg, JpegCompression) and jpeg.quality == (10, 90)
    assert jpeg.method == "dct"  # every backend, compiles with XLA
    assert isinstance(crop, RandomCropOffset) and crop.max_offset == (2, 8)
    assert isinstance(thumbnail, ThumbnailResize) and thumbnail.scale == (0.25, 0.75)
    assert {e.value_range for e in layer.perturbations} == {(0, 255)}


@pytest.mark.parametrize(
    "shape, offsets, families",
    [
        ((32, 32, 3), (2, 8), 4),
        ((224, 224, 3), (2, 8), 4),  # the suite's crops are in pixels
        ((16, 24, 1), (2, 4), 4),  # at most a quarter of the shorter side
        ((4, 4, 3), (1, 1), 4),
        ((32, 32, 4), (2, 8), 3),  # JPEG needs 1 or 3 channels
        ((None, None, 3), (2, 8), 4),
        ((8, 32, 32, 3), (2, 8), 4),  # a batch dimension in front
    ],
)
def test_default_perturbation_fits_the_image_shape(shape, offsets, families):
    layer = perturbations.default_perturbation(shape)
    crops = [e for e in layer.perturbations if isinstance(e, RandomCropOffset)]
    assert crops[0].max_offset == offsets
    assert len(layer.perturbations) == families
    layer.compute_output_shape((2, *shape[-3:]))  # applies to such images


def test_default_perturbation_needs_an_image_shape():
    with pytest.raises(
        ValueError, match=r"`input_shape`.*Received: input_shape=\(10,\)"
    ):
        perturbations.default_perturbation((10,))
