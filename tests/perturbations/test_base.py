"""Tests of perturbations/base.py: what every perturbation does.

The contract of `Perturbation` (batching, dtypes, seeds, configs, saving,
the value-range check), run on every class of the package with non-default
values for every argument.
"""

import inspect
import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy as to_numpy

from keras_stability._seeds import StepSeed
from keras_stability.perturbations import Compose
from keras_stability.perturbations import GaussianNoise
from keras_stability.perturbations import JpegCompression
from keras_stability.perturbations import OneOf
from keras_stability.perturbations import Perturbation
from keras_stability.perturbations import RandomCropOffset
from keras_stability.perturbations import ThumbnailResize

PAIR = np.array([3, 5])


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
    # Severity ranges: JSON turns the pairs into lists, the layers make them
    # tuples again, so the configs compare equal after a round trip.
    "thumbnail_range": lambda: ThumbnailResize(
        scale=(0.25, 0.75), interpolation="nearest", value_range=(0, 255), seed=9
    ),
    "crop_range": lambda: RandomCropOffset(
        max_offset=(1, 3), interpolation="nearest", value_range=(0, 255), seed=9
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
    pytest.param(name, marks=pytest.mark.tensorflow) if name == "jpeg" else name
    for name in FACTORIES
]


# ---------------------------------------------------------------------------
# Batching, dtypes, seeds.


@pytest.mark.parametrize("name", FACTORY_NAMES)
@pytest.mark.tensorflow
def test_training_false_returns_the_inputs(name, images):
    import tensorflow as tf

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
    if name in ("thumbnail_size", "thumbnail_scale"):
        return  # deterministic: no seed to differ on
    # Each call draws anew: over a few steps the outputs cannot all agree.
    others = [
        to_numpy(layer(images, seed=StepSeed(np.array([3, step]))))
        for step in (6, 7, 8)
    ]
    assert any(not np.array_equal(first, other) for other in others)


@pytest.mark.parametrize("name", FACTORY_NAMES)
@pytest.mark.tensorflow
def test_tf_data_map_matches_direct_call(name, images):
    import tensorflow as tf

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
        # Keras turns NumPy call arguments into tensors: the value's repr
        # is the backend's.
        match=r"The `seed` of a call must be a `keras\.random\.SeedGenerator`"
        r".*Received: seed=",
    ):
        layer(images, seed=seed)


# ---------------------------------------------------------------------------
# Keras's own layer harness and mixed precision, for every perturbation.

# Each class in the default range (0, 1), with some non-default arguments.
HARNESS_CASES = {
    "gaussian_noise": (GaussianNoise, {"stddev": (0.01, 0.1), "seed": 3}),
    "jpeg_dct": (JpegCompression, {"quality": (20, 80), "method": "dct", "seed": 4}),
    "jpeg_libjpeg": (JpegCompression, {"quality": 50, "method": "libjpeg"}),
    "crop": (RandomCropOffset, {"max_offset": 3, "seed": 5}),
    "crop_range": (RandomCropOffset, {"max_offset": (1, 3), "seed": 5}),
    "thumbnail": (ThumbnailResize, {"size": (5, 7), "antialias": True}),
    "thumbnail_range": (ThumbnailResize, {"scale": (0.25, 0.75), "seed": 6}),
    "compose": (
        Compose,
        {"perturbations": [GaussianNoise(0.01), RandomCropOffset(2)], "seed": 7},
    ),
    "one_of": (
        OneOf,
        {
            "perturbations": [GaussianNoise(0.01), ThumbnailResize(scale=0.5)],
            "weights": [1, 3],
            "seed": 8,
        },
    ),
}
HARNESS_NAMES = [
    pytest.param(name, marks=pytest.mark.tensorflow) if name == "jpeg_libjpeg" else name
    for name in HARNESS_CASES
]


# The harness trains a model made of the layer alone, from a generator:
# Keras warns that it has no weights and that a generator is not shuffled.
@pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")
@pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")
@pytest.mark.parametrize("name", HARNESS_NAMES)
def test_keras_layer_harness(name, keras_harness, rng):
    # Serialization, building, symbolic and eager calls, a training step,
    # and the output dtype under "mixed_float16" (where the backend has it).
    cls, init_kwargs = HARNESS_CASES[name]
    keras_harness.run_layer_test(
        cls,
        init_kwargs=init_kwargs,
        input_data=rng.random((2, 16, 16, 3)).astype("float32"),
        expected_output_shape=(2, 16, 16, 3),
        expected_output_dtype="float32",
        expected_num_trainable_weights=0,
    )


@pytest.mark.parametrize("name", HARNESS_NAMES)
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_global_mixed_policy_gives_the_compute_dtype(name, policy, rng):
    cls, init_kwargs = HARNESS_CASES[name]
    images = rng.random((2, 16, 16, 3)).astype("float32")
    keras.mixed_precision.set_global_policy(policy)
    try:
        layer = cls(**init_kwargs)
        compute_dtype = policy.split("_")[1]
        assert layer.compute_dtype == compute_dtype
        for inputs in (images, images.astype("float16"), images.astype("uint8")):
            output = layer(inputs)
            assert keras.backend.standardize_dtype(output.dtype) == compute_dtype
            assert output.shape == images.shape
        symbolic = layer(keras.Input((16, 16, 3)))
        assert keras.backend.standardize_dtype(symbolic.dtype) == compute_dtype
    finally:
        keras.mixed_precision.set_global_policy("float32")


