"""The pairs as files: a CSV, a JSON and an HTML page that shows them."""

import csv
import html
import json
import os
import pathlib
import urllib.parse

from keras_stability._checks import check_int

__all__ = ["MAX_HTML_PAIRS", "write_duplicates"]

# How many pairs, the closest, the HTML page shows.
MAX_HTML_PAIRS = 1000


def write_duplicates(result, output_dir, max_html_pairs=MAX_HTML_PAIRS):
    """Writes `pairs.csv`, `pairs.json` and `index.html` into a folder.

    `pairs.csv` has the columns `path_a`, `path_b`, `distance`, one row a
    pair, paths relative to the image folder; `pairs.json` holds the whole
    `result`. `index.html` shows the `max_html_pairs` closest pairs side
    by side with their distance; it links the images by their path relative
    to `output_dir` (so it shows them while the two folders keep their
    places), and each row carries `data-distance`, the distance in full.

    Args:
        result: a dict from `find_duplicates`, perhaps with a `calibration`
            entry from `calibrate_on_folder`.
        output_dir: the folder to write, created if needed.
        max_html_pairs: how many pairs the page shows, an int >= 0.
            Defaults to `MAX_HTML_PAIRS`.

    Returns:
        The paths of the three files written.

    Example:

    ```python
    import json
    import os
    import tempfile
    from keras_stability.duplicates import write_duplicates

    result = {"directory": "/photos", "num_images": 3, "threshold": 0.5,
              "pairs": [{"path_a": "a.png", "path_b": "b.png", "distance": 0.25}]}
    with tempfile.TemporaryDirectory() as folder:
        written = write_duplicates(result, folder)
        assert [os.path.basename(p) for p in written] == [
            "pairs.csv", "pairs.json", "index.html"]
        with open(written[1]) as f:
            assert json.load(f) == result
    ```
    """
    check_int(max_html_pairs, "max_html_pairs", 0)
    os.makedirs(output_dir, exist_ok=True)
    csv_path = os.path.join(output_dir, "pairs.csv")
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["path_a", "path_b", "distance"])
        for pair in result["pairs"]:
            writer.writerow([pair["path_a"], pair["path_b"], repr(pair["distance"])])
    json_path = os.path.join(output_dir, "pairs.json")
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    html_path = os.path.join(output_dir, "index.html")
    with open(html_path, "w", encoding="utf-8") as f:
        f.write(_page(result, output_dir, max_html_pairs))
    return [csv_path, json_path, html_path]


def _page(result, output_dir, max_pairs):
    pairs = result["pairs"]
    shown = pairs[:max_pairs]
    title = (
        f"{len(pairs)} pairs within {result['threshold']:.4g} among "
        f"{result['num_images']} images of {result['directory']}"
    )
    note = (
        f"<p>The {len(shown)} closest; all {len(pairs)} are in pairs.csv.</p>"
        if len(shown) < len(pairs)
        else ""
    )
    rows = []
    for pair in shown:
        cells = "".join(
            _image_cell(result["directory"], pair[key], output_dir)
            for key in ("path_a", "path_b")
        )
        rows.append(
            f'<tr data-distance="{pair["distance"]!r}">'
            f"<td>{pair['distance']:.4g}</td>{cells}</tr>"
        )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>\n<style>"
        "td{padding:4px;text-align:center;vertical-align:top}"
        "img{max-width:256px;max-height:256px}</style></head>\n<body>"
        f"<h1>{html.escape(title)}</h1>{note}\n<table>\n"
        "<tr><th>distance</th><th>path_a</th><th>path_b</th></tr>\n"
        + "\n".join(rows)
        + "\n</table></body></html>\n"
    )


def _image_cell(directory, path, output_dir):
    target = os.path.join(directory, path)
    try:
        relative = os.path.relpath(target, os.path.abspath(output_dir))
        source = urllib.parse.quote(pathlib.PurePath(relative).as_posix())
    except ValueError:  # Another drive on Windows.
        source = pathlib.Path(target).as_uri()
    text = html.escape(path)
    return f'<td><img src="{html.escape(source)}" alt="{text}"><br>{text}</td>'
