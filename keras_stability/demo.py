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
from keras_stability import datasets
from keras_stability import evaluation
from keras_stability import model as model_module
from keras_stability import perturbations
from keras_stability import plotting
from keras_stability._checks import check_int
from keras_stability._checks import is_number
from keras_stability.model import StabilityModel

__all__ = [
    "DATASETS",
    "MODEL_KINDS",
    "NETWORKS",
    "build_bn_cnn",
    "build_cnn",
    "mean_and_spread",
    "run_demo",
    "summarize",
    "train_model",
]

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


def build_bn_cnn(input_shape, num_classes):
    """A CNN with BatchNormalization: three conv-BN-ReLU blocks, global pooling.

    The second family of the robustness benchmark: batch statistics, no
    dense hidden layer, and a global average pool in place of flattening,
    as in the ResNet family.

    Args:
        input_shape: the shape of one image, `(height, width, channels)`.
        num_classes: the number of classes of the softmax output.

    Returns:
        `(inputs, outputs)`, as `build_cnn`.
    """
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for filters in (16, 32, 64):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        # Momentum 0.9: the moving statistics settle within an epoch of a
        # small data set, so the validation loss means something early.
        x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.Activation("relu")(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probs")(x)
    return inputs, outputs


# The network families `train_model` builds, by name.
NETWORKS = {"small_cnn": build_cnn, "bn_cnn": build_bn_cnn}


def _validation_split(x, y, fraction, seed):
    """A shuffled, stratified `(train, validation)` split of arrays."""
    rng = np.random.default_rng(seed)
    held_out = np.zeros(len(y), bool)
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        count = min(len(members) - 1, round(len(members) * fraction))
        held_out[rng.choice(members, count, replace=False)] = True
    return (x[~held_out], y[~held_out]), (x[held_out], y[held_out])


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
    network="small_cnn",
    patience=None,
    validation_fraction=0.15,
    verbose=0,
    stability_kwargs=None,
):
    """Trains a network one of three ways and returns the Keras model.

    With `patience=None` the model trains for `epochs` epochs on all of
    `x_train`. With a `patience`, a stratified `validation_fraction` of
    `x_train` is held out, training stops once the cross-entropy on those
    clean images has not improved for `patience` epochs (at most `epochs`
    epochs), and the weights of the best epoch are restored: each model is then trained
    until it stops improving, however slowly it converges. The model's
    `trained_epochs` and `best_epoch` attributes say how far it went.

    Args:
        kind: `"baseline"`, `"augmentation"` or `"stability"`.
        x_train: images `(n, h, w, c)` in [0, 1].
        y_train: integer labels.
        epochs: training epochs, or the most epochs with `patience`.
            Required (no default).
        seed: seeds initialization, shuffling, the validation split and the
            perturbations. Required (no default).
        batch_size: the training batch size. Defaults to 64.
        perturbation: training perturbation (a Keras layer that perturbs
            only in training) for `augmentation` and `stability`. Defaults
            to the library default for the images' shape.
        alpha: stability weight. Defaults to the library default.
        network: a key of `NETWORKS`. Defaults to `"small_cnn"`.
        patience: epochs without a better validation cross-entropy before
            stopping, an int >= 1, or `None` to train `epochs` epochs.
            Defaults to `None`.
        validation_fraction: the share of each class held out for early
            stopping, in (0, 1). Defaults to 0.15.
        verbose: passed to `fit`. Defaults to 0.
        stability_kwargs: further `StabilityModel` arguments for
            `"stability"` (e.g. `{"num_views": 2}`). Defaults to `None`.

    Returns:
        The trained model (its `predict` never perturbs).
    """
    if kind not in MODEL_KINDS:
        raise ValueError(
            f"`kind` must be one of {MODEL_KINDS}. Received: kind={kind!r}"
        )
    if network not in NETWORKS:
        raise ValueError(
            f"`network` must be one of {tuple(NETWORKS)}. Received: network={network!r}"
        )
    check_int(epochs, "epochs", 1)
    check_int(patience, "patience", 1, allow_none=True)
    if not (is_number(validation_fraction) and 0 < validation_fraction < 1):
        raise ValueError(
            "`validation_fraction` must be in (0, 1). "
            f"Received: validation_fraction={validation_fraction!r}"
        )
    keras.utils.set_random_seed(seed)
    num_classes = int(np.max(y_train)) + 1
    inputs, outputs = NETWORKS[network](x_train.shape[1:], num_classes)
    if perturbation is None:
        perturbation = perturbations.default_perturbation(x_train.shape[1:])
    if kind == "baseline":
        model = keras.Model(inputs, outputs)
    elif kind == "augmentation":
        body = keras.Model(inputs, outputs)
        augmented_inputs = keras.Input(x_train.shape[1:], name="image")
        # A perturbation layer perturbs in training and is the identity in
        # inference, so this model trains on perturbed copies only.
        perturbed = perturbation(augmented_inputs)
        model = keras.Model(augmented_inputs, body(perturbed))
    else:
        kwargs = {"perturbation": perturbation, "seed": seed}
        if alpha is not None:
            kwargs["alpha"] = alpha
        kwargs.update(stability_kwargs or {})
        model = StabilityModel(inputs, outputs, **kwargs)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=[
            "accuracy",
            keras.metrics.SparseCategoricalCrossentropy(name="cross_entropy"),
        ],
    )
    fit_kwargs = {"batch_size": batch_size, "epochs": epochs, "verbose": verbose}
    if patience is not None:
        (x_train, y_train), validation = _validation_split(
            x_train, y_train, validation_fraction, seed
        )
        # The clean cross-entropy, the same for the three kinds (the loss
        # of a StabilityModel holds its stability term too). Accuracy on a
        # few hundred validation images is too noisy to stop on: on the
        # digits it peaks by chance within the first epochs.
        stopping = keras.callbacks.EarlyStopping(
            "val_cross_entropy", patience=patience, restore_best_weights=True
        )
        fit_kwargs.update(validation_data=validation, callbacks=[stopping])
    history = model.fit(x_train, y_train, **fit_kwargs)
    model.trained_epochs = len(history.epoch)
    model.best_epoch = (
        model.trained_epochs if patience is None else stopping.best_epoch + 1
    )
    return model


