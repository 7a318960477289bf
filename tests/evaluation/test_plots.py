"""The plots: what each draws, read back from the saved figure.

Each plotting function writes a PNG and returns its path; a fixture records
the `Figure` that is saved so that the tests can compare its lines, error
bars and legend with values worked out in the test. The documented examples
are run too, through `keras_stability.plotting`, the path they document.
"""

import os
import sys

import numpy as np
import pytest

from keras_stability import evaluation
from keras_stability import plotting

pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def saved_figures(monkeypatch):
    """The figures saved while the test runs, in order."""
    from matplotlib.figure import Figure

    figures = []
    savefig = Figure.savefig

    def record(self, *args, **kwargs):
        figures.append(self)
        return savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    return figures


def _only_figure(figures, path):
    """The one saved figure, after checking the PNG exists and pyplot never
    held the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    assert len(figures) == 1
    figure = figures[0]
    # Drawn on its own Agg canvas, so a loop of plots piles up no figures.
    assert isinstance(figure.canvas, FigureCanvasAgg)
    assert all(plt.figure(number) is not figure for number in plt.get_fignums())
    with open(path, "rb") as f:
        assert f.read(8) == PNG_MAGIC
    return figure


def _titled_axes(figures, path, returned):
    """The saved figure's one axes, after checking the path and the title."""
    assert returned == path
    (ax,) = _only_figure(figures, path).axes
    assert ax.get_title() == "JPEG-50"
    return ax


def _legend_texts(ax):
    legend = ax.get_legend()
    assert legend is not None, "no legend"
    return [text.get_text() for text in legend.get_texts()]


def _xy(line):
    """A line's data as float arrays (`errorbar` keeps an object array)."""
    return (
        np.asarray(line.get_xdata(), "float64"),
        np.asarray(line.get_ydata(), "float64"),
    )


def _colour(artist):
    from matplotlib.colors import to_hex

    return to_hex(artist.get_color())


def _dotted(ax):
    return [line for line in ax.lines if line.get_linestyle() == ":"]


@pytest.mark.parametrize("name", plotting.__all__)
def test_docstring_example_runs(name, run_example):
    run_example(getattr(plotting, name))


def test_plots_leave_matplotlib_global_state_alone(tmp_path, rng):
    # The user's backend (here PDF) and pyplot's figures, current one
    # included, are as they were after each plot.
    import matplotlib
    import matplotlib.pyplot as plt

    previous = matplotlib.get_backend()
    matplotlib.use("pdf")
    try:
        mine = plt.figure()
        plotting.plot_robustness({"model": BASELINE}, str(tmp_path / "r.png"))
        plotting.plot_precision_recall(
            {"model": _result(rng, 1.0)}, str(tmp_path / "pr.png")
        )
        plotting.plot_distance_cdf({"model": rng.random(9)}, str(tmp_path / "c.png"))
        assert matplotlib.get_backend() == "pdf"
        assert plt.get_fignums() == [mine.number]
        assert plt.gcf() is mine
    finally:
        plt.close("all")
        matplotlib.use(previous)


# plot_robustness

# Keys deliberately out of severity order; `kl` and conditions without a
# numeric severity are not plotted.
BASELINE = {
    "num_images": 20,
    "clean/top1": 0.9,
    "jpeg@50/top1": 0.85,
    "jpeg@10/top1": 0.6,
    "jpeg@30/top1": 0.75,
    "jpeg@50/flip_rate": 0.05,
    "jpeg@10/flip_rate": 0.3,
    "jpeg@30/flip_rate": 0.15,
    "jpeg@10/kl": 0.2,
    "noise@0.1/top1": 0.5,
    "noise@0.02/top1": 0.8,
    "noise@0.1/flip_rate": 0.4,
    "noise@0.02/flip_rate": 0.1,
    "rotate/kl": 0.7,
}
# No noise family: nothing of this model is drawn in the noise column.
STABILITY = {
    "num_images": 20,
    "clean/top1": 0.95,
    "jpeg@10/top1": 0.9,
    "jpeg@50/top1": 0.95,
    "jpeg@10/flip_rate": 0.05,
    "jpeg@50/flip_rate": 0.0,
}
# (metric, family) -> model -> (severities, values), read off the reports.
DRAWN = {
    ("top1", "jpeg"): {
        "baseline": ([10, 30, 50], [0.6, 0.75, 0.85]),
        "stability": ([10, 50], [0.9, 0.95]),
    },
    ("top1", "noise"): {"baseline": ([0.02, 0.1], [0.8, 0.5])},
    ("flip_rate", "jpeg"): {
        "baseline": ([10, 30, 50], [0.3, 0.15, 0.05]),
        "stability": ([10, 50], [0.05, 0.0]),
    },
    ("flip_rate", "noise"): {"baseline": ([0.02, 0.1], [0.1, 0.4])},
}
YLABELS = {"top1": "top-1 accuracy", "flip_rate": "flip rate"}
XLABELS = {"jpeg": "JPEG quality (lower is stronger)", "noise": "noise stddev"}


