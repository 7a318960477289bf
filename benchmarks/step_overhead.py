"""Cost of a StabilityModel training step against the floor.

The floor for a stability step is a plain `keras.Model` step at twice the
batch (the perturbed copy doubles the forward and backward work). This
script measures, in one run and one process: a plain step at B, a plain step
at 2B, and a stability step at B for each perturbation, and prints each
stability step's ratio to the floor, t(stability, B) / t(plain, 2B). The
configurations are timed in turn, round after round (`--repeats`), and each
ratio is the median over rounds of the ratio within a round, so that a slow
spell of a shared machine does not land on one configuration only.
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
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import PERTURBATIONS  # noqa: E402
from _common import add_model_arguments  # noqa: E402
from _common import compile_model  # noqa: E402
from _common import default_batch  # noqa: E402
from _common import interleaved_rounds  # noqa: E402
from _common import machine  # noqa: E402
from _common import network  # noqa: E402
from _common import perturbation  # noqa: E402
from _common import repeated_batches  # noqa: E402
from _common import round_ratio  # noqa: E402
from _common import time_fit  # noqa: E402
from _common import timed_step  # noqa: E402
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


def _timed_fit(model, dataset, steps):
    """A timer of one `fit` call (steps, outside the steps), traced first."""
    time_fit(model, dataset, steps)
    return lambda: time_fit(model, dataset, steps)


def _pipeline_rows(inputs, outputs, x2, y2, compiled, args):
    """`fit` on tf.data: plain at 2B, libjpeg in the step and in the pipeline."""
    import keras

    from keras_stability import StabilityModel
    from keras_stability.data import with_perturbed_copy

    batch = len(x2) // 2
    jpeg = perturbation("jpeg_libjpeg")

    def timer(model, dataset):
        return _timed_fit(compiled(model), dataset, args.steps)

    calls = interleaved_rounds(
        {
            "plain_2B": timer(
                keras.Model(inputs, outputs), repeated_batches(x2, y2, 2 * batch)
            ),
            "libjpeg_in_step": timer(
                StabilityModel(inputs, outputs, perturbation=jpeg),
                repeated_batches(x2, y2, batch),
            ),
            "libjpeg_in_pipeline": timer(
                StabilityModel(inputs, outputs, perturbation=jpeg),
                with_perturbed_copy(repeated_batches(x2, y2, batch), jpeg),
            ),
        },
        args.repeats,
    )
    steps = {name: [step for step, _ in runs] for name, runs in calls.items()}
    outside = {
        name: statistics.median(rest for _, rest in runs)
        for name, runs in calls.items()
    }
    row = {"plain_fit_2B_s": statistics.median(steps["plain_2B"])}
    for where in ("in_step", "in_pipeline"):
        name = f"libjpeg_{where}"
        row[f"{name}_s"] = statistics.median(steps[name])
        row[f"{name}_ratio"], row[f"{name}_round_ratios"] = round_ratio(
            steps, name, "plain_2B"
        )
    row["outside_steps_per_call_s"] = outside
    row["rounds_s"] = steps
    print(
        f"  fit on tf.data, libjpeg: plain fit at 2B "
        f"{row['plain_fit_2B_s'] * 1e3:.1f} ms/step; copy in the step "
        f"{row['libjpeg_in_step_s'] * 1e3:.1f} ms = "
        f"{row['libjpeg_in_step_ratio']:.2f}x, in the pipeline "
        f"{row['libjpeg_in_pipeline_s'] * 1e3:.1f} ms = "
        f"{row['libjpeg_in_pipeline_ratio']:.2f}x\n"
        "  outside the steps, per fit call: "
        + ", ".join(f"{seconds:.2f} s" for seconds in outside.values())
    )
    return row


def main(argv=None):
    args = _parse(argv)
    os.environ["KERAS_BACKEND"] = args.backend
    import keras
    import numpy as np

    from keras_stability import StabilityModel

    rng = np.random.default_rng(0)
    results = {
        "backend": args.backend,
        "machine": machine(),
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
        timers = {
            "plain_B": timed_step(plain, x, y, args.steps),
            "plain_2B": timed_step(plain, x2, y2, args.steps),
        }
        for name in args.perturbations:
            if name == "jpeg_libjpeg" and (
                args.backend != "tensorflow" or args.jit_compile is True
            ):
                continue  # TensorFlow only, and not XLA-compilable
            model = StabilityModel(inputs, outputs, perturbation=perturbation(name))
            timers[name] = timed_step(compiled(model), x, y, args.steps)
        rounds = interleaved_rounds(timers, args.repeats)
        t_b = statistics.median(rounds["plain_B"])
        t_2b = statistics.median(rounds["plain_2B"])
        floor, _ = round_ratio(rounds, "plain_2B", "plain_B")
        row = {
            "batch": batch,
            "plain_B_s": t_b,
            "plain_2B_s": t_2b,
            "floor_ratio": floor,
            "stability": {},
            "rounds_s": rounds,
        }
        print(
            f"{model_name} B={batch}: plain step {t_b * 1e3:.1f} ms, at 2B "
            f"{t_2b * 1e3:.1f} ms (floor = {floor:.2f}x a plain step)"
        )
        for name in list(timers)[2:]:
            ratio, ratios = round_ratio(rounds, name, "plain_2B")
            row["stability"][name] = {
                "step_s": statistics.median(rounds[name]),
                "ratio_to_floor": ratio,
                "round_ratios": ratios,
            }
            print(
                f"  {name:>13}: stability step "
                f"{row['stability'][name]['step_s'] * 1e3:.1f} ms = {ratio:.2f}x "
                f"the floor (rounds {min(ratios):.2f}-{max(ratios):.2f})"
            )
        if args.pipeline:
            row["pipeline"] = _pipeline_rows(inputs, outputs, x2, y2, compiled, args)
        results["models"][model_name] = row
    return write_json(results, args.json)


if __name__ == "__main__":
    main()
