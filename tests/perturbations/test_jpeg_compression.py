"""Tests of perturbations/jpeg_compression.py: the JpegCompression layer.

Its pixels are checked against libjpeg on photographs (the references are
fixtures in tests/conftest.py); what every perturbation does (dtypes, configs, saving)
is in test_base.py.
"""

import inspect
import re

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy as to_numpy

from keras_stability._seeds import StepSeed
from keras_stability.perturbations import Compose
from keras_stability.perturbations import JpegCompression

try:
    import tensorflow as tf
except ImportError:  # the venvs without TensorFlow: those tests are skipped
    tf = None


@pytest.mark.parametrize("value_range", [(0, 1), (-1, 1), (0, 255)])
def test_dct_outputs_sit_on_the_256_levels_of_the_range(value_range, rng):
    low, high = value_range
    # A smooth picture, which JPEG keeps well: a diagonal ramp, plus noise.
    ramp = np.add.outer(np.arange(16), np.arange(16))[None, :, :, None] / 30
    unit = np.clip(ramp + 0.02 * rng.standard_normal((2, 16, 16, 3)), 0, 1)
    images = (low + (high - low) * unit).astype("float32")
    layer = JpegCompression((20, 80), method="dct", value_range=value_range, seed=1)
    output = keras.ops.convert_to_numpy(layer(images)).astype("float64")
    levels = (output - low) * 255 / (high - low)
    np.testing.assert_allclose(levels, np.round(levels), rtol=0, atol=1e-3)
    assert levels.min() >= -1e-3 and levels.max() <= 255 + 1e-3
    # Compression keeps the picture: on average within a few levels.
    assert np.abs(output - images).mean() < 0.05 * (high - low)


@pytest.mark.parametrize(
    "kwargs, received",
    [
        ({"quality": 101}, "Received: quality=101"),
        ({"quality": (80, 20)}, "Received: quality=(80, 20)"),
        ({"quality": (10, 101)}, "Received: quality=(10, 101)"),
        ({"quality": 50.0}, "Received: quality=50.0"),
        ({"method": "pillow"}, "Received: method='pillow'"),
        ({"method": "dct", "straight_through": 1}, "Received: straight_through=1"),
    ],
)
def test_validation_names_the_argument_and_value(kwargs, received):
    with pytest.raises(ValueError, match=re.escape(received)):
        JpegCompression(**kwargs)


@pytest.mark.tensorflow
def test_straight_through_needs_dct():
    with pytest.raises(
        ValueError,
        match=r"`straight_through=True` needs method='dct'.*method='libjpeg'",
    ):
        JpegCompression(straight_through=True, method="libjpeg")


@pytest.mark.tensorflow
def test_docstring_example_runs(run_example):
    run_example(JpegCompression)


PAIR = np.array([3, 5])


@pytest.mark.tensorflow
@pytest.mark.parametrize("quality", [0, 10, 50, 100])
def test_unit_range_is_bit_identical_to_adjust_jpeg_quality(
    quality, photographs, adjust
):
    images, _ = photographs
    output = to_numpy(JpegCompression(quality=quality)(images))
    assert output.dtype == np.float32
    assert np.array_equal(output, adjust(images, [quality] * len(images)))


@pytest.mark.tensorflow
@pytest.mark.parametrize("quality", [10, 50, 90])
@pytest.mark.parametrize("batch", ["rgb_odd", "rgb_thumbnails", "gray_uint8"])
def test_8_bit_range_gives_the_codec_levels(quality, batch, request, codec):
    images = request.getfixturevalue(batch)
    output = to_numpy(JpegCompression(quality, value_range=(0, 255))(images))
    assert output.dtype == np.float32
    expected = codec(images, [quality] * len(images))
    assert np.array_equal(output, expected.astype("float32"))
    # The same from float inputs; and a single image comes back 3-D.
    floats = to_numpy(JpegCompression(quality, value_range=(0, 255))(images[0] * 1.0))
    assert floats.shape == images.shape[1:]
    assert np.array_equal(floats, expected[0].astype("float32"))


@pytest.mark.tensorflow
def test_other_ranges_land_on_the_8_bit_levels(rgb_odd, codec):
    low, high = -1.0, 1.0
    images = (low + (high - low) * rgb_odd / 255).astype("float32")
    output = to_numpy(JpegCompression(40, value_range=(low, high))(images))
    levels = codec(rgb_odd, [40] * len(rgb_odd)).astype("float64")
    np.testing.assert_allclose(output, low + levels * (high - low) / 255, atol=1e-6)


