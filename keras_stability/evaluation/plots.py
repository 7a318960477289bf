"""Pictures of stability: robustness against severity, PR curves, distance CDFs.

Each function draws on its own `matplotlib.figure.Figure` with the Agg
canvas and writes a PNG, leaving matplotlib's global state alone: the
user's backend and pyplot's open figures are as they were. matplotlib is an
optional dependency (`pip install 'keras-stability[examples]'`).
"""

import numpy as np

from keras_stability.evaluation.families import axis_label
from keras_stability.evaluation.families import severity_table

__all__ = ["plot_distance_cdf", "plot_precision_recall", "plot_robustness"]


def _figure(figsize):
    """A new figure on an Agg canvas, and the colour cycle."""
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "Plotting needs matplotlib: pip install 'keras-stability[examples]'"
        ) from error
    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    return figure, colours


def _save(figure, path):
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def _save_single_axes(figure, ax, path, title, legend_loc):
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc=legend_loc)
    if title:
        ax.set_title(title)
    return _save(figure, path)


def plot_robustness(reports, path, spreads=None):
    """Plots top-1 accuracy and flip rate against severity, one column a family.

    Conditions named `family@severity` with a numeric severity are drawn
    (see `keras_stability.evaluation.severity_table`); the lines of each
    model share a colour, and a dotted line of that colour marks its clean
    accuracy. Without accuracies in any report only the flip rates are
    drawn.

    Args:
        reports: dict model name -> report (from `robustness_report`).
        path: the PNG file to write.
        spreads: optional dict model name -> report of standard deviations
            with the same keys, drawn as error bars. Defaults to `None`.

    Returns:
        `path`.

    Example:

    ```python
    import os
    import tempfile
    from keras_stability.plotting import plot_robustness

    report = {"num_images": 4, "clean/top1": 0.75,
              "jpeg@10/top1": 0.5, "jpeg@10/flip_rate": 0.25,
              "jpeg@50/top1": 0.75, "jpeg@50/flip_rate": 0.0}
    with tempfile.TemporaryDirectory() as folder:
        path = plot_robustness({"model": report}, os.path.join(folder, "r.png"))
        assert os.path.getsize(path) > 0
    ```
    """
    tables = {name: severity_table(report) for name, report in reports.items()}
    families = []
    for table in tables.values():
        families += [f for f in table if f not in families]
    has_accuracy = any("clean/top1" in report for report in reports.values())
    metrics = (["top1"] if has_accuracy else []) + ["flip_rate"]
    figure, colours = _figure((3.6 * len(families), 3.0 * len(metrics)))
    axes = figure.subplots(len(metrics), len(families), squeeze=False)
    for column, family in enumerate(families):
        for row, metric in enumerate(metrics):
            ax = axes[row][column]
            for index, (name, table) in enumerate(tables.items()):
                pairs = table.get(family, {}).get(metric, [])
                if not pairs:
                    continue
                severities, values = zip(*pairs, strict=False)
                errors = None
                if spreads and name in spreads:
                    spread = severity_table(spreads[name]).get(family, {}).get(metric)
                    errors = [v for _, v in spread] if spread else None
                colour = colours[index % len(colours)]
                ax.errorbar(
                    severities,
                    values,
                    yerr=errors,
                    marker="o",
                    label=name,
                    color=colour,
                    capsize=3,
                )
                if metric == "top1" and "clean/top1" in reports[name]:
                    ax.axhline(
                        reports[name]["clean/top1"],
                        color=colour,
                        linestyle=":",
                        linewidth=1,
                    )
            ax.set_xlabel(axis_label(family))
            ax.set_ylabel("top-1 accuracy" if metric == "top1" else "flip rate")
            ax.grid(alpha=0.3)
            if row == 0:
                ax.set_title(family)
    axes[0][0].legend(fontsize="small")
    if has_accuracy:
        figure.text(0.01, 0.01, "dotted: clean accuracy", fontsize="small")
    return _save(figure, path)


def _check_curves(curves, name):
    if not isinstance(curves, dict) or not curves:
        raise ValueError(
            f"`{name}` must be a non-empty dict label -> values. "
            f"Received: {name}={curves!r}"
        )


