"""robustness_report against plain predict over the same number of images.

A report on N images with D distortions runs the model on (D + 1) * N
images and also builds the distorted copies. This script times the report
and `model.predict` on (D + 1) * N images, in one run, alternating round by
round, and prints the median of the rounds' ratios and their range (goal: at
most 1.2x).

    python benchmarks/eval_throughput.py --backend tensorflow --json out.json
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import interleaved_rounds  # noqa: E402
from _common import round_ratio  # noqa: E402
from _common import write_json  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backend", default="tensorflow", choices=["tensorflow", "jax", "torch"]
    )
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also time each distortion alone on one batch, as the report runs it",
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    os.environ["KERAS_BACKEND"] = args.backend
    import keras
    import numpy as np

    from keras_stability import evaluation
    from keras_stability.demo import build_cnn

    rng = np.random.default_rng(0)
    x = rng.random((args.images, 32, 32, 1), dtype="float32")
    y = rng.integers(0, 10, args.images)
    model = keras.Model(*build_cnn((32, 32, 1), 10))
    # JPEG is libjpeg on TensorFlow and the same-pixel dct method elsewhere.
    distortions = evaluation.default_distortions()
    n_predict = (len(distortions) + 1) * args.images
    x_predict = np.concatenate([x] * (len(distortions) + 1))

    def report():
        evaluation.robustness_report(
            model, x, y, distortions=distortions, batch_size=args.batch, verbose=0
        )

    def predict():
        model.predict(x_predict, batch_size=args.batch, verbose=0)

    # The same forward passes without `predict`'s tf.data pipeline, which
    # `robustness_report` does not use either: on TensorFlow some `predict`
    # calls end about 0.6 s late while tf.data's autotuner thread is torn
    # down (the `fit` "stalls" of RESULTS.md), and this baseline has no such
    # cost.
    def predict_on_batch():
        for start in range(0, n_predict, args.batch):
            model.predict_on_batch(x_predict[start : start + args.batch])

    def timed(fn):
        def timer():
            started = time.perf_counter()
            fn()
            return time.perf_counter() - started

        fn()  # warm-up: tracing and the first distortions' compilation
        return timer

    timers = {
        "predict": timed(predict),
        "predict_on_batch": timed(predict_on_batch),
        "report": timed(report),
    }
    rounds = interleaved_rounds(timers, args.repeats)
    timings = {name: statistics.median(runs) for name, runs in rounds.items()}
    ratio, ratios = round_ratio(rounds, "report", "predict")
    ratio_on_batch, ratios_on_batch = round_ratio(rounds, "report", "predict_on_batch")
    print(
        f"{len(distortions)} distortions x {args.images} images + clean = "
        f"{n_predict} forward passes"
    )
    for name in ("predict", "predict_on_batch", "report"):
        seconds = timings[name]
        each = " ".join(f"{s:.2f}" for s in rounds[name])
        print(
            f"{name + ':':17s} {seconds:.2f} s ({n_predict / seconds:.0f} img/s); "
            f"rounds {each}"
        )
    print(
        f"ratio report / predict: {ratio:.2f}x "
        f"(rounds {min(ratios):.2f}-{max(ratios):.2f})"
    )
    print(
        f"ratio report / predict_on_batch: {ratio_on_batch:.2f}x "
        f"(rounds {min(ratios_on_batch):.2f}-{max(ratios_on_batch):.2f})"
    )
    result = {
        "backend": args.backend,
        "images": args.images,
        "distortions": len(distortions),
        "predict_s": timings["predict"],
        "predict_on_batch_s": timings["predict_on_batch"],
        "report_s": timings["report"],
        "ratio": ratio,
        "round_ratios": ratios,
        "ratio_on_batch": ratio_on_batch,
        "round_ratios_on_batch": ratios_on_batch,
        "rounds_s": rounds,
    }
    if args.breakdown:
        result["distortion_ms_per_batch"] = _breakdown(
            evaluation, distortions, x[: args.batch], args.repeats
        )
    return write_json(result, args.json)


def _breakdown(evaluation, distortions, batch, repeats, calls=20):
    """Median ms per batch of each distortion, made as the report makes it."""
    print(f"each distortion on one batch of {len(batch)} (median of {repeats}):")
    result = {}
    for name, distortion in distortions.items():
        evaluation.distort_batch(distortion, batch, (0, 0), name)  # traces
        runs = []
        for _ in range(repeats):
            started = time.perf_counter()
            for call in range(calls):
                evaluation.distort_batch(distortion, batch, (0, call), name)
            runs.append((time.perf_counter() - started) / calls * 1e3)
        result[name] = statistics.median(runs)
        print(f"  {name:15s} {result[name]:5.2f} ms")
    return result


if __name__ == "__main__":
    main()
