"""The perturbed-copy batch format: x' computed in the `tf.data` pipeline.

A batch that already carries its perturbed copy is the dict
`{CLEAN_KEY: x, PERTURBED_KEY: x'}` in place of `x`; `StabilityModel` takes
it instead of perturbing inside its training step.
"""

from keras_stability._backend import require_tensorflow
from keras_stability._checks import check_int
from keras_stability._checks import is_int
from keras_stability._seeds import MAX_SEED
from keras_stability._seeds import StepSeed
from keras_stability.perturbations.apply import apply_perturbation
from keras_stability.perturbations.apply import check_perturbation

__all__ = [
    "CLEAN_KEY",
    "PERTURBED_KEY",
    "split_perturbed_copy",
    "with_perturbed_copy",
]

# The keys of a batch that carries its perturbed copy.
CLEAN_KEY = "keras_stability_clean"
PERTURBED_KEY = "keras_stability_perturbed"


def split_perturbed_copy(x):
    """`(clean, perturbed)` of a batch from `with_perturbed_copy`, else `(x, None)`.

    Args:
        x: a batch's inputs, possibly the dict
            `{CLEAN_KEY: x, PERTURBED_KEY: x'}`.

    Returns:
        `(x, x')` for that dict, `(x, None)` for anything else.

    Example:

    ```python
    import numpy as np
    from keras_stability.perturbations import CLEAN_KEY
    from keras_stability.perturbations import PERTURBED_KEY
    from keras_stability.perturbations import split_perturbed_copy

    x = np.zeros((2, 4, 4, 1), "float32")
    clean, perturbed = split_perturbed_copy({CLEAN_KEY: x, PERTURBED_KEY: x + 1})
    assert clean is x and np.all(perturbed == 1)
    same, none = split_perturbed_copy(x)
    assert same is x and none is None
    ```
    """
    if isinstance(x, dict) and set(x) == {CLEAN_KEY, PERTURBED_KEY}:
        return x[CLEAN_KEY], x[PERTURBED_KEY]
    return x, None


def with_perturbed_copy(dataset, perturbation, *, seed=0, num_parallel_calls=None):
    """Adds each batch's perturbed copy in the `tf.data` pipeline.

    Maps batches `x`, `(x, y)` or `(x, y, sample_weight)` to the same with
    `x` replaced by `{CLEAN_KEY: x, PERTURBED_KEY: perturbation(x)}`, which
    `StabilityModel` takes in place of perturbing inside its step. Use it
    for perturbations that run on the host (libjpeg JPEG) while an
    accelerator trains: a parallel map computes the copies and `prefetch`
    keeps them ahead of the step.

    The perturbation of each batch is drawn from `(seed, r)` with `r` from
    `tf.data.Dataset.random(seed, rerandomize_each_iteration=True)`: the
    copies differ from epoch to epoch and are the same from run to run.

    Args:
        dataset: a batched `tf.data.Dataset`.
        perturbation: a `keras_stability.perturbations.Perturbation`, any
            Keras layer (called with `training=True`) or a callable.
        seed: seed of the copies, an int in `[0, 2**31 - 1]` (the range of
            every seed in this library). Defaults to 0.
        num_parallel_calls: for `Dataset.map`: `None` or `tf.data.AUTOTUNE`
            (tf.data picks), or an int >= 1. Defaults to `None`.

    Returns:
        The mapped, prefetched dataset.

    Example:

    ```python
    import numpy as np
    import tensorflow as tf
    from keras_stability.perturbations import CLEAN_KEY
    from keras_stability.perturbations import PERTURBED_KEY
    from keras_stability.perturbations import with_perturbed_copy
    from keras_stability.perturbations import GaussianNoise

    images = np.full((8, 4, 4, 1), 0.5, "float32")
    dataset = tf.data.Dataset.from_tensor_slices((images, np.arange(8))).batch(4)
    paired = with_perturbed_copy(dataset, GaussianNoise(0.1), seed=0)
    x, y = next(iter(paired))
    assert np.all(x[CLEAN_KEY].numpy() == 0.5) and y.shape == (4,)
    assert x[PERTURBED_KEY].shape == (4, 4, 4, 1)
    assert np.any(x[PERTURBED_KEY].numpy() != 0.5)
    ```
    """
    tf = require_tensorflow("keras_stability.data.with_perturbed_copy")
    seed = check_int(seed, "seed", 0, MAX_SEED)
    check_perturbation(perturbation)
    if num_parallel_calls is None:
        num_parallel_calls = tf.data.AUTOTUNE
    elif not (
        is_int(num_parallel_calls)
        and (num_parallel_calls == tf.data.AUTOTUNE or num_parallel_calls >= 1)
    ):
        raise ValueError(
            "`num_parallel_calls` must be None, tf.data.AUTOTUNE or an int >= 1. "
            f"Received: num_parallel_calls={num_parallel_calls!r}"
        )

    def perturb(x, draw):
        pair = tf.stack([tf.constant(seed, tf.int64), draw])
        return apply_perturbation(perturbation, x, StepSeed(pair))

    def add_copy(batch, draw):
        if isinstance(batch, tuple):
            x, rest = batch[0], batch[1:]
        else:
            x, rest = batch, ()
        pair = {CLEAN_KEY: x, PERTURBED_KEY: perturb(x, draw)}
        return (pair, *rest) if rest else pair

    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    zipped = tf.data.Dataset.zip((dataset, draws))
    mapped = zipped.map(
        add_copy,
        num_parallel_calls=num_parallel_calls,
        deterministic=True,
    )
    return mapped.prefetch(tf.data.AUTOTUNE)
