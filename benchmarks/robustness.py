"""Robustness across kinds of images: baseline, augmentation, stability training.

Trains each network of `keras_stability.demo.NETWORKS` on each bundled task
of `keras_stability.datasets.TASKS` (colour photographs, grayscale pictures,
scanned digits), as a plain `keras.Model` (baseline), on perturbed copies only
(augmentation) and as a `StabilityModel`, each until its validation loss
stops improving, over several seeds, and measures every model with
`evaluation.robustness_report` (the default suite: JPEG, thumbnails, crops,
noise). Prints one table per (task, network) and a summary that judges each
training setting by its worst (task, network):

- clean top-1 at least the baseline's minus 1 point, and
- the flip rate at each family's strongest severity, averaged over the
  families, at most 0.7x the baseline's (means over seeds).

Every run is appended to a JSON-lines file (`--runs`) and skipped when found
there, so an interrupted sweep resumes and tables can be printed again
without training (`--table-only`).

    python benchmarks/robustness.py                          # the library defaults
    python benchmarks/robustness.py --candidates crop4 mix4 --alphas 1 3 10
    python benchmarks/robustness.py --candidates default suggested  # the suggestion
    python benchmarks/robustness.py --quick                  # seconds, for the tests
"""

import argparse
import os
import sys
import time

import keras
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import append_run  # noqa: E402
from _common import load_runs  # noqa: E402

from keras_stability import datasets
from keras_stability import demo
from keras_stability import evaluation
from keras_stability import model as model_module
from keras_stability import perturbations as p

# The families of the default suite and the severity that is strongest.
FAMILY_KEYS = {
    "jpeg": "jpeg@10/flip_rate",
    "thumbnail": "thumbnail@0.25/flip_rate",
    "crop": "crop@10/flip_rate",
    "noise": "noise@0.08/flip_rate",
}
GOAL_TOP1_DROP = 0.01
GOAL_FLIP_RATIO = 0.7


def _four_families(stddev, offset, scale):
    """One of noise, JPEG (quality 10-90), crops and thumbnails, per image."""
    return p.OneOf(
        [
            p.GaussianNoise(stddev),
            p.JpegCompression((10, 90), method="dct"),
            p.RandomCropOffset(offset),
            p.ThumbnailResize(scale=scale),
        ]
    )


# The other members of the family, each a candidate: the default's
# perturbation (`mixrange`) or an adversarial one, with `StabilityModel`
# arguments. Their augmentation rows mean nothing (pass --no-augmentation).
REGULARIZERS = {
    "views2_jsd": ("mixrange", {"num_views": 2, "stability_loss": "jsd"}),
    "fraction25": ("mixrange", {"perturb_fraction": 0.25}),
    "fraction50": ("mixrange", {"perturb_fraction": 0.5}),
}


def stability_kwargs(candidate):
    """The `StabilityModel` arguments a candidate adds to its perturbation."""
    return REGULARIZERS.get(candidate, (None, {}))[1]


def candidates():
    """Training perturbations by name: a function of the image shape.

    `mixrange` is `default_perturbation` for 32x32 images, kept under its
    own name so that recorded runs stay what they were if the default
    changes; `default` is whatever the library's default is now; the
    names of `REGULARIZERS` add model arguments to a perturbation here.
    """
    found = {
        "default": lambda shape: model_module.default_perturbation(shape),
        "crop4": lambda shape: p.RandomCropOffset(4),
        "noise08": lambda shape: p.GaussianNoise(0.08),
        "jpeg": lambda shape: p.JpegCompression((10, 90), method="dct"),
        "thumb50": lambda shape: p.ThumbnailResize(scale=0.5),
        "mix4": lambda shape: _four_families(0.04, 4, 0.5),
        "mixrange": lambda shape: _four_families((0.02, 0.1), (2, 8), (0.25, 0.75)),
        # TRADES's x' (8/255 at 32x32, three steps), and the default's
        # distortions attacked further by one step.
        "adversarial": lambda shape: p.Adversarial(0.03, steps=3),
        "mix_adversarial": lambda shape: p.Compose(
            [
                _four_families((0.02, 0.1), (2, 8), (0.25, 0.75)),
                p.Adversarial(0.015, steps=1),
            ]
        ),
    }
    for name, (perturbation, _) in REGULARIZERS.items():
        found[name] = found[perturbation]
    return found


def _run_key(task, network, kind, candidate, alpha, seed):
    return f"{task}|{network}|{kind}|{candidate}|{alpha}|{seed}"


def _perturbation(candidate, shape, baseline):
    """The training perturbation of a candidate; `suggested` reads the baseline."""
    if candidate == SUGGESTED:
        return evaluation.suggest_perturbation(baseline["report"])
    return candidates()[candidate](shape)


