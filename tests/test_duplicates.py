"""The duplicates package: a folder's images, their embeddings, the files written.

The command end to end is in `test_cli_duplicates.py`.
"""

import csv
import inspect
import json
import os
import urllib.parse

import keras
import numpy as np
import pytest
from PIL import Image

from keras_stability import data
from keras_stability import duplicates

FUNCTIONS = [
    name for name in duplicates.__all__ if inspect.isfunction(getattr(duplicates, name))
]


def _save(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def _pooling_model(size=4):
    return keras.Sequential(
        [keras.Input((size, size, 3)), keras.layers.GlobalAveragePooling2D()]
    )


@pytest.mark.parametrize("name", FUNCTIONS)
def test_docstring_example_runs(name, run_example):
    run_example(getattr(duplicates, name))


def test_image_paths_walk_every_depth_and_skip_hidden(tmp_path):
    pixels = np.zeros((4, 4, 3), "uint8")
    for name in ["z.PNG", "a/b/c/deep.jpg", "a/1.gif", ".hidden/x.png", "a/.x.png"]:
        _save(tmp_path / name, pixels)
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    assert duplicates.image_paths(str(tmp_path)) == [
        "a/1.gif",
        "a/b/c/deep.jpg",
        "z.PNG",
    ]
    with pytest.raises(ValueError, match=r"`directory`.*missing"):
        duplicates.image_paths(str(tmp_path / "missing"))


@pytest.mark.parametrize("mode", ["rgb", "grayscale"])
def test_read_images_as_load_image_folder_reads_them(tmp_path, rng, image_tree, mode):
    image_tree(tmp_path, rng, 3, ("png", "JPG"))
    x, _, _ = data.load_image_folder(str(tmp_path), (16, 20), mode)
    paths = duplicates.image_paths(str(tmp_path))
    # Keras walks the class folders in sorted order, their files sorted:
    # here, the order of the sorted paths.
    assert len(paths) == len(x) == 10
    images = duplicates.read_images(str(tmp_path), paths, (16, 20), mode)
    np.testing.assert_allclose(images, x, rtol=0, atol=1e-6)
    scaled = duplicates.read_images(
        str(tmp_path), paths, (16, 20), mode, value_range=(-1, 1)
    )
    np.testing.assert_allclose(scaled, 2 * x - 1, rtol=0, atol=1e-5)


def test_read_images_errors(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="broken.png"):
        duplicates.read_images(str(tmp_path), ["broken.png"], (4, 4))
    with pytest.raises(ValueError, match=r"`color_mode`.*color_mode='cmyk'"):
        duplicates.read_images(str(tmp_path), [], (4, 4), "cmyk")
    with pytest.raises(ValueError, match=r"`value_range`.*value_range=\(1, 0\)"):
        duplicates.read_images(str(tmp_path), [], (4, 4), value_range=(1, 0))
    with pytest.raises(ValueError, match=r"`image_size`.*image_size=\(0, 4\)"):
        duplicates.read_images(str(tmp_path), [], (0, 4))


def test_embed_images_in_batches(tmp_path, rng):
    paths = []
    for i in range(7):
        _save(tmp_path / f"{i}.png", (rng.random((4, 4, 3)) * 255).astype("uint8"))
        paths.append(f"{i}.png")
    model = _pooling_model()
    whole = duplicates.embed_images(model, str(tmp_path), paths, (4, 4))
    batched = duplicates.embed_images(model, str(tmp_path), paths, (4, 4), batch_size=3)
    expected = duplicates.read_images(str(tmp_path), paths, (4, 4)).mean(axis=(1, 2))
    np.testing.assert_allclose(whole, expected, rtol=1e-6)
    np.testing.assert_allclose(batched, expected, rtol=1e-6)
    assert whole.dtype == np.float64 and whole.shape == (7, 3)


def test_embed_images_refuses_what_is_not_an_embedding(tmp_path):
    _save(tmp_path / "a.png", np.zeros((4, 4, 3), "uint8"))
    spatial = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Identity()])
    with pytest.raises(ValueError, match=r"\(batch, dim\).*\(1, 4, 4, 3\)"):
        duplicates.embed_images(spatial, str(tmp_path), ["a.png"], (4, 4))

    class Broken:
        def predict_on_batch(self, images):
            return np.full((len(images), 2), np.nan)

    with pytest.raises(ValueError, match=r"NaN or inf embeddings for 'a.png'"):
        duplicates.embed_images(Broken(), str(tmp_path), ["a.png"], (4, 4))
    with pytest.raises(ValueError, match=r"`batch_size`.*batch_size=0"):
        duplicates.embed_images(spatial, str(tmp_path), ["a.png"], (4, 4), batch_size=0)


