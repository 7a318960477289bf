"""Semi-supervised Stability Training: 10% of the labels, with and without the rest.

Keeps a stratified `--labeled-fraction` of each bundled task's training
images with their labels and treats the others as unlabeled, then trains the
demo's small CNN four ways for the same number of epochs (one epoch is one
pass over the labeled images), over several seeds:

- `baseline`: a plain `keras.Model` on the labeled images;
- `labeled`: a `StabilityModel` (default perturbation and alpha) on the
  labeled images;
- `unlabeled`: the same model on the labeled images and the unlabeled ones,
  `unlabeled_ratio` unlabeled rows per labeled row
  (`keras_stability.data.with_unlabeled`): the compiled loss on the labeled
  rows, the stability term on every row;
- `uda`: as `unlabeled`, with UDA's options (sharpened clean distribution,
  confidence mask, stop-gradient on the clean branch, linear Training Signal
  Annealing); `uda_sharpen`, `uda_mask` and `uda_tsa` add one of them each
  (sharpening with the stop-gradient UDA pairs it with).

Every model is measured with `evaluation.robustness_report` on the task's
test images: clean top-1 and the flip rate at each family's strongest
severity, averaged over the families, as in `benchmarks/robustness.py`.
Runs are appended to a JSON-lines file and skipped when found there.

    python benchmarks/unlabeled.py                    # photographs and grayscale
    python benchmarks/unlabeled.py --quick            # seconds, for the tests
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

from keras_stability import StabilityModel
from keras_stability import data
from keras_stability import datasets
from keras_stability import demo
from keras_stability import evaluation

# UDA's options, all together (`uda`) and one at a time.
UDA_OPTIONS = {
    "uda": {
        "sharpen_temperature": 0.4,
        "confidence_threshold": 0.6,
        "stop_gradient_clean": True,
        "signal_annealing": "linear",
    },
    "uda_sharpen": {"sharpen_temperature": 0.4, "stop_gradient_clean": True},
    "uda_mask": {"confidence_threshold": 0.6},
    "uda_tsa": {"signal_annealing": "linear"},
}
SETTINGS = ("baseline", "labeled", "unlabeled", *UDA_OPTIONS)


def labeled_indices(y, fraction, seed):
    """A stratified `fraction` of the indices of each class (at least one)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        count = max(1, round(fraction * len(members)))
        chosen.extend(rng.choice(members, count, replace=False))
    return np.sort(np.asarray(chosen))


def _model(setting, shape, classes, seed, annealing_steps):
    inputs, outputs = demo.NETWORKS["small_cnn"](shape, classes)
    if setting == "baseline":
        return keras.Model(inputs, outputs)
    options = dict(UDA_OPTIONS.get(setting, {}))
    if "signal_annealing" in options:
        options["annealing_steps"] = annealing_steps
    return StabilityModel(inputs, outputs, seed=seed, **options)