def _robustness_axes(figure):
    """(metric, family) -> axes, checking the grid: a row a metric, a column
    a family in the order the reports first name them."""
    order = [("top1", "jpeg"), ("top1", "noise")]
    order += [("flip_rate", "jpeg"), ("flip_rate", "noise")]
    assert len(figure.axes) == len(order)
    grid = {}
    for ax, (metric, family) in zip(figure.axes, order, strict=True):
        assert ax.get_ylabel() == YLABELS[metric]
        assert ax.get_xlabel() == XLABELS[family]
        assert ax.get_title() == (family if metric == "top1" else "")
        grid[metric, family] = ax
    return grid


def _errorbars(ax):
    """model -> its ErrorbarContainer on `ax`."""
    containers = {}
    for container in ax.containers:
        assert container.get_label() not in containers
        containers[container.get_label()] = container
    return containers


def test_robustness_draws_each_models_values_against_severity(tmp_path, saved_figures):
    path = str(tmp_path / "robustness.png")
    returned = plotting.plot_robustness(
        {"baseline": BASELINE, "stability": STABILITY}, path
    )
    assert returned == path
    figure = _only_figure(saved_figures, path)
    grid = _robustness_axes(figure)
    colours = {}
    for (metric, family), ax in grid.items():
        containers = _errorbars(ax)
        assert set(containers) == set(DRAWN[metric, family]), (metric, family)
        for name, (severities, values) in DRAWN[metric, family].items():
            container = containers[name]
            line = container.lines[0]
            np.testing.assert_allclose(_xy(line), (severities, values))
            # No spreads, no error bars.
            assert not container.has_yerr
            # A model keeps its colour in every panel.
            assert colours.setdefault(name, _colour(line)) == _colour(line)
    assert colours["baseline"] != colours["stability"]
    # The legend (first panel) names the models.
    assert _legend_texts(grid["top1", "jpeg"]) == ["baseline", "stability"]
    # Clean accuracy: a dotted line of the model's colour on each accuracy
    # panel the model is drawn on, none on the flip-rate panels.
    clean = {"baseline": 0.9, "stability": 0.95}
    for (metric, family), ax in grid.items():
        dotted = {(_colour(line), line.get_ydata()[0]) for line in _dotted(ax)}
        if metric == "top1":
            drawn = DRAWN[metric, family]
            assert dotted == {(colours[name], clean[name]) for name in drawn}
        else:
            assert dotted == set()
    assert [text.get_text() for text in figure.texts] == ["dotted: clean accuracy"]


def test_robustness_error_bars_are_the_spreads(tmp_path, saved_figures):
    spreads = {
        "baseline": {
            "num_images": 0.0,
            "clean/top1": 0.01,
            "jpeg@10/top1": 0.04,
            "jpeg@50/top1": 0.02,
            "jpeg@30/top1": 0.03,
            "jpeg@10/flip_rate": 0.05,
            "jpeg@30/flip_rate": 0.06,
            "jpeg@50/flip_rate": 0.07,
            "noise@0.02/top1": 0.08,
            "noise@0.1/top1": 0.09,
            "noise@0.02/flip_rate": 0.11,
            "noise@0.1/flip_rate": 0.12,
        },
        # "stability" has no spreads: its lines have no error bars.
    }
    # model, metric, family -> the spread at each drawn severity, in order.
    errors = {
        ("top1", "jpeg"): [0.04, 0.03, 0.02],
        ("top1", "noise"): [0.08, 0.09],
        ("flip_rate", "jpeg"): [0.05, 0.06, 0.07],
        ("flip_rate", "noise"): [0.11, 0.12],
    }
    path = str(tmp_path / "robustness.png")
    plotting.plot_robustness(
        {"baseline": BASELINE, "stability": STABILITY}, path, spreads=spreads
    )
    grid = _robustness_axes(_only_figure(saved_figures, path))
    for (metric, family), ax in grid.items():
        containers = _errorbars(ax)
        severities, values = DRAWN[metric, family]["baseline"]
        baseline = containers["baseline"]
        assert baseline.has_yerr
        (bars,) = baseline.lines[2]
        expected = [
            [[s, v - e], [s, v + e]]
            for s, v, e in zip(severities, values, errors[metric, family], strict=True)
        ]
        np.testing.assert_allclose(np.array(bars.get_segments()), expected)
        np.testing.assert_allclose(_xy(baseline.lines[0]), (severities, values))
        if "stability" in containers:
            assert not containers["stability"].has_yerr


