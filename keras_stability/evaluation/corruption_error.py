"""ImageNet-C's mean corruption error: a model's report against a reference's."""

import collections.abc
import reprlib

import numpy as np

from keras_stability.evaluation.families import severity_table

__all__ = ["mean_corruption_error"]


def mean_corruption_error(report, reference_report):
    """Mean corruption error (mCE) and relative mCE against a reference model.

    ImageNet-C's normalization (Hendrycks and Dietterich, ICLR 2019): for
    each corruption `c` (the family of `family@severity` conditions), the
    top-1 errors summed over its severities, divided by the reference
    model's; the relative CE measures the errors above each model's clean
    error instead. Both are averaged over the corruptions. ImageNet-C takes
    AlexNet as the reference; here it is any model the user evaluated on the
    same images with the same distortions, e.g. both with
    `robustness_report(..., distortions="imagenet-c")`. The mean flip rate
    is the model's flip rate averaged over severities, then corruptions.
    Values are fractions (ImageNet-C prints them times 100).

    Formula:

    ```
    E(s, c) = 1 - top1(c@s),  E_clean = 1 - top1(clean)
    CE_c = sum_s E(s, c) / sum_s E_ref(s, c)
    relative CE_c = sum_s (E(s, c) - E_clean) / sum_s (E_ref(s, c) - E_ref_clean)
    mCE = mean_c CE_c,  relative mCE = mean_c relative CE_c
    mean_flip_rate = mean_c mean_s flip_rate(c@s)
    ```

    Args:
        report: the `robustness_report` of the model, with labels (it needs
            `clean/top1` and the `family@severity/top1` and `/flip_rate`
            entries).
        reference_report: the `robustness_report` of the reference model,
            with the same `family@severity` conditions.

    Returns:
        A dict: `mce`, `relative_mce`, `mean_flip_rate` (floats) and
        `per_corruption`, a dict corruption -> `{"ce": ..., "relative_ce":
        ...}`.

    Raises:
        ValueError: naming the report at fault, when it lacks `clean/top1`
            or conditions that the other report has, or when the reference's
            error sums of a corruption (or its sums above its clean error)
            are zero.

    Example:

    ```python
    from keras_stability.evaluation import mean_corruption_error

    model = {"clean/top1": 0.9, "blur@1/top1": 0.8, "blur@2/top1": 0.6,
             "blur@1/flip_rate": 0.1, "blur@2/flip_rate": 0.3}
    reference = {"clean/top1": 0.8, "blur@1/top1": 0.6, "blur@2/top1": 0.4,
                 "blur@1/flip_rate": 0.2, "blur@2/flip_rate": 0.4}
    result = mean_corruption_error(model, reference)
    # Errors 0.2 + 0.4 against 0.4 + 0.6; above clean, 0.1 + 0.3 against
    # 0.2 + 0.4.
    assert abs(result["mce"] - 0.6) < 1e-12
    assert abs(result["relative_mce"] - 2 / 3) < 1e-12
    assert abs(result["mean_flip_rate"] - 0.2) < 1e-12
    ```

    Reference:
        - [Hendrycks and Dietterich, "Benchmarking Neural Network Robustness
          to Common Corruptions and Perturbations", ICLR 2019](
          https://arxiv.org/abs/1903.12261)
    """
    errors = _errors(report, "report")
    reference = _errors(reference_report, "reference_report")
    for name, have, other in (
        ("reference_report", reference, errors),
        ("report", errors, reference),
    ):
        missing = sorted(set(other["severities"]) - set(have["severities"]))
        if missing:
            raise ValueError(
                f"`{name}` lacks the conditions {missing} that the other report "
                "has: both must come from the same distortions."
            )
    per_corruption, flip_rates = {}, []
    for family, severities in errors["by_family"].items():
        model_errors = np.array([errors["severities"][c] for c in severities])
        reference_errors = np.array([reference["severities"][c] for c in severities])
        above = (model_errors - errors["clean"]).sum()
        reference_above = (reference_errors - reference["clean"]).sum()
        for total, what in (
            (reference_errors.sum(), "top-1 errors"),
            (reference_above, "top-1 errors above its clean error"),
        ):
            if total == 0:
                raise ValueError(
                    f"`reference_report`'s {what} on `{family}` sum to 0 over "
                    f"its severities {severities}: the corruption error divides "
                    "by that sum. Use a reference model that these distortions "
                    "hurt, or leave the corruption out of both reports."
                )
        per_corruption[family] = {
            "ce": float(model_errors.sum() / reference_errors.sum()),
            "relative_ce": float(above / reference_above),
        }
        flip_rates.append(np.mean([errors["flip_rates"][c] for c in severities]))
    return {
        "mce": float(np.mean([v["ce"] for v in per_corruption.values()])),
        "relative_mce": float(
            np.mean([v["relative_ce"] for v in per_corruption.values()])
        ),
        "per_corruption": per_corruption,
        "mean_flip_rate": float(np.mean(flip_rates)),
    }


def _errors(report, name):
    """The top-1 errors and flip rates of a report's conditions.

    Returns:
        A dict: `clean` (the clean error), `severities` (condition ->
        error), `flip_rates` (condition -> flip rate) and `by_family`
        (family -> its conditions, by severity).
    """
    if not isinstance(report, collections.abc.Mapping):
        raise ValueError(
            f"`{name}` must be a dict from `robustness_report`. "
            f"Received: {name}={reprlib.repr(report)}"
        )
    if "clean/top1" not in report:
        raise ValueError(
            f"`{name}` has no `clean/top1`: the corruption error needs top-1 "
            "accuracies, which `robustness_report` gives when it has labels."
        )
    table = severity_table(report)
    result = {"clean": 1.0 - report["clean/top1"], "severities": {}}
    result.update(flip_rates={}, by_family={})
    for family, metrics in table.items():
        if "top1" not in metrics:
            continue
        flips = dict(metrics.get("flip_rate", []))
        conditions = []
        for severity, top1 in metrics["top1"]:
            condition = f"{family}@{severity:g}"
            if severity not in flips:
                raise ValueError(
                    f"`{name}` has `{condition}/top1` but no `{condition}/flip_rate`."
                )
            result["severities"][condition] = 1.0 - top1
            result["flip_rates"][condition] = flips[severity]
            conditions.append(condition)
        result["by_family"][family] = conditions
    if not result["severities"]:
        raise ValueError(
            f"`{name}` has no `family@severity/top1` entries: run "
            "`robustness_report` with labels and a suite such as "
            'distortions="imagenet-c".'
        )
    return result
