"""The main job: baseline vs augmentation vs stability training on real images.

Trains one small CNN three ways on the same data, then measures each with
`robustness_report`:

- `baseline`: a plain `keras.Model` on clean images.
- `augmentation`: the same network trained on perturbed copies only (the
  training perturbation used as data augmentation).
- `stability`: `StabilityModel` with the library's defaults.
"""

import json
import os
import time

import keras
import numpy as np

from keras_stability import data
from keras_stability import evaluation
from keras_stability import model as model_module
from keras_stability._checks import check_int
from keras_stability.model import StabilityModel

__all__ = ["MODEL_KINDS", "build_cnn", "run_demo", "summarize", "train_model"]

MODEL_KINDS = ("baseline", "augmentation", "stability")


def build_cnn(input_shape, num_classes):
    """The demo's small CNN (two conv blocks, a dense layer, softmax).

    Args:
        input_shape: the shape of one image, `(height, width, channels)`.
        num_classes: the number of classes of the softmax output.

    Returns:
        `(inputs, outputs)`, the symbolic input and output of the network,
        for `keras.Model(inputs, outputs)` or `StabilityModel(...)`.
    """
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probs")(x)
    return inputs, outputs


def train_model(
    kind,
    x_train,
    y_train,
    *,
    epochs,
    seed,
    batch_size=64,
    perturbation=None,
    alpha=None,
    verbose=0,
):
    """Trains the demo CNN one of three ways and returns the Keras model.

    Args:
        kind: `"baseline"`, `"augmentation"` or `"stability"`.
        x_train: images `(n, h, w, c)` in [0, 1].
        y_train: integer labels.
        epochs: training epochs. Required (no default).
        seed: seeds initialization, shuffling and perturbations. Required
            (no default).
        batch_size: the training batch size. Defaults to 64.
        perturbation: training perturbation (a Keras layer that perturbs
            only in training) for `augmentation` and `stability`. Defaults
            to the library default.
        alpha: stability weight. Defaults to the library default.
        verbose: passed to `fit`. Defaults to 0.

    Returns:
        The trained model (its `predict` never perturbs).
    """
    if kind not in MODEL_KINDS:
        raise ValueError(
            f"`kind` must be one of {MODEL_KINDS}. Received: kind={kind!r}"
        )
    keras.utils.set_random_seed(seed)
    num_classes = int(np.max(y_train)) + 1
    inputs, outputs = build_cnn(x_train.shape[1:], num_classes)
    if perturbation is None:
        perturbation = model_module.default_perturbation()
    if kind == "baseline":
        model = keras.Model(inputs, outputs)
    elif kind == "augmentation":
        network = keras.Model(inputs, outputs)
        augmented_inputs = keras.Input(x_train.shape[1:], name="image")
        # A perturbation layer perturbs in training and is the identity in
        # inference, so this model trains on perturbed copies only.
        perturbed = perturbation(augmented_inputs)
        model = keras.Model(augmented_inputs, network(perturbed))
    else:
        kwargs = {"perturbation": perturbation, "seed": seed}
        if alpha is not None:
            kwargs["alpha"] = alpha
        model = StabilityModel(inputs, outputs, **kwargs)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=verbose)
    return model


def _mean_and_spread(reports):
    """The mean and the spread over seeds of each entry of the reports.

    The spread is the population standard deviation (`np.std`, `ddof=0`):
    `sqrt(mean((v - mean(v)) ** 2))` over the runs, 0.0 for a single run.

    Args:
        reports: a list of reports (one per seed) with the keys of the first.

    Returns:
        `(mean, spread)`: two dicts with the first report's keys and Python
        float values.
    """
    keys = reports[0].keys()
    mean = {k: float(np.mean([r[k] for r in reports])) for k in keys}
    spread = {k: float(np.std([r[k] for r in reports])) for k in keys}
    return mean, spread


