"""Tests of _backend.py: `input_gradient` against analytic gradients."""

import keras
import numpy as np
import pytest
from keras import ops
from keras.ops import convert_to_numpy as to_numpy

from keras_stability._backend import input_gradient

WEIGHTS = np.array([[0.5, -2.0, 3.0], [1.5, 0.25, -1.0]], "float32")
X = np.array([[0.2, -0.4, 1.1], [0.7, 0.3, -0.9]], "float32")


def _objective(x):
    # sum_ij w_ij x_ij^3 + sum_i (sum_j x_ij)^2
    return ops.sum(ops.multiply(WEIGHTS, x**3)) + ops.sum(ops.sum(x, axis=1) ** 2)


def _expected():
    return 3 * WEIGHTS * X**2 + 2 * X.sum(axis=1, keepdims=True)


def test_input_gradient_is_the_analytic_gradient():
    gradient = to_numpy(input_gradient(_objective, ops.convert_to_tensor(X)))
    np.testing.assert_allclose(gradient, _expected(), rtol=1e-6)


def test_input_gradient_of_a_function_not_using_x_is_zero():
    constant = ops.convert_to_tensor(np.float32(3.0))
    gradient = to_numpy(
        input_gradient(lambda x: ops.add(ops.sum(x * 0.0), constant), X)
    )
    np.testing.assert_array_equal(gradient, np.zeros_like(X))
    unused = to_numpy(input_gradient(lambda x: constant, ops.convert_to_tensor(X)))
    np.testing.assert_array_equal(unused, np.zeros_like(X))


def test_input_gradient_compiled():
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        compile_ = lambda f: tf.function(f, jit_compile=True)  # noqa: E731
    elif backend == "jax":
        import jax

        compile_ = jax.jit
    else:
        pytest.skip(f"no XLA compilation on the {backend} backend")
    compiled = compile_(lambda x: input_gradient(_objective, x))
    gradient = to_numpy(compiled(ops.convert_to_tensor(X)))
    np.testing.assert_allclose(gradient, _expected(), rtol=1e-6)


def test_input_gradient_in_a_tf_function_graph():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.function is TensorFlow's")
    import tensorflow as tf

    gradient = tf.function(lambda x: input_gradient(_objective, x))(X)
    np.testing.assert_allclose(gradient.numpy(), _expected(), rtol=1e-6)


def test_input_gradient_under_torch_no_grad():
    if keras.backend.backend() != "torch":
        pytest.skip("torch.no_grad is PyTorch's")
    import torch

    with torch.no_grad():
        gradient = input_gradient(_objective, ops.convert_to_tensor(X))
    assert not gradient.requires_grad
    np.testing.assert_allclose(to_numpy(gradient), _expected(), rtol=1e-6)


def test_no_gradient_flows_out_of_the_result(value_and_gradient):
    # d/dx of sum(input_gradient(f, x)) would be sum of f's second
    # derivatives; the result is cut from the graph, so it is zero.
    value, gradient = value_and_gradient(
        lambda x: ops.sum(input_gradient(_objective, x)) + ops.sum(x), X
    )
    np.testing.assert_allclose(value, _expected().sum() + X.sum(), rtol=1e-6)
    np.testing.assert_allclose(gradient, np.ones_like(X))
