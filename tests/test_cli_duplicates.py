"""`keras-stability duplicates` end to end, on folders with planted near-duplicates.

The embedding is fixed: the mean of each 4 x 4 block of a 32 x 32 image
(an `AveragePooling2D(4)` and a `Flatten`, no weights), so the tests know
every distance without the command. The images are smooth (random 4 x 4
pictures enlarged), so a JPEG or one-pixel-shifted copy stays close and two
different pictures stay far apart.
"""

import csv
import json
import os
import sys
import urllib.parse

import keras
import numpy as np
import pytest
from PIL import Image

from keras_stability import cli

# Code the backends share, run once (on TensorFlow) to keep the suite short;
# the end-to-end test with a calibration folder runs on every backend.
_ONCE = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="backend-independent command code, run once (on TensorFlow)",
)


def _smooth_picture(rng):
    small = (rng.random((4, 4, 3)) * 255).astype("uint8")
    return np.asarray(Image.fromarray(small).resize((32, 32), Image.BILINEAR))


def _shifted(pixels):
    """One pixel to the left, the last column repeated."""
    return np.concatenate([pixels[:, 1:], pixels[:, -1:]], axis=1)


def _folder(root, rng, count, planted=()):
    """`count` distinct pictures in nested folders, and the planted copies.

    `planted` lists `(index, kind)` with kind "jpeg" (quality 50) or
    "shift". Returns `{relative path: pixels}` and the planted pairs
    as `(original path, copy path)`.
    """
    places = ["a", "a/deep", "b"]
    written, pairs = {}, []
    for index in range(count):
        path = f"{places[index % 3]}/{index:02d}.png"
        written[path] = _smooth_picture(rng)
    for index, kind in planted:
        original = f"{places[index % 3]}/{index:02d}.png"
        if kind == "jpeg":
            copy, pixels = f"copies/jpeg {index}.jpg", written[original]
        else:
            copy, pixels = f"copies/shift_{index}.png", _shifted(written[original])
        written[copy] = pixels
        pairs.append(tuple(sorted((original, copy))))
    for path, pixels in written.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(root / path, quality=50)
        if path.endswith(".jpg"):  # What the file holds, as Pillow decodes it.
            written[path] = np.asarray(Image.open(root / path))
    return written, sorted(pairs)


def _embedding(pixels):
    """The test's own embedding: 4 x 4 block means of the pixels in [0, 1]."""
    return (pixels / 255.0).reshape(8, 4, 8, 4, 3).mean(axis=(1, 3)).reshape(-1)


def _model(path):
    inputs = keras.Input((32, 32, 3))
    pooled = keras.layers.AveragePooling2D(4, name="pool")(inputs)
    embedding = keras.layers.Flatten(name="embedding")(pooled)
    outputs = keras.layers.Dense(2, activation="softmax", name="classes")(embedding)
    keras.Model(inputs, outputs).save(path)
    return str(path)


def _read_output(out, images, read_pair_page):
    """The pairs of the three files, checked to agree, as `(a, b, distance)`."""
    with open(out / "pairs.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["path_a", "path_b", "distance"]
    from_csv = [(a, b, float(d)) for a, b, d in rows[1:]]
    report = json.loads((out / "pairs.json").read_text(encoding="utf-8"))
    from_json = [(p["path_a"], p["path_b"], p["distance"]) for p in report["pairs"]]
    from_html = []
    for distance, shown in read_pair_page((out / "index.html").read_text("utf-8")):
        # Each image is linked by its path relative to the output folder.
        shown = [
            os.path.relpath(os.path.normpath(out / urllib.parse.unquote(s)), images)
            for s, _ in shown
        ]
        from_html.append((*(p.replace(os.sep, "/") for p in shown), distance))
    assert from_csv == from_json == from_html
    distances = [d for _, _, d in from_csv]
    assert distances == sorted(distances)
    assert all(a < b for a, b, _ in from_csv)
    return from_csv, report


def _distances(written):
    """Every pair's distance under the test's embedding, `{(a, b): d}`."""
    paths = sorted(written)
    vectors = {path: _embedding(written[path].astype("float64")) for path in paths}
    return {
        (a, b): float(np.linalg.norm(vectors[a] - vectors[b]))
        for i, a in enumerate(paths)
        for b in paths[i + 1 :]
    }


def test_planted_pairs_found_at_the_calibrated_threshold(
    tmp_path, rng, capsys, read_pair_page
):
    planted = [(0, "jpeg"), (1, "jpeg"), (2, "shift"), (3, "shift")]
    images = tmp_path / "photos"
    written, pairs = _folder(images, rng, 12, planted)
    _folder(tmp_path / "distinct", rng, 12)
    out = tmp_path / "out"
    status = cli.main(
        [
            "duplicates",
            str(images),
            "--model",
            _model(tmp_path / "model.keras"),
            "--output-layer",
            "embedding",
            "--precision",
            "0.99",
            "--calibration",
            str(tmp_path / "distinct"),
            "--output",
            str(out),
        ]
    )
    assert status == 0
    found, report = _read_output(out, images, read_pair_page)
    # Every planted pair, and no pair of two different pictures.
    assert sorted((a, b) for a, b, _ in found) == pairs
    threshold = report["threshold"]
    calibration = report["calibration"]
    assert calibration["threshold"] == threshold
    assert calibration["precision"] >= 0.99 and calibration["target_precision"] == 0.99
    assert calibration["num_images"] == 12 and calibration["num_pairs"] == 36 + 66
    assert report["num_images"] == 16
    expected = _distances(written)
    distinct = [d for pair, d in expected.items() if pair not in pairs]
    assert max(d for _, _, d in found) <= threshold < min(distinct)
    for a, b, distance in found:
        # A JPEG copy's pixels depend on the decoder; a PNG's do not.
        tolerance = 2e-2 if b.endswith(".jpg") else 1e-6
        assert distance == pytest.approx(expected[a, b], rel=tolerance)
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1] == f"16 images, 4 pairs within {threshold:.4g}, written to {out}"


