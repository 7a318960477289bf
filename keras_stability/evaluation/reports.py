"""Reading and writing robustness reports: summaries, tables, files.

A report is the flat dict of `robustness_report`, with keys
`condition/metric` and `num_images`.
"""

import collections.abc
import csv
import json
import os
import reprlib

import numpy as np

from keras_stability.evaluation.families import severity_table
from keras_stability.evaluation.families import strongest_first
from keras_stability.evaluation.plots import plot_robustness

__all__ = ["format_report", "mean_strongest_flip_rate", "write_csv", "write_report"]


def mean_strongest_flip_rate(report):
    """Flip rate at each family's strongest severity, averaged over families.

    The strongest severity is the lowest JPEG quality or thumbnail scale and
    the largest crop offset or noise stddev (and, for other families, the
    largest severity).

    Formula:

    ```
    mean_strongest_flip_rate = mean_f flip_rate(f@strongest severity of f)
    ```

    Args:
        report: a report with `family@severity/flip_rate` entries.

    Returns:
        A float.

    Example:

    ```python
    from keras_stability.evaluation import mean_strongest_flip_rate

    report = {"jpeg@10/flip_rate": 0.4, "jpeg@90/flip_rate": 0.0,
              "noise@0.02/flip_rate": 0.1, "noise@0.08/flip_rate": 0.2}
    assert abs(mean_strongest_flip_rate(report) - 0.3) < 1e-12
    ```
    """
    flips = []
    for family, metrics in severity_table(report).items():
        pairs = metrics.get("flip_rate")
        if pairs:
            flips.append(strongest_first(family, pairs)[0][1])
    if not flips:
        raise ValueError(
            "The report has no `family@severity/flip_rate` entries with a "
            "numeric severity."
        )
    return float(np.mean(flips))


def format_report(reports, metrics=("top1", "flip_rate", "kl")):
    """An aligned text table: one row per condition, columns per model.

    Args:
        reports: a report, or a dict name -> report to show side by side.
        metrics: the metrics to show. Defaults to `("top1", "flip_rate", "kl")`.

    Returns:
        The table as a string.

    Example:

    ```python
    from keras_stability.evaluation import format_report

    report = {"num_images": 4, "clean/top1": 0.75, "jpeg@10/top1": 0.5,
              "jpeg@10/flip_rate": 0.25}
    table = format_report(report, metrics=("top1", "flip_rate"))
    assert table.splitlines()[0].split() == [
        "condition", "top1:model", "flip_rate:model"
    ]
    assert table.splitlines()[3].split() == ["jpeg@10", "0.5000", "0.2500"]
    ```
    """
    if not isinstance(reports, collections.abc.Mapping):
        raise ValueError(
            "`reports` must be a report (a dict from `robustness_report`) or a "
            f"dict name -> report. Received: reports={reprlib.repr(reports)}"
        )
    if "num_images" in reports:
        reports = {"model": reports}
    for name, report in reports.items():
        if not isinstance(report, collections.abc.Mapping):
            raise ValueError(
                f"`reports[{name!r}]` must be a report (a dict from "
                "`robustness_report`); a single report must hold `num_images`. "
                f"Received: reports[{name!r}]={reprlib.repr(report)}"
            )
    if not isinstance(metrics, (list, tuple)) or not all(
        isinstance(metric, str) for metric in metrics
    ):
        raise ValueError(
            "`metrics` must be a list or tuple of metric names. "
            f"Received: metrics={metrics!r}"
        )
    conditions = []
    for report in reports.values():
        for key in report:
            if "/" in key:
                condition = key.rsplit("/", 1)[0]
                if condition not in conditions:
                    conditions.append(condition)
    columns = [(m, name) for m in metrics for name in reports]
    header = ["condition"] + [f"{m}:{name}" for m, name in columns]
    rows = [header]
    for condition in conditions:
        row = [condition]
        for metric, name in columns:
            value = reports[name].get(f"{condition}/{metric}")
            row.append("" if value is None else f"{value:.4f}")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_csv(reports, path, spreads=None):
    """Writes reports as CSV rows `model,condition,metric,value[,std]`.

    Args:
        reports: dict model name -> report.
        path: the CSV file.
        spreads: optional dict model name -> report of standard deviations
            with the same keys, written as a `std` column. Defaults to
            `None`.

    Returns:
        `path`.

    Example:

    ```python
    import csv
    import os
    import tempfile
    from keras_stability.evaluation import write_csv

    report = {"num_images": 4, "clean/top1": 0.75, "jpeg@10/flip_rate": 0.25}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "report.csv")
        write_csv({"baseline": report}, path)
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    assert rows == [
        ["model", "condition", "metric", "value"],
        ["baseline", "clean", "top1", "0.75"],
        ["baseline", "jpeg@10", "flip_rate", "0.25"],
    ]
    ```
    """
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["model", "condition", "metric", "value"] + (["std"] if spreads else [])
        )
        for name, report in reports.items():
            for key, value in report.items():
                if "/" not in key:
                    continue
                condition, metric = key.rsplit("/", 1)
                row = [name, condition, metric, value]
                if spreads:
                    row.append(spreads[name].get(key, ""))
                writer.writerow(row)
    return path


def write_report(report, output_dir, plot=True):
    """Writes `report.json`, `report.csv` and (optionally) `robustness.png`.

    Args:
        report: a report from `robustness_report`.
        output_dir: the folder, created if needed.
        plot: also plot accuracy and flip rate against severity with
            `plot_robustness` (needs matplotlib), when the report has
            conditions with a numeric severity (see `severity_table`).
            Defaults to `True`.

    Returns:
        A dict of the written paths: `json`, `csv` and, when plotted, `png`.

    Example:

    ```python
    import json
    import tempfile
    from keras_stability.evaluation import write_report

    report = {"num_images": 4, "clean/top1": 0.75, "jpeg@10/flip_rate": 0.25}
    with tempfile.TemporaryDirectory() as folder:
        paths = write_report(report, folder, plot=False)
        with open(paths["json"]) as f:
            assert json.load(f) == report
    assert sorted(paths) == ["csv", "json"]
    ```
    """
    os.makedirs(output_dir, exist_ok=True)
    paths = {
        "json": os.path.join(output_dir, "report.json"),
        "csv": os.path.join(output_dir, "report.csv"),
    }
    with open(paths["json"], "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
    write_csv({"model": report}, paths["csv"])
    if plot and severity_table(report):
        paths["png"] = plot_robustness(
            {"model": report}, os.path.join(output_dir, "robustness.png")
        )
    return paths
