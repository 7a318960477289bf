"""Serving a trained model outside Keras: an ONNX file through onnxruntime.

Keras exports a `StabilityModel` itself, as any functional model:
`model.export(path, format="onnx")` writes the plain forward pass, without
any perturbation. It needs the backend's converter (`tf2onnx` on
TensorFlow, `jax2onnx` on JAX, `onnxscript` on PyTorch) and a model that
was called once (on JAX, `predict` is not a call). `load_onnx` reads such a
file back with onnxruntime as the little of a Keras model that the
evaluation needs (`predict_on_batch`, `predict`, `input_shape`), so that
`evaluation.robustness_report` and `keras-stability evaluate` measure the
very file that will be served.
"""

import os

import keras
import numpy as np

from keras_stability._checks import check_int

__all__ = ["OnnxModel", "load_onnx"]


class OnnxModel:
    """An ONNX classifier or embedding model, run by onnxruntime.

    Args:
        session: an `onnxruntime.InferenceSession` with one input.

    Attributes:
        input_shape: the input's shape, `None` for a dynamic dimension.
        output_names: the names of the outputs, in the file's order.
    """

    def __init__(self, session):
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(
                "An OnnxModel takes models with one input; this one has "
                f"{len(inputs)}: {[i.name for i in inputs]}."
            )
        self._session = session
        self._input_name = inputs[0].name
        self.input_shape = tuple(
            d if isinstance(d, int) else None for d in inputs[0].shape
        )
        self.output_names = [o.name for o in session.get_outputs()]

    def predict_on_batch(self, x):
        """The outputs on one batch: an array, or a list for several outputs."""
        outputs = self._session.run(
            None, {self._input_name: np.asarray(x, dtype="float32")}
        )
        return outputs[0] if len(outputs) == 1 else outputs

    def predict(self, x, batch_size=32, verbose=0):
        """The outputs on `x`, `batch_size` rows at a time, as `keras.Model.predict`.

        Args:
            x: an array of inputs.
            batch_size: rows per run, an int >= 1. Defaults to 32.
            verbose: 0 (silent) or 1 (a progress bar). Defaults to 0.
        """
        check_int(batch_size, "batch_size", 1)
        x = np.asarray(x, dtype="float32")
        bar = keras.utils.Progbar(len(x)) if verbose else None
        parts = []
        for start in range(0, len(x), batch_size):
            parts.append(self.predict_on_batch(x[start : start + batch_size]))
            if bar is not None:
                bar.update(min(start + batch_size, len(x)))
        if parts and isinstance(parts[0], list):
            return [np.concatenate(column) for column in zip(*parts, strict=True)]
        return np.concatenate(parts) if parts else np.zeros((0,), "float32")


def load_onnx(path):
    """Loads an `.onnx` file for inference and evaluation.

    Args:
        path: a file written by `model.export(path, format="onnx")` (or any
            ONNX model with one float32 input).

    Returns:
        An `OnnxModel`.

    Raises:
        ImportError: if onnxruntime is not installed (the `onnx` extra).
        ValueError: if `path` is not a file or not a model onnxruntime reads.

    Example:

    ```python
    import tempfile
    import keras
    import numpy as np
    from keras_stability import StabilityModel
    from keras_stability.serving import load_onnx

    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(2, activation="softmax")(
        keras.layers.Flatten()(inputs))
    model = StabilityModel(inputs, outputs, seed=0)
    x = np.random.default_rng(0).random((4, 8, 8, 3), "float32")
    expected = model.predict(x, verbose=0)  # also builds it for export
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/model.onnx"
        model.export(path, format="onnx", verbose=False)
        served = load_onnx(path).predict(x)
    np.testing.assert_allclose(served, expected, atol=1e-6)
    ```
    """
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError(
            "Loading an ONNX model needs onnxruntime: "
            "`pip install keras-stability[onnx]` (or `pip install onnxruntime`)."
        ) from error
    if not os.path.isfile(path):
        raise ValueError(f"`path` must be an ONNX file. Received: path={path!r}")
    try:
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own error classes.
        raise ValueError(
            f"onnxruntime could not read {path!r}: {' '.join(str(error).split())}"
        ) from error
    return OnnxModel(session)
