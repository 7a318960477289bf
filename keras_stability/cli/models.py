"""Loading the model a command runs, and the checks of what it takes.

A `.keras` file (safe mode unless `--unsafe`), a SavedModel folder (its
`serve` endpoint, TensorFlow only) or an `.onnx` file (`serving.load_onnx`);
errors are `CommandError`s, printed as one line.
"""

import os

import keras
import numpy as np

from keras_stability import serving
from keras_stability._backend import require_tensorflow

__all__ = [
    "CommandError",
    "SavedModelClassifier",
    "check_output_folder",
    "first_layer",
    "image_input",
    "load_model",
    "one_line",
    "model_value_range",
]


class CommandError(Exception):
    """A user error: printed as one line, exit status 2."""


class SavedModelClassifier:
    """Adapts a SavedModel's `serve` endpoint to `predict_on_batch`."""

    def __init__(self, path):
        try:
            tf = require_tensorflow("Evaluating a SavedModel")
        except RuntimeError as error:
            raise CommandError(
                f"{error} A .keras file loads on every backend."
            ) from None
        try:
            self._loaded = tf.saved_model.load(path)
        except Exception as error:  # A corrupt folder: any of TensorFlow's errors.
            raise CommandError(
                f"Could not load the SavedModel {path}: {one_line(error)}"
            ) from error
        if not hasattr(self._loaded, "serve"):
            raise CommandError(f"{path} is a SavedModel without a `serve` endpoint.")
        self._tf = tf
        spec = self._loaded.serve.input_signature
        self.input_shape = tuple(spec[0].shape) if spec else None

    def predict_on_batch(self, x):
        return self._loaded.serve(self._tf.constant(x)).numpy()


def load_model(path, unsafe):
    if not os.path.exists(path):
        raise CommandError(f"Model file not found: {path}")
    if os.path.isdir(path):
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise CommandError(f"{path} is a folder but not a SavedModel.")
        return SavedModelClassifier(path)
    if path.endswith(".onnx"):
        try:
            return serving.load_onnx(path)
        except (ImportError, ValueError) as error:
            raise CommandError(one_line(error)) from error
    if not path.endswith(".keras"):
        raise CommandError(
            f"Expected a .keras file, a SavedModel folder or an .onnx file: {path}"
        )
    try:
        return keras.saving.load_model(path, safe_mode=not unsafe)
    except ValueError as error:
        if "safe_mode" in str(error) or "Lambda" in str(error):
            raise CommandError(
                f"Refused to load {path} in safe mode: it stores code (e.g. a "
                "Lambda layer). Pass --unsafe only if you trust the file."
            ) from error
        raise CommandError(load_error(path, error)) from error
    except Exception as error:  # Not a zip, a truncated file, a missing class...
        raise CommandError(load_error(path, error)) from error


def load_error(path, error):
    # Keras reads a file it cannot open as a zip as a missing file
    # ("File not found"), so the path is said to exist.
    return (
        f"Could not load the model {path} (the file exists but Keras cannot "
        f"read it): {one_line(error)}"
    )


def one_line(error):
    """An exception as `Type: message`, its lines joined."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def check_output_folder(path):
    """Refuses an `--output` that cannot become a folder, before any work."""
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        where = "" if existing == os.path.abspath(path) else f" ({existing})"
        raise CommandError(f"--output must be a folder, but {path}{where} is a file.")
    if not os.access(existing, os.W_OK):
        raise CommandError(f"--output {path}: cannot write in {existing}.")


def image_input(model, image_size=None, size_flag=False):
    """`(height, width, channels)` of the images `model` takes.

    `image_size` (`--image-size`, where `size_flag` says the command has it)
    sizes a model that leaves its size open, and must agree with one that
    fixes it.
    """
    shape = tuple(model.input_shape) if model.input_shape else None
    hint = "; pass --image-size H W" if size_flag else ""
    if not shape or len(shape) != 4:
        raise CommandError(
            "The model must take images of a fixed size (batch, height, width, "
            f"channels); its input shape is {shape}."
        )
    if shape[3] not in (1, 3):
        raise CommandError(
            f"The model takes {shape[3]} channels; images have 1 (grayscale) or 3 (RGB)."
        )
    size = tuple(shape[1:3])
    if image_size is not None:
        if any(
            s is not None and s != given
            for s, given in zip(size, image_size, strict=True)
        ):
            raise CommandError(
                f"--image-size {image_size[0]} {image_size[1]}: the model takes "
                f"images of {size[0]} x {size[1]}."
            )
        size = tuple(image_size)
    if None in size:
        raise CommandError(
            "The model must take images of a fixed size (batch, height, width, "
            f"channels); its input shape is {shape}{hint}."
        )
    return (*size, shape[3])


def model_value_range(given, model):
    """`--value-range` as a pair, refusing what cannot be the model's range.

    Without the flag the images are in [0, 1]; a `.keras` model that begins
    by rescaling with 1/255 takes 0..255 images, and would silently see
    almost black ones, so it needs the flag.
    """
    if given is not None:
        low, high = given
        if not (low < high and all(abs(v) < 3e38 for v in given)):
            raise CommandError(
                f"--value-range needs LOW < HIGH, both finite; got {low:g} {high:g}."
            )
        return (low, high)
    first = first_layer(model)
    if first is not None and type(first).__name__ == "Rescaling":
        scales = np.ravel(np.asarray(first.scale, "float64"))
        if scales.size and np.allclose(scales, 1 / 255):
            raise CommandError(
                f"The model's first layer ({first.name}) rescales by 1/255, so "
                "it takes images in 0..255, not the [0, 1] this command loads "
                "by default: pass --value-range 0 255."
            )
    return (0.0, 1.0)


def first_layer(model):
    """The first layer after the inputs of a Keras model, else None."""
    for layer in getattr(model, "layers", []):
        if type(layer).__name__ != "InputLayer":
            return layer
    return None