def mean_and_spread(reports):
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


# The bundled data sets the demo knows by name, and how it describes them.
DATASETS = {
    "photographs": "32x32 colour patches of ten photographs shipped with "
    "scikit-image and scikit-learn (the class is the photograph)",
    "digits": "scikit-learn digits (1,797 scans, 8x8 brought up to 32x32)",
}


def _load_dataset(dataset):
    """`(train, test, description)` of a bundled data set or an image folder."""
    if dataset in DATASETS:
        train, test = datasets.load_task(dataset)
        return train, test, DATASETS[dataset]
    if not (isinstance(dataset, str) and os.path.isdir(dataset)):
        raise ValueError(
            f"`dataset` must be one of {tuple(DATASETS)} or a folder of class "
            f"subfolders. Received: dataset={dataset!r}"
        )
    x, y, _ = data.load_image_folder(dataset)
    order = np.random.default_rng(0).permutation(len(x))
    cut = int(round(len(x) * 0.75))
    train = x[order[:cut]], y[order[:cut]]
    test = x[order[cut:]], y[order[cut:]]
    return train, test, os.path.abspath(dataset)


def run_demo(
    output="demo_output",
    *,
    quick=False,
    epochs=None,
    seeds=None,
    dataset="photographs",
    patience=None,
    verbose=1,
):
    """Runs the three-way comparison and writes the report.

    Each model trains until its validation loss stops improving (see
    `train_model`'s `patience`), since stability training converges more
    slowly than plain training; `quick` trains a fixed few epochs instead.

    Args:
        output: folder for `report.json`, `report.csv` and `robustness.png`.
            Defaults to `"demo_output"`.
        quick: a short run: one seed, `epochs` fixed epochs without early
            stopping, 200 test images. Defaults to `False`.
        epochs: the most training epochs, an int >= 1. Defaults to 40 (6,
            trained in full, with `quick`).
        seeds: number of seeds, an int >= 1. Defaults to 3 (1 with `quick`).
        dataset: `"photographs"`, `"digits"` (see `DATASETS`) or a folder of
            class subfolders of images, split 75/25 at random. Defaults to
            `"photographs"`.
        patience: epochs without a better validation cross-entropy before a
            model stops, an int >= 1. Defaults to 5 (no early stopping with
            `quick`).
        verbose: 1 prints progress and the tables. Defaults to 1.

    Returns:
        The report dict that was written to `report.json`.
    """
    epochs = epochs if epochs is not None else (6 if quick else 40)
    seeds = seeds if seeds is not None else (1 if quick else 3)
    patience = patience if patience is not None or quick else 5
    # As Python ints (NumPy ints too), for the JSON.
    epochs = check_int(epochs, "epochs", 1)
    seeds = check_int(seeds, "seeds", 1)
    patience = check_int(patience, "patience", 1, allow_none=True)
    started = time.time()
    (x_train, y_train), (x_test, y_test), source = _load_dataset(dataset)
    if quick:
        # A fixed draw across classes (the test set is ordered by class).
        keep = np.sort(np.random.default_rng(0).permutation(len(x_test))[:200])
        x_test, y_test = x_test[keep], y_test[keep]
    perturbation = perturbations.default_perturbation(x_train.shape[1:])
    per_kind = {kind: [] for kind in MODEL_KINDS}
    trained_epochs = {kind: [] for kind in MODEL_KINDS}
    for seed in range(seeds):
        for kind in MODEL_KINDS:
            if verbose:
                limit = f"up to {epochs}" if patience else f"{epochs}"
                print(f"[seed {seed + 1}/{seeds}] training {kind} ({limit} epochs)")
            model = train_model(
                kind,
                x_train,
                y_train,
                epochs=epochs,
                patience=patience,
                seed=seed,
                perturbation=perturbations.default_perturbation(x_train.shape[1:]),
            )
            trained_epochs[kind].append(model.best_epoch)
            if verbose:
                print(
                    f"[seed {seed + 1}/{seeds}] robustness report for {kind} "
                    f"(best epoch {model.best_epoch} of {model.trained_epochs})"
                )
            per_kind[kind].append(
                evaluation.robustness_report(
                    model, x_test, y_test, seed=seed, verbose=verbose
                )
            )
    models, spreads = {}, {}
    for kind, reports in per_kind.items():
        models[kind], spreads[kind] = mean_and_spread(reports)
    config = {
        "data": source,
        "train_images": int(len(x_train)),
        "test_images": int(len(x_test)),
        "max_epochs": epochs,
        "patience": patience,
        "best_epochs": trained_epochs,
        "seeds": seeds,
        "quick": quick,
        "alpha": model_module.DEFAULT_ALPHA,
        "perturbation": keras.saving.serialize_keras_object(perturbation),
        "keras_backend": keras.backend.backend(),
        "seconds": round(time.time() - started, 1),
    }
    result = {"models": models, "spreads": spreads, "config": config}
    os.makedirs(output, exist_ok=True)
    with open(os.path.join(output, "report.json"), "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    evaluation.write_csv(models, os.path.join(output, "report.csv"), spreads=spreads)
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
