"""Data: the demo's real images, a user's image folder, and evaluation batches.

Nothing here downloads. `with_unlabeled` joins labeled and
unlabeled images in one stream for semi-supervised training (UDA); the
bundled tasks (`load_digits` among them) live in
`keras_stability.datasets`; `load_digits` is also here, where it began. The
perturbed-copy batch format (`with_perturbed_copy`, `split_perturbed_copy`,
`CLEAN_KEY`, `PERTURBED_KEY`) lives in `keras_stability.perturbations` and is
also here, where it began.
"""

import os

import keras
import numpy as np
from keras import ops

from keras_stability._backend import require_tensorflow
from keras_stability._checks import check_float
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
    "LABELED_KEY",
    "PERTURBED_KEY",
    "iterate_batches",
    "load_digits",
    "load_image_folder",
    "split_labeled",
    "split_perturbed_copy",
    "with_perturbed_copy",
    "with_unlabeled",
]

# The key of the labeled-rows mask in a batch from `with_unlabeled`.
LABELED_KEY = "keras_stability_labeled"
# The most unlabeled rows per labeled row `with_unlabeled` takes.
_MAX_UNLABELED_RATIO = 1024


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


def split_labeled(x):
    """`(x, labeled)` of a batch from `with_unlabeled`, else `(x, None)`.

    Args:
        x: a batch's inputs, possibly the dict `{CLEAN_KEY: x, LABELED_KEY:
            labeled}`.

    Returns:
        `(x, labeled)` for that dict (`labeled` a bool per row), `(x, None)`
        for anything else.

    Example:

    ```python
    import numpy as np
    from keras_stability.data import CLEAN_KEY, LABELED_KEY, split_labeled

    x = np.zeros((2, 4, 4, 1), "float32")
    clean, labeled = split_labeled({CLEAN_KEY: x, LABELED_KEY: np.array([True, False])})
    assert clean is x and labeled.tolist() == [True, False]
    assert split_labeled(x) == (x, None)
    ```
    """
    if isinstance(x, dict) and set(x) == {CLEAN_KEY, LABELED_KEY}:
        return x[CLEAN_KEY], x[LABELED_KEY]
    return x, None


