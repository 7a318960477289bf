"""Batch normalization on the clean rows of a joined clean and perturbed batch.

`StabilityModel` runs x and x' through the network as one batch. Left alone,
a `BatchNormalization` layer would normalize with the statistics of both
halves and move its moving mean and variance towards them, so that at
inference clean images meet statistics partly drawn from noisy, blurred or
shifted ones. Inside `clean_rows(count)` every `BatchNormalization` layer
that `track_clean_statistics` prepared computes its batch statistics on the
first `count` rows only, through the layer's own `mask` argument: both halves
are normalized with the clean half's statistics, and the moving statistics
are those of the clean data, as in a plain model's training step.

Layers with `synchronized=True` (whose masked statistics would not be
synchronized across replicas) and layers that normalize an axis other than
the last are left as they are.
"""

import contextlib
import threading

import keras
from keras import ops

__all__ = ["clean_rows", "track_clean_statistics"]

# The number of clean rows of the batch being run, per thread: a
# MirroredStrategy runs its replicas in threads of their own.
_STATE = threading.local()
# Marks a layer whose `call` is already wrapped.
_WRAPPED = "_keras_stability_clean_statistics"


@contextlib.contextmanager
def clean_rows(count):
    """Within the block, prepared layers take statistics from `count` rows."""
    previous = getattr(_STATE, "count", None)
    _STATE.count = count
    try:
        yield
    finally:
        _STATE.count = previous


def track_clean_statistics(model):
    """Prepares every `BatchNormalization` layer of `model` for `clean_rows`.

    Outside `clean_rows` a prepared layer behaves exactly as before, also
    when another model shares it. Preparing twice is harmless.
    """
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if (
            isinstance(layer, keras.layers.BatchNormalization)
            and not layer.synchronized
            and not getattr(layer, _WRAPPED, False)
        ):
            object.__setattr__(layer, "call", _wrap(layer.call))
            object.__setattr__(layer, _WRAPPED, True)


def _wrap(call):
    def clean_statistics_call(inputs, training=None, mask=None):
        count = getattr(_STATE, "count", None)
        rank = len(inputs.shape)
        if count is not None and training and _axis_is_last(call, rank):
            shape = ops.shape(inputs)
            rows = ops.arange(shape[0]) < count
            rows = ops.reshape(rows, (-1,) + (1,) * (rank - 2))
            rows = ops.broadcast_to(rows, shape[:-1])
            mask = (
                rows if mask is None else ops.logical_and(ops.cast(mask, "bool"), rows)
            )
        return call(inputs, training=training, mask=mask)

    return clean_statistics_call


def _axis_is_last(call, rank):
    axis = call.__self__.axis
    return axis in (-1, rank - 1)
