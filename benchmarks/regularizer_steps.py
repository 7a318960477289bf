"""Cost of each consistency regularizer's training step against its own floor.

Every row is a `StabilityModel` step at batch B (noise as the random
perturbation) timed beside plain `keras.Model` steps in the same process,
the configurations interleaved round by round (`--repeats`), each ratio the
median over rounds of the ratio within a round. The floors:

- one view (the paper) and `perturb_fraction`: a plain step at 2B;
- `num_views=k`: a plain step at (k + 1)B (the joined pass holds k + 1
  batches);
- an `Adversarial` x' with `steps=s`: a plain step at B times s + 2 (a clean
  forward pass, s forward and backward passes for the input gradient, then
  the joined step); printed with its ratio to a plain step at 2B too;
- UDA's options (sharpening, confidence mask, annealing): a plain step at
  2B, as the paper's step they add to.

    python benchmarks/regularizer_steps.py --backend tensorflow
    KERAS_BACKEND=jax python benchmarks/regularizer_steps.py --backend jax --json out.json
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import add_model_arguments  # noqa: E402
from _common import compile_model  # noqa: E402
from _common import default_batch  # noqa: E402
from _common import interleaved_rounds  # noqa: E402
from _common import machine  # noqa: E402
from _common import network  # noqa: E402
from _common import round_ratio  # noqa: E402
from _common import timed_step  # noqa: E402
from _common import write_json  # noqa: E402

# Each row: the StabilityModel arguments, and its floor: a plain step at
# `n` batches ("plain_nB"), or the adversarial floor ("adversarial", s).
ROWS = {
    "one_view": ({}, ("plain", 2)),
    "views2": ({"num_views": 2}, ("plain", 3)),
    "views4": ({"num_views": 4}, ("plain", 5)),
    "fraction50": ({"perturb_fraction": 0.5}, ("plain", 2)),
    "fraction25": ({"perturb_fraction": 0.25}, ("plain", 2)),
    "adversarial1": ({"adversarial_steps": 1}, ("adversarial", 1)),
    "adversarial3": ({"adversarial_steps": 3}, ("adversarial", 3)),
    "uda": (
        {
            "sharpen_temperature": 0.4,
            "confidence_threshold": 0.5,
            "signal_annealing": "linear",
            "annealing_steps": 1000,
        },
        ("plain", 2),
    ),
}


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backend", default="tensorflow", choices=["tensorflow", "jax", "torch"]
    )
    add_model_arguments(parser)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--json", default=None)
    return parser.parse_args(argv)


def _stability_model(inputs, outputs, arguments):
    from keras_stability import StabilityModel
    from keras_stability import perturbations as p

    arguments = dict(arguments)
    steps = arguments.pop("adversarial_steps", None)
    perturbation = (
        p.GaussianNoise(0.04) if steps is None else p.Adversarial(0.03, steps)
    )
    return StabilityModel(inputs, outputs, perturbation=perturbation, **arguments)


def main(argv=None):
    args = _parse(argv)
    os.environ["KERAS_BACKEND"] = args.backend
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    results = {
        "backend": args.backend,
        "machine": machine(),
        "python": sys.version.split()[0],
        "keras": keras.__version__,
        "models": {},
    }
    for model_name in args.models:
        batch = args.batch or default_batch(model_name)
        inputs, outputs, shape = network(model_name, keras)
        sizes = sorted(
            {1, 2}
            | {
                floor[1]
                for _, floor in (ROWS[r] for r in args.rows)
                if floor[0] == "plain"
            }
        )
        x_all = keras.ops.convert_to_tensor(
            rng.random((max(sizes) * batch, *shape), "float32")
        )
        y_all = keras.ops.convert_to_tensor(rng.integers(0, 10, max(sizes) * batch))
        plain = compile_model(keras.Model(inputs, outputs))
        timers = {
            f"plain_{n}B": timed_step(
                plain, x_all[: n * batch], y_all[: n * batch], args.steps
            )
            for n in sizes
        }
        x, y = x_all[:batch], y_all[:batch]
        for name in args.rows:
            model = compile_model(_stability_model(inputs, outputs, ROWS[name][0]))
            timers[name] = timed_step(model, x, y, args.steps)
        rounds = interleaved_rounds(timers, args.repeats)
        row = {"batch": batch, "rounds_s": rounds, "plain_s": {}, "rows": {}}
        for n in sizes:
            row["plain_s"][f"{n}B"] = statistics.median(rounds[f"plain_{n}B"])
        print(
            f"{model_name} B={batch}: plain step "
            + ", ".join(f"{n}B {row['plain_s'][f'{n}B'] * 1e3:.1f} ms" for n in sizes)
        )
        for name in args.rows:
            kind, n = ROWS[name][1]
            if kind == "plain":
                floor = f"plain {n}B"
                ratio, ratios = round_ratio(rounds, name, f"plain_{n}B")
            else:
                floor = f"{n + 2} x plain B"
                ratios = [
                    t / ((n + 2) * p)
                    for t, p in zip(rounds[name], rounds["plain_1B"], strict=True)
                ]
                ratio = statistics.median(ratios)
            to_2b, _ = round_ratio(rounds, name, "plain_2B")
            row["rows"][name] = {
                "step_s": statistics.median(rounds[name]),
                "floor": floor,
                "ratio_to_floor": ratio,
                "round_ratios": ratios,
                "ratio_to_plain_2B": to_2b,
            }
            print(
                f"  {name:>12}: {row['rows'][name]['step_s'] * 1e3:.1f} ms = "
                f"{ratio:.2f}x its floor ({floor}; rounds {min(ratios):.2f}-"
                f"{max(ratios):.2f}), {to_2b:.2f}x a plain step at 2B"
            )
        results["models"][model_name] = row
    return write_json(results, args.json)


if __name__ == "__main__":
    main()