# The candidate made by `evaluation.suggest_perturbation` from the baseline
# of the same task, network and seed.
SUGGESTED = "suggested"


def run_one(
    task_data, *, task, network, kind, candidate, alpha, seed, config, baseline
):
    """Trains and measures one model; returns its record."""
    (x_train, y_train), (x_test, y_test) = task_data
    shape = x_train.shape[1:]
    perturbation = (
        None if kind == "baseline" else _perturbation(candidate, shape, baseline)
    )
    started = time.time()
    model = demo.train_model(
        kind,
        x_train,
        y_train,
        epochs=config["max_epochs"],
        patience=config["patience"],
        seed=seed,
        perturbation=perturbation,
        alpha=alpha,
        network=network,
        stability_kwargs=stability_kwargs(candidate) if kind == "stability" else None,
    )
    trained = time.time() - started
    report = evaluation.robustness_report(model, x_test, y_test, seed=seed, verbose=0)
    return {
        "key": _run_key(task, network, kind, candidate, alpha, seed),
        "task": task,
        "network": network,
        "kind": kind,
        "candidate": candidate,
        "alpha": alpha,
        "seed": seed,
        "epochs": model.trained_epochs,
        "best_epoch": model.best_epoch,
        "train_seconds": round(trained, 1),
        "perturbation": None
        if perturbation is None
        else keras.saving.serialize_keras_object(perturbation),
        "stability_kwargs": stability_kwargs(candidate)
        if kind == "stability"
        else None,
        "config": config,
        "report": {k: v for k, v in report.items() if not k.endswith("/kl")},
    }


def _strongest(report):
    return evaluation.mean_strongest_flip_rate(report)


def summarize(runs, task, network, kind, candidate, alpha, seeds):
    """Means and spreads over seeds of one setting against its baselines.

    Returns None unless the setting and the baseline have every seed.
    """

    def records(k, c, a):
        found = [runs.get(_run_key(task, network, k, c, a, seed)) for seed in seeds]
        return None if any(r is None for r in found) else found

    base = records("baseline", None, None)
    mine = records(kind, candidate, alpha)
    if base is None or mine is None:
        return None
    top1 = [r["report"]["clean/top1"] for r in mine]
    base_top1 = [r["report"]["clean/top1"] for r in base]
    flips = [_strongest(r["report"]) for r in mine]
    base_flips = [_strongest(r["report"]) for r in base]
    ratio = float(np.mean(flips) / np.mean(base_flips)) if np.mean(base_flips) else 0.0
    return {
        "top1": float(np.mean(top1)),
        "top1_std": float(np.std(top1)),
        "delta_top1": float(np.mean(top1) - np.mean(base_top1)),
        "flip": float(np.mean(flips)),
        "flip_std": float(np.std(flips)),
        "ratio": ratio,
        "ratio_std": float(np.std(np.divide(flips, np.maximum(base_flips, 1e-12)))),
        "families": {
            family: float(np.mean([r["report"][key] for r in mine]))
            for family, key in FAMILY_KEYS.items()
        },
        "epochs": float(np.mean([r["best_epoch"] for r in mine])),
        "meets_goal": bool(
            np.mean(top1) >= np.mean(base_top1) - GOAL_TOP1_DROP
            and ratio <= GOAL_FLIP_RATIO
        ),
    }


def _settings(args):
    rows = [("baseline", None, None)]
    for candidate in args.candidates:
        if args.augmentation:
            rows.append(("augmentation", candidate, None))
        for alpha in args.alphas:
            rows.append(("stability", candidate, alpha))
    return rows


def _label(kind, candidate, alpha):
    if kind == "baseline":
        return "baseline (keras.Model)"
    if kind == "augmentation":
        return f"augmentation {candidate}"
    return f"stability {candidate} a={alpha:g}"


