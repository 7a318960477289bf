"""Tests of `keras_stability.jpeg._codec`, the integer arithmetic of `dct_compress`.

Its pixels are tested through `dct_compress` (tests/jpeg/test_dct.py); here,
the one piece whose exactness no image can cover: the quantizer's division.
"""

import numpy as np
import pytest
from keras.ops import convert_to_numpy as to_numpy

from keras_stability.jpeg._codec import floor_divide

# Every test compares with libjpeg through tf.image or runs under TensorFlow.
pytestmark = pytest.mark.tensorflow
tf = pytest.importorskip("tensorflow")


def test_quantizer_division_is_exact_for_every_coefficient_and_table_entry():
    # Every numerator the quantizer can see (|8 x coefficient| + 4 x entry,
    # below 2**14 + 1020) against every divisor (8 x an entry in [1, 255]),
    # eagerly, in a graph where the divisors are constants (which grappler
    # may turn into a multiplication by the reciprocal), and under XLA.
    numerators = np.arange(2**14 + 1024, dtype="int32")[:, None]
    divisors = 8 * np.arange(1, 256, dtype="int32")[None, :]
    expected = numerators // divisors
    assert np.array_equal(to_numpy(floor_divide(numerators, divisors)), expected)
    graph = tf.function(lambda n: floor_divide(n, tf.constant(divisors)))
    assert np.array_equal(graph(numerators).numpy(), expected)
    xla = tf.function(floor_divide, jit_compile=True)
    assert np.array_equal(xla(numerators, divisors).numpy(), expected)
