"""Shared fixtures: quiet TensorFlow, fixed seeds, docstring examples."""

import doctest
import os
import re
import sys
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fixed_seeds():
    """Every test starts from the same NumPy, Python and backend seeds."""
    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def run_example():
    """Runs the `Example:` of an object's docstring and fails if it fails.

    The example is either one ```python block, run as a script, or `>>>`
    lines, run by `doctest` in the namespace of the object's module against
    the outputs written under them.
    """

    def run(obj):
        doc = obj.__doc__ or ""
        name = getattr(obj, "__qualname__", repr(obj))
        assert "Example:" in doc, f"{name} has no Example section"
        blocks = re.findall(r"```python\n(.*?)```", doc, re.S)
        if blocks:
            assert len(blocks) == 1, f"{name} has {len(blocks)} python blocks"
            exec(textwrap.dedent(blocks[0]), {})
            return
        # As `doctest.testmod` does: the names of the defining module.
        module = sys.modules[getattr(obj, "__module__", "builtins")]
        globs = dict(vars(module))
        test = doctest.DocTestParser().get_doctest(doc, globs, name, None, 0)
        assert test.examples, f"{name} has neither a python block nor >>> lines"
        report = []
        runner = doctest.DocTestRunner(
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        )
        result = runner.run(test, out=report.append)
        assert result.failed == 0, "".join(report)

    return run


def pytest_collection_modifyitems(config, items):
    """On JAX or PyTorch, the tests marked `tensorflow` are skipped."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"needs the TensorFlow backend, not {backend}")
    for item in items:
        if "tensorflow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def value_and_gradient():
    """`fn(x)`, a scalar, and its gradient with respect to `x`, on any backend."""

    def evaluate(fn, x):
        x = np.asarray(x)
        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            variable = tf.Variable(x)
            with tf.GradientTape() as tape:
                value = fn(variable)
            return float(value), tape.gradient(value, variable).numpy()
        if backend == "jax":
            import jax

            value, gradient = jax.value_and_grad(fn)(jax.numpy.asarray(x))
            return float(value), np.asarray(gradient)
        import torch

        tensor = torch.tensor(x, requires_grad=True)
        value = fn(tensor)
        value.backward()
        return float(value.detach()), tensor.grad.numpy()

    return evaluate
