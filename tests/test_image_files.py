"""Reading image folders: the Pillow path against TensorFlow's."""

import sys

import keras
import numpy as np
import pytest

from keras_stability import data
from keras_stability._image_files import image_files
from keras_stability._image_files import load_with_pillow
from keras_stability._image_files import resize_bilinear


@pytest.mark.parametrize("size", [(16, 20), (40, 100), (8, 8), (1, 3)])
def test_resize_matches_keras_bilinear_without_antialias(rng, size):
    image = rng.random((37, 23, 3)).astype("float32") * 255
    expected = keras.ops.convert_to_numpy(
        keras.ops.image.resize(image, size, interpolation="bilinear", antialias=False)
    )
    np.testing.assert_allclose(
        resize_bilinear(image, size), expected, rtol=0, atol=2e-3
    )


@pytest.mark.tensorflow
def test_pillow_and_tf_data_paths_agree(tmp_path, rng, image_tree):
    # On TensorFlow load_image_folder is image_dataset_from_directory.
    for channels, mode in [(3, "rgb"), (1, "grayscale"), (1, "rgb"), (3, "grayscale")]:
        root = tmp_path / f"{channels}{mode}"
        image_tree(root, rng, channels)
        if mode == "grayscale":  # TensorFlow cannot read a GIF as grayscale.
            for gif in root.rglob("*.gif"):
                gif.unlink()
        x, y, class_names = data.load_image_folder(str(root), (16, 20), mode)
        dataset = keras.utils.image_dataset_from_directory(
            str(root),
            image_size=(16, 20),
            color_mode=mode,
            batch_size=None,
            shuffle=False,
            verbose=False,
        )
        pairs = list(dataset.as_numpy_iterator())
        assert list(y) == [int(label) for _, label in pairs]
        assert class_names == dataset.class_names
        np.testing.assert_allclose(x * 255, np.stack([i for i, _ in pairs]), atol=1e-4)
        # The Pillow path other backends take, on the same files.
        paths, _ = image_files(str(root), class_names)
        for path, (image, _) in zip(paths, pairs, strict=True):
            got = load_with_pillow(path, (16, 20), mode)
            same_decoder = path.endswith((".png", ".gif")) and (
                mode == "rgb" or channels == 1
            )
            # PNG and GIF: the same pixels to float rounding. The JPEG
            # decoders, and the RGB-to-gray conversions, differ by a few
            # levels on these noise images (up to 6.75 of 255 seen).
            if same_decoder:
                np.testing.assert_allclose(got, image, rtol=0, atol=1e-3, err_msg=path)
            else:
                assert np.abs(got - image).max() <= 10, path
                assert np.abs(got - image).mean() <= 2, path


def test_pillow_missing_is_named(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(
        ImportError,
        match=rf"^load_image_folder needs Pillow on the {keras.backend.backend()} "
        r"backend: pip install pillow$",
    ):
        load_with_pillow(str(tmp_path / "any.png"), (4, 4), "rgb")
