"""Memory of a StabilityModel training step against a plain step at 2B.

The goal for peak memory is at most 1.05x a plain `keras.Model` step at
twice the batch. On the JAX backend the whole training step is one XLA
program, and XLA plans every buffer it needs before it runs; this script
compiles the very step Keras runs (`model.train_step` under `jax.jit` with
the state donated, as `fit` does), reads XLA's memory analysis, and prints
for each step the bytes it allocates, arguments + outputs - donated aliases
+ temporaries, and each stability step's ratio to the plain step at 2B.
Nothing runs, so it also sizes steps that would not fit in memory. The
plan is for the device JAX runs on (the CPU here, a GPU where
`jax.devices()` shows one); TensorFlow has no such analysis of a step,
hence JAX only. It reads two private Keras methods (`_symbolic_build`,
`_get_jax_state`), the ones `train_on_batch` calls before its step.

    KERAS_BACKEND=jax python benchmarks/step_memory.py --models small_cnn resnet50
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import PERTURBATIONS  # noqa: E402
from _common import add_model_arguments  # noqa: E402
from _common import compile_model  # noqa: E402
from _common import default_batch  # noqa: E402
from _common import machine  # noqa: E402
from _common import network  # noqa: E402
from _common import perturbation  # noqa: E402
from _common import write_json  # noqa: E402


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument(
        "--perturbations",
        nargs="+",
        default=[name for name in PERTURBATIONS if name != "jpeg_libjpeg"],
        choices=[name for name in PERTURBATIONS if name != "jpeg_libjpeg"],
    )
    parser.add_argument(
        "--halves",
        action="store_true",
        help="also plan a plain step at 2B whose loss runs the network on each "
        "half of the batch separately, as a stability step runs x and x'",
    )
    parser.add_argument("--json", default=None)
    return parser.parse_args(argv)


def _halves_model(inputs, outputs, batch):
    """A plain model whose loss runs the network on `x[:batch]` and `x[batch:]`.

    The same loss as a plain step at 2B, computed the way a stability step
    computes its two forward passes: it separates what two passes at B cost
    from what the stability term costs.
    """
    import keras

    class Halves(keras.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, **kw):
            y_pred = keras.ops.concatenate(
                [self(x[:batch], training=True), self(x[batch:], training=True)]
            )
            return super().compute_loss(x, y, y_pred, sample_weight, **kw)

    return Halves(inputs, outputs)


def step_bytes(model, x, y):
    """Bytes XLA allocates for one `fit` step of a compiled `model` on `(x, y)`."""
    import jax

    # Builds the optimizer and metric variables as `fit` does before its
    # first step, without compiling a step.
    model._symbolic_build(data_batch=(x, y, None))
    state = model._get_jax_state(
        trainable_variables=True,
        non_trainable_variables=True,
        optimizer_variables=True,
        metrics_variables=True,
    )
    step = jax.jit(model.train_step, donate_argnums=0)
    analysis = step.lower(state, (x, y, None)).compile().memory_analysis()
    return (
        analysis.argument_size_in_bytes
        + analysis.output_size_in_bytes
        - analysis.alias_size_in_bytes
        + analysis.temp_size_in_bytes
    )


def main(argv=None):
    args = _parse(argv)
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    if keras.backend.backend() != "jax":
        raise SystemExit(
            "step_memory.py reads XLA's plan of a JAX training step; run it with "
            f"KERAS_BACKEND=jax. Received: backend {keras.backend.backend()!r}"
        )
    import jax
    import numpy as np

    from keras_stability import StabilityModel

    rng = np.random.default_rng(0)
    results = {
        "backend": "jax",
        "device": str(jax.devices()[0].device_kind),
        "machine": machine(),
        "keras": keras.__version__,
        "jax": jax.__version__,
        "models": {},
    }
    print(f"XLA's memory plan of a training step on {results['device']}")
    for model_name in args.models:
        batch = args.batch or default_batch(model_name)
        inputs, outputs, shape = network(model_name, keras)
        x2 = rng.random((2 * batch, *shape), dtype="float32")
        y2 = rng.integers(0, 10, 2 * batch)
        plain_b = step_bytes(
            compile_model(keras.Model(inputs, outputs)), x2[:batch], y2[:batch]
        )
        plain_2b = step_bytes(compile_model(keras.Model(inputs, outputs)), x2, y2)
        row = {"batch": batch, "plain_B_bytes": plain_b, "plain_2B_bytes": plain_2b}
        row["stability"] = {}
        print(
            f"{model_name} B={batch}: plain step {plain_b / 2**20:.1f} MiB, at 2B "
            f"{plain_2b / 2**20:.1f} MiB ({plain_2b / plain_b:.2f}x)"
        )
        if args.halves:
            halves = _halves_model(inputs, outputs, batch)
            used = step_bytes(compile_model(halves), x2, y2)
            row["plain_2B_in_halves_bytes"] = used
            print(
                f"  {'2B in halves':>13}: plain step {used / 2**20:.1f} MiB = "
                f"{used / plain_2b:.2f}x the plain step at 2B"
            )
        for name in args.perturbations:
            model = compile_model(
                StabilityModel(inputs, outputs, perturbation=perturbation(name))
            )
            used = step_bytes(model, x2[:batch], y2[:batch])
            row["stability"][name] = {
                "bytes": used,
                "ratio_to_plain_2B": used / plain_2b,
            }
            print(
                f"  {name:>13}: stability step {used / 2**20:.1f} MiB = "
                f"{used / plain_2b:.2f}x the plain step at 2B"
            )
        results["models"][model_name] = row
    return write_json(results, args.json)


if __name__ == "__main__":
    main()