@pytest.mark.tensorflow
@pytest.mark.parametrize("method", ["libjpeg", "dct"])
def test_inputs_outside_the_value_range_saturate(method, rgb_odd):
    # Up to a tenth of the range outside it (noise added upstream), pixels
    # saturate to its ends before encoding, as in any 8-bit codec.
    images = rgb_odd.astype("float32") / 255 * 1.16 - 0.08
    layer = JpegCompression(90, method=method)
    output = to_numpy(layer(images))
    clipped = np.clip(images, 0, 1)
    assert np.mean(clipped != images) > 0.05  # many pixels were outside
    np.testing.assert_array_equal(output, to_numpy(layer(clipped)))
    assert np.all((output >= 0) & (output <= 1))
    # 0..255 images under the default (0, 1) would all encode as white: refused.
    with pytest.raises(ValueError, match=r"value_range=\(0, 255\)"):
        JpegCompression(90, method=method)(rgb_odd.astype("float32"))


@pytest.mark.tensorflow
def test_a_quality_range_draws_one_quality_per_image(rgb_odd, adjust):
    low, high = 20, 24
    images = rgb_odd.astype("float32") / 255
    output = to_numpy(JpegCompression((low, high))(images, seed=StepSeed(PAIR)))
    candidates = {q: adjust(images, [q] * len(images)) for q in range(low, high + 1)}
    # Which qualities reproduce each image exactly (at least one must).
    matches = [
        {q for q, expected in candidates.items() if np.array_equal(out, expected[i])}
        for i, out in enumerate(output)
    ]
    assert all(matches)
    # Per image: no single quality explains the whole batch.
    assert not set.intersection(*matches)
    # The qualities are the layer's first draw from the seed.
    drawn = to_numpy(
        keras.random.randint(
            (len(images),), low, high + 1, dtype="int32", seed=StepSeed(PAIR)
        )
    )
    assert all(q in m for q, m in zip(drawn, matches, strict=True))


@pytest.mark.tensorflow
def test_a_quality_range_includes_both_ends(adjust):
    images = np.random.default_rng(0).random((40, 8, 8, 1)).astype("float32")
    output = to_numpy(JpegCompression((10, 11))(images, seed=StepSeed(PAIR)))
    drawn = to_numpy(
        keras.random.randint((40,), 10, 12, dtype="int32", seed=StepSeed(PAIR))
    )
    assert set(drawn) == {10, 11}
    assert np.array_equal(output, adjust(images, drawn))


@pytest.mark.tensorflow
def test_a_range_of_one_quality_is_that_quality(rgb_odd, codec):
    layer = JpegCompression((35, 35), value_range=(0, 255))
    expected = codec(rgb_odd, [35] * len(rgb_odd)).astype("float32")
    assert np.array_equal(to_numpy(layer(rgb_odd)), expected)


@pytest.mark.tensorflow
def test_graph_mode_and_tf_data_match_eager(rgb_odd):
    layer = JpegCompression(60, value_range=(0, 255))
    eager = to_numpy(layer(rgb_odd))
    graph = tf.function(lambda x: layer(x, training=True))(rgb_odd).numpy()
    assert np.array_equal(graph, eager)
    dataset = tf.data.Dataset.from_tensor_slices(rgb_odd).map(layer)
    assert np.array_equal(np.stack([x.numpy() for x in dataset]), eager)


@pytest.mark.tensorflow
def test_training_false_is_not_compressed(rgb_odd):
    images = tf.constant(rgb_odd)
    assert JpegCompression(10)(images, training=False) is images


@pytest.mark.tensorflow
@pytest.mark.parametrize("channels", [2, 4])
def test_channels_other_than_1_or_3_are_an_error(channels):
    layer = JpegCompression(50)
    with pytest.raises(ValueError, match=re.escape(f"Received: {channels} channels")):
        layer(np.zeros((2, 8, 8, channels), "float32"))


@pytest.mark.tensorflow
def test_libjpeg_needs_tensorflow(monkeypatch, rgb_odd):
    layer = JpegCompression(50)
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    # What needs TensorFlow, the backend found, and the fix.
    message = (
        re.escape("JpegCompression(method='libjpeg')")
        + r".*TensorFlow.*'jax'.*KERAS_BACKEND=tensorflow"
    )
    with pytest.raises(RuntimeError, match=message):
        JpegCompression(50)
    with pytest.raises(RuntimeError, match=message):
        layer(rgb_odd / 255)


@pytest.mark.tensorflow
def test_libjpeg_is_marked_not_xla_compilable():
    layer = JpegCompression(50)
    assert layer.supports_jit is False
    assert Compose([layer]).supports_jit is False


