"""Per-pixel random draws, with Philox named on TensorFlow.

Internal to the package. `keras.random.normal` and `keras.random.uniform`
leave TensorFlow's algorithm to "auto_select", which XLA compiles for a CPU
into a much slower program than the one for Philox named explicitly, for
the same draws (`benchmarks/RESULTS.md`). Outside XLA both are the Philox
kernel, and the seed is cast as Keras casts it, so the draws are
`keras.random`'s. (Under XLA TensorFlow draws other numbers than eagerly
either way.) Other backends draw with `keras.random`.
"""

import keras

from keras_stability import _backend


def _philox_seed(seed):
    """`seed.next()` as the int32 pair TensorFlow's stateless ops take."""
    tf = _backend.require_tensorflow("Philox draws")
    pair = seed.next()
    if pair.dtype != tf.int32:
        pair = tf.cast(tf.math.floormod(pair, tf.int32.max - 1), tf.int32)
    return pair


def normal(shape, stddev, dtype, seed):
    """`keras.random.normal(shape, stddev=stddev, dtype=dtype, seed=seed)`."""
    if not _backend.is_tensorflow():
        return keras.random.normal(shape, stddev=stddev, dtype=dtype, seed=seed)
    tf = _backend.require_tensorflow("Philox draws")
    return tf.random.stateless_normal(
        shape, _philox_seed(seed), stddev=stddev, dtype=dtype, alg="philox"
    )


def uniform(shape, minval, maxval, dtype, seed):
    """`keras.random.uniform(shape, minval, maxval, dtype=dtype, seed=seed)`."""
    if not _backend.is_tensorflow():
        return keras.random.uniform(shape, minval, maxval, dtype=dtype, seed=seed)
    tf = _backend.require_tensorflow("Philox draws")
    return tf.random.stateless_uniform(
        shape,
        _philox_seed(seed),
        minval=tf.cast(minval, dtype),
        maxval=tf.cast(maxval, dtype),
        dtype=dtype,
        alg="philox",
    )
