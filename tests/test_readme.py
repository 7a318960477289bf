"""The README's quick start runs as written."""

import importlib
import pathlib
import re

import keras
import numpy as np
import pytest

from keras_stability import StabilityModel
from keras_stability.model import DEFAULT_ALPHA

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _quick_start_code():
    text = README.read_text()
    section = text.split("## Quick start", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.tensorflow  # the quick start exports a SavedModel
def test_quick_start_runs(tmp_path, monkeypatch):
    code = _quick_start_code()
    assert len(code.strip().splitlines()) <= 16
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README quick start", "exec"), namespace)
    model = namespace["model"]
    assert model.history.history["stability_loss"][-1] > 0
    loaded = keras.saving.load_model(tmp_path / "stable.keras")
    assert (
        isinstance(loaded, StabilityModel)
        and loaded.alpha == model.alpha == DEFAULT_ALPHA
    )
    x = namespace["x_train"][:4]
    np.testing.assert_array_equal(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0)
    )
    assert (tmp_path / "stable_savedmodel" / "saved_model.pb").exists()


def _resolve(dotted):
    """The object `dotted` names: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            obj = getattr(obj, attribute)
        return obj
    raise ImportError(dotted)


def test_every_name_the_readme_gives_imports_from_there():
    names = set(
        re.findall(r"`(keras_stability(?:\.[A-Za-z_]\w*)+)", README.read_text())
    )
    # Module files named in the layout table are paths, not names.
    names = {name for name in names if not name.endswith(".py")}
    assert len(names) > 10
    missing = []
    for name in sorted(names):
        try:
            _resolve(name)
        except (ImportError, AttributeError):
            missing.append(name)
    assert missing == []