@_ONCE
def test_calibrated_on_the_folder_itself(tmp_path, rng, read_pair_page):
    # 13 images, one a JPEG copy of image 5: 13 * 3 positives, and the copy
    # pair counts as one of the 78 negatives. With every positive closer
    # than any two different pictures, precision 0.97 is met at the last
    # positive (39/40 = 0.975) and missed beyond it (39/41 = 0.951).
    images = tmp_path / "photos"
    written, pairs = _folder(images, rng, 12, [(5, "jpeg")])
    out = tmp_path / "out"
    model = _model(tmp_path / "model.keras")
    arguments = ["duplicates", str(images), "--model", model, "--output", str(out)]
    status = cli.main(
        [*arguments, "--output-layer", "embedding", "--precision", "0.97"]
    )
    assert status == 0
    found, report = _read_output(out, images, read_pair_page)
    assert [(a, b) for a, b, _ in found] == pairs
    calibration = report["calibration"]
    assert calibration["num_pairs"] == 39 + 78 and calibration["num_called"] == 40
    assert calibration["precision"] == pytest.approx(39 / 40)
    assert calibration["directory"] == str(images)


@_ONCE
def test_a_given_threshold(tmp_path, rng, read_pair_page):
    images = tmp_path / "photos"
    written, pairs = _folder(images, rng, 6, [(1, "shift"), (4, "shift")])
    expected = _distances(written)
    model = _model(tmp_path / "model.keras")
    # Between the two planted pairs: only the closer one.
    first, second = sorted(expected[pair] for pair in pairs)
    out = tmp_path / "out"
    status = cli.main(
        [
            "duplicates",
            str(images),
            "--model",
            model,
            "--output-layer",
            "embedding",
            "--threshold",
            str((first + second) / 2),
            "--output",
            str(out),
        ]
    )
    assert status == 0
    found, report = _read_output(out, images, read_pair_page)
    closer = min(pairs, key=expected.get)
    assert [(a, b) for a, b, _ in found] == [closer]
    assert found[0][2] == pytest.approx(first, rel=1e-6)
    assert report["calibration"] is None


@_ONCE
def test_errors_name_the_argument(tmp_path, rng, capsys, monkeypatch):
    images = tmp_path / "photos"
    _folder(images, rng, 3)
    model = _model(tmp_path / "model.keras")
    base = ["duplicates", str(images), "--model", model, "--output-layer", "embedding"]

    def error(*arguments):
        assert cli.main([*base, *arguments, "--output", str(tmp_path / "o")]) == 2
        message = capsys.readouterr().err.strip()
        assert len(message.splitlines()) == 1
        return message

    assert "Pass either --threshold T" in error()
    assert "not both" in error("--threshold", "1", "--precision", "0.9")
    assert "--calibration goes with --precision" in error(
        "--threshold", "1", "--calibration", str(images)
    )
    assert "--calibration-images 1: calibration needs at least 2" in error(
        "--precision", "0.9", "--calibration-images", "1"
    )
    assert "--calibration not found" in error(
        "--precision", "0.9", "--calibration", str(tmp_path / "nowhere")
    )
    assert "--output-layer nope: the model has no layer" in error(
        "--threshold", "1", "--output-layer", "nope"
    )
    assert "pool has shape (None, 8, 8, 3)" in error(
        "--threshold", "1", "--output-layer", "pool"
    )
    assert "--image-size 16 16: the model takes images of 32 x 32" in error(
        "--threshold", "1", "--image-size", "16", "16"
    )
    # Every image of this calibration folder is the same picture: two
    # different images are never farther apart than an image and its copy.
    same = tmp_path / "same"
    same.mkdir()
    picture = _smooth_picture(rng)
    for i in range(3):
        Image.fromarray(picture).save(same / f"{i}.png")
    assert "No threshold reaches `precision`=0.9" in error(
        "--precision", "0.9", "--calibration", str(same)
    )
    monkeypatch.setitem(sys.modules, "faiss", None)
    assert "pip install keras-stability[faiss]" in error(
        "--threshold", "1", "--method", "faiss"
    )

    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    assert (
        cli.main(["duplicates", str(empty), "--model", model, "--threshold", "1"]) == 2
    )
    assert f"No images found below {empty}" in capsys.readouterr().err
    missing = str(tmp_path / "missing")
    assert cli.main(["duplicates", missing, "--model", model, "--threshold", "1"]) == 2
    assert f"Image folder not found: {missing}" in capsys.readouterr().err
    for flag, value in [("--threshold", "-1"), ("--precision", "1.5")]:
        with pytest.raises(SystemExit) as exit_info:
            cli.main([*base, flag, value])
        assert exit_info.value.code == 2
        assert f"argument {flag}: expected" in capsys.readouterr().err


def test_help_says_how_precision_is_calibrated(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["duplicates", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "usage: keras-stability duplicates" in text
    assert "JPEG quality 50, a half-size thumbnail and a crop" in text
    assert "not on the folder" in text