def train(setting, x_labeled, y_labeled, x_unlabeled, *, seed, epochs, batch, ratio):
    """Trains one setting and returns the model."""
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    classes = int(np.max(y_labeled)) + 1
    steps_per_epoch = -(-len(x_labeled) // batch)
    model = _model(
        setting, x_labeled.shape[1:], classes, seed, epochs * steps_per_epoch
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
    )
    labeled = tf.data.Dataset.from_tensor_slices((x_labeled, y_labeled)).shuffle(
        len(x_labeled), seed=seed, reshuffle_each_iteration=True
    )
    if setting not in ("baseline", "labeled"):
        unlabeled = tf.data.Dataset.from_tensor_slices(x_unlabeled).shuffle(
            len(x_unlabeled), seed=seed + 1, reshuffle_each_iteration=True
        )
        dataset = data.with_unlabeled(labeled, unlabeled, ratio, batch_size=batch)
    else:
        dataset = labeled.batch(batch)
    model.fit(dataset, epochs=epochs, verbose=0, shuffle=False)
    return model


def summarize(records, task, setting, seeds):
    """Mean and spread over seeds of clean top-1 and the strongest flip rate."""
    found = [records.get(f"{task}|{setting}|{seed}") for seed in seeds]
    if any(r is None for r in found):
        return None
    base = [records.get(f"{task}|baseline|{seed}") for seed in seeds]
    top1 = [r["report"]["clean/top1"] for r in found]
    flips = [evaluation.mean_strongest_flip_rate(r["report"]) for r in found]
    ratios = None
    if all(b is not None for b in base):
        base_flips = [evaluation.mean_strongest_flip_rate(b["report"]) for b in base]
        ratios = np.divide(flips, np.maximum(base_flips, 1e-12))
    return top1, flips, ratios


def print_table(records, args, out=sys.stdout):
    for task in args.tasks:
        print(
            f"\n{task}, {args.labeled_fraction:.0%} of the labels "
            f"({len(args.seeds)} seeds, {args.epochs} epochs)",
            file=out,
        )
        print(
            f"{'setting':<12} {'clean top-1':>15}  {'strongest flip':>15}  "
            f"{'x baseline':>11}",
            file=out,
        )
        for setting in args.settings:
            summary = summarize(records, task, setting, args.seeds)
            if summary is None:
                continue
            top1, flips, ratios = summary
            ratio = (
                ""
                if ratios is None
                else f"{np.mean(ratios):>5.2f}+-{np.std(ratios):.2f}"
            )
            print(
                f"{setting:<12} {np.mean(top1):.4f}+-{np.std(top1):.4f}  "
                f"{np.mean(flips):.4f}+-{np.std(flips):.4f}  {ratio:>11}",
                file=out,
            )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["photographs", "grayscale"])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--labeled-fraction", type=float, default=0.1)
    parser.add_argument("--unlabeled-ratio", type=float, default=3.0)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument(
        "--runs",
        default=os.path.join(os.path.dirname(__file__), "unlabeled_runs.jsonl"),
    )
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.settings) - set(SETTINGS))
    if unknown:
        parser.error(f"unknown settings {unknown}; choose from {list(SETTINGS)}")
    task_kwargs = {}
    if args.quick:
        args.seeds, args.epochs, args.runs = args.seeds[:1], 1, None
        task_kwargs = {"patch_size": 16, "train_per_class": 10, "test_per_class": 3}
    config = {
        "labeled_fraction": args.labeled_fraction,
        "unlabeled_ratio": args.unlabeled_ratio,
        "epochs": args.epochs,
        "batch": args.batch,
        "quick": args.quick,
        "backend": keras.backend.backend(),
    }
    records = load_runs(args.runs, config)
    if not args.table_only:
        for task in args.tasks:
            (x_train, y_train), (x_test, y_test) = datasets.load_task(
                task, **task_kwargs
            )
            for seed in args.seeds:
                chosen = labeled_indices(y_train, args.labeled_fraction, seed)
                rest = np.setdiff1d(np.arange(len(x_train)), chosen)
                for setting in args.settings:
                    key = f"{task}|{setting}|{seed}"
                    if key in records:
                        continue
                    started = time.time()
                    model = train(
                        setting,
                        x_train[chosen],
                        y_train[chosen],
                        x_train[rest],
                        seed=seed,
                        epochs=args.epochs,
                        batch=args.batch,
                        ratio=args.unlabeled_ratio,
                    )
                    report = evaluation.robustness_report(
                        model, x_test, y_test, seed=seed, verbose=0
                    )
                    record = {
                        "key": key,
                        "task": task,
                        "setting": setting,
                        "seed": seed,
                        "labeled": int(len(chosen)),
                        "unlabeled": int(len(rest)),
                        "train_seconds": round(time.time() - started, 1),
                        "config": config,
                        "report": {
                            k: v for k, v in report.items() if not k.endswith("/kl")
                        },
                    }
                    records[key] = record
                    print(
                        f"{key}: top-1 {report['clean/top1']:.4f}, strongest flip "
                        f"{evaluation.mean_strongest_flip_rate(report):.4f} "
                        f"({record['train_seconds']} s)",
                        flush=True,
                    )
                    append_run(args.runs, record)
    print_table(records, args)
    return records


if __name__ == "__main__":
    main()