# ---------------------------------------------------------------------------
# Configs and saving.


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


@pytest.mark.parametrize("value_range", [(-3e38, 3e38), (0, 1e39)])
def test_value_range_wider_than_float32_is_an_error(value_range):
    with pytest.raises(
        ValueError, match=re.escape(f"Received: value_range={value_range!r}")
    ):
        GaussianNoise(0.1, value_range=value_range)


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
    with pytest.raises(ValueError, match=re.escape(f"Received: seed={seed!r}")):
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


# ---------------------------------------------------------------------------
# Shapes: what a layer can perturb, checked before any work.


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
            "Received: inputs.shape=(None, 10)",
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


@pytest.mark.parametrize(
    "make", [lambda: RandomCropOffset(2), lambda: ThumbnailResize(scale=0.5)]
)
@pytest.mark.parametrize("shape", [(None, None, None, 3), (None, None, 3)])
@pytest.mark.tensorflow
def test_unknown_height_and_width_is_an_error(make, shape):
    import tensorflow as tf

    layer = make()
    spec = tf.TensorSpec(shape, tf.float32)
    traced = tf.function(lambda x: layer(x), input_signature=[spec])
    batch_shape = (None, None, None, 3)  # a single image is a batch of one
    if len(shape) == 3:
        batch_shape = (1, None, None, 3)
    # Which layer, what it needs, and the shape it got.
    with pytest.raises(
        ValueError,
        match=re.escape(f"`{type(layer).__name__}` needs the image height and width")
        + ".*"
        + re.escape(f"Received: inputs.shape={batch_shape}"),
    ):
        traced.get_concrete_function()


# ---------------------------------------------------------------------------
# Pixel ranges: a layer refuses images outside its `value_range`.


_EIGHT_BIT_LAYERS = [
    lambda: GaussianNoise(0.04),
    lambda: JpegCompression(50, method="dct"),
    lambda: RandomCropOffset(2),
    lambda: ThumbnailResize(scale=0.5),
    lambda: OneOf([GaussianNoise(0.1)]),
    lambda: Compose([JpegCompression(50, method="dct")]),
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
    jpeg = JpegCompression(50, method="dct", value_range=(0, 255))
    out = np.asarray(jpeg(levels))
    # On its own range JPEG moves a smooth picture by a few levels; on the
    # wrong one, (0, 1), it would saturate every pixel above 1 to white.
    assert np.abs(out - levels).mean() < 5
    levels = np.repeat(levels, 16, axis=0)
    noise = GaussianNoise(0.04, value_range=(0, 255), seed=0)
    assert np.std(np.asarray(noise(levels)) - levels) == pytest.approx(
        0.04 * 255, rel=0.05
    )


def test_slack_and_combinations_check_only_their_inputs(rng):
    images = rng.random((2, 16, 16, 3)).astype("float32")
    # Up to a tenth of the width outside the range passes (overshoot).
    GaussianNoise(0.01)(images * 1.08 - 0.04)
    # Compose checks what it is given; its later elements see the earlier
    # ones' output (here noise far outside [0, 1]), which is not refused.
    composed = Compose(
        [
            GaussianNoise(1.0, seed=0),
            JpegCompression(50, method="dct"),
        ]
    )
    out = np.asarray(composed(images))
    assert out.min() >= 0 and out.max() <= 1
    # OneOf checks against every element's range.
    mixed = OneOf(
        [
            GaussianNoise(0.1, value_range=(0, 255)),
            GaussianNoise(0.1, value_range=(-1, 1)),
        ]
    )
    assert mixed.input_value_ranges() == [(0, 255), (-1, 1)]
    with pytest.raises(ValueError, match=r"value_range=\(-1, 1\)"):
        mixed(images * 200)
    # Other layers and callables in a combination are not judged.
    assert Compose([lambda x: x]).input_value_ranges() == []


def test_nan_images_are_refused(rng):
    images = rng.random((2, 8, 8, 1)).astype("float32")
    images[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        GaussianNoise(0.1)(images)


@pytest.mark.tensorflow
def test_in_a_tf_data_map_the_check_is_an_assertion(rng):
    import tensorflow as tf

    layer = GaussianNoise(0.1, seed=0)
    levels = (rng.random((4, 8, 8, 1)) * 255).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices(levels).batch(2).map(layer)
    with pytest.raises(tf.errors.InvalidArgumentError, match="value_range"):
        list(dataset)
    fine = tf.data.Dataset.from_tensor_slices(levels / 255).batch(2).map(layer)
    assert len(list(fine)) == 2
    # XLA drops the assertion: a compiled call gives the (wrong) copy.
    compiled = tf.function(lambda x: layer(x), jit_compile=True)
    assert compiled(levels).shape == levels.shape


# ---------------------------------------------------------------------------
# Other backends.


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


def test_docstring_example_runs(run_example):
    run_example(Perturbation)