def test_robustness_without_accuracy_draws_flip_rates_only(tmp_path, saved_figures):
    flips = {k: v for k, v in BASELINE.items() if "top1" not in k}
    path = str(tmp_path / "robustness.png")
    plotting.plot_robustness({"embedder": flips}, path)
    figure = _only_figure(saved_figures, path)
    assert [ax.get_ylabel() for ax in figure.axes] == ["flip rate", "flip rate"]
    assert [ax.get_title() for ax in figure.axes] == ["jpeg", "noise"]
    for ax, family in zip(figure.axes, ["jpeg", "noise"], strict=True):
        (container,) = ax.containers
        severities, values = DRAWN["flip_rate", family]["baseline"]
        np.testing.assert_allclose(_xy(container.lines[0]), (severities, values))
        assert _dotted(ax) == []
    assert _legend_texts(figure.axes[0]) == ["embedder"]
    assert figure.texts == []


# plot_distance_cdf and plot_precision_recall: step functions, evaluated the
# way matplotlib draws them.


def _steps_post(line, points):
    """The value `drawstyle="steps-post"` shows at each point: y[i] on
    [x[i], x[i+1]), the last of equal x winning (0 left of the curve)."""
    x, y = _xy(line)
    index = np.searchsorted(x, points, side="right") - 1
    return np.where(index >= 0, y[np.maximum(index, 0)], 0.0)


def _steps_pre(line, points):
    """The value `drawstyle="steps-pre"` shows at each point in
    (x[0], x[-1]]: y[i] on (x[i-1], x[i]], the first of equal x winning."""
    x, y = _xy(line)
    return y[np.searchsorted(x, points, side="left")]


def test_distance_cdf_is_the_empirical_cdf(tmp_path, saved_figures, rng):
    distances = {
        # Ties and a zero: the curve must jump by their whole count.
        "baseline": np.array([0.3, 0.0, 0.3, 0.7, 0.1, 0.3]),
        "stability": 0.5 * rng.random(40),
    }
    path = str(tmp_path / "cdf.png")
    ax = _titled_axes(
        saved_figures,
        path,
        plotting.plot_distance_cdf(distances, path, title="JPEG-50"),
    )
    assert len(ax.lines) == 2
    for line, (label, values) in zip(ax.lines, distances.items(), strict=True):
        assert line.get_drawstyle() == "steps-post"
        x, y = _xy(line)
        assert np.all(np.diff(x) >= 0), label
        assert np.all(np.diff(y) >= 0), label
        assert y[-1] == pytest.approx(1.0)
        # The share of distances <= t, wherever the curve is read.
        points = np.unique(np.r_[x, (x[:-1] + x[1:]) / 2, x[-1] + 1.0])
        cdf = np.array([np.mean(values <= t) for t in points])
        np.testing.assert_allclose(_steps_post(line, points), cdf, err_msg=label)
    # The baseline's median is 0.3 (sorted: 0, 0.1, 0.3, 0.3, 0.3, 0.7).
    median = np.sort(distances["stability"])[19:21].mean()
    assert _legend_texts(ax) == [
        "baseline (median 0.300)",
        f"stability (median {median:.3f})",
    ]


def _pr_reference(distances, is_positive):
    """(recall, precision) at each distinct threshold and the average
    precision, by counting."""
    recall, precision = [], []
    for t in np.unique(distances):
        called = distances <= t
        hits = np.sum(called & is_positive)
        recall.append(hits / np.sum(is_positive))
        precision.append(hits / np.sum(called))
    average = sum(
        (r - r_before) * p
        for r, r_before, p in zip(recall, [0.0] + recall[:-1], precision, strict=True)
    )
    return np.array(recall), np.array(precision), average


def _pr_result(distances, is_positive):
    precision, recall, _, pr_auc = evaluation.precision_recall_curve(
        distances, is_positive
    )
    return {
        "precision": precision,
        "recall": recall,
        "pr_auc": pr_auc,
        "positive_share": float(np.mean(is_positive)),
    }


