"""Reading a folder of images the way `keras.utils.image_dataset_from_directory` does.

Internal: `data.load_image_folder` and the `duplicates` module read with
TensorFlow where it is the backend, and with Pillow elsewhere; both paths
give the same images.
"""

import os

import keras
import numpy as np

# The files `keras.utils.image_dataset_from_directory` reads.
IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


def class_folders(directory):
    """The class subfolders, sorted, hidden ones skipped (as Keras does)."""
    return sorted(
        name
        for name in os.listdir(directory)
        if os.path.isdir(os.path.join(directory, name)) and not name.startswith(".")
    )


def image_files(directory, class_names):
    """Paths and labels of the images, in Keras's order (sorted walks)."""
    paths, labels = [], []
    for label, name in enumerate(class_names):
        walk = sorted(os.walk(os.path.join(directory, name)), key=lambda w: w[0])
        for root, _, files in walk:
            for filename in sorted(files):
                if filename.lower().endswith(IMAGE_FORMATS):
                    paths.append(os.path.join(root, filename))
                    labels.append(label)
    return paths, labels


def images_below(directory):
    """Every image file below `directory`, as sorted paths relative to it.

    Subfolders at any depth are walked; hidden files and folders (a name
    starting with ".") are skipped. The paths use "/" on every system.
    """
    found = []
    for root, folders, files in os.walk(directory):
        folders[:] = [name for name in folders if not name.startswith(".")]
        relative = os.path.relpath(root, directory)
        for filename in files:
            if filename.lower().endswith(IMAGE_FORMATS) and not filename.startswith(
                "."
            ):
                path = filename if relative == "." else os.path.join(relative, filename)
                found.append(path.replace(os.sep, "/"))
    return sorted(found)


def load_image(path, image_size, color_mode):
    """One image as float32 levels in [0, 255], resized to `image_size`.

    With TensorFlow as the backend, as `image_dataset_from_directory` reads
    it (`tf.image.decode_image`, then `tf.image.resize`); elsewhere with
    `load_with_pillow`.
    """
    if keras.backend.backend() != "tensorflow":
        return load_with_pillow(path, image_size, color_mode)
    import tensorflow as tf

    try:
        image = tf.image.decode_image(
            tf.io.read_file(path),
            channels=3 if color_mode == "rgb" else 1,
            expand_animations=False,
        )
    except tf.errors.OpError as error:
        raise ValueError(
            f"{path!r} could not be read as an image: {error.message}"
        ) from error
    return tf.image.resize(image, image_size).numpy()


def load_with_tf_data(directory, image_size, color_mode, labels):
    """The images as `keras.utils.image_dataset_from_directory` reads them."""
    try:
        dataset = keras.utils.image_dataset_from_directory(
            directory,
            image_size=image_size,
            color_mode=color_mode,
            batch_size=None,
            shuffle=False,
            verbose=False,
        )
        pairs = list(dataset.as_numpy_iterator())
    except Exception as error:  # TensorFlow's errors have their own base.
        raise ValueError(
            f"No images could be read from {directory!r}: {error}"
        ) from error
    if [int(label) for _, label in pairs] != labels:
        raise ValueError(
            f"{directory!r} changed while its images were read; read it again."
        )
    return np.stack([image for image, _ in pairs])


def load_with_pillow(path, image_size, color_mode):
    """One image decoded by Pillow, as 8-bit levels, resized like TensorFlow."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            "load_image_folder needs Pillow on the "
            f"{keras.backend.backend()} backend: pip install pillow"
        ) from None
    try:
        with Image.open(path) as image:
            if image.mode == "I" or image.mode.startswith("I;16"):
                # 16-bit levels to 8 by their high byte, as TensorFlow's PNG
                # decoder does (Pillow's own conversion would saturate them).
                levels = (np.asarray(image).astype("int64") >> 8).clip(0, 255)
                channels = 3 if color_mode == "rgb" else 1
                pixels = np.repeat(levels[..., None], channels, axis=-1)
            else:
                mode = "RGB" if color_mode == "rgb" else "L"
                pixels = np.asarray(image.convert(mode))
    except Exception as error:  # Pillow's errors have no common base.
        raise ValueError(f"{path!r} could not be read as an image: {error}") from error
    pixels = pixels.astype("float32").reshape(pixels.shape[0], pixels.shape[1], -1)
    return resize_bilinear(pixels, image_size)


def resize_bilinear(image, size):
    """`tf.image.resize(image, size)` in NumPy: half-pixel centers, no antialias."""
    for axis, (old, new) in enumerate(zip(image.shape[:2], size, strict=True)):
        if old == new:
            continue
        source = (np.arange(new) + 0.5) * (old / new) - 0.5
        source = np.clip(source, 0, old - 1)
        low = np.floor(source).astype("int64")
        high = np.minimum(low + 1, old - 1)
        weight = (source - low).astype("float32")
        shape = [1, 1, 1]
        shape[axis] = new
        weight = weight.reshape(shape)
        image = (
            np.take(image, low, axis) * (1 - weight)
            + np.take(image, high, axis) * weight
        )
    return image
