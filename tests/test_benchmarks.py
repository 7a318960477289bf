"""The benchmark scripts run end to end on tiny inputs and report what they measured.

Timings are never asserted (they belong to benchmarks/RESULTS.md); what is
checked is that each printed ratio is the ratio of the figures it reports.
"""

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

BENCHMARKS = os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks")


def _load(name):
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(BENCHMARKS, f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_step_overhead_reports_ratios_to_the_floor(tmp_path, capsys):
    backend = keras.backend.backend()
    pipeline = ["--pipeline"] if backend == "tensorflow" else []
    path = tmp_path / "steps.json"
    argv = ["--backend", backend, "--batch", "4", "--steps", "2", "--repeats", "2"]
    argv += ["--perturbations", "noise", "jpeg_dct", "--json", str(path), *pipeline]
    results = _load("step_overhead").main(argv)
    assert json.loads(path.read_text()) == json.loads(json.dumps(results))
    row = results["models"]["small_cnn"]
    assert row["batch"] == 4
    rounds = row["rounds_s"]
    assert set(rounds) == {"plain_B", "plain_2B", "noise", "jpeg_dct"}
    assert all(len(times) == 2 and min(times) > 0 for times in rounds.values())
    assert row["plain_2B_s"] == statistics.median(rounds["plain_2B"])
    assert row["floor_ratio"] == pytest.approx(
        statistics.median(np.divide(rounds["plain_2B"], rounds["plain_B"]))
    )
    assert set(row["stability"]) == {"noise", "jpeg_dct"}
    for name, entry in row["stability"].items():
        within = np.divide(rounds[name], rounds["plain_2B"])
        np.testing.assert_allclose(entry["round_ratios"], within)
        assert entry["ratio_to_floor"] == pytest.approx(statistics.median(within))
        assert entry["step_s"] == statistics.median(rounds[name])
    printed = capsys.readouterr().out
    assert "small_cnn B=4" in printed and "x the floor (rounds " in printed
    if pipeline:
        fit = row["pipeline"]
        steps = fit["rounds_s"]
        for where in ("in_step", "in_pipeline"):
            within = np.divide(steps[f"libjpeg_{where}"], steps["plain_2B"])
            assert fit[f"libjpeg_{where}_ratio"] == pytest.approx(
                statistics.median(within)
            )
        assert set(fit["outside_steps_per_call_s"]) == set(steps)
        assert "in the pipeline" in printed


def test_step_overhead_under_xla_skips_libjpeg():
    argv = ["--backend", keras.backend.backend(), "--batch", "2", "--steps", "1"]
    argv += ["--repeats", "1", "--perturbations", "noise", "jpeg_libjpeg"]
    results = _load("step_overhead").main([*argv, "--jit-compile"])
    assert results["jit_compile"] is True
    assert set(results["models"]["small_cnn"]["stability"]) == {"noise"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--backend", "jax", "--pipeline"], "--pipeline needs --backend tensorflow"),
        (["--pipeline", "--jit-compile"], "which XLA cannot compile"),
    ],
)
def test_step_overhead_pipeline_argument_errors(argv, message, capsys):
    with pytest.raises(SystemExit):
        _load("step_overhead").main(argv)
    assert message in capsys.readouterr().err


