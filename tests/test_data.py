"""Data: the demo's digits, image folders, and perturbed copies made in tf.data."""

import re

import keras
import numpy as np
import pytest

from keras_stability import data
from keras_stability._image_files import resize_bilinear


def test_load_digits_split_is_stratified_and_fixed():
    (x_train, y_train), (x_test, y_test) = data.load_digits()
    assert x_train.shape[1:] == (32, 32, 1) and len(x_train) + len(x_test) == 1797
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    counts = np.bincount(y_test, minlength=10)
    assert np.all(np.abs(counts - np.bincount(y_train) / 3) <= 2)
    (_, _), (x_again, _) = data.load_digits()
    np.testing.assert_array_equal(x_test, x_again)


def test_load_digits_errors():
    with pytest.raises(
        ValueError, match=r"`image_size` must be an int >= 8. Received: image_size=4"
    ):
        data.load_digits(image_size=4)
    with pytest.raises(
        ValueError,
        match=r"`test_fraction` must be in \(0, 1\). Received: test_fraction=1",
    ):
        data.load_digits(test_fraction=1)
    with pytest.raises(
        ValueError,
        match=r"`test_fraction` must be in \(0, 1\). Received: test_fraction='0.3'",
    ):
        data.load_digits(test_fraction="0.3")
    with pytest.raises(
        ValueError, match=r"`image_size` must be an int >= 8. Received: image_size=8.0"
    ):
        data.load_digits(image_size=8.0)
    for bad in (-1, "a", 1.5):
        with pytest.raises(
            ValueError, match=rf"`seed` must be an int >= 0. Received: seed={bad!r}$"
        ):
            data.load_digits(seed=bad)


def test_load_digits_needs_an_image_in_each_split():
    # The smallest digit class has 174 scans, the largest 183: a share of
    # 0.001 rounds every class to 0 held out, 0.999 every class to all.
    with pytest.raises(
        ValueError,
        match=r"`test_fraction` must leave at least one of the 1797 images in "
        r"each split; it rounds to 0 test images. Received: test_fraction=0.001",
    ):
        data.load_digits(test_fraction=0.001)
    with pytest.raises(
        ValueError,
        match=r"it rounds to 1797 test images. Received: test_fraction=0.999",
    ):
        data.load_digits(test_fraction=0.999)
    # 0.003 holds out one image of each class with at least 167 images.
    (x_train, _), (x_test, y_test) = data.load_digits(image_size=8, test_fraction=0.003)
    assert len(x_test) == 10 and len(x_train) == 1787
    np.testing.assert_array_equal(np.sort(y_test), np.arange(10))


