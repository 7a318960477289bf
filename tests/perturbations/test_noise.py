"""Tests of perturbations/noise.py: GaussianNoise against its distribution."""

import re

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy as to_numpy

from keras_stability._seeds import StepSeed
from keras_stability.perturbations import GaussianNoise

PAIR = np.array([3, 5])


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
            "Received: stddev=-1",
        ),
        (
            {"stddev": "0.1"},
            "Received: stddev='0.1'",
        ),
        (
            {"stddev": float("nan")},
            "Received: stddev=nan",
        ),
        (
            {"stddev": 1e39},
            "Received: stddev=1e+39",
        ),
        ({"clip": 1}, "Received: clip=1"),
        # Each finite in float32, but the noise they make is not.
        (
            {"stddev": 1e38, "value_range": (0, 255)},
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


def test_gaussian_noise_at_its_largest_scale_stays_finite():
    # The largest stddev the check lets through, on extreme pixels.
    layer = GaussianNoise(0.1, value_range=(-1e38, 1e38), seed=1)
    images = np.full((64, 8, 8, 3), -1e38, "float32")
    noisy = to_numpy(layer(images))
    assert np.isfinite(noisy).all()
    noise = noisy.astype("float64") - images
    assert np.std(noise) == pytest.approx(2e37, rel=0.05)


@pytest.mark.tensorflow
def test_gaussian_noise_compiles_with_xla(images):
    import tensorflow as tf

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


def test_docstring_example_runs(run_example):
    run_example(GaussianNoise)


@pytest.mark.parametrize(
    "stddev, received",
    [(-0.1, r"stddev=-0\.1"), (float("nan"), r"stddev=nan"), ((0.1, -1), r"stddev")],
)
def test_a_bad_stddev_is_refused_at_construction(stddev, received):
    with pytest.raises(ValueError, match=rf"Received: {received}"):
        GaussianNoise(stddev)


def test_a_reversed_value_range_is_refused_at_construction():
    with pytest.raises(ValueError, match=r"Received: value_range=\(1, 0\)$"):
        GaussianNoise(0.1, value_range=(1, 0))


def test_images_of_rank_two_are_refused():
    with pytest.raises(ValueError, match=r"Received: inputs\.shape=\(4, 8\)"):
        GaussianNoise(0.1)(np.zeros((4, 8), "float32"))
