"""Time per step of each `fit` call on tf.data, one figure per call (TensorFlow).

`step_overhead.py` gives medians; this prints every `fit` call, so that
calls which run slower than the others show: its ms per step from the first
batch to the end of the last, and the seconds the call spends outside its
steps (set-up, and tearing down the tf.data iterator, which waits for
tf.data's autotuner; `--no-autotune` turns autotuning off to show that), for a plain model at
2B and a stability model at B with each perturbation, the JPEG copy made in
the step or (`libjpeg_pipeline`) by `keras_stability.data.with_perturbed_copy`.
Each configuration trains a fresh small CNN on a repeated dataset of random
images; the first call traces and is not printed.

    python benchmarks/fit_steps.py --calls 4 --steps 20
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import compile_model  # noqa: E402
from _common import network  # noqa: E402
from _common import perturbation  # noqa: E402
from _common import repeated_batches  # noqa: E402
from _common import time_fit  # noqa: E402
from _common import write_json  # noqa: E402

CONFIGURATIONS = ("plain_2B", "crop", "jpeg_dct", "jpeg_libjpeg", "libjpeg_pipeline")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128, help="B")
    parser.add_argument("--steps", type=int, default=20, help="steps per fit call")
    parser.add_argument("--calls", type=int, default=4, help="timed fit calls")
    parser.add_argument(
        "--configurations",
        nargs="+",
        default=list(CONFIGURATIONS),
        choices=CONFIGURATIONS,
    )
    parser.add_argument(
        "--no-autotune",
        action="store_true",
        help="turn tf.data autotuning off (options.autotune.enabled = False)",
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    if keras.backend.backend() != "tensorflow":
        raise SystemExit("fit_steps.py times tf.data pipelines: TensorFlow only.")
    import numpy as np
    import tensorflow as tf

    from keras_stability import StabilityModel
    from keras_stability.data import with_perturbed_copy

    inputs, outputs, shape = network("small_cnn", keras)
    rng = np.random.default_rng(0)
    x2 = rng.random((2 * args.batch, *shape), "float32")
    y2 = rng.integers(0, 10, 2 * args.batch)

    def batches(size):
        dataset = repeated_batches(x2, y2, size)
        if args.no_autotune:
            options = tf.data.Options()
            options.autotune.enabled = False
            dataset = dataset.with_options(options)
        return dataset

    results = {
        "batch": args.batch,
        "steps": args.steps,
        "autotune": not args.no_autotune,
        "ms_per_step": {},
        "s_outside_steps": {},
    }
    for name in args.configurations:
        if name == "plain_2B":
            model, dataset = keras.Model(inputs, outputs), batches(2 * args.batch)
        elif name == "libjpeg_pipeline":
            jpeg = perturbation("jpeg_libjpeg")
            model = StabilityModel(inputs, outputs, perturbation=jpeg)
            dataset = with_perturbed_copy(batches(args.batch), jpeg)
        else:
            model = StabilityModel(inputs, outputs, perturbation=perturbation(name))
            dataset = batches(args.batch)
        compile_model(model)
        time_fit(model, dataset, args.steps)  # traces
        calls = [time_fit(model, dataset, args.steps) for _ in range(args.calls)]
        results["ms_per_step"][name] = [per_step * 1e3 for per_step, _ in calls]
        results["s_outside_steps"][name] = [outside for _, outside in calls]
        print(
            f"{name:>16}: "
            + " ".join(f"{per_step * 1e3:5.1f}" for per_step, _ in calls)
            + " ms/step; outside the steps "
            + " ".join(f"{outside:4.2f}" for _, outside in calls)
            + " s"
        )
    return write_json(results, args.json)


if __name__ == "__main__":
    main()
