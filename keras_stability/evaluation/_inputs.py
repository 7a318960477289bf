"""What the evaluations check of their inputs: images, labels, batches.

Internal to `keras_stability.evaluation`; the functions have public names so
that its modules can share them.
"""

import numpy as np

from keras_stability import perturbations
from keras_stability._checks import value_range_error
from keras_stability.data import iterate_batches

__all__ = [
    "check_value_ranges",
    "class_indices",
    "distortion_batches",
    "image_shape",
    "is_dataset",
]


def is_dataset(x):
    """Whether `x` is a `tf.data.Dataset` (or anything iterated like one)."""
    return hasattr(x, "as_numpy_iterator")


def image_shape(x):
    """The shape of `x`'s batches when known before any work, else None."""
    if is_dataset(x):
        spec = x.element_spec
        spec = spec[0] if isinstance(spec, tuple) else spec
        shape = getattr(spec, "shape", None)
        if shape is None or shape.rank is None:
            return None
        return tuple(shape.as_list())
    return tuple(np.shape(x))


def check_value_ranges(images, distortions, fix):
    """Refuses images outside the value range of any of our distortions.

    One pass over `images` whatever the number of distortions; other layers
    and callables are not judged.

    Args:
        images: a batch or all the images, an array.
        distortions: dict name -> distortion, the names as errors show
            them (`"distortions['jpeg@10']"`).
        fix: where the user passes `value_range`, for the message.
    """
    ranges = {}
    for name, distortion in distortions.items():
        if isinstance(distortion, perturbations.Perturbation):
            for value_range in distortion.input_value_ranges():
                ranges.setdefault(value_range, name)
    images = np.asarray(images)
    if not ranges or images.size == 0 or images.dtype.kind not in "fiub":
        return
    low, high = float(np.min(images)), float(np.max(images))
    for value_range, name in ranges.items():
        error = value_range_error(low, high, value_range, f"`{name}`", fix)
        if error is not None:
            raise error


def distortion_batches(x, y, batch_size, distortions, fix):
    """The non-empty batches of `x`, checked against the distortions first.

    Before any work it checks `batch_size`, that each distortion fits the
    images' shape (`keras_stability.perturbations.check_fits`) and, for an
    array `x`, the images' value range; a dataset's batches are checked for
    their range as they come.

    Args:
        x: images (array or tensor) or a `tf.data.Dataset` of batches.
        y: labels for an array `x`, or `None`.
        batch_size: batch size for arrays, an int >= 1.
        distortions: dict name -> distortion, the names as errors show them.
        fix: where the user passes `value_range`, for the message.

    Returns:
        An iterator of `(batch_index, images, labels)`.
    """
    batches = iterate_batches(x, y, batch_size)
    shape = image_shape(x)
    for name, distortion in distortions.items():
        perturbations.check_fits(distortion, shape, name)
    dataset = is_dataset(x)
    if not dataset:
        check_value_ranges(x, distortions, fix)
    return _checked(batches, distortions, fix, dataset)


def _checked(batches, distortions, fix, dataset):
    for batch_index, (images, labels) in enumerate(batches):
        if len(images) == 0:
            continue
        if dataset:
            check_value_ranges(images, distortions, fix)
        yield batch_index, images, labels


def class_indices(labels, subject, received, num_classes=None, count=None):
    """`labels` as a 1-D array of class indices in `[0, num_classes)`.

    Takes shape `(n,)` or `(n, 1)`, integers or integral floats.

    Args:
        labels: the labels to check.
        subject: how errors start, naming the argument (`"`y`"`).
        received: how errors name what was received (`"y"`).
        num_classes: the model's number of classes, or `None` to check only
            `>= 0`.
        count: the number of images, or `None` not to check it.

    Returns:
        A 1-D NumPy array.
    """
    array = np.asarray(labels)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(
            f"{subject} must hold one class index per image, shape (num_images,) "
            "or (num_images, 1); for one-hot labels pass their argmax. "
            f"Received: {received} of shape {np.shape(labels)}"
        )
    if count is not None and len(array) != count:
        raise ValueError(
            f"{subject} must hold one label per image. Received: {received} "
            f"with {len(array)} labels for {count} images"
        )
    if array.dtype.kind not in "iuf":
        raise ValueError(
            f"{subject} must be integer class indices. Received: {received} of "
            f"dtype {array.dtype}"
        )
    if array.dtype.kind == "f":
        integral = np.isfinite(array) & (array == np.round(array))
        if not np.all(integral):
            value = array[~integral][0].item()
            raise ValueError(
                f"{subject} must be integer class indices. Received: {received} "
                f"holding {value!r}"
            )
    high = np.inf if num_classes is None else num_classes
    outside = (array < 0) | (array >= high)
    if np.any(outside):
        value = array[outside][0].item()
        expected = (
            ">= 0"
            if num_classes is None
            else f"in [0, {num_classes}) for the model's {num_classes} classes"
        )
        raise ValueError(
            f"{subject} must be class indices {expected}. Received: {received} "
            f"holding {value!r}"
        )
    return array
