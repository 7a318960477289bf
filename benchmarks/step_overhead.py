"""Cost of a StabilityModel training step against the floor.

The floor for a stability step is a plain `keras.Model` step at twice the
batch (the perturbed copy doubles the forward and backward work). This
script measures, in one run and one process: a plain step at B, a plain step
at 2B, and a stability step at B for each perturbation, and prints each
stability step's ratio to the floor, t(stability, B) / t(plain, 2B).
With `--pipeline` (TensorFlow) it also times `fit` on a tf.data pipeline:
a plain model at 2B against libjpeg JPEG made in the step and made in the
pipeline by `keras_stability.data.with_perturbed_copy`; those figures are
the time from the first batch to the end of the last, and the rest of each
`fit` call (set-up, tearing down the tf.data iterator) is printed apart.

    python benchmarks/step_overhead.py --backend tensorflow --models small_cnn --pipeline
    python benchmarks/step_overhead.py --backend jax --models small_cnn resnet50 --json out.json
"""

import argparse
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import PERTURBATIONS  # noqa: E402
from _common import add_model_arguments  # noqa: E402
from _common import compile_model  # noqa: E402
from _common import default_batch  # noqa: E402
from _common import network  # noqa: E402
from _common import perturbation  # noqa: E402
from _common import repeated_batches  # noqa: E402
from _common import time_fit  # noqa: E402
from _common import write_json  # noqa: E402


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backend", default="tensorflow", choices=["tensorflow", "jax", "torch"]
    )
    add_model_arguments(parser)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--perturbations", nargs="+", default=list(PERTURBATIONS), choices=PERTURBATIONS
    )
    parser.add_argument(
        "--jit-compile",
        action="store_const",
        const=True,
        default="auto",
        help="compile every step with XLA (Keras's default, 'auto', does not "
        "on a TensorFlow machine without a GPU); skips jpeg_libjpeg",
    )
    parser.add_argument(
        "--pipeline",
        action="store_true",
        help="also time `fit` on tf.data with libjpeg in the step and in the "
        "pipeline (`keras_stability.data.with_perturbed_copy`); TensorFlow only",
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.pipeline and args.backend != "tensorflow":
        parser.error(f"--pipeline needs --backend tensorflow, not {args.backend}")
    if args.pipeline and args.jit_compile is True:
        parser.error("--pipeline times libjpeg in the step, which XLA cannot compile")
    return args


def _time_steps(model, x, y, steps, repeats):
    model.train_on_batch(x, y)  # trace / compile
    model.train_on_batch(x, y)
    per_step = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        per_step.append((time.perf_counter() - started) / steps)
    return statistics.median(per_step)


def _time_fit(model, dataset, steps, repeats):
    """Median seconds per step inside `fit`, and median seconds outside the steps."""
    time_fit(model, dataset, steps)  # trace
    runs = [time_fit(model, dataset, steps) for _ in range(repeats)]
    return tuple(statistics.median(column) for column in zip(*runs, strict=True))


def _pipeline_rows(inputs, outputs, x2, y2, compiled, args):
    """`fit` on tf.data: plain at 2B, libjpeg in the step and in the pipeline."""
    import keras

    from keras_stability import StabilityModel
    from keras_stability.data import with_perturbed_copy

    batch = len(x2) // 2

    def batches(size):
        return repeated_batches(x2, y2, size)

    def timed(model, dataset):
        return _time_fit(compiled(model), dataset, args.steps, args.repeats)

    (t_2b, out_2b) = timed(keras.Model(inputs, outputs), batches(2 * batch))
    jpeg = perturbation("jpeg_libjpeg")
    (in_step, out_step) = timed(
        StabilityModel(inputs, outputs, perturbation=jpeg), batches(batch)
    )
    (in_pipeline, out_pipeline) = timed(
        StabilityModel(inputs, outputs, perturbation=jpeg),
        with_perturbed_copy(batches(batch), jpeg),
    )
    print(
        f"  fit on tf.data, libjpeg: plain fit at 2B {t_2b * 1e3:.1f} ms/step; "
        f"copy in the step {in_step * 1e3:.1f} ms = {in_step / t_2b:.2f}x, "
        f"in the pipeline {in_pipeline * 1e3:.1f} ms = {in_pipeline / t_2b:.2f}x\n"
        f"  outside the steps, per fit call: {out_2b:.2f} s, {out_step:.2f} s, "
        f"{out_pipeline:.2f} s"
    )
    return {
        "plain_fit_2B_s": t_2b,
        "libjpeg_in_step_s": in_step,
        "libjpeg_in_step_ratio": in_step / t_2b,
        "libjpeg_in_pipeline_s": in_pipeline,
        "libjpeg_in_pipeline_ratio": in_pipeline / t_2b,
        "outside_steps_per_call_s": {
            "plain_2B": out_2b,
            "libjpeg_in_step": out_step,
            "libjpeg_in_pipeline": out_pipeline,
        },
    }


def main(argv=None):
    args = _parse(argv)
    os.environ["KERAS_BACKEND"] = args.backend
    import keras
    import numpy as np

    from keras_stability import StabilityModel

    rng = np.random.default_rng(0)
    results = {
        "backend": args.backend,
        "machine": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "keras": keras.__version__,
        "jit_compile": args.jit_compile,
        "models": {},
    }
    for model_name in args.models:
        batch = args.batch or default_batch(model_name)
        inputs, outputs, shape = network(model_name, keras)
        # Tensors on the default device: no timed step pays a copy from the
        # host (which would charge the plain step at 2B twice ours).
        x2 = keras.ops.convert_to_tensor(rng.random((2 * batch, *shape), "float32"))
        y2 = keras.ops.convert_to_tensor(rng.integers(0, 10, 2 * batch))
        x, y = x2[:batch], y2[:batch]

        def compiled(model):
            return compile_model(model, args.jit_compile)

        plain = compiled(keras.Model(inputs, outputs))
        t_b = _time_steps(plain, x, y, args.steps, args.repeats)
        t_2b = _time_steps(plain, x2, y2, args.steps, args.repeats)
        row = {
            "batch": batch,
            "plain_B_s": t_b,
            "plain_2B_s": t_2b,
            "floor_ratio": t_2b / t_b,
            "stability": {},
        }
        print(
            f"{model_name} B={batch}: plain step {t_b * 1e3:.1f} ms, at 2B "
            f"{t_2b * 1e3:.1f} ms (floor = {t_2b / t_b:.2f}x a plain step)"
        )
        for name in args.perturbations:
            if name == "jpeg_libjpeg" and (
                args.backend != "tensorflow" or args.jit_compile is True
            ):
                continue  # TensorFlow only, and not XLA-compilable
            model = compiled(
                StabilityModel(inputs, outputs, perturbation=perturbation(name))
            )
            t = _time_steps(model, x, y, args.steps, args.repeats)
            row["stability"][name] = {"step_s": t, "ratio_to_floor": t / t_2b}
            print(
                f"  {name:>13}: stability step {t * 1e3:.1f} ms = "
                f"{t / t_2b:.2f}x the floor"
            )
        if args.pipeline:
            row["pipeline"] = _pipeline_rows(inputs, outputs, x2, y2, compiled, args)
        results["models"][model_name] = row
    return write_json(results, args.json)


if __name__ == "__main__":
    main()
