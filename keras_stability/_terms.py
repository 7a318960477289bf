"""The two parts of `StabilityModel`'s loss, as functions of tensors.

Internal: `model.py` calls them in `compute_loss`. `stability_term` compares
the clean outputs with their perturbed views (UDA's mask and sharpening
included); `task_weight` restricts the compiled loss to the labeled rows and
to those Training Signal Annealing keeps; `random_rows` draws the rows
`perturb_fraction` perturbs.
"""

import keras
from keras import ops

from keras_stability._outputs import select_outputs
from keras_stability._outputs import term_over_views
from keras_stability.consistency import annealing_mask
from keras_stability.consistency import annealing_threshold
from keras_stability.consistency import confidence_mask
from keras_stability.consistency import sharpen


def random_rows(batch, fraction, seed):
    """`round(fraction * batch size)` distinct row indices (at least one)."""
    count = ops.shape(batch)[0]
    if isinstance(count, int):
        size = max(1, round(fraction * count))
    else:
        size = ops.maximum(
            ops.cast(ops.round(fraction * ops.cast(count, "float32")), "int32"), 1
        )
    order = ops.argsort(keras.random.uniform((count,), seed=seed))
    return order[:size]


def stability_term(
    loss,
    aliases,
    stability_outputs,
    clean,
    views,
    rows,
    sample_weight,
    *,
    from_logits,
    stop_gradient_clean=False,
    confidence_threshold=None,
    sharpen_temperature=None,
):
    """The term summed over the outputs it covers; see `StabilityModel`.

    Args:
        loss: the stability loss (a `keras.losses.Loss`).
        aliases: `_outputs.output_aliases` of the model.
        stability_outputs: the names the term covers, or None for all.
        clean: the outputs on `x`, in the model's output structure.
        views: a list of outputs on perturbed copies, each that structure,
            of the rows `rows` of `x` (all rows when `rows` is None).
        rows: indices of the perturbed rows, or None.
        sample_weight: as `compute_loss` received it.
        from_logits: whether the outputs are logits, for UDA's options.
        stop_gradient_clean: detach the clean outputs. Defaults to `False`.
        confidence_threshold: `consistency.confidence_mask`'s threshold, or
            None. Defaults to `None`.
        sharpen_temperature: `consistency.sharpen`'s temperature, or None.
            Defaults to `None`.

    Returns:
        `(term, share)`: the scalar term and the share of rows that passed
        the confidence mask (None without a threshold).
    """
    if stop_gradient_clean:
        clean = keras.tree.map_structure(ops.stop_gradient, clean)
    per_view = [
        select_outputs(aliases, stability_outputs, clean, view, sample_weight)
        for view in views
    ]
    terms, shares = [], []
    for outputs in zip(*per_view, strict=True):
        target, weight = outputs[0][0], outputs[0][2]
        if rows is not None:
            target = ops.take(target, rows, axis=0)
            weight = None if weight is None else ops.take(weight, rows, axis=0)
        if confidence_threshold is not None:
            mask = confidence_mask(
                ops.stop_gradient(target), confidence_threshold, from_logits
            )
            shares.append(ops.mean(mask))
            weight = mask if weight is None else mask * ops.cast(weight, mask.dtype)
        if sharpen_temperature is not None:
            target = sharpen(target, sharpen_temperature, from_logits)
        copies = [perturbed for _, perturbed, _ in outputs]
        terms.append(term_over_views(loss, target, copies, weight))
    term = terms[0] if len(terms) == 1 else ops.sum(ops.stack(terms))
    share = ops.mean(ops.stack(shares)) if shares else None
    return term, share


def task_weight(y, y_pred, sample_weight, labeled, annealing=None):
    """The compiled loss's sample weight for labeled rows and annealing.

    Rows left out weigh 0 and the others `batch / kept`, so that Keras's
    mean over the batch is the mean over the rows kept.

    Args:
        y: the labels.
        y_pred: the outputs (one output, for annealing).
        sample_weight: as `compute_loss` received it.
        labeled: a bool per row, or None (every row has a label).
        annealing: None, or `(schedule, progress, from_logits)` for
            Training Signal Annealing.

    Returns:
        `(sample_weight, kept)`: the weight to give the compiled loss and
        the share of labeled rows annealing kept (None without annealing).
    """
    keep = None if labeled is None else ops.cast(labeled, "float32")
    kept = None
    if annealing is not None:
        schedule, progress, from_logits = annealing
        outputs = keras.tree.flatten(y_pred)[0]
        threshold = annealing_threshold(
            schedule, progress, num_classes=outputs.shape[-1]
        )
        annealed = ops.cast(
            annealing_mask(keras.tree.flatten(y)[0], outputs, threshold, from_logits),
            "float32",
        )
        candidates = ops.ones_like(annealed) if keep is None else keep
        kept = ops.sum(annealed * candidates) / ops.maximum(ops.sum(candidates), 1.0)
        keep = annealed * candidates
    if keep is None:
        return sample_weight, kept
    count = ops.cast(ops.shape(keep)[0], "float32")
    row_weight = keep * count / ops.maximum(ops.sum(keep), 1.0)
    if sample_weight is None:
        return row_weight, kept

    def weighted(w):
        w = ops.convert_to_tensor(w)
        shape = (-1,) + (1,) * (len(w.shape) - 1)
        return ops.cast(w, "float32") * ops.reshape(row_weight, shape)

    return keras.tree.map_structure(weighted, sample_weight), kept