def test_precision_recall_draws_precision_over_each_recall_step(
    tmp_path, saved_figures, rng
):
    # Ties between a positive and a negative (0.2) and negatives that add
    # thresholds without recall (0.5, 0.9).
    fixed = (
        np.array([0.1, 0.2, 0.2, 0.3, 0.5, 0.6, 0.9]),
        np.array([True, False, True, True, False, True, False]),
    )
    seeds = [
        (rng.random(30), rng.random(30) < 0.4),
        (rng.random(30), rng.random(30) < 0.5),
    ]
    curves = {
        "baseline": [_pr_result(*pair) for pair in seeds],
        "stabilized": _pr_result(*fixed),
    }
    path = str(tmp_path / "pr.png")
    ax = _titled_axes(
        saved_figures,
        path,
        plotting.plot_precision_recall(curves, path, title="JPEG-50"),
    )
    curve_lines = [line for line in ax.lines if line.get_linestyle() != ":"]
    # Two thin lines for the two seeds of the baseline, one thick one.
    assert [line.get_linewidth() for line in curve_lines] == [1.0, 1.0, 2.0]
    colours = [_colour(line) for line in curve_lines]
    assert colours[0] == colours[1] != colours[2]
    areas = []
    for line, pair in zip(curve_lines, seeds + [fixed], strict=True):
        recall, precision, average = _pr_reference(*pair)
        areas.append(average)
        assert line.get_drawstyle() == "steps-pre"
        x, y = _xy(line)
        assert x[0] == 0.0 and x[-1] == pytest.approx(1.0)
        # Over each recall step (R_{k-1}, R_k] the curve shows P_k, the
        # precision at the threshold that first reaches R_k.
        first = np.r_[True, np.diff(recall) > 0]
        steps, heights = recall[first], precision[first]
        before = np.r_[0.0, steps[:-1]]
        for points in (steps, (before + steps) / 2):
            np.testing.assert_allclose(_steps_pre(line, points), heights)
        # The area under the drawn steps is the average precision.
        drawn_area = np.sum(np.diff(x) * y[1:])
        assert drawn_area == pytest.approx(average)
    # Two seeds: mean and (population) standard deviation |a - b| / 2.
    mean, spread = (areas[0] + areas[1]) / 2, abs(areas[0] - areas[1]) / 2
    assert _legend_texts(ax) == [
        f"baseline (PR-AUC {mean:.3f} ± {spread:.3f}, 2 seeds)",
        f"stabilized (PR-AUC {areas[2]:.3f})",
    ]
    # Chance: a dotted line at each model's (mean) positive share.
    shares = [np.mean([np.mean(p) for _, p in seeds]), np.mean(fixed[1])]
    dotted = _dotted(ax)
    assert [_colour(line) for line in dotted] == [colours[0], colours[2]]
    np.testing.assert_allclose([line.get_ydata()[0] for line in dotted], shares)


# Errors, PNG files and the optional dependency.


def _result(rng, shift):
    """A near-duplicate result whose positives sit `shift` closer."""
    distances = np.r_[rng.random(50) * shift, rng.random(50) + 0.3]
    return _pr_result(distances, np.arange(100) < 50)


def test_plots_are_written(tmp_path, rng):
    curves = {
        "baseline": [_result(rng, 1.0), _result(rng, 1.2)],
        "stabilized": _result(rng, 0.5),
    }
    path = plotting.plot_precision_recall(
        curves, str(tmp_path / "pr.png"), title="JPEG-50"
    )
    assert path == str(tmp_path / "pr.png")
    assert os.path.getsize(path) > 10_000
    cdf = plotting.plot_distance_cdf(
        {"baseline": rng.random(100), "stabilized": rng.random(100) * 0.5},
        str(tmp_path / "cdf.png"),
    )
    assert os.path.getsize(cdf) > 10_000
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_plot_errors(tmp_path, rng):
    with pytest.raises(ValueError, match=r"`curves`.*Received: curves=\{\}$"):
        plotting.plot_precision_recall({}, str(tmp_path / "x.png"))
    with pytest.raises(ValueError, match=r"`distances`.*Received: distances=None$"):
        plotting.plot_distance_cdf(None, str(tmp_path / "x.png"))
    with pytest.raises(
        ValueError,
        match=r"`distances\['a'\]`.*1-D.*Received: distances\['a'\] of shape \(2, 2\)",
    ):
        plotting.plot_distance_cdf({"a": np.zeros((2, 2))}, str(tmp_path / "x.png"))
    with pytest.raises(
        ValueError, match=r"`curves\['a'\]`.*Received: curves\['a'\]=\[\]"
    ):
        plotting.plot_precision_recall({"a": []}, str(tmp_path / "x.png"))


def test_plots_need_matplotlib(tmp_path, monkeypatch, rng):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match="Plotting needs matplotlib: pip install"):
        plotting.plot_precision_recall(
            {"a": _result(rng, 1.0)}, str(tmp_path / "pr.png")
        )
    with pytest.raises(ImportError, match="Plotting needs matplotlib: pip install"):
        plotting.plot_distance_cdf({"a": rng.random(5)}, str(tmp_path / "cdf.png"))
    with pytest.raises(ImportError, match="Plotting needs matplotlib: pip install"):
        plotting.plot_robustness({"a": BASELINE}, str(tmp_path / "r.png"))
