"""UDA's options on the consistency term and the supervised loss.

Unsupervised Data Augmentation trains on labeled and unlabeled images with a
consistency term like Stability Training's, and three devices that
`StabilityModel` takes as arguments (`sharpen_temperature`,
`confidence_threshold`, `signal_annealing`). They are pure functions here,
for custom training loops:

- `sharpen`: the clean distribution, the term's target, made more peaked.
- `confidence_mask`: rows whose clean prediction is too unsure add no term.
- `annealing_threshold` and `annealing_mask`: Training Signal Annealing,
  which drops from the supervised loss the labeled rows the model already
  predicts with more than a growing threshold, so that a few labels are not
  memorized before the unlabeled images have taught anything.

Reference:
    Xie, Dai, Hovy, Luong, Le. Unsupervised Data Augmentation for
    Consistency Training. NeurIPS 2020.
"""

import math

from keras import ops

from keras_stability._checks import check_choice
from keras_stability._checks import check_float
from keras_stability._checks import check_int
from keras_stability._numerics import log_distribution

__all__ = [
    "ANNEALING_SCHEDULES",
    "annealing_mask",
    "annealing_threshold",
    "confidence_mask",
    "sharpen",
]

# UDA's schedules of the annealing threshold, by how fast it rises early.
ANNEALING_SCHEDULES = ("linear", "log", "exp")
# The steepness of UDA's "log" and "exp" schedules.
_SCHEDULE_SCALE = 5.0


def sharpen(outputs, temperature, from_logits=False):
    """Sharpens class distributions with a temperature below 1.

    Formula:

    ```
    sharpened = softmax(log(p) / temperature)
    ```

    Args:
        outputs: probabilities, or logits with `from_logits=True`, over the
            last axis.
        temperature: a float > 0; below 1 sharpens, 1 changes nothing.
        from_logits: whether `outputs` are logits. Defaults to `False`.

    Returns:
        The sharpened distributions, as logits (`outputs / temperature`)
        for logits and as probabilities for probabilities.

    Example:

    >>> import numpy as np
    >>> p = np.asarray(sharpen(np.array([[0.6, 0.4]]), temperature=0.5))
    >>> [round(float(v), 4) for v in p[0]]  # 0.36 / 0.52, 0.16 / 0.52
    [0.6923, 0.3077]
    """
    temperature = check_float(temperature, "temperature", 0, math.inf, False, False)
    outputs = ops.convert_to_tensor(outputs)
    if from_logits:
        return outputs / ops.cast(temperature, outputs.dtype)
    log_p = log_distribution(outputs, from_logits=False)
    return ops.softmax(log_p / ops.cast(temperature, log_p.dtype), axis=-1)


def confidence_mask(outputs, threshold, from_logits=False):
    """1 for rows whose largest class probability exceeds `threshold`, else 0.

    Args:
        outputs: probabilities, or logits with `from_logits=True`, over the
            last axis.
        threshold: a float in [0, 1).
        from_logits: whether `outputs` are logits. Defaults to `False`.

    Returns:
        A float mask of shape `outputs.shape[:-1]`.

    Example:

    >>> import numpy as np
    >>> m = confidence_mask(np.array([[0.9, 0.1], [0.6, 0.4]]), threshold=0.8)
    >>> np.asarray(m).tolist()
    [1.0, 0.0]
    """
    threshold = check_float(threshold, "threshold", 0, 1, include_high=False)
    p = ops.exp(log_distribution(outputs, from_logits))
    return ops.cast(ops.max(p, axis=-1) > threshold, p.dtype)


def annealing_threshold(schedule, progress, num_classes):
    """The probability above which Training Signal Annealing drops a row.

    It rises from `1 / num_classes` (`"exp"`: just above) at the start of
    training to 1 at the end, linearly, fast then slowly (`"log"`), or slowly then fast
    (`"exp"`).

    Formula:

    ```
    t = clip(progress, 0, 1)
    a = t (linear),  1 - exp(-5 t) (log),  exp(5 (t - 1)) (exp)
    threshold = a * (1 - 1 / num_classes) + 1 / num_classes
    ```

    Args:
        schedule: one of `ANNEALING_SCHEDULES`.
        progress: the share of training done, a float or a scalar tensor.
        num_classes: the number of classes, an int >= 2.

    Returns:
        The threshold, a float32 scalar tensor.

    Example:

    >>> float(annealing_threshold("linear", 0.5, num_classes=4))
    0.625
    """
    check_choice("schedule", schedule, ANNEALING_SCHEDULES)
    num_classes = check_int(num_classes, "num_classes", 2)
    t = ops.clip(ops.cast(progress, "float32"), 0.0, 1.0)
    if schedule == "linear":
        share = t
    elif schedule == "log":
        share = 1.0 - ops.exp(-_SCHEDULE_SCALE * t)
    else:
        share = ops.exp(_SCHEDULE_SCALE * (t - 1.0))
    start = 1.0 / num_classes
    return share * (1.0 - start) + start


def annealing_mask(y_true, y_pred, threshold, from_logits=False):
    """1 for rows whose probability of the true class is at most `threshold`.

    Args:
        y_true: integer labels, shape `(batch,)` or `(batch, 1)`, or one-hot
            labels of `y_pred`'s shape.
        y_pred: probabilities, or logits with `from_logits=True`, shape
            `(batch, classes)`.
        threshold: a float or scalar tensor, e.g. from
            `annealing_threshold`.
        from_logits: whether `y_pred` holds logits. Defaults to `False`.

    Returns:
        A float mask of shape `(batch,)`.

    Example:

    >>> import numpy as np
    >>> y_pred = np.array([[0.9, 0.1], [0.6, 0.4]])
    >>> np.asarray(annealing_mask(np.array([0, 0]), y_pred, 0.75)).tolist()
    [0.0, 1.0]
    """
    log_p = log_distribution(y_pred, from_logits)
    y_true = ops.convert_to_tensor(y_true)
    classes = log_p.shape[-1]
    if len(y_true.shape) == len(log_p.shape) and y_true.shape[-1] == classes:
        true_log_p = ops.sum(ops.cast(y_true, log_p.dtype) * log_p, axis=-1)
    else:
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        true_log_p = ops.sum(
            ops.one_hot(labels, classes, dtype=log_p.dtype) * log_p, -1
        )
    keep = ops.exp(true_log_p) <= ops.cast(threshold, log_p.dtype)
    return ops.cast(keep, log_p.dtype)
