"""Tests of _seeds.py: `portable_uniform` against a NumPy reference."""

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy as to_numpy

from keras_stability._seeds import StepSeed
from keras_stability._seeds import portable_uniform


@pytest.mark.parametrize("pair", [[3, 5], [0, 0], [2**31 - 1, 7], [11, 123456]])
def test_portable_uniform_matches_the_reference(pair, portable_uniform_reference):
    # The step word of a StepSeed wraps differently in each backend's seed
    # dtype (int64, uint32, int32); its low 32 bits are what counts.
    drawn_pair = to_numpy(StepSeed(np.array(pair)).next())
    draws = to_numpy(portable_uniform((2, 3, 4, 1), StepSeed(np.array(pair))))
    assert draws.dtype == np.float32
    np.testing.assert_array_equal(
        draws, portable_uniform_reference((2, 3, 4, 1), drawn_pair)
    )


def test_portable_uniform_with_a_seed_generator(portable_uniform_reference):
    # A fresh SeedGenerator(s) hands out [s, 0], then [s, 1], ...
    generator = keras.random.SeedGenerator(5)
    first = to_numpy(portable_uniform((7,), generator))
    second = to_numpy(portable_uniform((7,), generator))
    np.testing.assert_array_equal(first, portable_uniform_reference((7,), [5, 0]))
    np.testing.assert_array_equal(second, portable_uniform_reference((7,), [5, 1]))


def test_portable_uniform_is_uniform():
    draws = to_numpy(portable_uniform((20000,), StepSeed(np.array([1, 2]))))
    assert draws.min() >= 0 and draws.max() < 1
    counts = np.histogram(draws, bins=10, range=(0, 1))[0]
    # Each bin holds 2000 draws give or take 42 (binomial): allow five of those.
    assert np.all(np.abs(counts - 2000) < 5 * np.sqrt(20000 * 0.1 * 0.9))
    assert abs(np.corrcoef(draws[:-1], draws[1:])[0, 1]) < 5 / np.sqrt(draws.size)


def test_portable_uniform_differs_between_draws_and_seeds():
    seed = StepSeed(np.array([3, 5]))
    first = to_numpy(portable_uniform((64,), seed))
    second = to_numpy(portable_uniform((64,), seed))
    other = to_numpy(portable_uniform((64,), StepSeed(np.array([3, 6]))))
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, other)
