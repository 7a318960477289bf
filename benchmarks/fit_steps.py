"""Time per step of each `fit` call on tf.data, one figure per call (TensorFlow).

`step_overhead.py` gives medians; this prints every `fit` call's ms per step
so that calls which run slower than the others show, for a plain model at
2B and a stability model at B with each perturbation, the JPEG copy made in
the step or (`libjpeg_pipeline`) by `keras_stability.data.with_perturbed_copy`.
Each configuration trains a fresh small CNN on a repeated dataset of random
images; the first call traces and is not printed.

    python benchmarks/fit_steps.py --calls 4 --steps 20
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import compile_model  # noqa: E402
from _common import network  # noqa: E402
from _common import perturbation  # noqa: E402
from _common import repeated_batches  # noqa: E402
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
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    if keras.backend.backend() != "tensorflow":
        raise SystemExit("fit_steps.py times tf.data pipelines: TensorFlow only.")
    import numpy as np

    from keras_stability import StabilityModel
    from keras_stability.data import with_perturbed_copy

    inputs, outputs, shape = network("small_cnn", keras)
    rng = np.random.default_rng(0)
    x2 = rng.random((2 * args.batch, *shape), "float32")
    y2 = rng.integers(0, 10, 2 * args.batch)

    def batches(size):
        return repeated_batches(x2, y2, size)

    results = {"batch": args.batch, "steps": args.steps, "ms_per_step": {}}
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
        times = []
        for call in range(args.calls + 1):
            started = time.perf_counter()
            model.fit(
                dataset, steps_per_epoch=args.steps, epochs=1, shuffle=False, verbose=0
            )
            if call:  # the first call traces
                times.append((time.perf_counter() - started) / args.steps * 1e3)
        results["ms_per_step"][name] = times
        print(f"{name:>16}: " + " ".join(f"{t:6.1f}" for t in times) + " ms/step")
    return write_json(results, args.json)


if __name__ == "__main__":
    main()