def with_unlabeled(labeled, unlabeled, unlabeled_ratio, *, batch_size=None):
    """Joins labeled and unlabeled images into the batches of one `fit`.

    For semi-supervised Stability Training (UDA, FixMatch): each batch holds
    labeled rows and `unlabeled_ratio` times as many unlabeled ones, spread
    evenly through the batch (so each `tf.distribute` replica gets both).
    A `StabilityModel` fitted on it computes the compiled loss on the
    labeled rows only, as their mean, and the stability term on every row.

    A batch is `({CLEAN_KEY: x, LABELED_KEY: labeled}, y)`, or `(..., y,
    sample_weight)` when `labeled` yields weights: `labeled` is a bool per
    row, `y` is zero on the unlabeled rows (never read), and their sample
    weight, which weights the stability term, is 1. The epoch is one pass
    over `labeled`; `unlabeled` is repeated as often as needed (shuffle it
    before, with `reshuffle_each_iteration=True`, for fresh pairings).

    Args:
        labeled: a `tf.data.Dataset` of `(x, y)` or `(x, y, sample_weight)`,
            batched, or unbatched with `batch_size`.
        unlabeled: a `tf.data.Dataset` of images `x` (or `(x,)`) shaped as
            `labeled`'s, batched or not as `labeled` is.
        unlabeled_ratio: unlabeled rows per labeled row, a number in (0,
            1024]; each batch takes `round(unlabeled_ratio * b)` of them
            (at least 1) for `b` labeled rows.
        batch_size: labeled rows per batch for unbatched datasets, an int
            >= 1, or `None` for batched ones (each labeled batch is kept
            and the first one's size sets the unlabeled rows). Defaults to
            `None`.

    Returns:
        The joined, prefetched dataset.

    Example:

    ```python
    import numpy as np
    import tensorflow as tf
    from keras_stability.data import CLEAN_KEY, LABELED_KEY, with_unlabeled

    images = np.zeros((8, 4, 4, 1), "float32")
    labeled = tf.data.Dataset.from_tensor_slices((images, np.arange(8)))
    unlabeled = tf.data.Dataset.from_tensor_slices(images + 1)
    joined = with_unlabeled(labeled, unlabeled, 3, batch_size=2)
    x, y = next(iter(joined))
    assert x[CLEAN_KEY].shape == (8, 4, 4, 1)  # 2 labeled, 6 unlabeled
    assert x[LABELED_KEY].numpy().sum() == 2 and y.shape == (8,)
    ```

    Reference:
        Xie, Dai, Hovy, Luong, Le. Unsupervised Data Augmentation for
        Consistency Training. NeurIPS 2020.
    """
    tf = require_tensorflow("keras_stability.data.with_unlabeled")
    ratio = check_float(
        unlabeled_ratio, "unlabeled_ratio", 0, _MAX_UNLABELED_RATIO, include_low=False
    )
    batch_size = check_int(batch_size, "batch_size", 1, allow_none=True)
    for name, dataset in (("labeled", labeled), ("unlabeled", unlabeled)):
        if not isinstance(dataset, tf.data.Dataset):
            raise ValueError(
                f"`{name}` must be a tf.data.Dataset. Received: {name}={dataset!r}"
            )
    spec = labeled.element_spec
    if not (isinstance(spec, tuple) and len(spec) in (2, 3)):
        raise ValueError(
            "`labeled` must yield `(x, y)` or `(x, y, sample_weight)`. "
            f"Received: labeled.element_spec={spec!r}"
        )
    unlabeled = _images_only(tf, unlabeled)
    if batch_size is None:
        rows = _first_batch_size(tf, labeled)
        unlabeled = unlabeled.unbatch()
    else:
        rows = batch_size
        labeled = labeled.batch(batch_size)
    _check_same_images(labeled.element_spec[0], unlabeled.element_spec)
    extra = max(1, round(ratio * rows))
    unlabeled = unlabeled.repeat().batch(extra, drop_remainder=True)

    def join(batch, images):
        x, rest = batch[0], batch[1:]
        count = tf.shape(tf.nest.flatten(x)[0])[0]
        order = _spread(tf, count, extra)

        def rows_of(a, b):
            return tf.gather(tf.concat([a, tf.cast(b, a.dtype)], axis=0), order)

        def padded(t, value):
            shape = tf.concat([[extra], tf.shape(t)[1:]], axis=0)
            return rows_of(t, tf.fill(shape, tf.constant(value, t.dtype)))

        mask = rows_of(tf.ones([count], tf.bool), tf.zeros([extra], tf.bool))
        joined = tf.nest.map_structure(rows_of, x, images)
        y = tf.nest.map_structure(lambda t: padded(t, 0), rest[0])
        weights = [tf.nest.map_structure(lambda t: padded(t, 1), w) for w in rest[1:]]
        return ({CLEAN_KEY: joined, LABELED_KEY: mask}, y, *weights)

    joined = tf.data.Dataset.zip((labeled, unlabeled)).map(
        join, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    return joined.prefetch(tf.data.AUTOTUNE)


def _images_only(tf, unlabeled):
    spec = unlabeled.element_spec
    if isinstance(spec, tuple):
        if len(spec) != 1:
            raise ValueError(
                "`unlabeled` must yield images `x` only (map it with "
                "`lambda x, y: x` to drop labels). "
                f"Received: unlabeled.element_spec={spec!r}"
            )
        unlabeled = unlabeled.map(lambda x: x)
    if unlabeled.cardinality() == 0:
        raise ValueError("`unlabeled` holds no images.")
    return unlabeled


def _first_batch_size(tf, labeled):
    """The labeled batch size, read from the spec or the first batch."""
    y = tf.nest.flatten(labeled.element_spec[1])[0]
    if y.shape.rank == 0:
        raise ValueError(
            "`labeled` yields one label per element, so it is not batched: "
            "pass `batch_size` (labeled rows per batch)."
        )
    size = tf.nest.flatten(labeled.element_spec[0])[0].shape[0]
    if size is None:
        first = next(iter(labeled.take(1)), None)
        if first is None:
            raise ValueError("`labeled` holds no batch.")
        size = int(tf.shape(tf.nest.flatten(first[0])[0])[0])
    return size


def _check_same_images(labeled_spec, unlabeled_spec):
    """Batches of `labeled` against single rows of `unlabeled`."""
    labeled_specs = keras.tree.flatten(labeled_spec)
    unlabeled_specs = keras.tree.flatten(unlabeled_spec)
    if len(labeled_specs) != len(unlabeled_specs):
        raise ValueError(
            "`unlabeled` must yield inputs of the structure `labeled`'s `x` "
            f"has: {len(unlabeled_specs)} tensors against {len(labeled_specs)}."
        )
    for a, b in zip(labeled_specs, unlabeled_specs, strict=True):
        if not a.shape[1:].is_compatible_with(b.shape):
            raise ValueError(
                "`unlabeled` images must have the shape of `labeled` ones: "
                f"{tuple(b.shape)} against {tuple(a.shape[1:])}."
            )


def _spread(tf, count, extra):
    """An order of `count` labeled then `extra` rows, each spread evenly."""
    positions = tf.concat(
        [
            (tf.range(count, dtype=tf.float32) + 0.5) / tf.cast(count, tf.float32),
            (tf.range(extra, dtype=tf.float32) + 0.5) / float(extra),
        ],
        axis=0,
    )
    return tf.argsort(positions, stable=True)
