"""Tests for demo.py's seed summary: the mean and spread it writes.

`keras-stability demo --quick` (tests/test_cli.py) runs one seed, so its
spreads are all 0.0; here the mean and spread over several runs are checked
against values worked out by hand, and through `evaluation.write_csv` as the
demo writes them.
"""

import csv
import math
import re

import numpy as np
import pytest

from keras_stability import demo
from keras_stability import evaluation


def test_mean_and_spread_of_two_runs():
    mean, spread = demo.mean_and_spread([{"a": 1.0}, {"a": 3.0}])
    # Population standard deviation: sqrt(((1 - 2)^2 + (3 - 2)^2) / 2) = 1
    # (the sample one would be sqrt(2)).
    assert mean == {"a": 2.0}
    assert spread == {"a": pytest.approx(1.0)}


def test_mean_and_spread_per_key_over_three_runs():
    runs = [
        {"num_images": 200, "clean/top1": 1.0, "jpeg@10/flip_rate": 0.2},
        {"num_images": 200, "clean/top1": 2.0, "jpeg@10/flip_rate": 0.2},
        {"num_images": 200, "clean/top1": 6.0, "jpeg@10/flip_rate": 0.5},
    ]
    mean, spread = demo.mean_and_spread(runs)
    assert list(mean) == list(spread) == list(runs[0])
    # clean/top1: mean 3, deviations -2, -1, 3, squares summing to 14.
    # jpeg@10/flip_rate: mean 0.3, deviations -0.1, -0.1, 0.2, squares
    # summing to 0.06. A constant entry has no spread.
    assert mean == {
        "num_images": 200.0,
        "clean/top1": pytest.approx(3.0),
        "jpeg@10/flip_rate": pytest.approx(0.3),
    }
    assert spread == {
        "num_images": 0.0,
        "clean/top1": pytest.approx(math.sqrt(14 / 3)),
        "jpeg@10/flip_rate": pytest.approx(math.sqrt(0.06 / 3)),
    }
    # Python floats, for report.json.
    for value in [*mean.values(), *spread.values()]:
        assert type(value) is float


def test_mean_and_spread_of_one_run_is_the_run():
    run = {"num_images": 50, "clean/top1": 0.9, "noise@0.1/kl": 0.25}
    mean, spread = demo.mean_and_spread([run])
    assert mean == {"num_images": 50.0, "clean/top1": 0.9, "noise@0.1/kl": 0.25}
    assert spread == {"num_images": 0.0, "clean/top1": 0.0, "noise@0.1/kl": 0.0}


def _read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], {
        (model, condition, metric): (float(value), float(std))
        for model, condition, metric, value, std in rows[1:]
    }


def test_write_csv_writes_the_given_spreads(tmp_path):
    reports = {
        "baseline": {"num_images": 20, "clean/top1": 0.8, "jpeg@10/flip_rate": 0.25},
        "stability": {"num_images": 20, "clean/top1": 0.9, "jpeg@10/flip_rate": 0.1},
    }
    spreads = {
        "baseline": {"num_images": 0.0, "clean/top1": 0.03, "jpeg@10/flip_rate": 0.05},
        "stability": {
            "num_images": 0.0,
            "clean/top1": 0.02,
            "jpeg@10/flip_rate": 0.125,
        },
    }
    path = tmp_path / "report.csv"
    evaluation.write_csv(reports, str(path), spreads=spreads)
    header, rows = _read_csv(path)
    assert header == ["model", "condition", "metric", "value", "std"]
    assert rows == {
        ("baseline", "clean", "top1"): (0.8, 0.03),
        ("baseline", "jpeg@10", "flip_rate"): (0.25, 0.05),
        ("stability", "clean", "top1"): (0.9, 0.02),
        ("stability", "jpeg@10", "flip_rate"): (0.1, 0.125),
    }


def test_demo_summary_of_seeds_reaches_the_csv(tmp_path):
    # As `run_demo` does: mean and spread per model, then one CSV.
    per_kind = {
        "baseline": [
            {"num_images": 10, "clean/top1": 0.7, "jpeg@10/flip_rate": 0.3},
            {"num_images": 10, "clean/top1": 0.9, "jpeg@10/flip_rate": 0.1},
        ],
        "stability": [
            {"num_images": 10, "clean/top1": 0.8, "jpeg@10/flip_rate": 0.0},
            {"num_images": 10, "clean/top1": 0.8, "jpeg@10/flip_rate": 0.1},
        ],
    }
    models, spreads = {}, {}
    for kind, reports in per_kind.items():
        models[kind], spreads[kind] = demo.mean_and_spread(reports)
    path = tmp_path / "report.csv"
    evaluation.write_csv(models, str(path), spreads=spreads)
    _, rows = _read_csv(path)
    # Two runs a and b: mean (a + b) / 2, spread |a - b| / 2.
    expected = {
        ("baseline", "clean", "top1"): (0.8, 0.1),
        ("baseline", "jpeg@10", "flip_rate"): (0.2, 0.1),
        ("stability", "clean", "top1"): (0.8, 0.0),
        ("stability", "jpeg@10", "flip_rate"): (0.05, 0.05),
    }
    assert set(rows) == set(expected)
    for key, (value, std) in expected.items():
        assert rows[key] == (pytest.approx(value), pytest.approx(std, abs=1e-12))


@pytest.mark.parametrize(
    "call, received",
    [
        (lambda: demo.run_demo(epochs=0, verbose=0), "epochs=0"),
        (lambda: demo.run_demo(epochs=True, verbose=0), "epochs=True"),
        (lambda: demo.run_demo(seeds=True, verbose=0), "seeds=True"),
        (lambda: demo.run_demo(quick=True, seeds=1.5, verbose=0), "seeds=1.5"),
    ],
)
def test_demo_refuses_bad_counts_before_any_work(call, received):
    with pytest.raises(ValueError, match=rf"Received: {re.escape(received)}$"):
        call()


def test_train_model_refuses_an_unknown_kind():
    images = np.zeros((4, 8, 8, 1), "float32")
    with pytest.raises(ValueError, match=r"`kind` .*Received: kind='dropout'$"):
        demo.train_model("dropout", images, np.zeros(4, "int64"), epochs=1, seed=0)
