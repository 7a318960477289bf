"""The `keras-stability` commands: `demo`, `evaluate` and `duplicates`."""

import os

import keras

from keras_stability import data
from keras_stability import demo as demo_module
from keras_stability import duplicates as duplicates_module
from keras_stability import evaluation
from keras_stability.cli.models import CommandError
from keras_stability.cli.models import check_output_folder
from keras_stability.cli.models import image_input
from keras_stability.cli.models import load_model
from keras_stability.cli.models import model_value_range
from keras_stability.evaluation import families as suite_families

__all__ = ["demo", "duplicates", "evaluate"]


def demo(args):
    """`keras-stability demo`: `demo.run_demo` with the command's arguments."""
    if args.dataset not in demo_module.DATASETS and not os.path.isdir(args.dataset):
        raise CommandError(
            f"--dataset {args.dataset}: neither one of {', '.join(demo_module.DATASETS)} "
            "nor a folder."
        )
    # run_demo writes its folder only after training every model.
    check_output_folder(args.output)
    try:
        demo_module.run_demo(
            args.output,
            quick=args.quick,
            epochs=args.epochs,
            seeds=args.seeds,
            dataset=args.dataset,
        )
    except ValueError as error:
        raise CommandError(str(error)) from error


def evaluate(args):
    """`keras-stability evaluate`: a robustness report of a model on a folder."""
    if args.output is not None:
        check_output_folder(args.output)
    model = load_model(args.model, args.unsafe)
    height, width, channels = image_input(model)
    value_range = model_value_range(args.value_range, model)
    if not os.path.isdir(args.data):
        raise CommandError(f"Data folder not found: {args.data}")
    try:
        x, y, class_names = data.load_image_folder(
            args.data,
            image_size=(height, width),
            color_mode="grayscale" if channels == 1 else "rgb",
        )
    except ValueError as error:
        raise CommandError(str(error)) from error
    low, high = value_range
    if value_range != (0.0, 1.0):
        x = (low + x * (high - low)).astype("float32")
    distortions = _chosen_distortions(args.distortions, value_range)
    try:
        report = evaluation.robustness_report(
            model,
            x,
            y,
            distortions=distortions,
            batch_size=args.batch_size,
            value_range=value_range,
            output_dir=args.output,
        )
    except ValueError as error:  # Its errors say what is wrong with the input.
        raise CommandError(" ".join(str(error).split())) from error
    print(evaluation.format_report(report))
    if args.suggest:
        print()
        print(_suggestion(report, value_range))
    # The one-line summary comes last, as in every command.
    print(
        f"\n{report['num_images']} images, {len(class_names)} classes: clean top-1 "
        f"{report['clean/top1']:.4f}, flip rate at the strongest severities "
        f"{evaluation.mean_strongest_flip_rate(report):.4f}"
        + (f". Wrote {args.output}." if args.output else ".")
    )


def _chosen_distortions(names, value_range):
    """The distortions of `--distortions` (suites and families), or None."""
    if names is None:
        return None
    known = [*suite_families.SUITES, *suite_families.FAMILIES]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise CommandError(
            f"--distortions: unknown {', '.join(unknown)}; choose from "
            f"{', '.join(known)}."
        )
    chosen = {}
    for suite_name, suite in suite_families.SUITES.items():
        for name, layer in suite(value_range).items():
            family = suite_families.parse_condition(name)[0]
            if suite_name in names or family in names:
                chosen.setdefault(name, layer)
    return chosen


def _suggestion(report, value_range):
    """The lines `evaluate --suggest` prints: a perturbation to train with."""
    range_argument = {} if value_range == (0.0, 1.0) else {"value_range": value_range}
    try:
        perturbation = evaluation.suggest_perturbation(report, **range_argument)
    except ValueError as error:
        return f"No suggestion: {error}"
    return (
        "To train this model against what flips it (suggest_perturbation: the "
        "families that flip it most, at the severities that flip it):\n\n"
        "    from keras_stability import StabilityModel, perturbations\n"
        f"    perturbation = {evaluation.perturbation_code(perturbation)}\n"
        "    model = StabilityModel(inputs, outputs, perturbation=perturbation)"
    )


def duplicates(args):
    """`keras-stability duplicates`: near-duplicate pairs of a folder's images."""
    if (args.threshold is None) == (args.precision is None):
        raise CommandError(
            "Pass either --threshold T (a fixed distance) or --precision P (a "
            "threshold calibrated for it)"
            + (", not both." if args.threshold is not None else ".")
        )
    if args.calibration is not None and args.precision is None:
        raise CommandError(
            "--calibration goes with --precision: it names the folder the "
            "threshold is calibrated on."
        )
    if args.calibration_images < 2:
        raise CommandError(
            f"--calibration-images {args.calibration_images}: calibration needs "
            "at least 2 images."
        )
    for flag, folder in (
        ("Image folder", args.directory),
        ("--calibration", args.calibration),
    ):
        if folder is not None and not os.path.isdir(folder):
            raise CommandError(f"{flag} not found: {folder}")
    if not duplicates_module.image_paths(args.directory):
        raise CommandError(f"No images found below {args.directory}.")
    check_output_folder(args.output)
    model = _embedding_model(load_model(args.model, args.unsafe), args.output_layer)
    height, width, channels = image_input(model, args.image_size, size_flag=True)
    try:
        result = duplicates_module.run_duplicates(
            model,
            args.directory,
            args.output,
            (height, width),
            threshold=args.threshold,
            precision=args.precision,
            calibration_directory=args.calibration,
            calibration_images=args.calibration_images,
            color_mode="grayscale" if channels == 1 else "rgb",
            value_range=model_value_range(args.value_range, model),
            batch_size=args.batch_size,
            method=args.method,
        )
    except (ValueError, ImportError) as error:
        raise CommandError(" ".join(str(error).split())) from error
    print(
        f"{result['num_images']} images, {len(result['pairs'])} pairs within "
        f"{result['threshold']:.4g}, written to {args.output}"
    )


def _embedding_model(model, layer_name):
    """The model, or the model up to `--output-layer`, checked to embed."""
    if layer_name is not None:
        if not isinstance(model, keras.Model):
            raise CommandError(
                "--output-layer needs a .keras model; a SavedModel has no "
                "layers to read."
            )
        try:
            layer = model.get_layer(layer_name)
        except ValueError:
            names = ", ".join(layer.name for layer in model.layers)
            raise CommandError(
                f"--output-layer {layer_name}: the model has no layer of that "
                f"name; its layers are {names}."
            ) from None
        model = keras.Model(model.input, layer.output)
    shape = getattr(model, "output_shape", None)
    if shape is not None and (not isinstance(shape, tuple) or len(shape) != 2):
        where = f"layer {layer_name}" if layer_name else "the model's output"
        raise CommandError(
            f"The embedding must have shape (batch, dim), but {where} has "
            f"shape {shape}: pick a layer after pooling or Flatten with "
            "--output-layer."
        )
    return model
