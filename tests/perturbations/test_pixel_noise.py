"""Tests of perturbations/pixel_noise.py: shot and impulse noise, in distribution."""

import numpy as np
import pytest
import skimage.util
from keras.ops import convert_to_numpy as to_numpy

from keras_stability._seeds import StepSeed
from keras_stability.perturbations import ImpulseNoise
from keras_stability.perturbations import ShotNoise


def _levels(shape=(2, 16, 16, 3)):
    """Images of four flat quarters at intensities 0, 0.25, 0.5 and 0.75."""
    images = np.zeros(shape, "float32")
    for quarter, level in enumerate((0.0, 0.25, 0.5, 0.75)):
        images[:, quarter * shape[1] // 4 : (quarter + 1) * shape[1] // 4] = level
    return images


def _draws(layer, images, calls=8):
    """`calls` calls of `layer` on `images`, each with its own seed, stacked."""
    return np.concatenate(
        [
            to_numpy(layer(images, seed=StepSeed(np.array([7, step]))))
            for step in range(calls)
        ]
    )


@pytest.mark.parametrize("value_range", [(0, 1), (0, 255)])
def test_shot_noise_has_the_poisson_mean_and_variance(value_range, rng):
    # Shot noise of c = 100 photons, ImageNet-C's Poisson(u c) / c drawn by
    # NumPy, against the layer's Gaussian of stddev sqrt(u / c) = 0.1 sqrt(u).
    low, high = value_range
    images = _levels()
    layer = ShotNoise(stddev=0.1, value_range=value_range)
    noisy = (_draws(layer, low + (high - low) * images) - low) / (high - low)
    images = np.concatenate([images] * 8)
    poisson = rng.poisson(images * 100) / 100
    height = images.shape[1] // 4
    for quarter, level in enumerate((0.0, 0.25, 0.5, 0.75)):
        ours = noisy[:, quarter * height : (quarter + 1) * height].ravel()
        reference = poisson[:, quarter * height : (quarter + 1) * height].ravel()
        if level == 0:  # no light, no noise
            assert np.all(ours == 0) and np.all(reference == 0)
            continue
        # Both have the mean u and the stddev 0.1 sqrt(u) (0 and 1 are
        # three or more of them away): five standard errors.
        sigma = 0.1 * np.sqrt(level)
        error = 5 * sigma / np.sqrt(ours.size)
        assert abs(ours.mean() - level) < error
        assert abs(reference.mean() - level) < error
        for draws in (ours, reference):
            assert abs(draws.std() / sigma - 1) < 5 / np.sqrt(2 * draws.size)


def test_shot_noise_is_independent_per_pixel_and_channel():
    images = np.full((2, 16, 16, 3), 0.5, "float32")
    noise = _draws(ShotNoise(stddev=0.2), images) - 0.5
    for a, b in [(noise[:, :, :-1], noise[:, :, 1:]), (noise[..., 0], noise[..., 1])]:
        assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 5 / np.sqrt(a.size)


@pytest.mark.parametrize("value_range", [(0, 1), (0, 255)])
def test_impulse_noise_matches_scikit_images_salt_and_pepper(value_range, rng):
    low, high = value_range
    images = low + (high - low) * (0.1 + 0.8 * rng.random((2, 16, 16, 3)))
    amount = 0.2
    layer = ImpulseNoise(amount=amount, value_range=value_range)
    noisy = _draws(layer, images.astype("float32"))
    images = np.concatenate([images] * 8)
    reference = skimage.util.random_noise(
        (images - low) / (high - low), mode="s&p", amount=amount, rng=4
    )
    reference = low + (high - low) * reference
    n = images.size
    for ours_or_theirs in (noisy, reference):
        pepper = np.mean(ours_or_theirs == low)
        salt = np.mean(ours_or_theirs == high)
        error = 5 * np.sqrt(0.1 * 0.9 / n)
        assert abs(pepper - amount / 2) < error and abs(salt - amount / 2) < error
    # The other values are kept, and every channel is drawn on its own.
    kept = (noisy != low) & (noisy != high)
    np.testing.assert_allclose(noisy[kept], images.astype("float32")[kept], rtol=1e-6)
    all_three = np.mean(~kept.any(-1))
    assert abs(all_three - amount**3) < 5 * np.sqrt(amount**3 / (n / 3))


def test_impulse_noise_amounts_at_the_ends(rng):
    images = rng.random((2, 16, 16, 1)).astype("float32") * 0.8 + 0.1
    np.testing.assert_array_equal(to_numpy(ImpulseNoise(0.0)(images)), images)
    everything = to_numpy(ImpulseNoise(1.0, seed=5)(images))
    assert set(np.unique(everything)) == {0.0, 1.0}
