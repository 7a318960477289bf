"""Tests of perturbations/thumbnail.py: ThumbnailResize against NumPy and tf.image."""

import itertools
import re

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy as to_numpy

from keras_stability._seeds import StepSeed
from keras_stability.perturbations import ThumbnailResize

PAIR = np.array([3, 5])


@pytest.mark.parametrize("channels", [1, 3])
def test_thumbnail_bilinear_matches_numpy(channels, rng, resize_bilinear):
    images = rng.random((2, 20, 28, channels)).astype("float32")
    output = to_numpy(ThumbnailResize(size=(7, 9))(images))
    expected = resize_bilinear(resize_bilinear(images, 7, 9), 20, 28)
    assert output.shape == images.shape
    np.testing.assert_allclose(output, expected, atol=1e-5)
    single = to_numpy(ThumbnailResize(size=8)(images[0]))
    expected = resize_bilinear(resize_bilinear(images[:1], 8, 8), 20, 28)[0]
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
@pytest.mark.tensorflow
def test_thumbnail_is_tf_image_resize_down_then_up(
    interpolation, antialias, kwargs, rng
):
    # thumb-A by definition: shrink with the method (and antialias), then
    # enlarge back with the same method; antialias only filters the shrinking.
    import tensorflow as tf

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
    message = f"Received: size={size!r} for images of height=16 and width=20"
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
        ({"scale": 0}, "Received: scale=0"),
        ({"scale": 1.5}, "Received: scale=1.5"),
        ({"scale": -0.5}, "Received: scale=-0.5"),
        ({"size": 0}, "`size` must be an int >= 1 or a pair"),
        ({"size": (3,)}, "Received: size=(3,)"),
        ({"size": (2, 0)}, "Received: size=(2, 0)"),
        ({"size": 2.5}, "Received: size=2.5"),
        ({"interpolation": "cubic"}, "Received: interpolation='cubic'"),
        ({"antialias": "yes"}, "Received: antialias='yes'"),
    ],
)
def test_thumbnail_validation(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ThumbnailResize(**kwargs)


def _side(scale, side):
    """A thumbnail side as the docstring defines it: round half up, at least 1."""
    return max(1, int(np.floor(scale * side + 0.5)))


def _thumbnail_candidates(height, width):
    """Every thumbnail size some scale in (0, 1] gives, with that scale."""
    sizes = {}
    for scale in np.linspace(0.0001, 1, 20001):
        sizes.setdefault((_side(scale, height), _side(scale, width)), scale)
    return sizes


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
def test_thumbnail_scale_range_draws_a_size_per_image(
    interpolation, shape, scale, rng, recover
):
    images = rng.random((64, *shape, 3)).astype("float32")
    layer = ThumbnailResize(scale=scale, interpolation=interpolation, seed=2)
    outputs = to_numpy(layer(images, seed=StepSeed(PAIR)))
    # Candidates: what the fixed-size layer makes at every size of every
    # scale in (0, 1], not only those of the range.
    candidates = {
        size: to_numpy(ThumbnailResize(size=size, interpolation=interpolation)(images))
        for size in _thumbnail_candidates(*shape)
    }
    sizes = recover(outputs, candidates)
    smallest = (_side(scale[0], shape[0]), _side(scale[0], shape[1]))
    largest = (_side(scale[1], shape[0]), _side(scale[1], shape[1]))
    for size in sizes:
        assert smallest[0] <= size[0] <= largest[0]
        assert smallest[1] <= size[1] <= largest[1]
    assert len(set(sizes)) >= 4  # one size per image, not one per batch
    np.testing.assert_array_equal(to_numpy(layer(images, seed=StepSeed(PAIR))), outputs)


def test_thumbnail_scale_range_bilinear_matches_numpy(rng, resize_bilinear, recover):
    images = rng.random((32, 20, 28, 3)).astype("float32")
    outputs = to_numpy(ThumbnailResize(scale=(0.2, 0.6), seed=3)(images))
    candidates = {
        size: resize_bilinear(resize_bilinear(images, *size), 20, 28)
        for size in _thumbnail_candidates(20, 28)
    }
    assert len(set(recover(outputs, candidates))) >= 4


def test_thumbnail_scale_range_of_the_full_size_is_the_identity(rng):
    images = rng.random((4, 9, 13, 3)).astype("float32")
    # Every scale of the range rounds to 9 x 13.
    layer = ThumbnailResize(scale=(0.97, 1), interpolation="nearest")
    np.testing.assert_array_equal(to_numpy(layer(images)), images)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"scale": (0.8, 0.2)},
            "Received: scale=(0.8, 0.2)",
        ),
        ({"scale": (0.5,)}, "Received: scale=(0.5,)"),
        ({"scale": (0.1, 0.2, 0.3)}, "Received: scale=(0.1, 0.2, 0.3)"),
        ({"scale": ("a", 0.5)}, "Received: scale=('a', 0.5)"),
        ({"scale": (True, 0.5)}, "Received: scale=(True, 0.5)"),
        (
            {"scale": (0, 0.5)},
            "Received: scale=(0, 0.5)",
        ),
        ({"scale": [0.5, 1.5]}, "Received: scale=[0.5, 1.5]"),
        (
            {"scale": (0.2, 0.5), "antialias": True},
            "Received: scale=(0.2, 0.5), interpolation='bilinear', antialias=True",
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
        match=r"from \(4, 6\) to \(10, 15\) here\. Received: scale=\(0\.2, 0\.5\)",
    ):
        ThumbnailResize(scale=(0.2, 0.5)).thumbnail_size(20, 30)


