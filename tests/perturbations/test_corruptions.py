"""What every ImageNet-C corruption layer does, beyond its own arithmetic.

The `Perturbation` contract (inference identity, single images, dtypes,
value ranges, configs, XLA) and the per-image severities of a pair, run on
the nine layers of `pixel_noise`, `blurs`, `photometric` and `pixelate`;
each module's numbers are tested against NumPy in its own test file.
"""

import inspect
import json
import re

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy as to_numpy

from keras_stability._seeds import StepSeed
from keras_stability.perturbations import Brightness
from keras_stability.perturbations import Contrast
from keras_stability.perturbations import DefocusBlur
from keras_stability.perturbations import GaussianBlur
from keras_stability.perturbations import ImpulseNoise
from keras_stability.perturbations import MotionBlur
from keras_stability.perturbations import Pixelate
from keras_stability.perturbations import Saturate
from keras_stability.perturbations import ShotNoise

PAIR = np.array([3, 5])

# Each layer with a severity pair and its other arguments off their defaults;
# `SEVERITY` names the argument and gives the two ends of its pair.
CASES = {
    "shot_noise": (ShotNoise, {"stddev": (0.1, 0.4), "seed": 3}),
    "impulse_noise": (ImpulseNoise, {"amount": (0.05, 0.3), "seed": 4}),
    "gaussian_blur": (GaussianBlur, {"sigma": (0.05, 0.15), "seed": 5}),
    "defocus_blur": (DefocusBlur, {"radius": (0.1, 0.2), "seed": 6}),
    "motion_blur": (MotionBlur, {"sigma": (0.05, 0.15), "angle": (-30, 60), "seed": 7}),
    "brightness": (Brightness, {"delta": (0.05, 0.3), "seed": 8}),
    "contrast": (Contrast, {"factor": (0.2, 0.6), "seed": 9}),
    "saturate": (Saturate, {"factor": (0.0, 0.8), "seed": 10}),
    "pixelate": (Pixelate, {"scale": (0.25, 0.75), "seed": 11}),
}
SEVERITY = {
    "shot_noise": "stddev",
    "impulse_noise": "amount",
    "gaussian_blur": "sigma",
    "defocus_blur": "radius",
    "motion_blur": "sigma",
    "brightness": "delta",
    "contrast": "factor",
    "saturate": "factor",
    "pixelate": "scale",
}
# The end of the pair that distorts most.
STRONGEST_IS_LOW = {"contrast", "saturate", "pixelate"}


def _layer(name, value_range=(0, 1), **changes):
    cls, kwargs = CASES[name]
    return cls(**{**kwargs, **changes}, value_range=value_range)


@pytest.fixture
def photos():
    """Two 16 x 16 RGB images in [0, 1]: smooth ramps with an edge."""
    ramp = np.linspace(0.1, 0.9, 16)
    rows, cols = np.meshgrid(ramp, ramp, indexing="ij")
    first = np.stack([cols, 0.8 * rows, np.full((16, 16), 0.3)], -1)
    second = first[::-1].copy()
    second[4:12, 4:12] = [0.9, 0.2, 0.1]
    return np.stack([first, second]).astype("float32")


@pytest.mark.parametrize("name", CASES)
def test_training_false_returns_the_inputs(name, photos):
    levels = np.round(photos * 255).astype("uint8")
    output = to_numpy(_layer(name, (0, 255))(levels, training=False))
    assert output.dtype == np.uint8
    np.testing.assert_array_equal(output, levels)


@pytest.mark.parametrize("name", CASES)
def test_grayscale_images(name, photos):
    # Every layer but Saturate takes grayscale; Saturate needs RGB.
    gray = photos[..., :1]
    layer = _layer(name)
    if name == "saturate":
        message = re.escape("Received: inputs.shape=(2, 16, 16, 1)")
        with pytest.raises(ValueError, match="`Saturate` needs RGB.*" + message):
            layer(gray)
        with pytest.raises(ValueError, match=re.escape("inputs.shape=(None, 8, 8, 4)")):
            layer.compute_output_shape((None, 8, 8, 4))
        return
    batched = to_numpy(layer(gray, seed=StepSeed(PAIR)))
    assert np.all((batched >= 0) & (batched <= 1))
    assert np.abs(batched - gray).mean() > 1e-3