def test_write_duplicates_with_awkward_names(tmp_path, read_pair_page):
    names = ["a b.png", "c,d#1&.png", 'ü/é"q.png']
    images = tmp_path / "images"
    for name in names:
        _save(images / name, np.zeros((4, 4, 3), "uint8"))
    pairs = [
        {"path_a": names[0], "path_b": names[1], "distance": 0.125},
        {"path_a": names[1], "path_b": names[2], "distance": 1 / 3},
    ]
    result = {
        "directory": str(images),
        "num_images": 3,
        "threshold": 0.5,
        "pairs": pairs,
    }
    out = tmp_path / "out"
    duplicates.write_duplicates(result, str(out))
    with open(out / "pairs.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["path_a", "path_b", "distance"]
    assert [(a, b, float(d)) for a, b, d in rows[1:]] == [
        (p["path_a"], p["path_b"], p["distance"]) for p in pairs
    ]
    assert json.loads((out / "pairs.json").read_text(encoding="utf-8")) == result
    rows = read_pair_page((out / "index.html").read_text(encoding="utf-8"))
    assert [distance for distance, _ in rows] == [0.125, 1 / 3]
    for (_, images_shown), pair in zip(rows, pairs, strict=True):
        assert [alt for _, alt in images_shown] == [pair["path_a"], pair["path_b"]]
        for source, alt in images_shown:
            shown = os.path.normpath(out / urllib.parse.unquote(source))
            assert shown == os.path.normpath(images / alt)

    duplicates.write_duplicates(result, str(out), max_html_pairs=1)
    page = (out / "index.html").read_text(encoding="utf-8")
    assert len(read_pair_page(page)) == 1 and "all 2 are in pairs.csv" in page


def test_calibrate_on_folder_samples_and_checks(tmp_path, rng):
    for i in range(6):
        _save(tmp_path / f"{i}.png", (rng.random((8, 8, 3)) * 255).astype("uint8"))
    model = _pooling_model(8)
    found = duplicates.calibrate_on_folder(
        model, str(tmp_path), 0.5, (8, 8), num_images=4, distortions=["noise@0.02"]
    )
    # 4 images: 4 positives and 6 negatives.
    assert found["num_images"] == 4 and found["num_pairs"] == 10
    assert found["distortions"] == ["noise@0.02"]
    assert found["target_precision"] == 0.5 and found["precision"] >= 0.5
    with pytest.raises(ValueError, match=r"`precision`.*precision=0"):
        duplicates.calibrate_on_folder(model, str(tmp_path), 0, (8, 8))
    with pytest.raises(ValueError, match=r"`num_images`.*num_images=1"):
        duplicates.calibrate_on_folder(model, str(tmp_path), 0.9, (8, 8), num_images=1)
    lonely = tmp_path / "lonely"
    _save(lonely / "only.png", np.zeros((8, 8, 3), "uint8"))
    with pytest.raises(ValueError, match="at least 2 images.*has 1"):
        duplicates.calibrate_on_folder(model, str(lonely), 0.9, (8, 8))


def test_run_duplicates_needs_one_of_threshold_and_precision(tmp_path):
    model = _pooling_model()
    for arguments in [{}, {"threshold": 0.1, "precision": 0.9}]:
        with pytest.raises(ValueError, match=r"exactly one of `threshold`"):
            duplicates.run_duplicates(
                model, str(tmp_path), str(tmp_path / "out"), (4, 4), **arguments
            )
    with pytest.raises(ValueError, match="No images found"):
        duplicates.find_duplicates(model, str(tmp_path), 0.1, (4, 4))