@pytest.mark.tensorflow
@pytest.mark.parametrize(
    "quality, fix",
    [
        (150, r"\[0, 100\]"),
        (-1, r"\[0, 100\]"),
        ((60, 40), "low <= high"),
        ((10, 101), r"\[0, 100\]"),
        ((10,), r"pair \(low, high\)"),
        (50.0, "an int"),
        (True, "an int"),
        ("high", "an int"),
    ],
)
def test_quality_validation(quality, fix):
    # The name, what it must be, and the value received.
    message = f"`quality`.*{fix}.*Received: quality={re.escape(repr(quality))}$"
    with pytest.raises(ValueError, match=message):
        JpegCompression(quality)


@pytest.mark.tensorflow
@pytest.mark.parametrize("method", ["png", ["dct"], None])
def test_method_validation(method):
    message = (
        rf"`method`.*'libjpeg', 'dct'.*Received: method={re.escape(repr(method))}$"
    )
    with pytest.raises(ValueError, match=message):
        JpegCompression(method=method)


@pytest.mark.tensorflow
def test_straight_through_through_the_layer(codec, tape_gradient):
    images = np.random.default_rng(6).integers(64, 192, (2, 16, 24, 1))
    images = images.astype("float32")
    layer = JpegCompression(
        40, method="dct", straight_through=True, value_range=(0, 255)
    )
    output, gradient = tape_gradient(layer, images)
    expected = codec(images.astype("uint8"), [40, 40]).astype("float32")
    assert np.array_equal(output, expected)
    np.testing.assert_allclose(gradient, np.full(images.shape, 255.5 / 255), rtol=1e-6)


@pytest.mark.tensorflow
def test_dct_layer_equals_libjpeg_layer(rgb_odd, adjust):
    kwargs = {"quality": (5, 95), "value_range": (0, 255), "seed": 11}
    dct = JpegCompression(method="dct", **kwargs)
    libjpeg = JpegCompression(method="libjpeg", **kwargs)
    for pair in [PAIR, PAIR + 1]:
        expected = to_numpy(libjpeg(rgb_odd, seed=StepSeed(pair)))
        assert np.array_equal(to_numpy(dct(rgb_odd, seed=StepSeed(pair))), expected)
    # On (0, 1) with a fixed quality, exactly tf.image.adjust_jpeg_quality.
    images = rgb_odd.astype("float32") / 255
    output = to_numpy(JpegCompression(25, method="dct")(images))
    assert np.array_equal(output, adjust(images, [25] * len(images)))


@pytest.mark.tensorflow
def test_dct_layer_compiles_with_xla(rgb_odd):
    layer = JpegCompression((20, 80), method="dct", value_range=(0, 255))
    assert layer.supports_jit is True
    assert Compose([layer]).supports_jit is True
    step = tf.function(lambda x, pair: layer(x, seed=StepSeed(pair)), jit_compile=True)
    compiled = step(rgb_odd, PAIR).numpy()
    assert np.array_equal(compiled, to_numpy(layer(rgb_odd, seed=StepSeed(PAIR))))


@pytest.mark.tensorflow
def test_dct_layer_config_round_trip():
    layer = JpegCompression(
        (20, 60),
        method="dct",
        straight_through=True,
        value_range=(-1, 1),
        seed=3,
        name="jpeg_dct",
    )
    config = layer.get_config()
    assert JpegCompression.from_config(config).get_config() == config
    for name in inspect.signature(JpegCompression.__init__).parameters:
        if name not in ("self", "kwargs"):
            assert config[name] == getattr(layer, name), name
    assert config["straight_through"] is True and config["method"] == "dct"
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert type(restored) is JpegCompression and restored.straight_through


@pytest.mark.tensorflow
@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"method": "dct", "straight_through": 1},
            r"`straight_through`.*bool.*Received: straight_through=1",
        ),
        (
            {"straight_through": True},
            r"`straight_through=True`.*method='dct'.*Received: method='libjpeg'",
        ),
    ],
)
def test_straight_through_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        JpegCompression(50, **kwargs)


@pytest.mark.parametrize(
    "kwargs, received",
    [
        ({"quality": 150}, r"quality=150"),
        ({"quality": (90, 10)}, r"quality=\(90, 10\)"),
        ({"quality": 50, "method": "png"}, r"method='png'"),
    ],
)
def test_bad_arguments_are_refused_at_construction(kwargs, received):
    with pytest.raises(ValueError, match=rf"Received: {received}"):
        JpegCompression(**kwargs)


@pytest.mark.parametrize(
    "method", ["dct", pytest.param("libjpeg", marks=pytest.mark.tensorflow)]
)
def test_two_channels_are_refused(method):
    with pytest.raises(ValueError, match=r"Received: 2 channels"):
        JpegCompression(50, method=method)(np.zeros((1, 8, 8, 2), "float32"))
