"""The one way to apply a perturbation, a Keras layer or a callable to a batch."""

import keras

from keras_stability.perturbations.base import Perturbation

__all__ = ["apply_perturbation", "check_fits", "check_perturbation"]


def check_perturbation(perturbation, name="perturbation"):
    """Returns `perturbation` if it can perturb: a layer or a callable.

    Args:
        perturbation: the value to check.
        name: how errors name the argument. Defaults to `"perturbation"`.

    Returns:
        `perturbation`, unchanged.

    Raises:
        ValueError: for a class (rather than an instance) or a value that
            cannot be called.
    """
    if not callable(perturbation) or isinstance(perturbation, type):
        raise ValueError(
            f"`{name}` must be a layer or a callable (an instance, not a "
            f"class). Received: {name}={perturbation!r}"
        )
    return perturbation


def check_fits(perturbation, shape, name="perturbation"):
    """Refuses, before any work, a perturbation that cannot apply to `shape`.

    A `Perturbation` checks what it needs in `compute_output_shape` (a crop
    smaller than the image, a thumbnail no larger, JPEG's channels); other
    layers and callables, and an unknown `shape` (`None`), pass.

    Args:
        perturbation: a `Perturbation`, any Keras layer or a callable.
        shape: the shape of the batches it will receive, or `None`.
        name: how errors name the perturbation. Defaults to
            `"perturbation"`.

    Raises:
        ValueError: naming `name` and `shape`, with the layer's reason.
    """
    check_perturbation(perturbation, name)
    if shape is None or not isinstance(perturbation, Perturbation):
        return
    try:
        perturbation.compute_output_shape(tuple(shape))
    except ValueError as error:
        raise ValueError(
            f"`{name}` cannot apply to images of shape {tuple(shape)}: {error}"
        ) from error


def apply_perturbation(perturbation, inputs, seed=None, name="perturbation"):
    """Applies a perturbation, a Keras layer or a callable to a batch.

    The one way this library perturbs: the training step, the `tf.data`
    copies, the combinations and the evaluation all call it. A
    `Perturbation` is applied to every tensor of `inputs` (a tensor or a
    structure of them) with `seed`; another Keras layer is called on
    `inputs` with `training=True`; a callable is called on `inputs`.

    Args:
        perturbation: a `Perturbation`, any Keras layer or a callable.
        inputs: a batch, or a structure (dict, list) of batches.
        seed: a `keras.random.SeedGenerator` (including a `StepSeed`) that a
            `Perturbation` draws from instead of its own generator; ignored
            for other layers and callables. Defaults to `None`.
        name: how errors name the perturbation. Defaults to
            `"perturbation"`.

    Returns:
        The perturbed copy, the same structure and shapes as `inputs`.

    Raises:
        ValueError: if the copy is not tensors of the inputs' shapes.

    Example:

    ```python
    import numpy as np
    from keras_stability.perturbations import GaussianNoise
    from keras_stability.perturbations import apply_perturbation

    images = np.full((2, 4, 4, 1), 0.5, "float32")
    noisy = apply_perturbation(GaussianNoise(0.1, seed=0), images)
    flipped = apply_perturbation(lambda x: x[:, ::-1], images)
    assert noisy.shape == flipped.shape == images.shape
    ```
    """
    if isinstance(perturbation, Perturbation):
        perturbed = keras.tree.map_structure(
            lambda t: perturbation(t, training=True, seed=seed), inputs
        )
    elif isinstance(perturbation, keras.layers.Layer):
        perturbed = perturbation(inputs, training=True)
    else:
        perturbed = check_perturbation(perturbation, name)(inputs)
    clean = keras.tree.flatten(inputs)
    copies = keras.tree.flatten(perturbed)
    if hasattr(inputs, "shape") and not hasattr(perturbed, "shape"):
        copies = [perturbed]
    if not all(hasattr(t, "shape") for t in copies):
        kinds = ", ".join(type(t).__name__ for t in copies)
        raise ValueError(
            f"`{name}` must return tensors or arrays of images; it returned "
            f"{kinds}. Received: {name}={perturbation!r}"
        )
    clean_shapes = [tuple(t.shape) for t in clean]
    copy_shapes = [tuple(t.shape) for t in copies]
    if clean_shapes != copy_shapes:
        raise ValueError(
            f"`{name}` must keep the inputs' shapes: it turned {clean_shapes} "
            f"into {copy_shapes}. Received: {name}={perturbation!r}"
        )
    return perturbed
