"""Which outputs of a `StabilityModel` the stability term covers, and how.

Internal: `model.py` uses these to pair clean and perturbed outputs with
their sample weights, and `from_model` to find a model's symbolic graph.
"""

import keras
from keras import ops


def output_aliases(model):
    """For each output of `model`, in flatten order, the names it answers to.

    Its layer's name, and for dict outputs also its key.
    """
    structure = model.output
    keys = sorted(structure) if isinstance(structure, dict) else None
    return [
        (name,) if keys is None else (keys[index], name)
        for index, name in enumerate(model.output_names)
    ]


def covers(stability_outputs, aliases):
    """Whether the term applies to the output named `aliases` (None: all)."""
    return stability_outputs is None or any(a in stability_outputs for a in aliases)


def select_outputs(aliases, stability_outputs, clean, perturbed, sample_weight):
    """`(clean, perturbed, sample_weight)` for each output the term covers.

    Args:
        aliases: `output_aliases` of the model.
        stability_outputs: the names the term covers, or None for all.
        clean: the outputs on `x`, in the model's output structure.
        perturbed: the outputs on `x'`, the same structure.
        sample_weight: None, one array, or one per output (a list, or a dict
            keyed by any of an output's names).
    """
    selected = []
    for index, (names, c, p) in enumerate(
        zip(
            aliases,
            keras.tree.flatten(clean),
            keras.tree.flatten(perturbed),
            strict=True,
        )
    ):
        if not covers(stability_outputs, names):
            continue
        if isinstance(sample_weight, dict):
            weight = next((sample_weight[a] for a in names if a in sample_weight), None)
        elif isinstance(sample_weight, (list, tuple)):
            weight = sample_weight[index]
        else:
            weight = sample_weight
        selected.append((c, p, weight))
    return selected


def term_over_views(loss, clean, views, weight):
    """The stability term of one output over its perturbed views.

    One view: `loss(clean, view)`. Several: the views stacked on a new first
    axis for a loss with `takes_stacked_views` (the k-view Jensen-Shannon
    consistency), else the mean of the per-view terms.
    """
    if len(views) == 1:
        return loss(clean, views[0], sample_weight=weight)
    if getattr(loss, "takes_stacked_views", False):
        stacked = ops.stack([ops.convert_to_tensor(v) for v in views])
        return loss(clean, stacked, sample_weight=weight)
    return ops.mean(ops.stack([loss(clean, v, sample_weight=weight) for v in views]))


def same_tensors(a, b):
    """Whether two output structures hold the very same first tensor."""
    a, b = keras.tree.flatten(a), keras.tree.flatten(b)
    return bool(a) and bool(b) and a[0] is b[0]


def symbolic_io(model):
    """A model's symbolic inputs and outputs, in their structure, or Nones."""
    try:
        return model.input, model.output
    except (AttributeError, ValueError):
        pass
    # A Sequential model has flat lists only.
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        return None, None
    if not inputs or not outputs:
        return None, None
    unwrap = lambda tensors: tensors[0] if len(tensors) == 1 else tensors  # noqa: E731
    return unwrap(inputs), unwrap(outputs)
