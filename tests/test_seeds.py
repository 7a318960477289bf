"""Tests of _seeds.py: `portable_uniform` against a NumPy reference."""

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy as to_numpy

from keras_stability._seeds import StepSeed
from keras_stability._seeds import portable_uniform


def _mix(x):
    """lowbias32 (Chris Wellons) on uint32, written from its published form."""
    x = x.astype(np.uint64)
    mask = np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & mask
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & mask
    x ^= x >> np.uint64(16)
    return x


def reference_uniform(shape, pair):
    """`portable_uniform` in NumPy, from the seed pair `seed.next()` gave."""
    word0, word1 = (np.uint64(int(w) % 2**32) for w in pair)
    key0 = _mix(np.array((word0 + np.uint64(0x9E3779B9)) % np.uint64(2**32)))
    key1 = _mix(word1 ^ key0)
    index = np.arange(int(np.prod(shape)), dtype=np.uint64)
    hashed = _mix((_mix(index ^ key0) + key1) & np.uint64(0xFFFFFFFF))
    return ((hashed >> np.uint64(8)).astype(np.float64) / 2**24).reshape(shape)


def test_the_reference_hash_is_lowbias32():
    # Values of the published lowbias32, as the C code computes them.
    def lowbias32(x):
        x ^= x >> 16
        x = (x * 0x7FEB352D) % 2**32
        x ^= x >> 15
        x = (x * 0x846CA68B) % 2**32
        return x ^ (x >> 16)

    inputs = np.array([0, 1, 2**31, 2**32 - 1, 123456789], np.uint64)
    expected = [lowbias32(int(x)) for x in inputs]
    assert [int(v) for v in _mix(inputs)] == expected


@pytest.mark.parametrize("pair", [[3, 5], [0, 0], [2**31 - 1, 7], [11, 123456]])
def test_portable_uniform_matches_numpy(pair):
    # The step word of a StepSeed wraps differently in each backend's seed
    # dtype (int64, uint32, int32); its low 32 bits are what counts.
    seed = StepSeed(np.array(pair))
    drawn_pair = to_numpy(StepSeed(np.array(pair)).next())
    draws = to_numpy(portable_uniform((2, 3, 4, 1), seed))
    assert draws.dtype == np.float32
    np.testing.assert_array_equal(draws, reference_uniform((2, 3, 4, 1), drawn_pair))


def test_portable_uniform_with_a_seed_generator_matches_numpy():
    # A fresh SeedGenerator(s) hands out [s, 0], then [s, 1], ...
    generator = keras.random.SeedGenerator(5)
    first = to_numpy(portable_uniform((7,), generator))
    second = to_numpy(portable_uniform((7,), generator))
    np.testing.assert_array_equal(first, reference_uniform((7,), [5, 0]))
    np.testing.assert_array_equal(second, reference_uniform((7,), [5, 1]))


def test_portable_uniform_is_uniform():
    draws = to_numpy(portable_uniform((20000,), StepSeed(np.array([1, 2]))))
    assert draws.min() >= 0 and draws.max() < 1
    counts = np.histogram(draws, bins=10, range=(0, 1))[0]
    # Each bin holds 2000 +- 42 draws (binomial); allow five standard errors.
    assert np.all(np.abs(counts - 2000) < 5 * np.sqrt(20000 * 0.1 * 0.9))
    assert abs(np.corrcoef(draws[:-1], draws[1:])[0, 1]) < 5 / np.sqrt(draws.size)


def test_portable_uniform_differs_between_draws_and_seeds():
    seed = StepSeed(np.array([3, 5]))
    first = to_numpy(portable_uniform((64,), seed))
    second = to_numpy(portable_uniform((64,), seed))
    other = to_numpy(portable_uniform((64,), StepSeed(np.array([3, 6]))))
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, other)
