"""A folder's images: finding them, reading them, embedding them a batch at a time."""

import os

import keras
import numpy as np

from keras_stability._checks import check_choice
from keras_stability._checks import check_int
from keras_stability._checks import check_size
from keras_stability._image_files import images_below
from keras_stability._image_files import load_image
from keras_stability.perturbations.base import check_value_range

__all__ = ["embed_images", "image_paths", "read_images"]


def image_paths(directory):
    """Every image file below a folder, as sorted relative paths.

    The files are those `load_image_folder` reads (`.bmp`, `.gif`, `.jpeg`,
    `.jpg`, `.png`), at any depth, with no need for class subfolders;
    hidden files and folders (a name starting with ".") are skipped.

    Args:
        directory: a folder.

    Returns:
        A sorted list of paths relative to `directory`, with "/" between
        folders on every system.

    Example:

    ```python
    import os
    import tempfile
    import numpy as np
    from PIL import Image
    from keras_stability.duplicates import image_paths

    with tempfile.TemporaryDirectory() as folder:
        os.makedirs(os.path.join(folder, "b", "c"))
        for name in ["b/c/1.png", "a.jpg", "b/2.gif", "notes.txt"]:
            Image.fromarray(np.zeros((4, 4, 3), "uint8")).save(
                os.path.join(folder, name), format="png"
            )
        assert image_paths(folder) == ["a.jpg", "b/2.gif", "b/c/1.png"]
    ```
    """
    if not os.path.isdir(directory):
        raise ValueError(
            f"`directory` must be an existing folder. Received: directory={directory!r}"
        )
    return images_below(directory)


def read_images(directory, paths, image_size, color_mode="rgb", value_range=(0, 1)):
    """Images of a folder, resized as `load_image_folder` resizes them.

    Args:
        directory: the folder the paths are relative to.
        paths: paths relative to `directory`, e.g. from `image_paths`.
        image_size: `(height, width)` the images are resized to.
        color_mode: `"rgb"` or `"grayscale"`. Defaults to `"rgb"`.
        value_range: `(low, high)`, the range the pixels are mapped to.
            Defaults to `(0, 1)`.

    Returns:
        A float32 array `(len(paths), height, width, channels)`.

    Example:

    ```python
    import os
    import tempfile
    import numpy as np
    from PIL import Image
    from keras_stability.duplicates import read_images

    with tempfile.TemporaryDirectory() as folder:
        pixels = np.full((8, 8, 3), 255, "uint8")
        Image.fromarray(pixels).save(os.path.join(folder, "white.png"))
        images = read_images(folder, ["white.png"], (4, 4), value_range=(0, 255))
    assert images.shape == (1, 4, 4, 3) and np.all(images == 255)
    ```
    """
    image_size = check_size(image_size, "image_size")
    check_choice("color_mode", color_mode, ("rgb", "grayscale"))
    low, high = check_value_range(value_range)
    channels = 3 if color_mode == "rgb" else 1
    images = np.empty((len(paths), *image_size, channels), "float32")
    for index, path in enumerate(paths):
        images[index] = load_image(
            os.path.join(directory, path), image_size, color_mode
        )
    return low + images * ((high - low) / 255.0)


def embed_images(
    model,
    directory,
    paths,
    image_size,
    *,
    color_mode="rgb",
    value_range=(0, 1),
    batch_size=128,
    verbose=False,
):
    """The embeddings of a folder's images, read and embedded a batch at a time.

    Only one batch of images is in memory at a time; the embeddings take
    `8 * dim` bytes per image.

    Args:
        model: maps a batch of images to embeddings `(batch, dim)` through
            `predict_on_batch`.
        directory: the folder the paths are relative to.
        paths: paths relative to `directory`.
        image_size: `(height, width)` the model takes.
        color_mode: `"rgb"` or `"grayscale"`. Defaults to `"rgb"`.
        value_range: the pixel range the model takes. Defaults to `(0, 1)`.
        batch_size: images per batch, an int >= 1. Defaults to 128.
        verbose: show a `keras.utils.Progbar`. Defaults to `False`.

    Returns:
        A float64 array `(len(paths), dim)`.

    Example:

    ```python
    import os
    import tempfile
    import keras
    import numpy as np
    from PIL import Image
    from keras_stability.duplicates import embed_images

    model = keras.Sequential(
        [keras.Input((4, 4, 3)), keras.layers.GlobalAveragePooling2D()]
    )
    with tempfile.TemporaryDirectory() as folder:
        for name, level in [("dark.png", 0), ("light.png", 255)]:
            pixels = np.full((8, 8, 3), level, "uint8")
            Image.fromarray(pixels).save(os.path.join(folder, name))
        found = embed_images(model, folder, ["dark.png", "light.png"], (4, 4))
    assert np.allclose(found, [[0, 0, 0], [1, 1, 1]])
    ```
    """
    check_int(batch_size, "batch_size", 1)
    progress = keras.utils.Progbar(len(paths), unit_name="image") if verbose else None
    parts = []
    for start in range(0, len(paths), batch_size):
        batch = paths[start : start + batch_size]
        images = read_images(directory, batch, image_size, color_mode, value_range)
        outputs = np.asarray(keras.ops.convert_to_numpy(model.predict_on_batch(images)))
        if outputs.ndim != 2 or len(outputs) != len(batch):
            raise ValueError(
                "The model must return embeddings of shape (batch, dim): "
                f"{len(batch)} images gave outputs of shape {outputs.shape}."
            )
        if not np.all(np.isfinite(outputs)):
            raise ValueError(
                f"The model returned NaN or inf embeddings for {batch[0]!r} to "
                f"{batch[-1]!r}."
            )
        parts.append(outputs.astype("float64"))
        if progress is not None:
            progress.update(start + len(batch))
    return np.concatenate(parts) if parts else np.zeros((0, 0))