def summarize(models):
    """One line per model: clean top-1 and mean strongest-severity flip rate."""
    lines = []
    baseline = models.get("baseline")
    for name, report in models.items():
        flips = evaluation.mean_strongest_flip_rate(report)
        line = f"{name:>12}: clean top-1 {report.get('clean/top1', float('nan')):.4f}, "
        line += f"flip rate at the strongest severities {flips:.4f}"
        if baseline is not None and name != "baseline":
            base = evaluation.mean_strongest_flip_rate(baseline)
            if base > 0:
                line += f" ({flips / base:.2f}x baseline)"
        lines.append(line)
    return "\n".join(lines)


def run_demo(
    output="demo_output",
    *,
    quick=False,
    epochs=None,
    seeds=None,
    dataset=None,
    verbose=1,
):
    """Runs the three-way comparison and writes the report.

    Args:
        output: folder for `report.json`, `report.csv` and `robustness.png`.
            Defaults to `"demo_output"`.
        quick: fewer epochs, one seed, a smaller test set. Defaults to `False`.
        epochs: training epochs, an int >= 1. Defaults to 20 (4 with
            `quick`).
        seeds: number of seeds, an int >= 1. Defaults to 3 (1 with `quick`).
        dataset: a folder of class subfolders to use instead of the digits.
            Defaults to `None`.
        verbose: 1 prints progress and the tables. Defaults to 1.

    Returns:
        The report dict that was written to `report.json`.
    """
    epochs = epochs if epochs is not None else (4 if quick else 20)
    seeds = seeds if seeds is not None else (1 if quick else 3)
    # As Python ints (NumPy ints too), for the JSON.
    epochs = check_int(epochs, "epochs", 1)
    seeds = check_int(seeds, "seeds", 1)
    started = time.time()
    if dataset is None:
        (x_train, y_train), (x_test, y_test) = data.load_digits()
        source = "scikit-learn digits (1,797 scans, 8x8 brought up to 32x32)"
    else:
        x, y, _ = data.load_image_folder(dataset)
        rng = np.random.default_rng(0)
        order = rng.permutation(len(x))
        cut = int(round(len(x) * 0.75))
        x_train, y_train = x[order[:cut]], y[order[:cut]]
        x_test, y_test = x[order[cut:]], y[order[cut:]]
        source = os.path.abspath(dataset)
    if quick:
        x_test, y_test = x_test[:200], y_test[:200]
    per_kind = {kind: [] for kind in MODEL_KINDS}
    for seed in range(seeds):
        for kind in MODEL_KINDS:
            if verbose:
                print(f"[seed {seed + 1}/{seeds}] training {kind} ({epochs} epochs)")
            model = train_model(kind, x_train, y_train, epochs=epochs, seed=seed)
            if verbose:
                print(f"[seed {seed + 1}/{seeds}] robustness report for {kind}")
            per_kind[kind].append(
                evaluation.robustness_report(
                    model, x_test, y_test, seed=seed, verbose=verbose
                )
            )
    models, spreads = {}, {}
    for kind, reports in per_kind.items():
        models[kind], spreads[kind] = _mean_and_spread(reports)
    config = {
        "data": source,
        "train_images": int(len(x_train)),
        "test_images": int(len(x_test)),
        "epochs": epochs,
        "seeds": seeds,
        "quick": quick,
        "alpha": model_module.DEFAULT_ALPHA,
        "perturbation": keras.saving.serialize_keras_object(
            model_module.default_perturbation()
        ),
        "keras_backend": keras.backend.backend(),
        "seconds": round(time.time() - started, 1),
    }
    result = {"models": models, "spreads": spreads, "config": config}
    os.makedirs(output, exist_ok=True)
    with open(os.path.join(output, "report.json"), "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    evaluation.write_csv(models, os.path.join(output, "report.csv"), spreads=spreads)
    from keras_stability import plotting

    plotting.plot_robustness(
        models, os.path.join(output, "robustness.png"), spreads=spreads
    )
    if verbose:
        print()
        print(evaluation.format_report(models))
        print()
        print(summarize(models))
        print(
            f"\nWrote {output}/report.json, report.csv, robustness.png "
            f"in {config['seconds']:.0f} s."
        )
    return result