def test_step_memory_reports_xla_plans(tmp_path):
    pytest.importorskip("jax")
    path = tmp_path / "memory.json"
    command = [sys.executable, os.path.join(BENCHMARKS, "step_memory.py")]
    command += ["--batch", "8", "--perturbations", "noise", "--halves"]
    command += ["--json", str(path)]
    result = subprocess.run(
        command,
        env={**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    row = json.loads(path.read_text())["models"]["small_cnn"]
    # A plan that ignored the batch would give equal sizes here.
    assert row["plain_2B_bytes"] > row["plain_B_bytes"] > 0
    assert row["plain_2B_in_halves_bytes"] > row["plain_B_bytes"]
    noise = row["stability"]["noise"]
    assert noise["ratio_to_plain_2B"] == pytest.approx(
        noise["bytes"] / row["plain_2B_bytes"]
    )
    assert "stability step" in result.stdout


def test_step_memory_refuses_other_backends():
    result = subprocess.run(
        [sys.executable, os.path.join(BENCHMARKS, "step_memory.py")],
        env={**os.environ, "KERAS_BACKEND": "numpy"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "run it with KERAS_BACKEND=jax" in result.stderr


def test_eval_throughput_reports_the_ratio(tmp_path, capsys):
    path = tmp_path / "eval.json"
    argv = ["--backend", keras.backend.backend(), "--images", "16", "--batch", "8"]
    result = _load("eval_throughput").main(
        [*argv, "--repeats", "2", "--breakdown", "--json", str(path)]
    )
    assert json.loads(path.read_text()) == json.loads(json.dumps(result))
    rounds = result["rounds_s"]
    assert len(rounds["predict"]) == len(rounds["report"]) == 2
    ratios = [r / p for r, p in zip(rounds["report"], rounds["predict"], strict=True)]
    assert result["round_ratios"] == pytest.approx(ratios)
    assert result["ratio"] == pytest.approx(sum(ratios) / 2)
    assert result["predict_s"] == pytest.approx(sum(rounds["predict"]) / 2)
    on_batch = [
        r / p for r, p in zip(rounds["report"], rounds["predict_on_batch"], strict=True)
    ]
    assert result["round_ratios_on_batch"] == pytest.approx(on_batch)
    assert result["ratio_on_batch"] == pytest.approx(sum(on_batch) / 2)
    assert result["distortions"] == 14
    breakdown = result["distortion_ms_per_batch"]
    assert len(breakdown) == 14 and all(ms > 0 for ms in breakdown.values())
    out = capsys.readouterr().out
    assert f"ratio report / predict: {result['ratio']:.2f}x (rounds " in out
    ratio_on_batch = result["ratio_on_batch"]
    assert f"ratio report / predict_on_batch: {ratio_on_batch:.2f}x (rounds " in out


@pytest.mark.tensorflow
def test_fit_steps_prints_every_call(tmp_path, capsys):
    path = tmp_path / "fit.json"
    argv = ["--batch", "4", "--steps", "2", "--calls", "3", "--json", str(path)]
    argv += ["--configurations", "plain_2B", "libjpeg_pipeline", "--no-autotune"]
    results = _load("fit_steps").main(argv)
    assert json.loads(path.read_text()) == json.loads(json.dumps(results))
    assert results["autotune"] is False
    for key in ("ms_per_step", "s_outside_steps"):
        assert set(results[key]) == {"plain_2B", "libjpeg_pipeline"}
        for times in results[key].values():
            assert len(times) == 3 and all(t > 0 for t in times)
    assert "libjpeg_pipeline:" in capsys.readouterr().out


def test_time_fit_splits_the_steps_from_the_rest_of_the_call():
    """Time spent in `fit` before the first batch is not charged to the steps."""

    class SlowStart(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            time.sleep(0.3)

    class Model(keras.Model):
        def fit(self, *args, callbacks=(), **kwargs):
            return super().fit(*args, callbacks=[SlowStart(), *callbacks], **kwargs)

    def batches():
        while True:
            yield np.ones((4, 2), "float32"), np.ones((4, 1), "float32")

    inputs = keras.Input((2,))
    model = Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile("sgd", "mse")
    per_step, outside = _load("_common").time_fit(model, batches(), steps=3)
    assert outside >= 0.3 > 3 * per_step > 0


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="backend-independent bookkeeping, run once (on TensorFlow) to keep CI short",
)
def test_robustness_benchmark_summarizes_its_runs(tmp_path, capsys):
    runs_path = tmp_path / "runs.jsonl"
    argv = ["--quick", "--tasks", "digits", "--networks", "small_cnn"]
    argv += ["--candidates", "noise08", "--alphas", "2", "--runs", str(runs_path)]
    module = _load("robustness")
    runs = module.main(argv)
    printed = capsys.readouterr().out
    records = [json.loads(line) for line in runs_path.read_text().splitlines()]
    assert sorted(r["kind"] for r in records) == [
        "augmentation",
        "baseline",
        "stability",
    ]
    assert {r["key"] for r in records} == set(runs)
    by_kind = {r["kind"]: r for r in records}
    assert by_kind["stability"]["alpha"] == 2.0
    assert by_kind["stability"]["epochs"] == 2  # --quick: 2 epochs, patience 1
    # The summary is the records' arithmetic: one seed, so no spread.
    summary = module.summarize(
        runs, "digits", "small_cnn", "stability", "noise08", 2.0, [0]
    )
    mine, base = by_kind["stability"]["report"], by_kind["baseline"]["report"]
    flips = [mine[k] for k in module.FAMILY_KEYS.values()]
    base_flips = [base[k] for k in module.FAMILY_KEYS.values()]
    assert summary["flip"] == pytest.approx(np.mean(flips))
    assert summary["ratio"] == pytest.approx(np.mean(flips) / np.mean(base_flips))
    assert summary["delta_top1"] == pytest.approx(
        mine["clean/top1"] - base["clean/top1"]
    )
    assert summary["top1_std"] == 0.0
    assert "stability noise08 a=2" in printed and "Worst case" in printed
    # Recorded runs are not trained again; the tables come back the same.
    module.main([*argv, "--table-only"])
    assert capsys.readouterr().out == printed[printed.index("\ndigits / small_cnn") :]


def test_the_benchmarks_mixrange_is_the_library_default():
    """The sweep's rows for `mixrange` are the rows of the default on 32x32."""
    candidates = _load("robustness").candidates()
    for shape in ((32, 32, 3), (32, 32, 1)):
        swept = candidates["mixrange"](shape).get_config()
        default = candidates["default"](shape).get_config()
        for config in (swept, default):
            del config["name"]
            for element in config["perturbations"]:
                del element["config"]["name"]
        assert swept == default


def test_robustness_runs_of_another_configuration_do_not_hide_a_run(tmp_path):
    """A file holds runs of several patiences under the same keys."""
    path = tmp_path / "runs.jsonl"
    records = [
        {"key": "k", "config": {"patience": 8}, "report": 1},
        {"key": "k", "config": {"patience": 16}, "report": 2},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    load_runs = _load("robustness").load_runs
    assert load_runs(str(path), {"patience": 8})["k"]["report"] == 1
    assert load_runs(str(path), {"patience": 16})["k"]["report"] == 2
    assert load_runs(str(path), {"patience": 4}) == {}


@pytest.mark.tensorflow
def test_throughput_benchmark_runs_once_on_tiny_data(tmp_path, capsys):
    benchmark = _load("jpeg_throughput")
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


def test_regularizer_steps_report_ratios_to_their_floors(tmp_path, capsys):
    backend = keras.backend.backend()
    path = tmp_path / "regularizers.json"
    argv = ["--backend", backend, "--batch", "4", "--steps", "1", "--repeats", "2"]
    argv += ["--rows", "views2", "fraction50", "adversarial1", "--json", str(path)]
    results = _load("regularizer_steps").main(argv)
    assert json.loads(path.read_text()) == json.loads(json.dumps(results))
    row = results["models"]["small_cnn"]
    rounds = row["rounds_s"]
    assert set(rounds) == {
        "plain_1B",
        "plain_2B",
        "plain_3B",
        "views2",
        "fraction50",
        "adversarial1",
    }
    for name, floor in (("views2", "plain_3B"), ("fraction50", "plain_2B")):
        within = np.divide(rounds[name], rounds[floor])
        assert row["rows"][name]["ratio_to_floor"] == pytest.approx(
            statistics.median(within)
        )
    # The adversarial floor: a plain step at B times steps + 2.
    within = np.divide(rounds["adversarial1"], 3 * np.asarray(rounds["plain_1B"]))
    assert row["rows"]["adversarial1"]["ratio_to_floor"] == pytest.approx(
        statistics.median(within)
    )
    assert "its floor (3 x plain B" in capsys.readouterr().out


def test_the_regularizer_candidates_pass_their_model_arguments():
    module = _load("robustness")
    for name, (perturbation, kwargs) in module.REGULARIZERS.items():
        assert module.stability_kwargs(name) == kwargs
        built = module.candidates()[name]((32, 32, 3)).get_config()
        again = module.candidates()[perturbation]((32, 32, 3)).get_config()
        assert type(built) is type(again) and built.keys() == again.keys()
    assert module.stability_kwargs("mixrange") == {}


@pytest.mark.tensorflow
def test_unlabeled_benchmark_trains_each_setting_once(tmp_path, capsys):
    module = _load("unlabeled")
    runs = tmp_path / "runs.jsonl"
    settings = ["baseline", "unlabeled", "uda"]
    argv = ["--quick", "--tasks", "photographs", "--runs", str(runs)]
    records = module.main([*argv, "--settings", *settings])
    # --quick keeps no file; the records come back.
    assert not runs.exists()
    assert sorted(r["setting"] for r in records.values()) == sorted(settings)
    for record in records.values():
        assert record["labeled"] + record["unlabeled"] == 100  # 10 classes x 10
        assert record["labeled"] == 10  # 10% of each class
    printed = capsys.readouterr().out
    summary = module.summarize(records, "photographs", "uda", [0])
    assert summary[0] == [records["photographs|uda|0"]["report"]["clean/top1"]]
    assert "uda" in printed and "x baseline" in printed


def test_labeled_indices_are_a_stratified_share():
    module = _load("unlabeled")
    y = np.repeat(np.arange(4), [10, 20, 30, 5])
    chosen = module.labeled_indices(y, 0.1, seed=0)
    assert np.bincount(y[chosen]).tolist() == [1, 2, 3, 1]  # at least one
    assert len(set(chosen.tolist())) == len(chosen)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="backend-independent bookkeeping, run once (on TensorFlow) to keep CI short",
)
def test_imagenet_c_agreement_compares_each_family_and_level(tmp_path, capsys):
    module = _load("imagenet_c_agreement")
    path = tmp_path / "agreement.json"
    backend = keras.backend.backend()
    argv = ["--backend", backend, "--size", "16", "--small", "8", "--images", "2"]
    argv += ["--families", "contrast", "defocus_blur", "shot_noise", "motion_blur"]
    report = module.main([*argv, "--levels", "1", "5", "--json", str(path)])
    assert json.loads(path.read_text()) == json.loads(json.dumps(report))
    rows = report["rows"]
    skipped = [r for r in rows if "skipped" in r]
    assert [(r["family"], r["level"]) for r in skipped] == [
        ("motion_blur", 1),
        ("motion_blur", 5),
    ]
    compared = [r for r in rows if "skipped" not in r]
    assert {(r["family"], r["level"], r["pixels"]) for r in compared} == {
        (family, level, pixels)
        for family in ("contrast", "defocus_blur", "shot_noise")
        for level in (1, 5)
        for pixels in (16, 8)
    }
    for row in compared:
        assert row["psnr"] == pytest.approx(10 * np.log10(255**2 / row["mse"]))
        assert row["random"] == (row["family"] == "shot_noise")
        if row["family"] == "contrast":  # the same arithmetic as the reference
            assert row["mad"] < 0.01
            assert row["change_ours"] == pytest.approx(row["change_reference"], 1e-4)
    printed = capsys.readouterr().out
    assert "motion_blur           1  skipped: needs ImageMagick through Wand" in printed
    # The reference's photographs: ImageNet's centre crops on the 8-bit grid.
    images = module.photographs(16, 3)
    assert images.shape == (3, 16, 16, 3) and images.dtype == np.uint8
    with pytest.raises(ValueError, match="Received: --size 16 --small 5"):
        module.main(["--backend", backend, "--size", "16", "--small", "5"])


def test_pair_search_finds_the_planted_pairs_in_bounded_memory(tmp_path, capsys):
    path = tmp_path / "pairs.json"
    argv = ["--images", "3000", "--planted", "40", "--chunk-size", "64"]
    result = _load("pair_search").main([*argv, "--json", str(path)])
    assert json.loads(path.read_text()) == result
    assert result["planted_found"] == 40 and result["pairs"] >= 40
    # Random 64-d unit vectors lie about sqrt(2) apart: the pairs found
    # beyond the planted ones are none.
    assert result["pairs"] == 40
    # Blocks of 64 rows, not the 3000 x 3000 matrix (36 MB in float32).
    assert result["peak_bytes"] < result["full_matrix_bytes"] / 4
    assert "planted found 40/40" in capsys.readouterr().out