def test_a_scale_list_is_stored_as_a_tuple():
    # Configs read back from JSON give lists; the layer stores a tuple.
    layer = ThumbnailResize(scale=[0.5, 1])
    assert layer.scale == (0.5, 1.0) and type(layer.scale) is tuple
    assert (
        ThumbnailResize.from_config(layer.get_config()).get_config()
        == layer.get_config()
    )


@pytest.mark.parametrize("kwargs", [{"scale": (0.3, 0.7)}, {"size": 5}])
@pytest.mark.parametrize(
    "dtype_policy, expected",
    [
        (None, "float32"),
        ("mixed_float16", "float16"),
        ("mixed_bfloat16", "bfloat16"),
    ],
)
def test_output_is_in_the_compute_dtype(kwargs, dtype_policy, expected, images):
    layer = ThumbnailResize(value_range=(0, 255), dtype=dtype_policy, **kwargs)
    for inputs in (images.astype("uint8"), images, images.astype("float16")):
        output = layer(inputs)
        assert keras.backend.standardize_dtype(output.dtype) == expected
        assert output.shape == images.shape


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_range_compiles_with_xla(interpolation, rng, xla_compile, recover):
    images = rng.random((32, 16, 20, 3)).astype("float32")
    thumbnail = ThumbnailResize(scale=(0.2, 0.9), interpolation=interpolation)
    assert thumbnail.supports_jit
    # The seed pair is an argument, so XLA draws (nothing folded before).
    compiled = xla_compile(lambda x, pair: thumbnail(x, seed=StepSeed(pair)))
    outputs = np.asarray(compiled(images, PAIR))
    candidates = {
        size: to_numpy(ThumbnailResize(size=size, interpolation=interpolation)(images))
        for size in _thumbnail_candidates(16, 20)
    }
    assert len(set(recover(outputs, candidates))) >= 4


def test_docstring_example_runs(run_example):
    run_example(ThumbnailResize)


@pytest.mark.parametrize(
    "kwargs, received",
    [
        ({"scale": 0.0}, r"scale=0\.0$"),
        ({"scale": 1.5}, r"scale=1\.5$"),
        ({"size": 4, "scale": 0.5}, r"size=4, scale=0\.5$"),
    ],
)
def test_bad_sizes_are_refused_at_construction(kwargs, received):
    with pytest.raises(ValueError, match=rf"Received: {received}"):
        ThumbnailResize(**kwargs)
