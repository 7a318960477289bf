"""Tests of perturbations/crop.py: RandomCropOffset against crop-then-resize."""

import re

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy as to_numpy

from keras_stability._seeds import StepSeed
from keras_stability.perturbations import RandomCropOffset

PAIR = np.array([3, 5])


def _crop_then_resize(image, dy, dx, max_offset, method):
    """The definition of crop-o: crop the window, resize it back (TensorFlow)."""
    import tensorflow as tf

    height, width = image.shape[:2]
    window = image[dy : dy + height - max_offset, dx : dx + width - max_offset]
    return tf.image.resize(window, (height, width), method=method).numpy()


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.tensorflow
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


@pytest.mark.tensorflow
def test_crop_offset_compiles_with_xla():
    import tensorflow as tf

    layer = RandomCropOffset(4, interpolation="nearest")
    compiled = tf.function(lambda x: layer(x, seed=StepSeed(PAIR)), jit_compile=True)
    for output in compiled(_ramp(4, 16, 24)).numpy():
        dy, dx = divmod(int(output[0, 0, 0]), 1000)
        np.testing.assert_array_equal(
            output, _crop_then_resize(_ramp(1, 16, 24)[0], dy, dx, 4, "nearest")
        )


def test_crop_offset_too_large_for_the_image():
    layer = RandomCropOffset(max_offset=8)
    with pytest.raises(
        ValueError,
        match=re.escape("Received: max_offset=8 for images of height=8 and width=12"),
    ):
        layer(np.zeros((1, 8, 12, 3), "float32"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"max_offset": -1},
            "Received: max_offset=-1",
        ),
        (
            {"max_offset": 2.0},
            "Received: max_offset=2.0",
        ),
        (
            {"interpolation": "bicubic"},
            "Received: interpolation='bicubic'",
        ),
    ],
)
def test_crop_offset_validation(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        RandomCropOffset(**kwargs)


def _nearest_resize(images, height, width):
    """Nearest-neighbour resize with half-pixel centres, in exact integer maths."""
    rows = (2 * np.arange(height) + 1) * images.shape[1] // (2 * height)
    cols = (2 * np.arange(width) + 1) * images.shape[2] // (2 * width)
    return images[:, rows][:, :, cols]


def _crop_candidates(images, offsets, interpolation, resize_bilinear):
    """NumPy crop-o for every budget in `offsets` and every corner of it."""
    height, width = images.shape[1:3]
    resize = resize_bilinear if interpolation == "bilinear" else _nearest_resize
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
    interpolation, channels, rng, resize_bilinear, recover
):
    images = rng.random((64, 20, 28, channels)).astype("float32")
    layer = RandomCropOffset((1, 4), interpolation=interpolation, seed=4)
    outputs = to_numpy(layer(images, seed=StepSeed(PAIR)))
    # Every budget from 0 to 6 is a candidate, not only those of the range.
    candidates = _crop_candidates(images, range(7), interpolation, resize_bilinear)
    found = recover(outputs, candidates)
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
    "max_offset, message",
    [
        (
            (3, 1),
            "Received: max_offset=(3, 1)",
        ),
        ((2,), "Received: max_offset=(2,)"),
        ((1, 2, 3), "Received: max_offset=(1, 2, 3)"),
        (
            (1.0, 2),
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
        f"Received: max_offset=(2, 8) for images of height={shape[-3]} "
        f"and width={shape[-2]}"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        layer.compute_output_shape(shape)
    with pytest.raises(ValueError, match=re.escape(message)):
        layer(np.zeros([1 if d is None else d for d in shape], "float32"))
    assert RandomCropOffset((2, 7)).compute_output_shape(shape) == shape


def test_a_max_offset_list_is_stored_as_a_tuple():
    # Configs read back from JSON give lists; the layer stores a tuple.
    layer = RandomCropOffset(max_offset=[0, 2])
    assert layer.max_offset == (0, 2) and type(layer.max_offset) is tuple
    assert (
        RandomCropOffset.from_config(layer.get_config()).get_config()
        == layer.get_config()
    )


@pytest.mark.parametrize("max_offset", [3, (0, 3)])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize(
    "dtype_policy, expected",
    [
        (None, "float32"),
        ("mixed_float16", "float16"),
        ("mixed_bfloat16", "bfloat16"),
    ],
)
def test_output_is_in_the_compute_dtype(
    max_offset, interpolation, dtype_policy, expected, images
):
    # Bilinear with a single offset once came back in float32 under mixed
    # precision, for float32 and float16 inputs alike.
    layer = RandomCropOffset(
        max_offset,
        interpolation=interpolation,
        value_range=(0, 255),
        dtype=dtype_policy,
    )
    for inputs in (images.astype("uint8"), images, images.astype("float16")):
        output = layer(inputs)
        assert keras.backend.standardize_dtype(output.dtype) == expected
        assert output.shape == images.shape


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_range_compiles_with_xla(
    interpolation, rng, xla_compile, resize_bilinear, recover
):
    images = rng.random((32, 16, 20, 3)).astype("float32")
    crop = RandomCropOffset((1, 3), interpolation=interpolation)
    assert crop.supports_jit
    # The seed pair is an argument, so XLA draws (nothing folded before).
    compiled = xla_compile(lambda x, pair: crop(x, seed=StepSeed(pair)))
    outputs = np.asarray(compiled(images, PAIR))
    candidates = _crop_candidates(images, range(5), interpolation, resize_bilinear)
    found = recover(outputs, candidates)
    assert {offset for offset, _, _ in found} == {1, 2, 3}


def test_docstring_example_runs(run_example):
    run_example(RandomCropOffset)


def test_a_negative_offset_is_refused_at_construction():
    with pytest.raises(ValueError, match=r"Received: max_offset=-1$"):
        RandomCropOffset(-1)


def test_an_offset_as_large_as_the_image_is_refused():
    with pytest.raises(
        ValueError, match=r"Received: max_offset=10 for images of height=8 and width=8"
    ):
        RandomCropOffset(10)(np.zeros((1, 8, 8, 1), "float32"))