@pytest.mark.parametrize("name", CASES)
def test_value_range_scales_the_whole_map(name, photos):
    # The same seed on 0..255 images gives 255 times the result on [0, 1].
    unit = to_numpy(_layer(name)(photos, seed=StepSeed(PAIR)))
    levels = to_numpy(_layer(name, (0, 255))(photos * 255, seed=StepSeed(PAIR)))
    np.testing.assert_allclose(levels, unit * 255, rtol=0, atol=2e-3)
    shifted = to_numpy(_layer(name, (-1, 1))(photos * 2 - 1, seed=StepSeed(PAIR)))
    np.testing.assert_allclose(shifted, unit * 2 - 1, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", CASES)
def test_a_pair_draws_a_severity_per_image(name, photos):
    # One image twice: a pair gives each copy its own severity, between what
    # the two ends give (pixelation's blocks do not nest, so its change need
    # not grow with the scale: test_pixelate checks its draws).
    batch = np.repeat(photos[1:], 2, axis=0)
    argument = SEVERITY[name]
    low, high = CASES[name][1][argument]
    pinned = {} if name != "motion_blur" else {"angle": 10.0}

    def run(**severity):
        layer = _layer(name, **severity, **pinned)
        return to_numpy(layer(batch, seed=StepSeed(PAIR)))

    drawn = run()
    assert not np.allclose(drawn[0], drawn[1], atol=1e-6)
    # The pair (a, a) is the single value a.
    single = run(**{argument: low})
    np.testing.assert_array_equal(run(**{argument: (low, low)}), single)
    if name == "pixelate":
        return

    def change(images):
        return np.abs(images - batch).mean(axis=(1, 2, 3))

    weakest, strongest = change(single), change(run(**{argument: high}))
    if name in STRONGEST_IS_LOW:
        weakest, strongest = strongest, weakest
    # Noise draws anew per call: its mean change over an image varies a little.
    slack = 0.02 if name in ("shot_noise", "impulse_noise") else 1e-6
    assert np.all(change(drawn) >= weakest - slack)
    assert np.all(change(drawn) <= strongest + slack)


@pytest.mark.parametrize("name", CASES)
def test_xla_compiled_calls_equal_eager_ones(name, photos, xla_compile):
    layer = _layer(name)
    compiled = to_numpy(
        xla_compile(lambda x, pair: layer(x, seed=StepSeed(pair)))(photos, PAIR)
    )
    eager = to_numpy(layer(photos, seed=StepSeed(PAIR)))
    if name in ("shot_noise", "impulse_noise") and keras.backend.backend() == (
        "tensorflow"
    ):
        # TensorFlow draws other pixel noise under XLA (as for GaussianNoise);
        # the severities drawn per image are the same, and so the strength.
        np.testing.assert_allclose(
            np.abs(compiled - photos).mean(axis=(1, 2, 3)),
            np.abs(eager - photos).mean(axis=(1, 2, 3)),
            rtol=0.2,
        )
        return
    np.testing.assert_allclose(compiled, eager, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_gives_the_compute_dtype(name, policy, photos):
    expected = to_numpy(_layer(name)(photos, seed=StepSeed(PAIR)))
    keras.mixed_precision.set_global_policy(policy)
    try:
        layer = _layer(name)
        output = layer(photos.astype("float16"), seed=StepSeed(PAIR))
        symbolic = layer(keras.Input((16, 16, 3)))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    dtype = policy.split("_")[1]
    assert keras.backend.standardize_dtype(output.dtype) == dtype
    assert keras.backend.standardize_dtype(symbolic.dtype) == dtype
    # Computed in float32 from the rounded inputs, rounded once at the end.
    tolerance = 0.02 if dtype == "bfloat16" else 0.005
    difference = np.abs(to_numpy(output).astype("float32") - expected)
    assert np.mean(difference) < tolerance


@pytest.mark.parametrize("name", CASES)
def test_config_round_trips_through_json(name):
    layer = _layer(name, (0, 255))
    config = layer.get_config()
    cls = type(layer)
    parameters = inspect.signature(cls.__init__).parameters
    assert set(parameters) - {"self", "kwargs"} <= set(config)
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is cls and restored.get_config() == config
    assert keras.saving.get_registered_name(cls) == f"keras_stability>{cls.__name__}"


@pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")
@pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")
@pytest.mark.parametrize("name", CASES)
def test_keras_layer_harness(name, keras_harness, photos):
    cls, init_kwargs = CASES[name]
    keras_harness.run_layer_test(
        cls,
        init_kwargs=init_kwargs,
        input_data=photos,
        expected_output_shape=photos.shape,
        expected_output_dtype="float32",
        expected_num_trainable_weights=0,
    )


@pytest.mark.parametrize(
    "cls, kwargs, received",
    [
        (ShotNoise, {"stddev": -0.1}, "stddev=-0.1"),
        (ShotNoise, {"stddev": (0.3, 0.1)}, "stddev=(0.3, 0.1)"),
        (ImpulseNoise, {"amount": 1.5}, "amount=1.5"),
        (ImpulseNoise, {"amount": (0.1, 2)}, "amount=(0.1, 2)"),
        (GaussianBlur, {"sigma": "0.1"}, "sigma='0.1'"),
        (DefocusBlur, {"radius": float("nan")}, "radius=nan"),
        (MotionBlur, {"sigma": 2}, "sigma=2"),
        (MotionBlur, {"angle": 270}, "angle=270"),
        (MotionBlur, {"angle": (0, 90, 180)}, "angle=(0, 90, 180)"),
        (Brightness, {"delta": -1.5}, "delta=-1.5"),
        (Contrast, {"factor": -0.5}, "factor=-0.5"),
        (Saturate, {"factor": True}, "factor=True"),
        (Pixelate, {"scale": 0}, "scale=0"),
        (Pixelate, {"scale": (0.5, 1.2)}, "scale=(0.5, 1.2)"),
        (Pixelate, {"seed": -1}, "seed=-1"),
        (Contrast, {"value_range": (1, 0)}, "value_range=(1, 0)"),
    ],
)
def test_bad_arguments_are_refused_naming_them(cls, kwargs, received):
    name = received.split("=")[0]
    with pytest.raises(
        ValueError, match=rf"`{name}`.*Received: .*{re.escape(received)}"
    ):
        cls(**kwargs)


@pytest.mark.parametrize("name", CASES)
def test_docstring_example_runs(name, run_example):
    run_example(CASES[name][0])
