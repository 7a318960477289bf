"""The whole job of `keras-stability duplicates`: threshold, pairs, files."""

from keras_stability.duplicates.report import write_duplicates
from keras_stability.duplicates.search import CALIBRATION_IMAGES
from keras_stability.duplicates.search import calibrate_on_folder
from keras_stability.duplicates.search import find_duplicates

__all__ = ["run_duplicates"]


def run_duplicates(
    model,
    directory,
    output_dir,
    image_size,
    *,
    threshold=None,
    precision=None,
    calibration_directory=None,
    calibration_images=CALIBRATION_IMAGES,
    color_mode="rgb",
    value_range=(0, 1),
    batch_size=128,
    method="numpy",
    verbose=True,
):
    """Finds the near-duplicate pairs of a folder and writes them.

    With `threshold`, `find_duplicates` at that threshold. With
    `precision`, first `calibrate_on_folder` on `calibration_directory`
    (the folder itself if `None`) for that precision, then
    `find_duplicates` at the threshold it gives. Then `write_duplicates`
    into `output_dir`, with the calibration under `"calibration"` (`None`
    for a given threshold).

    Args:
        model: maps images to embeddings `(batch, dim)`.
        directory: the folder of images.
        output_dir: where `pairs.csv`, `pairs.json` and `index.html` go.
        image_size: `(height, width)` the model takes.
        threshold: the largest distance of a pair kept; exactly one of
            `threshold` and `precision` must be given.
        precision: the target precision of a calibrated threshold, in
            (0, 1].
        calibration_directory: the folder to calibrate on. Defaults to
            `None`: `directory`.
        calibration_images: how many images calibration samples. Defaults
            to `CALIBRATION_IMAGES`.
        color_mode: `"rgb"` or `"grayscale"`. Defaults to `"rgb"`.
        value_range: the pixel range the model takes. Defaults to `(0, 1)`.
        batch_size: images per batch. Defaults to 128.
        method: `"numpy"` or `"faiss"`, the search of
            `evaluation.close_pairs`. Defaults to `"numpy"`.
        verbose: print what it does and show progress bars. Defaults to
            `True`.

    Returns:
        The result of `find_duplicates`, with `calibration`: what was written
        to `pairs.json`.

    Example:

    ```python
    import json
    import os
    import tempfile
    import keras
    import numpy as np
    from PIL import Image
    from keras_stability.duplicates import run_duplicates

    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten()])
    picture = (np.random.default_rng(0).random((8, 8)) * 255).astype("uint8")
    with tempfile.TemporaryDirectory() as folder:
        os.makedirs(os.path.join(folder, "copies"))
        Image.fromarray(picture).save(os.path.join(folder, "picture.png"))
        Image.fromarray(picture).save(os.path.join(folder, "copies", "same.png"))
        Image.fromarray(255 - picture).save(os.path.join(folder, "negative.png"))
        output = os.path.join(folder, "out")
        run_duplicates(model, folder, output, (8, 8), threshold=0.0,
                       color_mode="grayscale", verbose=False)
        with open(os.path.join(output, "pairs.json")) as f:
            written = json.load(f)
    assert written["calibration"] is None and written["num_images"] == 3
    pairs = [(p["path_a"], p["path_b"]) for p in written["pairs"]]
    assert pairs == [("copies/same.png", "picture.png")]
    ```
    """
    if (threshold is None) == (precision is None):
        raise ValueError(
            "Pass exactly one of `threshold` and `precision`. Received: "
            f"threshold={threshold!r}, precision={precision!r}"
        )
    options = {
        "color_mode": color_mode,
        "value_range": value_range,
        "batch_size": batch_size,
    }
    calibration = None
    if precision is not None:
        folder = directory if calibration_directory is None else calibration_directory
        if verbose:
            print(f"Calibrating the threshold on copies of images of {folder}:")
        calibration = calibrate_on_folder(
            model,
            folder,
            precision,
            image_size,
            num_images=calibration_images,
            **options,
        )
        threshold = calibration["threshold"]
        if verbose:
            print(
                f"threshold {threshold:.4g}: precision "
                f"{calibration['precision']:.4f}, recall "
                f"{calibration['recall']:.4f} on {calibration['num_images']} "
                "images and their copies."
            )
    if verbose:
        print(f"Embedding the images of {directory} and searching the pairs:")
    result = find_duplicates(
        model,
        directory,
        threshold,
        image_size,
        method=method,
        verbose=verbose,
        **options,
    )
    pairs = result.pop("pairs")
    result = {**result, "calibration": calibration, "pairs": pairs}
    write_duplicates(result, output_dir)
    return result
