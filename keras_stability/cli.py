"""`keras-stability`: the command line.

keras-stability demo [--output DIR] [--quick] [--epochs N] [--seeds N] [--dataset DIR]
keras-stability evaluate MODEL --data DIR [--output DIR] [--unsafe]
"""

import argparse
import os
import sys

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


def _parser():
    parser = argparse.ArgumentParser(
        prog="keras-stability",
        description="Stability Training for Keras: train and measure models "
        "whose predictions do not flip on near-duplicates.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    demo = commands.add_parser(
        "demo",
        help="train baseline, augmentation and stability models and compare them",
        description="Trains one small CNN three ways (baseline, the training "
        "perturbation as data augmentation, StabilityModel with the library "
        "defaults) on real images that ship with scikit-learn, and prints and "
        "writes their robustness reports side by side.",
    )
    demo.add_argument(
        "--output", default="demo_output", help="output folder (default: demo_output)"
    )
    demo.add_argument(
        "--quick",
        action="store_true",
        help="one seed, 4 epochs, 200 test images (under 2 minutes)",
    )
    demo.add_argument(
        "--epochs",
        type=_positive_int,
        default=None,
        help="training epochs (default: 20, or 4 with --quick)",
    )
    demo.add_argument(
        "--seeds",
        type=_positive_int,
        default=None,
        help="number of seeds (default: 3, or 1 with --quick)",
    )
    demo.add_argument(
        "--dataset",
        default=None,
        metavar="DIR",
        help="a folder of class subfolders of images to use instead of the digits",
    )

    evaluate = commands.add_parser(
        "evaluate",
        help="robustness report of a saved model on a folder of images",
        description="Loads a .keras model (safe_mode unless --unsafe) or a "
        "SavedModel folder and reports accuracy, flip rate and KL under JPEG, "
        "thumbnail, crop and noise distortions.",
    )
    evaluate.add_argument("model", help="a .keras file or a SavedModel folder")
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
    evaluate.add_argument("--batch-size", type=_positive_int, default=128)
    evaluate.add_argument(
        "--unsafe",
        action="store_true",
        help="load with safe_mode=False (runs code stored in "
        "the file, e.g. Lambda layers: only for files you trust)",
    )
    return parser


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
    if not path.endswith(".keras"):
        raise CommandError(f"Expected a .keras file or a SavedModel folder: {path}")
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
    shape = tuple(model.input_shape) if model.input_shape else None
    if not shape or len(shape) != 4 or shape[1] is None or shape[2] is None:
        raise CommandError(
            "The model must take images of a fixed size (batch, height, width, "
            f"channels); its input shape is {shape}."
        )
    if shape[3] not in (1, 3):
        raise CommandError(
            f"The model takes {shape[3]} channels; images have 1 (grayscale) or 3 (RGB)."
        )
    if not os.path.isdir(args.data):
        raise CommandError(f"Data folder not found: {args.data}")
    try:
        x, y, class_names = data.load_image_folder(
            args.data,
            image_size=shape[1:3],
            color_mode="grayscale" if shape[3] == 1 else "rgb",
        )
    except ValueError as error:
        raise CommandError(str(error)) from error
    try:
        report = evaluation.robustness_report(
            model, x, y, batch_size=args.batch_size, output_dir=args.output
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


def _demo(args):
    from keras_stability import demo

    if args.dataset is not None and not os.path.isdir(args.dataset):
        raise CommandError(f"Dataset folder not found: {args.dataset}")
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
        else:
            _evaluate(args)
    except CommandError as error:
        print(f"keras-stability {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