def print_tables(runs, args, out=sys.stdout):
    """One table per (task, network), then the worst case of each setting."""
    worst = {}
    header = (
        f"{'setting':<32} {'epochs':>6}  {'clean top-1':>15} {'d top-1':>7}  "
        f"{'strongest flip':>15}  {'x baseline':>11}  "
        + " ".join(f"{f:>9}" for f in FAMILY_KEYS)
    )
    for task in args.tasks:
        for network in args.networks:
            print(f"\n{task} / {network} ({len(args.seeds)} seeds)", file=out)
            print(header, file=out)
            print("-" * len(header), file=out)
            for kind, candidate, alpha in _settings(args):
                s = summarize(runs, task, network, kind, candidate, alpha, args.seeds)
                if s is None:
                    continue
                label = _label(kind, candidate, alpha)
                print(
                    f"{label:<32} {s['epochs']:>6.1f}  "
                    f"{s['top1']:.4f}+-{s['top1_std']:.4f} {100 * s['delta_top1']:>+7.1f}  "
                    f"{s['flip']:.4f}+-{s['flip_std']:.4f}  "
                    f"{s['ratio']:>5.2f}+-{s['ratio_std']:.2f}  "
                    + " ".join(f"{s['families'][f]:>9.3f}" for f in FAMILY_KEYS),
                    file=out,
                )
                if kind != "baseline":
                    worst.setdefault(label, []).append((task, network, s))
    print(
        "\nWorst case over tasks and networks (goal: d top-1 >= -1.0 point and "
        f"x baseline <= {GOAL_FLIP_RATIO} everywhere)",
        file=out,
    )
    cells = len(args.tasks) * len(args.networks)
    for label, entries in worst.items():
        lowest = min(entries, key=lambda e: e[2]["delta_top1"])
        highest = max(entries, key=lambda e: e[2]["ratio"])
        met = sum(e[2]["meets_goal"] for e in entries)
        print(
            f"{label:<32} worst d top-1 {100 * lowest[2]['delta_top1']:+5.1f} "
            f"({lowest[0]}/{lowest[1]}), worst x baseline "
            f"{highest[2]['ratio']:.2f} ({highest[0]}/{highest[1]}), "
            f"goal met on {met}/{len(entries)}"
            + ("" if len(entries) == cells else f" of {cells} (incomplete)"),
            file=out,
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(datasets.TASKS))
    parser.add_argument("--networks", nargs="+", default=list(demo.NETWORKS))
    parser.add_argument("--candidates", nargs="+", default=["default"])
    parser.add_argument(
        "--alphas", type=float, nargs="+", default=[model_module.DEFAULT_ALPHA]
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--no-augmentation",
        dest="augmentation",
        action="store_false",
        help="skip the augmentation rows",
    )
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument(
        "--runs",
        default=os.path.join(os.path.dirname(__file__), "robustness_runs.jsonl"),
        help="JSON-lines file of finished runs, read and appended to",
    )
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny tasks, 1 seed, 2 epochs: checks the script, measures nothing",
    )
    args = parser.parse_args(argv)
    known = [*candidates(), SUGGESTED]
    unknown = sorted(set(args.candidates) - set(known))
    if unknown:
        parser.error(f"unknown candidates {unknown}; choose from {sorted(known)}")
    task_kwargs = {}
    if args.quick:
        args.seeds, args.max_epochs, args.patience = args.seeds[:1], 2, 1
        task_kwargs = {
            "photographs": {
                "patch_size": 16,
                "train_per_class": 8,
                "test_per_class": 3,
            },
            "grayscale": {"patch_size": 16, "train_per_class": 8, "test_per_class": 3},
            "digits": {"image_size": 16, "test_fraction": 0.05},
        }
    config = {
        "max_epochs": args.max_epochs,
        "patience": args.patience,
        "quick": args.quick,
        "backend": keras.backend.backend(),
    }
    if args.quick and args.runs == parser.get_default("runs"):
        args.runs = None  # Quick runs measure nothing worth keeping.
    runs = load_runs(args.runs, config)
    if not args.table_only:
        settings = _settings(args)
        total = len(args.tasks) * len(args.networks) * len(settings) * len(args.seeds)
        done = 0
        for task in args.tasks:
            task_data = datasets.load_task(task, **task_kwargs.get(task, {}))
            for network in args.networks:
                for seed in args.seeds:
                    for kind, candidate, alpha in settings:
                        done += 1
                        key = _run_key(task, network, kind, candidate, alpha, seed)
                        if key in runs:
                            continue
                        record = run_one(
                            task_data,
                            baseline=runs.get(
                                _run_key(task, network, "baseline", None, None, seed)
                            ),
                            task=task,
                            network=network,
                            kind=kind,
                            candidate=candidate,
                            alpha=alpha,
                            seed=seed,
                            config=config,
                        )
                        runs[key] = record
                        print(
                            f"[{done}/{total}] {key}: {record['epochs']} epochs "
                            f"(best {record['best_epoch']}), "
                            f"{record['train_seconds']:.0f} s, clean top-1 "
                            f"{record['report']['clean/top1']:.4f}, strongest flip "
                            f"{_strongest(record['report']):.4f}",
                            flush=True,
                        )
                        append_run(args.runs, record)
    print_tables(runs, args)
    return runs


if __name__ == "__main__":
    main()
