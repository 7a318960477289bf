"""A model's outputs as the evaluations read them: classes or embeddings.

Shared by the modules of `keras_stability.evaluation` and by no one else.
"""

import numpy as np
from keras import ops

__all__ = [
    "check_finite",
    "check_probabilities",
    "classifier_outputs",
    "embeddings",
    "probabilities",
    "probability_tolerance",
]


def probability_tolerance(outputs):
    """How far from 1 a row of probabilities may sum.

    Float32 rounding for 32- and 64-bit outputs; for float16 and bfloat16
    outputs their own, coarser rounding.
    """
    return 2e-2 if np.asarray(outputs).dtype.itemsize <= 2 else 1e-3


def _looks_like_probabilities(outputs, tolerance):
    return bool(
        np.all(outputs >= 0) and np.allclose(outputs.sum(-1), 1.0, atol=tolerance)
    )


def check_finite(array, kind, where):
    """Refuses NaN or inf in a model's `kind` ("outputs", "embeddings").

    `where` says which call they came from, e.g. "batch 0 of the images".
    """
    finite = np.isfinite(array)
    if not np.all(finite):
        raise ValueError(
            f"The model returned non-finite {kind} ({int(np.sum(~finite))} NaN "
            f"or inf values) for {where}."
        )


def classifier_outputs(outputs, count, where):
    """A classifier's raw outputs as float64 `(count, classes >= 2)`, all finite."""
    array = np.asarray(outputs, "float64")
    if array.ndim != 2 or array.shape[-1] < 2:
        raise ValueError(
            "robustness_report needs a classifier whose output has shape "
            "(batch, classes) with at least 2 classes. Received output shape "
            f"{array.shape} for {where}."
        )
    if array.shape[0] != count:
        raise ValueError(
            f"The model must return one row per image: {count} images in {where}, "
            f"output shape {array.shape}."
        )
    check_finite(array, "outputs", where)
    return array


def embeddings(outputs, where):
    """An embedding model's outputs as float64 `(batch, dim)`, all finite."""
    outputs = np.asarray(ops.convert_to_numpy(outputs), "float64")
    if outputs.ndim != 2:
        raise ValueError(
            "Near-duplicate evaluation needs an embedding model whose output "
            f"has shape (batch, dim). Received output shape {outputs.shape}."
        )
    check_finite(outputs, "embeddings", where)
    return outputs


def check_probabilities(outputs, tolerance):
    """Refuses outputs that are not probabilities when `from_logits=False`."""
    if _looks_like_probabilities(outputs, tolerance):
        return
    sums = outputs.sum(-1)
    worst = float(sums[np.argmax(np.abs(sums - 1.0))])
    raise ValueError(
        "`from_logits=False` needs a model whose outputs are probabilities "
        f"(values in [0, 1], rows summing to 1 within {tolerance:g}). The first "
        f"batch has values in [{float(outputs.min()):.4g}, "
        f"{float(outputs.max()):.4g}] and a row summing to {worst:.4g}. Pass "
        "from_logits=True for logits, or None to detect."
    )


def probabilities(outputs, from_logits, tolerance):
    """Softmax of logits; probabilities as they are; `None` detects which."""
    if from_logits is None:
        from_logits = not _looks_like_probabilities(outputs, tolerance)
    if not from_logits:
        return outputs
    shifted = outputs - outputs.max(-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(-1, keepdims=True)
