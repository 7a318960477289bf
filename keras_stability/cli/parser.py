"""The `keras-stability` command's arguments: one parser, one subparser a command."""

import argparse

from keras_stability import __version__

__all__ = ["add_model_arguments", "build_parser"]


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def number(holds, expected):
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


def add_model_arguments(command):
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
    command.add_argument("--batch-size", type=positive_int, default=128)
    command.add_argument(
        "--unsafe",
        action="store_true",
        help="load with safe_mode=False (runs code stored in "
        "the file, e.g. Lambda layers: only for files you trust)",
    )


def build_parser():
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
        type=positive_int,
        default=None,
        help="the most training epochs (default: 40, or 6 with --quick)",
    )
    demo.add_argument(
        "--seeds",
        type=positive_int,
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
        help="the suites or families to measure, e.g. jpeg crop, or "
        "imagenet-c (ImageNet-C's corruptions at levels 1-5), or default "
        "shot_noise (default: the default suite: jpeg thumbnail crop noise)",
    )
    add_model_arguments(evaluate)
    add_duplicates_command(commands)
    return parser


def add_duplicates_command(commands):
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
        type=number(lambda value: value >= 0, "a number >= 0"),
        metavar="T",
        help="call pairs at distance <= T near-duplicates",
    )
    duplicates.add_argument(
        "--precision",
        type=number(lambda value: 0 < value <= 1, "a number in (0, 1]"),
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
        type=positive_int,
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
        type=positive_int,
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
    add_model_arguments(duplicates)
