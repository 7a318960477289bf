"""Fixtures of the evaluation tests."""

import inspect


def pytest_generate_tests(metafunc):
    """`public_function`: each function in the `__all__` of the test module's
    `TESTED` module, so that every one of them is checked for an example."""
    if "public_function" not in metafunc.fixturenames:
        return
    module = metafunc.module.TESTED
    names = [n for n in module.__all__ if inspect.isfunction(getattr(module, n))]
    metafunc.parametrize(
        "public_function", [getattr(module, n) for n in names], ids=names
    )
