"""`benchmarks/jpeg_throughput.py` runs once on tiny data and reports what it timed.

Timings are never asserted; the ratios it prints must be those of the
figures it reports.
"""

import importlib.util
import json
import os

import numpy as np
import pytest

pytestmark = pytest.mark.tensorflow
tf = pytest.importorskip("tensorflow")

BENCHMARK = os.path.join(
    os.path.dirname(__file__), os.pardir, os.pardir, "benchmarks", "jpeg_throughput.py"
)


def test_throughput_benchmark_runs_once_on_tiny_data(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("jpeg_throughput", BENCHMARK)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    path = tmp_path / "throughput.json"
    argv = ["--sizes", "12", "--batch", "3", "--repeats", "2", "--json", str(path)]
    report = benchmark.main(argv)
    assert json.loads(path.read_text()) == json.loads(json.dumps(report))
    rows = {(r["method"], r["mode"]): r for r in report["results"]}
    assert set(rows) == {
        ("libjpeg", "eager"),
        ("libjpeg", "tf.function"),
        ("dct", "eager"),
        ("dct", "xla"),
    }
    fastest_libjpeg = max(
        rows["libjpeg", m]["images_per_second"] for m in ("eager", "tf.function")
    )
    for row in rows.values():
        assert len(row["seconds"]) == 2 and row["size"] == 12
        assert row["median_seconds"] == np.median(row["seconds"])
        assert row["images_per_second"] == pytest.approx(3 / row["median_seconds"])
        assert row["ratio_to_libjpeg"] == pytest.approx(
            row["images_per_second"] / fastest_libjpeg
        )
    table = capsys.readouterr().out
    assert "dct      xla" in table and "libjpeg  tf.function" in table
    # The backend is fixed once keras is imported.
    with pytest.raises(ValueError, match="already runs keras on 'tensorflow'"):
        benchmark.main(["--backend", "jax", "--sizes", "8"])
    # The benchmark's images are what it says.
    images = benchmark.photographs(12, 4)
    assert images.shape == (4, 12, 12, 3) and images.dtype == np.float32
    assert np.array_equal(images[3], images[0])
    np.testing.assert_allclose(images * 255, np.round(images * 255), atol=1e-4)
