"""`keras-stability`: the command line.

keras-stability --version
keras-stability demo [--output DIR] [--quick] [--epochs N] [--seeds N]
    [--dataset photographs|digits|DIR]
keras-stability evaluate MODEL --data DIR [--value-range LOW HIGH] [--suggest]
    [--distortions FAMILY ...] [--output DIR] [--unsafe]
keras-stability duplicates DIR --model MODEL (--threshold T | --precision P)
    [--output-layer NAME] [--calibration DIR] [--output OUT] [--image-size H W]
    [--value-range LOW HIGH] [--method numpy|faiss] [--unsafe]

The command's modules are imported inside the commands. The package itself
(Keras, and TensorFlow with it) loads before `main` runs, with TensorFlow's
start-up log held back (`_quiet_start`) unless `TF_CPP_MIN_LOG_LEVEL` is set.
"""

import argparse
import os
import sys

import numpy as np

from keras_stability import __version__

__all__ = ["main"]


class CommandError(Exception):
    """A user error: printed as one line, exit status 2."""


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _number(holds, expected):
    """An argparse type: a float for which `holds(value)` is true."""

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number, got {text!r}"
            ) from None
        if not holds(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value

    return parse


def _add_model_arguments(command):
    """`--value-range`, `--batch-size` and `--unsafe`: how a command runs a model."""
    command.add_argument(
        "--value-range",
        type=float,
        nargs=2,
        default=None,
        metavar=("LOW", "HIGH"),
        help="the pixel range the model takes, e.g. 0 255 for a model trained "
        "on keras.utils.image_dataset_from_directory output (default: 0 1); "
        "the images are mapped to it and the distortions scaled to it",
    )
    command.add_argument("--batch-size", type=_positive_int, default=128)
    command.add_argument(
        "--unsafe",
        action="store_true",
        help="load with safe_mode=False (runs code stored in "
        "the file, e.g. Lambda layers: only for files you trust)",
    )


def _parser():
    parser = argparse.ArgumentParser(
        prog="keras-stability",
        description="Stability Training for Keras: train and measure models "
        "whose predictions do not flip on near-duplicates.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    demo = commands.add_parser(
        "demo",
        help="train baseline, augmentation and stability models and compare them",
        description="Trains one small CNN three ways (baseline, the training "
        "perturbation as data augmentation, StabilityModel with the library "
        "defaults) on real photographs that ship with scikit-image and "
        "scikit-learn, each until its validation loss stops improving, and "
        "prints and writes their robustness reports side by side.",
    )
    demo.add_argument(
        "--output", default="demo_output", help="output folder (default: demo_output)"
    )
    demo.add_argument(
        "--quick",
        action="store_true",
        help="one seed, 6 epochs without early stopping, 200 test images "
        "(a quick check, not a result)",
    )
    demo.add_argument(
        "--epochs",
        type=_positive_int,
        default=None,
        help="the most training epochs (default: 40, or 6 with --quick)",
    )
    demo.add_argument(
        "--seeds",
        type=_positive_int,
        default=None,
        help="number of seeds (default: 3, or 1 with --quick)",
    )
    demo.add_argument(
        "--dataset",
        default="photographs",
        metavar="NAME_OR_DIR",
        help="'photographs' (default), 'digits' (scikit-learn's scanned "
        "digits), or a folder of class subfolders of images",
    )

    evaluate = commands.add_parser(
        "evaluate",
        help="robustness report of a saved model on a folder of images",
        description="Loads a .keras model (safe_mode unless --unsafe) or a "
        "SavedModel folder and reports accuracy, flip rate and KL under JPEG, "
        "thumbnail, crop and noise distortions.",
    )
    evaluate.add_argument(
        "model", help="a .keras file, a SavedModel folder or an .onnx file"
    )
    evaluate.add_argument(
        "--data",
        required=True,
        metavar="DIR",
        help="a folder of class subfolders of images",
    )
    evaluate.add_argument(
        "--output",
        default=None,
        metavar="DIR",
        help="write report.json, report.csv and robustness.png here",
    )
    evaluate.add_argument(
        "--suggest",
        action="store_true",
        help="also print the Python line of a training perturbation aimed at "
        "the distortions that flip this model most",
    )
    evaluate.add_argument(
        "--distortions",
        nargs="+",
        default=None,
        metavar="FAMILY",
        help="the distortion families to measure, e.g. jpeg crop "
        "(default: every family of the default suite: jpeg thumbnail crop noise)",
    )
    _add_model_arguments(evaluate)
    _add_duplicates_command(commands)
    return parser


def _add_duplicates_command(commands):
    duplicates = commands.add_parser(
        "duplicates",
        help="pairs of near-duplicate images in a folder, by a model's embedding",
        description="Embeds every image below DIR (subfolders included, "
        "hidden ones skipped) with a model, or one of its layers, and writes "
        "the pairs within an L2 distance threshold to OUT/pairs.csv (path_a, "
        "path_b, distance; paths relative to DIR; closest first), "
        "OUT/pairs.json and OUT/index.html (the closest 1000 pairs side by "
        "side, the images linked by relative path). The search is exact, by "
        "blocks of rows: memory grows with the number of images, not with its "
        "square. --precision P calibrates the threshold: a sample of the "
        "images (of CALIB_DIR with --calibration) is copied under JPEG "
        "quality 50, a half-size thumbnail and a crop shifted by up to 2 "
        "pixels, and the threshold is the largest at which a share P of the "
        "pairs it calls are an image and its own copy rather than two "
        "sampled images. That precision is on these made-up copies, not on "
        "the folder; real duplicates in the sample count as distinct images "
        "and make the threshold stricter (a --calibration folder of distinct "
        "images avoids that).",
    )
    duplicates.add_argument("directory", metavar="DIR", help="a folder of images")
    duplicates.add_argument(
        "--model",
        required=True,
        help="a .keras file (or a SavedModel folder) whose output, or "
        "--output-layer, is an embedding (batch, dim)",
    )
    duplicates.add_argument(
        "--output-layer",
        metavar="NAME",
        help="read the embedding from this layer (default: the model's output)",
    )
    duplicates.add_argument(
        "--threshold",
        type=_number(lambda value: value >= 0, "a number >= 0"),
        metavar="T",
        help="call pairs at distance <= T near-duplicates",
    )
    duplicates.add_argument(
        "--precision",
        type=_number(lambda value: 0 < value <= 1, "a number in (0, 1]"),
        metavar="P",
        help="calibrate the threshold for precision P in (0, 1], as above",
    )
    duplicates.add_argument(
        "--calibration",
        metavar="CALIB_DIR",
        help="with --precision: sample this folder's images, not DIR's",
    )
    duplicates.add_argument(
        "--calibration-images",
        type=_positive_int,
        default=200,
        metavar="N",
        help="how many images --precision samples (default: 200)",
    )
    duplicates.add_argument(
        "--output",
        default="duplicates_output",
        metavar="OUT",
        help="output folder (default: duplicates_output)",
    )
    duplicates.add_argument(
        "--image-size",
        type=_positive_int,
        nargs=2,
        metavar=("H", "W"),
        help="resize the images to H x W (default: the model's input size; "
        "needed where the model does not fix it)",
    )
    duplicates.add_argument(
        "--method",
        choices=("numpy", "faiss"),
        default="numpy",
        help="the exact search: NumPy blocks (default) or FAISS's flat index "
        "(pip install keras-stability[faiss])",
    )
    _add_model_arguments(duplicates)


class _SavedModelClassifier:
    """Adapts a SavedModel's `serve` endpoint to `predict_on_batch`."""

    def __init__(self, path):
        from keras_stability._backend import require_tensorflow

        try:
            tf = require_tensorflow("Evaluating a SavedModel")
        except RuntimeError as error:
            raise CommandError(
                f"{error} A .keras file loads on every backend."
            ) from None
        try:
            self._loaded = tf.saved_model.load(path)
        except Exception as error:  # A corrupt folder: any of TensorFlow's errors.
            raise CommandError(
                f"Could not load the SavedModel {path}: {_one_line(error)}"
            ) from error
        if not hasattr(self._loaded, "serve"):
            raise CommandError(f"{path} is a SavedModel without a `serve` endpoint.")
        self._tf = tf
        spec = self._loaded.serve.input_signature
        self.input_shape = tuple(spec[0].shape) if spec else None

    def predict_on_batch(self, x):
        return self._loaded.serve(self._tf.constant(x)).numpy()


def _load_model(path, unsafe):
    import keras

    # Registers our classes with Keras's deserializer.
    import keras_stability  # noqa: F401

    if not os.path.exists(path):
        raise CommandError(f"Model file not found: {path}")
    if os.path.isdir(path):
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise CommandError(f"{path} is a folder but not a SavedModel.")
        return _SavedModelClassifier(path)
    if path.endswith(".onnx"):
        from keras_stability import serving

        try:
            return serving.load_onnx(path)
        except (ImportError, ValueError) as error:
            raise CommandError(_one_line(error)) from error
    if not path.endswith(".keras"):
        raise CommandError(
            f"Expected a .keras file, a SavedModel folder or an .onnx file: {path}"
        )
    try:
        return keras.saving.load_model(path, safe_mode=not unsafe)
    except ValueError as error:
        if "safe_mode" in str(error) or "Lambda" in str(error):
            raise CommandError(
                f"Refused to load {path} in safe mode: it stores code (e.g. a "
                "Lambda layer). Pass --unsafe only if you trust the file."
            ) from error
        raise CommandError(_load_error(path, error)) from error
    except Exception as error:  # Not a zip, a truncated file, a missing class...
        raise CommandError(_load_error(path, error)) from error


def _load_error(path, error):
    # Keras reads a file it cannot open as a zip as a missing file
    # ("File not found"), so the path is said to exist.
    return (
        f"Could not load the model {path} (the file exists but Keras cannot "
        f"read it): {_one_line(error)}"
    )


def _one_line(error):
    """An exception as `Type: message`, its lines joined."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _check_output_folder(path):
    """Refuses an `--output` that cannot become a folder, before any work."""
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        where = "" if existing == os.path.abspath(path) else f" ({existing})"
        raise CommandError(f"--output must be a folder, but {path}{where} is a file.")
    if not os.access(existing, os.W_OK):
        raise CommandError(f"--output {path}: cannot write in {existing}.")


def _evaluate(args):
    from keras_stability import data
    from keras_stability import evaluation

    if args.output is not None:
        _check_output_folder(args.output)
    model = _load_model(args.model, args.unsafe)
    height, width, channels = _image_input(model)
    value_range = _value_range(args.value_range, model)
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
    distortions = _distortions(args.distortions, value_range)
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
    print(
        f"\n{report['num_images']} images, {len(class_names)} classes: clean top-1 "
        f"{report['clean/top1']:.4f}, flip rate at the strongest severities "
        f"{evaluation.mean_strongest_flip_rate(report):.4f}"
        + (f". Wrote {args.output}." if args.output else ".")
    )
    if args.suggest:
        print()
        print(_suggestion(report, value_range))


def _image_input(model, image_size=None, size_flag=False):
    """`(height, width, channels)` of the images `model` takes.

    `image_size` (`--image-size`, where `size_flag` says the command has it)
    sizes a model that leaves its size open, and must agree with one that
    fixes it.
    """
    shape = tuple(model.input_shape) if model.input_shape else None
    hint = "; pass --image-size H W" if size_flag else ""
    if not shape or len(shape) != 4:
        raise CommandError(
            "The model must take images of a fixed size (batch, height, width, "
            f"channels); its input shape is {shape}."
        )
    if shape[3] not in (1, 3):
        raise CommandError(
            f"The model takes {shape[3]} channels; images have 1 (grayscale) or 3 (RGB)."
        )
    size = tuple(shape[1:3])
    if image_size is not None:
        if any(
            s is not None and s != given
            for s, given in zip(size, image_size, strict=True)
        ):
            raise CommandError(
                f"--image-size {image_size[0]} {image_size[1]}: the model takes "
                f"images of {size[0]} x {size[1]}."
            )
        size = tuple(image_size)
    if None in size:
        raise CommandError(
            "The model must take images of a fixed size (batch, height, width, "
            f"channels); its input shape is {shape}{hint}."
        )
    return (*size, shape[3])


def _duplicates(args):
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
    from keras_stability import duplicates

    if not duplicates.image_paths(args.directory):
        raise CommandError(f"No images found below {args.directory}.")
    _check_output_folder(args.output)
    model = _embedding_model(_load_model(args.model, args.unsafe), args.output_layer)
    height, width, channels = _image_input(model, args.image_size, size_flag=True)
    try:
        result = duplicates.run_duplicates(
            model,
            args.directory,
            args.output,
            (height, width),
            threshold=args.threshold,
            precision=args.precision,
            calibration_directory=args.calibration,
            calibration_images=args.calibration_images,
            color_mode="grayscale" if channels == 1 else "rgb",
            value_range=_value_range(args.value_range, model),
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
    import keras

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


def _suggestion(report, value_range):
    """The lines `evaluate --suggest` prints: a perturbation to train with."""
    from keras_stability import evaluation

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


def _distortions(families, value_range):
    """The default suite's distortions of `families`, or None for all."""
    if families is None:
        return None
    from keras_stability.evaluation import families as suite_families

    suite = suite_families.default_distortions(value_range)
    known = list(suite_families.FAMILIES)
    unknown = [f for f in families if f not in known]
    if unknown:
        raise CommandError(
            f"--distortions: unknown {', '.join(unknown)}; choose from "
            f"{', '.join(known)}."
        )
    return {
        name: layer
        for name, layer in suite.items()
        if suite_families.parse_condition(name)[0] in families
    }


def _value_range(given, model):
    """`--value-range` as a pair, refusing what cannot be the model's range.

    Without the flag the images are in [0, 1]; a `.keras` model that begins
    by rescaling with 1/255 takes 0..255 images, and would silently see
    almost black ones, so it needs the flag.
    """
    if given is not None:
        low, high = given
        if not (low < high and all(abs(v) < 3e38 for v in given)):
            raise CommandError(
                f"--value-range needs LOW < HIGH, both finite; got {low:g} {high:g}."
            )
        return (low, high)
    first = _first_layer(model)
    if first is not None and type(first).__name__ == "Rescaling":
        scales = np.ravel(np.asarray(first.scale, "float64"))
        if scales.size and np.allclose(scales, 1 / 255):
            raise CommandError(
                f"The model's first layer ({first.name}) rescales by 1/255, so "
                "it takes images in 0..255, not the [0, 1] this command loads "
                "by default: pass --value-range 0 255."
            )
    return (0.0, 1.0)


def _first_layer(model):
    """The first layer after the inputs of a Keras model, else None."""
    for layer in getattr(model, "layers", []):
        if type(layer).__name__ != "InputLayer":
            return layer
    return None


def _demo(args):
    from keras_stability import demo

    if args.dataset not in demo.DATASETS and not os.path.isdir(args.dataset):
        raise CommandError(
            f"--dataset {args.dataset}: neither one of {', '.join(demo.DATASETS)} "
            "nor a folder."
        )
    # run_demo writes its folder only after training every model.
    _check_output_folder(args.output)
    try:
        demo.run_demo(
            args.output,
            quick=args.quick,
            epochs=args.epochs,
            seeds=args.seeds,
            dataset=args.dataset,
        )
    except ValueError as error:
        raise CommandError(str(error)) from error


def main(argv=None):
    """Entry point of the `keras-stability` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            _demo(args)
        elif args.command == "evaluate":
            _evaluate(args)
        else:
            _duplicates(args)
    except CommandError as error:
        print(f"keras-stability {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
