"""Pictures of stability: accuracy and flip rate against distortion severity.

matplotlib is an optional dependency (`pip install 'keras-stability[examples]'`).
"""

from keras_stability.evaluation import severity_table

__all__ = ["plot_robustness"]

_FAMILY_AXIS = {
    "jpeg": "JPEG quality (lower is stronger)",
    "thumbnail": "thumbnail scale (lower is stronger)",
    "crop": "crop offset (pixels)",
    "noise": "noise stddev",
}


def _pyplot():
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(
            "Plotting needs matplotlib: pip install 'keras-stability[examples]'"
        ) from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_robustness(reports, path, spreads=None):
    """Plots top-1 accuracy and flip rate against severity, one column a family.

    Args:
        reports: dict model name -> report (from `robustness_report`); the
            lines of each model share a colour.
        path: the PNG file to write.
        spreads: optional dict model name -> report of standard deviations
            with the same keys, drawn as error bars. Defaults to `None`.

    Returns:
        `path`.
    """
    plt = _pyplot()
    tables = {name: severity_table(report) for name, report in reports.items()}
    families = []
    for table in tables.values():
        families += [f for f in table if f not in families]
    has_accuracy = any("clean/top1" in report for report in reports.values())
    metrics = (["top1"] if has_accuracy else []) + ["flip_rate"]
    fig, axes = plt.subplots(
        len(metrics),
        len(families),
        figsize=(3.6 * len(families), 3.0 * len(metrics)),
        squeeze=False,
    )
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
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
            ax.set_xlabel(_FAMILY_AXIS.get(family, family))
            ax.set_ylabel("top-1 accuracy" if metric == "top1" else "flip rate")
            ax.grid(alpha=0.3)
            if row == 0:
                ax.set_title(family)
    axes[0][0].legend(fontsize="small")
    if has_accuracy:
        fig.text(0.01, 0.01, "dotted: clean accuracy", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
