"""The one place that knows which Keras backend is active.

Most of the library is written with `keras.ops` and runs on every backend.
The few pieces that need TensorFlow (libjpeg through `tf.image`, SavedModel
export, `tf.distribute` scaling) ask for it here, so that
`import keras_stability` never imports TensorFlow on another backend. The
gradient with respect to an input (`input_gradient`), which `keras.ops` has
no op for, is here too: each backend differentiates its own way.
"""

import keras

__all__ = [
    "assert_in_graph",
    "input_gradient",
    "is_concrete",
    "is_tensorflow",
    "replica_id",
    "require_tensorflow",
    "scale_for_replicas",
    "unscale_for_replicas",
]


def is_tensorflow():
    """Whether the active Keras backend is TensorFlow."""
    return keras.backend.backend() == "tensorflow"


def require_tensorflow(feature):
    """Returns the `tensorflow` module, or raises naming `feature`.

    Args:
        feature: What the caller wants to do, e.g. `"JpegCompression(method='libjpeg')"`.

    Returns:
        The imported `tensorflow` module.

    Raises:
        RuntimeError: if the Keras backend is not TensorFlow.
    """
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise RuntimeError(
            f"{feature} needs the TensorFlow backend, but the Keras backend is "
            f"'{backend}'. Set KERAS_BACKEND=tensorflow before importing keras."
        )
    import tensorflow as tf

    return tf


def is_concrete(x):
    """Whether `x` holds values now: not a Keras input, a graph or a traced tensor.

    NumPy arrays, eager TensorFlow tensors, JAX arrays outside `jit` and
    PyTorch tensors are concrete; `keras.Input` tensors, tensors inside a
    `tf.function` or `tf.data` map, and JAX tracers are not.
    """
    if isinstance(x, keras.KerasTensor):
        return False
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.executing_eagerly() and not tf.is_symbolic_tensor(x)
    if backend == "jax":
        import jax

        return not isinstance(x, jax.core.Tracer)
    return True


def assert_in_graph(condition, message):
    """A TensorFlow graph assertion that `condition` holds, or None elsewhere.

    Inside a `tf.function` or `tf.data` map a check on values can only run
    as an op; XLA drops it, and JAX's `jit` has no such op at all, so
    callers check values where they are concrete and use this as a second
    line on TensorFlow graphs.

    Returns:
        The assertion op, for `tf.control_dependencies`, or None on other
        backends.
    """
    if not is_tensorflow():
        return None
    import tensorflow as tf

    return tf.debugging.Assert(condition, [message])


def _num_replicas():
    if not is_tensorflow():
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def replica_id():
    """This replica's index under `tf.distribute` (0 elsewhere), maybe a tensor."""
    if not is_tensorflow():
        return 0
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    return 0 if context is None else context.replica_id_in_sync_group


def scale_for_replicas(value):
    """Divides `value` by the number of `tf.distribute` replicas in sync."""
    replicas = _num_replicas()
    if replicas > 1:
        value = keras.ops.multiply(value, keras.ops.cast(1.0 / replicas, value.dtype))
    return value


def unscale_for_replicas(value):
    """Undoes `scale_for_replicas`, to report a loss that was scaled for it."""
    replicas = _num_replicas()
    if replicas > 1:
        value = keras.ops.multiply(value, keras.ops.cast(replicas, value.dtype))
    return value


def input_gradient(fn, x):
    """The gradient of the scalar `fn(x)` with respect to the tensor `x`.

    Works eagerly, inside `tf.function` (also with `jit_compile=True`) and
    `jax.jit`, and inside `torch.no_grad()` (as in `evaluate`): on PyTorch
    it differentiates a detached copy of `x` under `torch.enable_grad()`.
    No gradient flows back out of the result to `x` or to what `fn` closes
    over; the caller differentiates nothing through it.

    Args:
        fn: a callable taking a tensor shaped like `x` and returning a
            scalar float tensor.
        x: a float tensor.

    Returns:
        A tensor shaped like `x`: zeros where `fn` does not depend on `x`.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = fn(x)
        gradient = tape.gradient(
            value, x, unconnected_gradients=tf.UnconnectedGradients.ZERO
        )
        return tf.stop_gradient(gradient)
    if backend == "jax":
        import jax

        return jax.lax.stop_gradient(jax.grad(fn)(x))
    if backend == "torch":
        import torch

        with torch.enable_grad():
            leaf = torch.as_tensor(x).detach().requires_grad_(True)
            value = fn(leaf)
            if not value.requires_grad:
                return torch.zeros_like(leaf)
            (gradient,) = torch.autograd.grad(value, leaf, allow_unused=True)
        return torch.zeros_like(leaf) if gradient is None else gradient.detach()
    raise RuntimeError(
        f"Gradients with respect to inputs are not available on the '{backend}' "
        "backend; use TensorFlow, JAX or PyTorch."
    )
