"""The plotting functions' documented examples run (the plots' contents are
checked in tests/test_near_duplicates.py and tests/test_evaluation.py)."""

import pytest

from keras_stability import plotting


@pytest.mark.parametrize("name", plotting.__all__)
def test_docstring_example_runs(name, run_example):
    pytest.importorskip("matplotlib")
    run_example(getattr(plotting, name))
