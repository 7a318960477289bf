"""robustness_report against plain predict over the same number of images.

A report on N images with D distortions runs the model on (D + 1) * N
images and also builds the distorted copies. This script times the report
and `model.predict` on (D + 1) * N images, in one run, and prints the ratio
(goal: at most 1.2x).

    python benchmarks/eval_throughput.py --backend tensorflow --json out.json
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import write_json  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backend", default="tensorflow", choices=["tensorflow", "jax", "torch"]
    )
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
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

    timings = {}
    for name, fn in (("predict", predict), ("report", report)):
        fn()  # warm-up
        runs = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - started)
        timings[name] = statistics.median(runs)
    ratio = timings["report"] / timings["predict"]
    print(
        f"{len(distortions)} distortions x {args.images} images + clean = "
        f"{n_predict} forward passes"
    )
    print(
        f"predict: {timings['predict']:.2f} s ({n_predict / timings['predict']:.0f} img/s)"
    )
    print(
        f"report:  {timings['report']:.2f} s ({n_predict / timings['report']:.0f} img/s)"
    )
    print(f"ratio report / predict: {ratio:.2f}x")
    result = {
        "backend": args.backend,
        "images": args.images,
        "distortions": len(distortions),
        "predict_s": timings["predict"],
        "report_s": timings["report"],
        "ratio": ratio,
    }
    return write_json(result, args.json)


if __name__ == "__main__":
    main()
