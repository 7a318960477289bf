"""Sweep of the training perturbation and alpha on the demo's data.

Trains the demo CNN as a baseline and as a StabilityModel for every
(perturbation, alpha) pair, over several seeds, and prints for each: clean
top-1, the flip rate at each family's strongest severity averaged over
families, and its ratio to the baseline's (mean and standard deviation over
seeds). The library's defaults were chosen from this table; see
benchmarks/RESULTS.md.

    python examples/sweep.py               # the full grid (about 40 min on 2 cores)
    python examples/sweep.py --quick       # a tiny grid, for the tests
"""

import argparse
import json
import time

import numpy as np

from keras_stability import data
from keras_stability import demo
from keras_stability import evaluation
from keras_stability import perturbations as p


def candidates():
    """The training perturbations compared, by name."""
    return {
        "noise@0.04": lambda: p.GaussianNoise(0.04),
        "noise@0.1": lambda: p.GaussianNoise(0.1),
        "crop@4": lambda: p.RandomCropOffset(4),
        "mix(noise,crop,thumb)": lambda: p.OneOf(
            [p.GaussianNoise(0.04), p.RandomCropOffset(4), p.ThumbnailResize(scale=0.5)]
        ),
        "mix(noise,crop,thumb,jpeg)": lambda: p.OneOf(
            [
                p.GaussianNoise(0.04),
                p.RandomCropOffset(4),
                p.ThumbnailResize(scale=0.5),
                p.JpegCompression((10, 90)),
            ]
        ),
    }


ALPHAS = (0.01, 0.1, 1.0, 10.0)


def _summary(reports, baseline_flips):
    clean = [r["clean/top1"] for r in reports]
    flips = [evaluation.mean_strongest_flip_rate(r) for r in reports]
    ratios = [f / b for f, b in zip(flips, baseline_flips, strict=True)]
    return {
        "clean_top1": float(np.mean(clean)),
        "clean_top1_std": float(np.std(clean)),
        "strongest_flip_rate": float(np.mean(flips)),
        "strongest_flip_rate_std": float(np.std(flips)),
        "flip_ratio": float(np.mean(ratios)),
        "flip_ratio_std": float(np.std(ratios)),
        "per_family": {
            key: float(np.mean([r[key] for r in reports]))
            for key in (
                "jpeg@10/flip_rate",
                "thumbnail@0.25/flip_rate",
                "crop@10/flip_rate",
                "noise@0.08/flip_rate",
            )
        },
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--alphas", type=float, nargs="+", default=list(ALPHAS))
    parser.add_argument(
        "--perturbations",
        nargs="+",
        default=None,
        help="names from the grid (default: all)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 seed, 1 epoch, 100 images, one candidate, one alpha",
    )
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)
    grid = candidates()
    names = args.perturbations or list(grid)
    if args.quick:
        args.seeds, args.epochs, args.alphas, names = 1, 1, [1.0], names[:1]
    unknown = sorted(set(names) - set(grid))
    if unknown:
        parser.error(f"unknown perturbations {unknown}; choose from {sorted(grid)}")
    (x_train, y_train), (x_test, y_test) = data.load_digits()
    if args.quick:
        x_train, y_train, x_test, y_test = (
            x_train[:100],
            y_train[:100],
            x_test[:50],
            y_test[:50],
        )

    def report(model, seed):
        return evaluation.robustness_report(model, x_test, y_test, seed=seed, verbose=0)

    started = time.time()
    baseline_reports = []
    for seed in range(args.seeds):
        model = demo.train_model(
            "baseline", x_train, y_train, epochs=args.epochs, seed=seed
        )
        baseline_reports.append(report(model, seed))
    baseline_flips = [evaluation.mean_strongest_flip_rate(r) for r in baseline_reports]
    results = {"baseline": _summary(baseline_reports, baseline_flips)}
    header = (
        f"{'perturbation':<28} {'alpha':>6}  {'clean top-1':>15}  "
        f"{'strongest flip':>15}  {'x baseline':>12}  jpeg10 thumb.25 crop10 noise.08"
    )
    print(header)
    print("-" * len(header))

    def row(name, alpha, s):
        fam = s["per_family"]
        print(
            f"{name:<28} {alpha:>6}  {s['clean_top1']:.4f}+-{s['clean_top1_std']:.4f}  "
            f"{s['strongest_flip_rate']:.4f}+-{s['strongest_flip_rate_std']:.4f}  "
            f"{s['flip_ratio']:.2f}+-{s['flip_ratio_std']:.2f}  "
            + " ".join(f"{fam[k]:.3f}" for k in fam),
            flush=True,
        )

    row("baseline (keras.Model)", "-", results["baseline"])
    for name in names:
        for alpha in args.alphas:
            reports = []
            for seed in range(args.seeds):
                model = demo.train_model(
                    "stability",
                    x_train,
                    y_train,
                    epochs=args.epochs,
                    seed=seed,
                    perturbation=grid[name](),
                    alpha=alpha,
                )
                reports.append(report(model, seed))
            results[f"{name} alpha={alpha}"] = _summary(reports, baseline_flips)
            row(name, alpha, results[f"{name} alpha={alpha}"])
    print(f"\n{args.seeds} seeds, {args.epochs} epochs, {time.time() - started:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"results": results, "seeds": args.seeds, "epochs": args.epochs},
                f,
                indent=2,
            )
    return results


if __name__ == "__main__":
    main()
