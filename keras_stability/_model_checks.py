"""The checks `StabilityModel` makes of its arguments and of its inputs.

Internal: `model.py` calls them at construction (arguments) and before
`fit`/`evaluate` (inputs), so that `model.py` holds the algorithm.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_stability import losses as stability_losses
from keras_stability._checks import check_bool
from keras_stability._checks import check_choice
from keras_stability._checks import check_float
from keras_stability._checks import check_int
from keras_stability._checks import check_non_negative
from keras_stability._outputs import covers
from keras_stability._outputs import output_aliases
from keras_stability._seeds import MAX_SEED
from keras_stability.consistency import ANNEALING_SCHEDULES
from keras_stability.data import split_labeled
from keras_stability.perturbations import Perturbation
from keras_stability.perturbations import check_fits
from keras_stability.perturbations import default_perturbation
from keras_stability.perturbations import needs_objective
from keras_stability.perturbations import split_perturbed_copy


def check_arguments(model, arguments, max_views):
    """`StabilityModel`'s arguments checked against each other and the model.

    Args:
        model: the functional model, built on its inputs and outputs.
        arguments: the `StabilityModel` arguments by name.
        max_views: the largest `num_views`.

    Returns:
        `(arguments, loss_fn)`: the arguments normalized (the default
        perturbation filled in, numbers as Python floats and ints), and the
        stability loss they resolve to.
    """
    a = dict(arguments)
    a["alpha"] = check_non_negative(a["alpha"], "alpha")
    a["seed"] = check_int(a["seed"], "seed", 0, MAX_SEED, allow_none=True)
    a["num_views"] = check_int(a["num_views"], "num_views", 1, max_views)
    a["perturb_fraction"] = check_float(
        a["perturb_fraction"], "perturb_fraction", 0, 1, include_low=False
    )
    for flag in ("from_logits", "stop_gradient_clean"):
        a[flag] = check_bool(a[flag], flag)
    aliases = output_aliases(model)
    a["stability_outputs"] = check_stability_outputs(a["stability_outputs"], aliases)
    loss = a["stability_loss"]
    loss_fn = stability_losses.get(loss, from_logits=a["from_logits"])
    check_from_logits(loss, loss_fn, a["from_logits"], a["signal_annealing"])
    outputs = keras.tree.flatten(model.outputs)
    check_outputs_fit_loss(
        loss,
        loss_fn,
        [
            (names[0], output)
            for names, output in zip(aliases, outputs, strict=True)
            if covers(a["stability_outputs"], names)
        ],
    )
    (
        a["confidence_threshold"],
        a["sharpen_temperature"],
        a["annealing_steps"],
    ) = check_consistency_options(
        loss,
        loss_fn,
        outputs,
        a["confidence_threshold"],
        a["sharpen_temperature"],
        a["signal_annealing"],
        a["annealing_steps"],
    )
    if a["perturbation"] is None:
        a["perturbation"] = default_perturbation(smallest_image_shape(model.inputs))
    inputs = keras.tree.flatten(model.inputs)
    for tensor in inputs:
        check_fits(a["perturbation"], tensor.shape)
    if needs_objective(a["perturbation"]) and len(inputs) > 1:
        raise ValueError(
            "An `Adversarial` perturbation attacks a model with one input; "
            f"this one has {len(inputs)}. Received: perturbation={a['perturbation']!r}"
        )
    return a, loss_fn


def split_batch(x):
    """`(x, x', labeled)` of a batch's inputs; the last two may be None.

    `x'` comes from `perturbations.with_perturbed_copy`, `labeled` (a bool
    per row) from `data.with_unlabeled`.
    """
    x, labeled = split_labeled(x)
    x, perturbed = split_perturbed_copy(x)
    return x, perturbed, labeled


def smallest_image_shape(inputs):
    """The shape of the model input with the fewest pixels, for the default.

    None where no input holds images: the default's own check then says so.
    """
    shapes = [tuple(t.shape[1:]) for t in keras.tree.flatten(inputs)]
    images = [s for s in shapes if len(s) == 3]
    if not images:
        return None
    return min(images, key=lambda s: (s[0] or 0) * (s[1] or 0))


def check_stability_outputs(stability_outputs, output_aliases):
    """`stability_outputs` as a list of output names, or None for all outputs.

    Args:
        stability_outputs: a name, a list of names or None.
        output_aliases: for each output, the names it answers to.
    """
    if stability_outputs is None:
        return None
    if isinstance(stability_outputs, str):
        stability_outputs = [stability_outputs]
    try:
        stability_outputs = list(stability_outputs)
    except TypeError:
        raise ValueError(
            "`stability_outputs` must be the name of an output or a list of "
            f"names. Received: stability_outputs={stability_outputs!r}"
        ) from None
    known = [alias for aliases in output_aliases for alias in aliases]
    unknown = [name for name in stability_outputs if name not in known]
    if unknown or not stability_outputs:
        raise ValueError(
            f"`stability_outputs` must name outputs of the model, one of {known}. "
            f"Received: stability_outputs={stability_outputs!r}"
        )
    return stability_outputs


def check_from_logits(stability_loss, loss_fn, from_logits, signal_annealing=None):
    """`from_logits=True` only where something reads it.

    A distribution loss given by name reads it, and so does
    `signal_annealing` (the output it reads may hold logits whatever the
    loss).
    """
    if (
        from_logits
        and signal_annealing is None
        and not (
            isinstance(stability_loss, str)
            and stability_losses.is_distribution_loss(loss_fn)
        )
    ):
        raise ValueError(
            "`from_logits=True` applies only to stability_loss 'kl', "
            "'cross_entropy' or 'jsd' given by name (a loss object or "
            "callable takes its own `from_logits`) and to "
            "`signal_annealing`. Received: "
            f"stability_loss={stability_loss!r}, from_logits=True"
        )


def check_consistency_options(
    stability_loss,
    loss_fn,
    outputs,
    confidence_threshold,
    sharpen_temperature,
    signal_annealing,
    annealing_steps,
):
    """UDA's options, checked against the loss and the model's outputs.

    Returns:
        `(confidence_threshold, sharpen_temperature, annealing_steps)` as
        floats and an int (or None).
    """
    if confidence_threshold is not None:
        confidence_threshold = check_float(
            confidence_threshold, "confidence_threshold", 0, 1, include_high=False
        )
    if sharpen_temperature is not None:
        sharpen_temperature = check_float(
            sharpen_temperature, "sharpen_temperature", 0, math.inf, False, False
        )
    uses = [
        f"{name}={value!r}"
        for name, value in (
            ("confidence_threshold", confidence_threshold),
            ("sharpen_temperature", sharpen_temperature),
        )
        if value is not None
    ]
    if uses and not stability_losses.is_distribution_loss(loss_fn):
        raise ValueError(
            f"{', '.join(uses)} read the clean output as a class distribution: "
            "they need stability_loss 'kl', 'cross_entropy' or 'jsd'. "
            f"Received: stability_loss={stability_loss!r}"
        )
    if signal_annealing is None:
        if annealing_steps is not None:
            raise ValueError(
                "`annealing_steps` is the length of `signal_annealing`, which "
                f"is None. Received: annealing_steps={annealing_steps!r}"
            )
        return confidence_threshold, sharpen_temperature, None
    check_choice("signal_annealing", signal_annealing, ANNEALING_SCHEDULES)
    annealing_steps = check_int(annealing_steps, "annealing_steps", 1)
    shapes = [tuple(output.shape) for output in outputs]
    if len(shapes) != 1 or len(shapes[0]) != 2 or (shapes[0][-1] or 0) < 2:
        raise ValueError(
            "`signal_annealing` reads the probability of the true class from "
            "the model's output: it needs one output of shape (batch, "
            f"classes). Received: output shapes {shapes}"
        )
    return confidence_threshold, sharpen_temperature, annealing_steps


def check_outputs_fit_loss(stability_loss, loss_fn, named_outputs):
    """Refuses outputs a distribution loss cannot compare.

    Distribution losses need a class axis of at least two entries. Losses
    that read probabilities (`losses.reads_probabilities`) refuse an output
    made by a layer with a linear activation, which certainly holds logits:
    clipped to `[epsilon, 1]` they give no stability term. Outputs of other
    layers (a subclassed model, a custom layer) are not judged.

    Args:
        stability_loss: the `stability_loss` argument, for the messages.
        loss_fn: the loss it resolves to.
        named_outputs: `(name, symbolic output)` for each output the term
            covers.
    """
    distributions = stability_losses.is_distribution_loss(loss_fn)
    probabilities = stability_losses.reads_probabilities(loss_fn)
    for name, output in named_outputs:
        if distributions and (len(output.shape) < 2 or (output.shape[-1] or 2) < 2):
            raise ValueError(
                f"stability_loss={stability_loss!r} compares class "
                f"distributions over the last axis, but output '{name}' has "
                f"shape {tuple(output.shape)}. Use stability_loss='l2' or "
                "'squared_l2' for such outputs, or leave them out with "
                "`stability_outputs`."
            )
        layer = _linear_layer(output)
        if layer is None or not probabilities:
            continue
        if isinstance(stability_loss, str):
            fix = "Pass `from_logits=True`"
        elif isinstance(loss_fn, keras.losses.KLDivergence):
            fix = (
                "Use stability_loss='kl' with `from_logits=True` "
                "(keras.losses.KLDivergence takes no `from_logits`)"
            )
        else:
            fix = "Build the loss with `from_logits=True`"
        raise ValueError(
            f"Output '{name}' comes from layer '{layer.name}', whose activation "
            f"is linear: it holds logits, but stability_loss={stability_loss!r} "
            "reads it as probabilities clipped to [epsilon, 1], a meaningless "
            "term (zero, with no gradient, where the logits are negative). "
            f"{fix}, or end the output in a softmax. Received: from_logits=False"
        )


def _linear_layer(tensor):
    """The layer that made a symbolic `tensor` if its activation is linear.

    None for anything else, including layers without an `activation`
    attribute and nested models, whose outputs are not known to be logits.
    """
    history = getattr(tensor, "_keras_history", None)
    layer = getattr(history, "operation", None)
    if (
        isinstance(layer, keras.layers.Layer)
        and not isinstance(layer, keras.Model)
        and getattr(layer, "activation", None) is keras.activations.linear
    ):
        return layer
    return None


def check_inputs(perturbation, data, argument):
    """Refuses NaN, inf and values outside the perturbation's range.

    NumPy arrays are checked whole; a `tf.data.Dataset` or a
    `keras.utils.PyDataset` by its first batch; generators not at all (one
    look would consume them). The perturbation also checks each batch it
    receives (`Perturbation.check_images`), but not where values cannot be
    read (inside JAX's `jit`, under XLA), so the inputs are checked before
    any step.

    Args:
        perturbation: the model's perturbation.
        data: what `fit` or `evaluate` received as `argument`.
        argument: its name, for the message.
    """
    for array in _sample_inputs(data):
        if array.dtype.kind != "f":
            continue
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        if bad:
            raise ValueError(
                f"`{argument}` holds {bad} NaN or inf values out of "
                f"{array.size}: Stability Training needs finite inputs."
            )
        if not isinstance(perturbation, Perturbation) or not array.size:
            continue
        try:
            perturbation.check_images(array)
        except ValueError as error:
            raise ValueError(
                f"`{argument}` does not fit the model's perturbation: {error}"
                " The default perturbation takes it too: "
                "`perturbation=keras_stability.perturbations."
                "default_perturbation(value_range=...)`."
            ) from None


def _sample_inputs(data):
    """The input arrays `check_inputs` looks at, as NumPy arrays."""
    if data is None:
        return []
    if hasattr(data, "element_spec") and hasattr(data, "take"):
        batches = list(data.take(1))
    elif isinstance(data, keras.utils.PyDataset):
        try:
            batches = [data[0]] if data.num_batches != 0 else []
        except (IndexError, NotImplementedError):
            batches = []
    else:
        return [
            a
            for a in keras.tree.flatten(split_batch(data)[0])
            if isinstance(a, np.ndarray)
        ]
    arrays = []
    for batch in batches:
        inputs = batch[0] if isinstance(batch, tuple) else batch
        inputs = split_batch(inputs)[0]
        arrays.extend(
            np.asarray(ops.convert_to_numpy(t)) for t in keras.tree.flatten(inputs)
        )
    return arrays