def test_load_image_folder_errors(tmp_path):
    missing = tmp_path / "missing"
    with pytest.raises(
        ValueError,
        match=r"`directory` must be an existing folder. "
        rf"Received: directory='{missing}'",
    ):
        data.load_image_folder(str(missing))
    with pytest.raises(
        ValueError,
        match=r"`directory` must hold one subfolder of images per class; "
        rf"'{tmp_path}' has no subfolder.",
    ):
        data.load_image_folder(str(tmp_path))
    (tmp_path / ".hidden").mkdir()
    with pytest.raises(ValueError, match=r"has no subfolder\.$"):
        data.load_image_folder(str(tmp_path))
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match=rf"^No images found under '{tmp_path}'\.$"):
        data.load_image_folder(str(tmp_path))
    (tmp_path / "cats" / "broken.png").write_bytes(b"not a png")
    if keras.backend.backend() == "tensorflow":
        unreadable = rf"^No images could be read from '{tmp_path}': .*Unknown image"
    else:
        broken = re.escape(repr(str(tmp_path / "cats" / "broken.png")))
        unreadable = rf"^{broken} could not be read as an image: "
    with pytest.raises(ValueError, match=unreadable):
        data.load_image_folder(str(tmp_path))
    for kwargs, message in [
        (
            {"color_mode": "rgba"},
            '`color_mode` must be "rgb" or "grayscale". Received: color_mode=\'rgba\'',
        ),
        (
            {"image_size": 32},
            "`image_size` must be a pair (height, width) of ints >= 1. "
            "Received: image_size=32",
        ),
        ({"image_size": (32, 0)}, "Received: image_size=(32, 0)"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            data.load_image_folder(str(tmp_path), **kwargs)


def test_load_image_folder_reads_keras_files_in_keras_order(tmp_path, rng, image_tree):
    written = image_tree(tmp_path, rng)
    (tmp_path / "a_cats" / "readme.md").write_text("skipped")
    x, y, class_names = data.load_image_folder(str(tmp_path), image_size=(16, 20))
    assert class_names == ["a_cats", "b_dogs"]
    # Sorted walks: each class's top-level files, then its subfolder's.
    assert list(y) == [0] * 6 + [1] * 9
    assert x.shape == (15, 16, 20, 3) and x.dtype == "float32"
    assert 0 <= x.min() and x.max() <= 1
    # a_cats: 0.gif 0.png 1.gif 1.png nested/0.JPG nested/1.JPG; b_dogs alike.
    # A PNG is lossless: its image is the written pixels, resized, in [0, 1].
    for index, key in [(1, ("a_cats", 0)), (3, ("a_cats", 1)), (11, ("b_dogs", 2))]:
        pixels = written[key].astype("float32")
        expected = resize_bilinear(pixels, (16, 20)) / 255
        np.testing.assert_allclose(x[index], expected, rtol=0, atol=1e-3 / 255)
    # TensorFlow cannot read a GIF as grayscale.
    for gif in tmp_path.rglob("*.gif"):
        gif.unlink()
    gray, y, _ = data.load_image_folder(
        str(tmp_path), image_size=(16, 20), color_mode="grayscale"
    )
    assert gray.shape == (10, 16, 20, 1) and list(y) == [0] * 4 + [1] * 6


def test_sixteen_bit_pngs_keep_their_high_byte(tmp_path):
    from PIL import Image

    levels = (np.arange(6 * 7).reshape(6, 7) * 1531).astype("uint16")  # to 62771
    (tmp_path / "scans").mkdir()
    Image.fromarray(levels).save(tmp_path / "scans" / "deep.png")
    assert Image.open(tmp_path / "scans" / "deep.png").mode.startswith("I")
    expected = (levels >> 8).astype("float32") / 255
    for mode, channels in [("grayscale", 1), ("rgb", 3)]:
        x, _, _ = data.load_image_folder(str(tmp_path), (6, 7), color_mode=mode)
        assert x.shape == (1, 6, 7, channels)
        for channel in range(channels):
            np.testing.assert_allclose(x[0, ..., channel], expected, atol=1e-6)


@pytest.mark.tensorflow
def test_tf_data_path_refuses_a_listing_that_differs(
    tmp_path, rng, monkeypatch, image_tree
):
    image_tree(tmp_path, rng, extensions=("png",))

    class _Reordered:
        def as_numpy_iterator(self):
            image = np.zeros((32, 32, 3), "float32")
            return iter([(image, 1), (image, 0)] + [(image, 1)] * 3)

    monkeypatch.setattr(
        keras.utils, "image_dataset_from_directory", lambda *a, **k: _Reordered()
    )
    with pytest.raises(ValueError, match=r"changed while its images were read"):
        data.load_image_folder(str(tmp_path))


def test_iterate_batches_errors():
    with pytest.raises(
        ValueError, match="must be a NumPy array, a tensor or a tf.data.Dataset"
    ):
        data.iterate_batches([1, 2, 3])
    images = np.zeros((5, 2, 2, 1), "float32")
    for bad in (0, -1, True, 2.0, None):
        with pytest.raises(
            ValueError,
            match=rf"`batch_size` must be an int >= 1. Received: batch_size={bad!r}$",
        ):
            data.iterate_batches(images, batch_size=bad)  # before the first batch
    sizes = [len(x) for x, _ in data.iterate_batches(images, batch_size=np.int64(2))]
    assert sizes == [2, 2, 1]
    with pytest.raises(
        ValueError,
        match=re.escape(
            "`y` must have one label per image (5 images). Received: y=array(5)"
        ),
    ):
        data.iterate_batches(images, y=5)
    with pytest.raises(
        ValueError,
        match=re.escape("`y` must have one label per image: 5 images, 4 labels."),
    ):
        data.iterate_batches(images, y=[0, 1, 2, 3])


@pytest.mark.tensorflow
def test_iterate_batches_dataset_takes_no_labels():
    import tensorflow as tf

    images, labels = np.zeros((24, 8, 8, 1), "float32"), np.zeros(24, "int64")
    labelled = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
    with pytest.raises(
        ValueError,
        match=r"`y` must be None when `data` is a dataset that yields labels\.",
    ):
        data.iterate_batches(labelled, y=np.zeros(24))
    with pytest.raises(ValueError, match=r"Received: batch_size=0$"):
        data.iterate_batches(labelled, batch_size=0)


@pytest.mark.parametrize(
    "name",
    [
        "load_digits",
        "load_image_folder",
        "iterate_batches",
    ],
)
def test_docstring_example_runs(name, run_example):
    run_example(getattr(data, name))