def plot_precision_recall(curves, path, title=None):
    """Plots near-duplicate precision-recall curves of several models on one axes.

    Each curve is drawn as the step function whose area is its average
    precision: precision `P_k` over recall `(R_{k-1}, R_k]`. A result list
    (one per seed) is drawn as thin lines of one colour, one per seed, and
    its legend entry gives the mean and standard deviation of PR-AUC over
    the seeds; a single result is one thick line. The dotted line of a
    model's colour is the positive share, the precision of chance.

    Formula:

    ```
    PR-AUC = sum_k (R_k - R_{k-1}) * P_k,  R_0 = 0
    ```

    Args:
        curves: dict label -> a result of
            `keras_stability.evaluation.near_duplicate_pr`, or a list of them
            (one per seed).
        path: the PNG file to write.
        title: the axes' title. Defaults to `None` (no title).

    Returns:
        `path`.

    Example:

    ```python
    import os
    import tempfile
    import numpy as np
    from keras_stability.evaluation import precision_recall_curve
    from keras_stability.plotting import plot_precision_recall

    distances = np.array([0.1, 0.2, 0.3, 0.4])
    is_positive = np.array([True, False, True, False])
    precision, recall, _, pr_auc = precision_recall_curve(distances, is_positive)
    result = {"precision": precision, "recall": recall, "pr_auc": pr_auc,
              "positive_share": 0.5}
    with tempfile.TemporaryDirectory() as folder:
        path = plot_precision_recall({"model": result},
                                     os.path.join(folder, "pr.png"))
        assert os.path.getsize(path) > 0
    ```
    """
    _check_curves(curves, "curves")
    figure, colours = _figure((5.0, 4.2))
    ax = figure.subplots()
    for index, (label, results) in enumerate(curves.items()):
        if isinstance(results, dict):
            results = [results]
        if not results:
            raise ValueError(
                f"`curves[{label!r}]` holds no result. "
                f"Received: curves[{label!r}]={results!r}"
            )
        colour = colours[index % len(colours)]
        areas = [result["pr_auc"] for result in results]
        if len(results) == 1:
            text = f"{label} (PR-AUC {areas[0]:.3f})"
        else:
            text = (
                f"{label} (PR-AUC {np.mean(areas):.3f} ± {np.std(areas):.3f}, "
                f"{len(results)} seeds)"
            )
        for seed_index, result in enumerate(results):
            recall = np.r_[0.0, result["recall"]]
            precision = np.r_[result["precision"][0], result["precision"]]
            ax.plot(
                recall,
                precision,
                drawstyle="steps-pre",
                color=colour,
                linewidth=2.0 if len(results) == 1 else 1.0,
                alpha=1.0 if len(results) == 1 else 0.7,
                label=text if seed_index == 0 else None,
            )
        ax.axhline(
            np.mean([result["positive_share"] for result in results]),
            color=colour,
            linestyle=":",
            linewidth=1,
        )
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    return _save_single_axes(figure, ax, path, title, legend_loc="lower left")


def plot_distance_cdf(distances, path, title=None):
    """Plots the empirical CDF of feature distances D(f(x), f(x')), one per model.

    The paper's direct picture of stability: the further left a model's
    curve, the closer its embeddings of distorted copies stay to those of
    the originals. Compare models whose embeddings share a scale (for
    instance L2-normalised ones). The legend gives each model's median
    distance.

    Formula:

    ```
    CDF(t) = #{images with D(f(x), f(x')) <= t} / #{images}
    ```

    Args:
        distances: dict label -> 1-D array of distances, e.g. from
            `keras_stability.evaluation.feature_distances`.
        path: where to write the figure, a `.png` file.
        title: a title above the curves. Defaults to `None` (none).

    Returns:
        `path`, once written.

    Example:

    ```python
    import os
    import tempfile
    import numpy as np
    from keras_stability.plotting import plot_distance_cdf

    rng = np.random.default_rng(0)
    distances = {"baseline": rng.random(50), "stability": 0.5 * rng.random(50)}
    with tempfile.TemporaryDirectory() as folder:
        path = plot_distance_cdf(distances, os.path.join(folder, "cdf.png"))
        assert os.path.getsize(path) > 0
    ```

    Reference:
        - [Zheng et al., "Improving the Robustness of Deep Neural Networks via
          Stability Training", CVPR 2016](https://arxiv.org/abs/1604.04326)
    """
    _check_curves(distances, "distances")
    values = {}
    for label, array in distances.items():
        array = np.asarray(array, "float64")
        if array.ndim != 1 or array.size == 0:
            raise ValueError(
                f"`distances[{label!r}]` must be a non-empty 1-D array. "
                f"Received: distances[{label!r}] of shape {array.shape}"
            )
        values[label] = np.sort(array)
    figure, _ = _figure((5.0, 4.2))
    ax = figure.subplots()
    for label, array in values.items():
        share = np.arange(1, array.size + 1) / array.size
        ax.plot(
            np.r_[0.0, array],
            np.r_[0.0, share],
            drawstyle="steps-post",
            label=f"{label} (median {np.median(array):.3f})",
        )
    ax.set_xlabel("feature distance D(f(x), f(x'))")
    ax.set_ylabel("share of images")
    ax.set_ylim(0.0, 1.02)
    return _save_single_axes(figure, ax, path, title, legend_loc="lower right")
