"""Report summaries and files, against values worked out by hand."""

import csv
import json

import pytest

from keras_stability import evaluation
from keras_stability.evaluation import reports

TESTED = reports


def test_docstring_example_runs(public_function, run_example):
    run_example(public_function)


def test_mean_strongest_flip_rate_and_table():
    report = {
        "clean/top1": 0.9,
        "jpeg@10/flip_rate": 0.4,
        "jpeg@90/flip_rate": 0.0,
        "thumbnail@0.25/flip_rate": 0.2,
        "thumbnail@0.75/flip_rate": 0.1,
        "crop@2/flip_rate": 0.0,
        "crop@10/flip_rate": 0.3,
        "noise@0.02/flip_rate": 0.05,
        "noise@0.08/flip_rate": 0.1,
    }
    # JPEG and thumbnails at their lowest, crops and noise at their largest.
    assert evaluation.mean_strongest_flip_rate(report) == pytest.approx(
        (0.4 + 0.2 + 0.3 + 0.1) / 4
    )
    table = evaluation.format_report({"a": report, "b": report}, metrics=("flip_rate",))
    lines = table.splitlines()
    assert lines[0].split() == ["condition", "flip_rate:a", "flip_rate:b"]
    assert any(line.split() == ["jpeg@10", "0.4000", "0.4000"] for line in lines)


def test_mean_strongest_flip_rate_of_an_unknown_family_takes_its_largest():
    report = {"rotate@5/flip_rate": 0.1, "rotate@30/flip_rate": 0.6}
    assert evaluation.mean_strongest_flip_rate(report) == pytest.approx(0.6)


def test_mean_strongest_flip_rate_needs_a_severity():
    for report in (
        {"num_images": 3, "clean/top1": 1.0, "reverse/flip_rate": 0.5},
        {"num_images": 3, "rot@15deg/flip_rate": 0.5, "jpeg@10/kl": 0.1},
    ):
        with pytest.raises(ValueError, match=r"no `family@severity/flip_rate` entries"):
            evaluation.mean_strongest_flip_rate(report)


def test_format_report_leaves_missing_values_blank():
    a = {"num_images": 2, "clean/top1": 0.5, "jpeg@10/top1": 0.25}
    b = {"num_images": 2, "clean/top1": 1.0}
    lines = evaluation.format_report({"a": a, "b": b}, metrics=("top1",)).splitlines()
    assert lines[0].split() == ["condition", "top1:a", "top1:b"]
    assert set(lines[1]) == {"-", " "}
    assert lines[2].split() == ["clean", "0.5000", "1.0000"]
    assert lines[3].split() == ["jpeg@10", "0.2500"]


def test_format_report_errors():
    report = {"num_images": 4, "clean/top1": 0.75}
    cases = [
        (dict(reports=None), r"`reports`.*Received: reports=None$"),
        (
            dict(reports={"a": report, "b": 0.5}),
            r"`reports\['b'\]`.*Received: reports\['b'\]=0\.5$",
        ),
        (dict(reports=report, metrics="top1"), r"`metrics`.*Received: metrics='top1'$"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            evaluation.format_report(**kwargs)


def test_write_csv_with_spreads_adds_a_std_column(tmp_path):
    reports = {
        "a": {"num_images": 4, "clean/top1": 0.75, "jpeg@10/kl": 0.5},
        "b": {"num_images": 4, "clean/top1": 0.5},
    }
    spreads = {"a": {"clean/top1": 0.1}, "b": {"clean/top1": 0.2}}
    path = str(tmp_path / "r.csv")
    assert evaluation.write_csv(reports, path, spreads=spreads) == path
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [
        ["model", "condition", "metric", "value", "std"],
        ["a", "clean", "top1", "0.75", "0.1"],
        ["a", "jpeg@10", "kl", "0.5", ""],
        ["b", "clean", "top1", "0.5", "0.2"],
    ]


def test_write_report_plots_only_numeric_severities(tmp_path):
    report = {
        "num_images": 4,
        "clean/top1": 0.75,
        "jpeg@10/top1": 0.5,
        "jpeg@10/flip_rate": 0.25,
    }
    paths = evaluation.write_report(report, str(tmp_path / "new" / "folder"))
    assert sorted(paths) == ["csv", "json", "png"]
    with open(paths["json"]) as f:
        assert json.load(f) == report
    with open(paths["png"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    # No numeric severity: nothing to plot.
    named = evaluation.write_report(
        {"num_images": 4, "rotate/flip_rate": 0.5}, str(tmp_path / "named")
    )
    assert sorted(named) == ["csv", "json"]
