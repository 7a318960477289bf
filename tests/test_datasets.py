"""The bundled tasks: shapes, ranges, fixed splits, and train/test regions apart."""

import numpy as np
import pytest

from keras_stability import data
from keras_stability import datasets

SMALL = {"patch_size": 16, "train_per_class": 30, "test_per_class": 10}


def _locate(patches, picture):
    """The top-left corner of each patch in `picture`, found by exact match."""
    size = patches.shape[1]
    height, width = picture.shape[:2]
    # Index every window of the picture by its first row, then confirm.
    index = {}
    for y in range(height - size + 1):
        for x in range(width - size + 1):
            index.setdefault(picture[y, x : x + size].tobytes(), []).append((y, x))
    corners = []
    for patch in patches:
        found = [
            (y, x)
            for y, x in index.get(patch[0].tobytes(), [])
            if np.array_equal(picture[y : y + size, x : x + size], patch)
        ]
        assert found, "a patch is not a window of its picture"
        corners.append(found[0])
    return corners


@pytest.mark.parametrize(
    "loader, names, channels",
    [
        (datasets.load_photographs, datasets.PHOTOGRAPHS, 3),
        (datasets.load_grayscale, datasets.GRAYSCALE_PICTURES, 1),
    ],
)
def test_patch_tasks_split_every_picture_into_disjoint_regions(loader, names, channels):
    (x_train, y_train), (x_test, y_test) = loader(**SMALL)
    assert x_train.shape == (30 * len(names), 16, 16, channels)
    assert x_test.shape == (10 * len(names), 16, 16, channels)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert list(np.bincount(y_train)) == [30] * len(names)
    assert list(np.bincount(y_test)) == [10] * len(names)
    assert 0 <= min(x_train.min(), x_test.min())
    assert max(x_train.max(), x_test.max()) <= 1
    # No patch is nearly flat.
    assert x_test.reshape(len(x_test), -1).std(axis=1).min() >= 0.04
    color_mode = "rgb" if channels == 3 else "grayscale"
    short_side = 128  # 8 times the patch size
    for label in (0, len(names) - 1):
        picture = datasets.load_picture(names[label], short_side, color_mode)
        train = _locate(x_train[y_train == label], picture)
        test = _locate(x_test[y_test == label], picture)
        # No test patch shares a pixel with a training patch of its picture.
        for ty, tx in test:
            for ry, rx in train:
                assert abs(ty - ry) >= 16 or abs(tx - rx) >= 16


def test_patch_tasks_are_fixed_by_their_seed():
    (a, _), (b, _) = datasets.load_photographs(**SMALL)
    (c, _), (d, _) = datasets.load_photographs(**SMALL)
    (e, _), _ = datasets.load_photographs(**SMALL, seed=1)
    assert np.array_equal(a, c) and np.array_equal(b, d)
    assert not np.array_equal(a, e)


def test_load_picture_sizes_and_modes():
    gray = datasets.load_picture("camera", short_side=64, color_mode="grayscale")
    rgb = datasets.load_picture("camera", short_side=64)
    assert gray.shape == (64, 64, 1) and rgb.shape == (64, 64, 3)
    assert np.allclose(rgb[..., 0], gray[..., 0]) and np.allclose(
        rgb[..., 2], gray[..., 0]
    )
    photo = datasets.load_picture("china.jpg", short_side=40)
    assert photo.shape == (40, round(640 * 40 / 427), 3)  # 427 x 640 at first
    # A colour photograph in grayscale is its luminance, between the channels.
    luminance = datasets.load_picture("china.jpg", 40, "grayscale")[..., 0]
    assert np.all(luminance >= photo.min(axis=-1) - 1e-5)
    assert np.all(luminance <= photo.max(axis=-1) + 1e-5)


def test_load_task_and_the_digits_alias():
    (x, y), _ = datasets.load_task("digits", image_size=8)
    (x2, y2), _ = data.load_digits(image_size=8)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert set(datasets.TASKS) == {"photographs", "grayscale", "digits"}


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: datasets.load_task("cifar"), "`name`.*Received: name='cifar'"),
        (lambda: datasets.load_picture("nope"), "`name`.*Received: name='nope'"),
        (
            lambda: datasets.load_picture("camera", color_mode="hsv"),
            "`color_mode`.*Received: color_mode='hsv'",
        ),
        (
            lambda: datasets.load_picture("camera", short_side=4),
            "`short_side`.*Received: short_side=4",
        ),
        (
            lambda: datasets.load_photographs(patch_size=4),
            "`patch_size`.*Received: patch_size=4",
        ),
        (
            lambda: datasets.load_photographs(test_fraction=1.5),
            "`test_fraction`.*Received: test_fraction=1.5",
        ),
        (
            lambda: datasets.load_grayscale(min_stddev=-1),
            "`min_stddev`.*Received: min_stddev=-1",
        ),
        (
            lambda: datasets.load_grayscale(train_per_class=0),
            "`train_per_class`.*Received: train_per_class=0",
        ),
        # More patches than the picture has: the count and the fix.
        (
            lambda: datasets.load_grayscale(test_per_class=5000),
            "'brick'.*fewer than the 5000.*`test_per_class`",
        ),
    ],
)
def test_errors_name_the_argument_and_value(call, match):
    with pytest.raises(ValueError, match=match):
        call()
