"""Data: the demo's real images, a user's image folder, and evaluation batches.

Nothing here downloads: the demo's photographs of handwritten digits ship
inside scikit-learn.
"""

import os

import keras
import numpy as np
from keras import ops

__all__ = ["iterate_batches", "load_digits", "load_image_folder"]


def load_digits(image_size=32, test_fraction=0.25, seed=0):
    """scikit-learn's 1,797 handwritten digits as images in [0, 1].

    The 8x8 scans (16 grey levels) are brought up to `image_size` with
    bilinear resizing and split into train and test with a fixed seed,
    stratified by class.

    Args:
        image_size: side of the square output images, >= 8. Defaults to 32.
        test_fraction: share of each class held out, in (0, 1). Defaults to
            0.25.
        seed: seed of the split. Defaults to 0.

    Returns:
        `((x_train, y_train), (x_test, y_test))`, images of shape
        `(n, image_size, image_size, 1)` float32 in [0, 1] and int labels.
    """
    if not isinstance(image_size, int) or image_size < 8:
        raise ValueError(
            f"`image_size` must be an int >= 8. Received: image_size={image_size!r}"
        )
    if not 0 < test_fraction < 1:
        raise ValueError(
            "`test_fraction` must be in (0, 1). "
            f"Received: test_fraction={test_fraction!r}"
        )
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as error:
        raise ImportError(
            "The demo data ships with scikit-learn: "
            "pip install 'keras-stability[examples]'"
        ) from error
    digits = sklearn_digits()
    images = (digits.images / 16.0).astype("float32")[..., None]
    if image_size != 8:
        images = ops.convert_to_numpy(
            ops.image.resize(images, (image_size, image_size), interpolation="bilinear")
        )
        images = np.clip(images, 0.0, 1.0)  # bilinear stays in range; float slack
    labels = digits.target.astype("int64")
    rng = np.random.default_rng(seed)
    test = np.zeros(len(labels), bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        chosen = rng.choice(members, round(len(members) * test_fraction), replace=False)
        test[chosen] = True
    return (images[~test], labels[~test]), (images[test], labels[test])


def load_image_folder(directory, image_size=(32, 32), color_mode="rgb"):
    """Loads a folder of class subfolders into arrays in [0, 1].

    Args:
        directory: a folder with one subfolder of images per class.
        image_size: `(height, width)` the images are resized to. Defaults to
            `(32, 32)`.
        color_mode: `"rgb"` or `"grayscale"`. Defaults to `"rgb"`.

    Returns:
        `(x, y, class_names)`: float32 images `(n, h, w, c)` in [0, 1], int
        labels and the class names in label order.
    """
    if not os.path.isdir(directory):
        raise ValueError(
            f"`directory` must be an existing folder. Received: directory={directory!r}"
        )
    subfolders = sorted(
        d for d in os.listdir(directory) if os.path.isdir(os.path.join(directory, d))
    )
    if not subfolders:
        raise ValueError(
            "`directory` must hold one subfolder of images per class; "
            f"{directory!r} has no subfolder."
        )
    try:
        dataset = keras.utils.image_dataset_from_directory(
            directory,
            image_size=tuple(image_size),
            color_mode=color_mode,
            batch_size=None,
            shuffle=False,
            verbose=False,
        )
    except ValueError as error:
        raise ValueError(
            f"No images could be read from {directory!r}: {error}"
        ) from error
    images, labels = [], []
    for image, label in dataset.as_numpy_iterator():
        images.append(image)
        labels.append(label)
    if not images:
        raise ValueError(f"No images found under {directory!r}.")
    x = np.stack(images).astype("float32") / 255.0
    return x, np.asarray(labels, "int64"), list(dataset.class_names)


def iterate_batches(data, y=None, batch_size=128):
    """Yields `(x_batch, y_batch)` NumPy pairs from arrays or a dataset.

    Args:
        data: an array of images, or a `tf.data.Dataset` yielding images or
            `(images, labels)` batches.
        y: labels for an array `data`. Defaults to `None`.
        batch_size: batch size for arrays. Defaults to 128.

    Yields:
        `(x, y)` with `y` None when there are no labels.
    """
    if isinstance(data, np.ndarray) or ops.is_tensor(data):
        x = np.asarray(data)
        if y is not None and len(y) != len(x):
            raise ValueError(
                f"`y` must have one label per image: {len(x)} images, {len(y)} labels."
            )
        for start in range(0, len(x), batch_size):
            stop = start + batch_size
            yield x[start:stop], (None if y is None else np.asarray(y)[start:stop])
        return
    if hasattr(data, "as_numpy_iterator"):
        if y is not None:
            raise ValueError(
                "`y` must be None when `data` is a dataset that yields labels."
            )
        for element in data.as_numpy_iterator():
            if isinstance(element, tuple):
                yield element[0], (element[1] if len(element) > 1 else None)
            else:
                yield element, None
        return
    raise ValueError(
        "`data` must be a NumPy array, a tensor or a tf.data.Dataset. "
        f"Received: {type(data).__name__}"
    )
