"""The threshold and the pairs: calibrating on a folder, searching a folder."""

import os

import numpy as np

from keras_stability import evaluation
from keras_stability._checks import check_float
from keras_stability._checks import check_int
from keras_stability.duplicates.images import embed_images
from keras_stability.duplicates.images import image_paths
from keras_stability.duplicates.images import read_images

__all__ = ["CALIBRATION_IMAGES", "calibrate_on_folder", "find_duplicates"]

# How many images of a folder `calibrate_on_folder` samples by default.
CALIBRATION_IMAGES = 200


def calibrate_on_folder(
    model,
    directory,
    precision,
    image_size,
    *,
    color_mode="rgb",
    value_range=(0, 1),
    num_images=CALIBRATION_IMAGES,
    distortions=evaluation.CALIBRATION_DISTORTIONS,
    batch_size=128,
    seed=0,
):
    """A threshold for a target precision, from near-duplicates made of a folder.

    Samples `num_images` images of the folder (all of them if it has fewer)
    with `seed`, makes a copy of each under each distortion, and calibrates
    on those pairs: each image and its copies are near-duplicates, any two
    images of the sample are not (`evaluation.synthetic_pair_distances`,
    then `evaluation.calibrate_threshold`). So the precision is measured on
    made-up duplicates, `len(distortions)` per image against every other
    image of the sample: it says how well the threshold separates these
    distortions from distinct images, not the precision on the folder,
    whose share of real duplicates is unknown. Real duplicates inside the
    sample count as distinct images, which makes the threshold stricter.

    Args:
        model: maps images to embeddings `(batch, dim)`.
        directory: the folder to sample.
        precision: the target precision, a number in (0, 1].
        image_size: `(height, width)` the model takes.
        color_mode: `"rgb"` or `"grayscale"`. Defaults to `"rgb"`.
        value_range: the pixel range the model takes. Defaults to `(0, 1)`.
        num_images: how many images to sample, an int >= 2. Defaults to
            `CALIBRATION_IMAGES`.
        distortions: the distortions that make the copies. Defaults to
            `evaluation.CALIBRATION_DISTORTIONS`.
        batch_size: batch size. Defaults to 128.
        seed: seed of the sample and of the distortions. Defaults to 0.

    Returns:
        A dict: the fields of `evaluation.CalibratedThreshold`, and
        `target_precision`, `directory`, `num_images` (sampled) and
        `distortions` (their names, or reprs).

    Example:

    ```python
    import os
    import tempfile
    import keras
    import numpy as np
    from PIL import Image
    from keras_stability.duplicates import calibrate_on_folder

    model = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.AveragePooling2D(4),
         keras.layers.Flatten()]
    )
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        for i in range(6):
            pixels = (rng.random((8, 8, 3)) * 255).astype("uint8")
            Image.fromarray(pixels).save(os.path.join(folder, f"{i}.png"))
        found = calibrate_on_folder(model, folder, 0.9, (8, 8), distortions=["noise@0.02"])
    assert found["num_images"] == 6 and found["precision"] >= 0.9
    ```
    """
    check_float(precision, "precision", 0.0, 1.0, include_low=False)
    check_int(num_images, "num_images", 2)
    paths = image_paths(directory)
    if len(paths) < 2:
        raise ValueError(
            f"Calibration needs at least 2 images; {directory!r} has {len(paths)}."
        )
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(paths), min(num_images, len(paths)), replace=False))
    images = read_images(
        directory, [paths[i] for i in chosen], image_size, color_mode, value_range
    )
    distances, is_positive = evaluation.synthetic_pair_distances(
        model,
        images,
        distortions,
        batch_size=batch_size,
        seed=seed,
        value_range=value_range,
    )
    found = evaluation.calibrate_threshold(distances, is_positive, precision)
    return {
        **found._asdict(),
        "target_precision": float(precision),
        "directory": os.path.abspath(directory),
        "num_images": len(chosen),
        "distortions": [d if isinstance(d, str) else repr(d) for d in distortions],
    }


def find_duplicates(
    model,
    directory,
    threshold,
    image_size,
    *,
    color_mode="rgb",
    value_range=(0, 1),
    batch_size=128,
    chunk_size=256,
    method="numpy",
    verbose=False,
):
    """Every pair of images below a folder whose embeddings lie within a threshold.

    `embed_images` over `image_paths(directory)`, then
    `evaluation.close_pairs` on the embeddings. Memory: one batch of images,
    the embeddings, a block of `chunk_size` rows of distances, and the pairs.

    Args:
        model: maps images to embeddings `(batch, dim)`.
        directory: the folder.
        threshold: the largest distance of a pair kept, a number >= 0.
        image_size: `(height, width)` the model takes.
        color_mode: `"rgb"` or `"grayscale"`. Defaults to `"rgb"`.
        value_range: the pixel range the model takes. Defaults to `(0, 1)`.
        batch_size: images per batch. Defaults to 128.
        chunk_size: rows per block of the search. Defaults to 256.
        method: `"numpy"` or `"faiss"`, as in `evaluation.close_pairs`.
            Defaults to `"numpy"`.
        verbose: show progress bars. Defaults to `False`.

    Returns:
        A dict: `directory` (absolute), `num_images`, `threshold`, and
        `pairs`, a list of `{"path_a", "path_b", "distance"}` sorted by
        distance, the paths relative to `directory` and `path_a < path_b`.

    Example:

    ```python
    import os
    import tempfile
    import keras
    import numpy as np
    from PIL import Image
    from keras_stability.duplicates import find_duplicates

    model = keras.Sequential(
        [keras.Input((4, 4, 3)), keras.layers.GlobalAveragePooling2D()]
    )
    with tempfile.TemporaryDirectory() as folder:
        for name, level in [("a.png", 0), ("b.png", 2), ("c.png", 255)]:
            pixels = np.full((4, 4, 3), level, "uint8")
            Image.fromarray(pixels).save(os.path.join(folder, name))
        found = find_duplicates(model, folder, 0.1, (4, 4))
    assert [(p["path_a"], p["path_b"]) for p in found["pairs"]] == [("a.png", "b.png")]
    ```
    """
    threshold = check_float(threshold, "threshold", 0.0, float("inf"))
    paths = image_paths(directory)
    if not paths:
        raise ValueError(f"No images found below {directory!r}.")
    embeddings = embed_images(
        model,
        directory,
        paths,
        image_size,
        color_mode=color_mode,
        value_range=value_range,
        batch_size=batch_size,
        verbose=verbose,
    )
    first, second, distances = evaluation.close_pairs(
        embeddings, threshold, chunk_size=chunk_size, method=method, verbose=verbose
    )
    return {
        "directory": os.path.abspath(directory),
        "num_images": len(paths),
        "threshold": threshold,
        "pairs": [
            {"path_a": paths[i], "path_b": paths[j], "distance": float(d)}
            for i, j, d in zip(first, second, distances, strict=True)
        ],
    }
