"""Data: the demo's real images, a user's image folder, and evaluation batches.

Nothing here downloads. The bundled tasks (`load_digits` among them) live in
`keras_stability.datasets`; `load_digits` is also here, where it began. The
perturbed-copy batch format (`with_perturbed_copy`, `split_perturbed_copy`,
`CLEAN_KEY`, `PERTURBED_KEY`) lives in `keras_stability.perturbations` and is
also here, where it began.
"""

import os

import keras
import numpy as np
from keras import ops

from keras_stability._checks import check_int
from keras_stability._checks import check_size
from keras_stability._image_files import class_folders
from keras_stability._image_files import image_files
from keras_stability._image_files import load_with_pillow
from keras_stability._image_files import load_with_tf_data
from keras_stability.datasets import load_digits  # noqa: F401 (public name)
from keras_stability.perturbations import CLEAN_KEY
from keras_stability.perturbations import PERTURBED_KEY
from keras_stability.perturbations import split_perturbed_copy
from keras_stability.perturbations import with_perturbed_copy

__all__ = [
    "CLEAN_KEY",
    "PERTURBED_KEY",
    "iterate_batches",
    "load_digits",
    "load_image_folder",
    "split_perturbed_copy",
    "with_perturbed_copy",
]


def load_image_folder(directory, image_size=(32, 32), color_mode="rgb"):
    """Loads a folder of class subfolders into arrays in [0, 1].

    The files and their order are those of
    `keras.utils.image_dataset_from_directory(directory, shuffle=False)`:
    subfolders in sorted order (hidden ones skipped) give the labels, and
    every `.bmp`, `.gif`, `.jpeg`, `.jpg` or `.png` file below one, in sorted
    order, is an image. On the TensorFlow backend that function reads them.
    Elsewhere, without TensorFlow, Pillow decodes them (16-bit PNGs to 8 bits
    as TensorFlow does) and the bilinear rule of `tf.image.resize`
    (half-pixel centers, no antialiasing) resizes them: the pixels agree
    with TensorFlow's on PNG and GIF files, to float rounding, while the
    JPEG decoders, and the conversions of color images to grayscale, can
    differ by a few levels of 255. TensorFlow cannot read GIFs as
    grayscale; Pillow can.

    Args:
        directory: a folder with one subfolder of images per class.
        image_size: `(height, width)` the images are resized to. Defaults to
            `(32, 32)`.
        color_mode: `"rgb"` or `"grayscale"`. Defaults to `"rgb"`.

    Returns:
        `(x, y, class_names)`: float32 images `(n, h, w, c)` in [0, 1], int
        labels and the class names in label order.

    Example:

    ```python
    import os
    import tempfile
    import numpy as np
    from PIL import Image
    from keras_stability.data import load_image_folder

    with tempfile.TemporaryDirectory() as folder:
        for name, value in [("cat", 0), ("dog", 255)]:
            os.makedirs(os.path.join(folder, name))
            pixels = np.full((8, 8, 3), value, "uint8")
            Image.fromarray(pixels).save(os.path.join(folder, name, "a.png"))
        x, y, class_names = load_image_folder(folder, image_size=(4, 4))
    assert x.shape == (2, 4, 4, 3) and class_names == ["cat", "dog"]
    assert list(y) == [0, 1] and x[1].min() == 1.0
    ```
    """
    if not os.path.isdir(directory):
        raise ValueError(
            f"`directory` must be an existing folder. Received: directory={directory!r}"
        )
    if color_mode not in ("rgb", "grayscale"):
        raise ValueError(
            '`color_mode` must be "rgb" or "grayscale". '
            f"Received: color_mode={color_mode!r}"
        )
    image_size = check_size(image_size, "image_size")
    class_names = class_folders(directory)
    if not class_names:
        raise ValueError(
            "`directory` must hold one subfolder of images per class; "
            f"{directory!r} has no subfolder."
        )
    paths, labels = image_files(directory, class_names)
    if not paths:
        raise ValueError(f"No images found under {directory!r}.")
    if keras.backend.backend() == "tensorflow":
        x = load_with_tf_data(directory, image_size, color_mode, labels)
    else:
        x = np.stack([load_with_pillow(path, image_size, color_mode) for path in paths])
    return x.astype("float32") / 255.0, np.asarray(labels, "int64"), class_names


def iterate_batches(data, y=None, batch_size=128):
    """Yields `(x_batch, y_batch)` NumPy pairs from arrays or a dataset.

    Args:
        data: an array of images, or a `tf.data.Dataset` yielding images or
            `(images, labels)` batches.
        y: labels for an array `data`. Defaults to `None`.
        batch_size: batch size for arrays, an int >= 1 (checked for
            datasets too). Defaults to 128.

    Returns:
        An iterator of `(x, y)` with `y` None when there are no labels. The
        arguments are checked when it is created, before the first batch.

    Example:

    ```python
    import numpy as np
    from keras_stability.data import iterate_batches

    x = np.zeros((5, 4, 4, 1), "float32")
    batches = list(iterate_batches(x, np.arange(5), batch_size=2))
    assert [len(images) for images, _ in batches] == [2, 2, 1]
    assert list(batches[2][1]) == [4]
    ```
    """
    check_int(batch_size, "batch_size", 1)
    if isinstance(data, np.ndarray) or ops.is_tensor(data):
        x = np.asarray(data)
        if y is not None:
            y = np.asarray(y)
            if y.ndim == 0:
                raise ValueError(
                    f"`y` must have one label per image ({len(x)} images). "
                    f"Received: y={y!r}"
                )
            if len(y) != len(x):
                raise ValueError(
                    f"`y` must have one label per image: {len(x)} images, "
                    f"{len(y)} labels."
                )
        return _array_batches(x, y, batch_size)
    if hasattr(data, "as_numpy_iterator"):
        if y is not None:
            raise ValueError(
                "`y` must be None when `data` is a dataset that yields labels."
            )
        return _dataset_batches(data)
    raise ValueError(
        "`data` must be a NumPy array, a tensor or a tf.data.Dataset. "
        f"Received: {type(data).__name__}"
    )


def _array_batches(x, y, batch_size):
    for start in range(0, len(x), batch_size):
        stop = start + batch_size
        yield x[start:stop], (None if y is None else y[start:stop])


def _dataset_batches(data):
    for element in data.as_numpy_iterator():
        if isinstance(element, tuple):
            yield element[0], (element[1] if len(element) > 1 else None)
        else:
            yield element, None
