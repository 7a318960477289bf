"""Cost of a StabilityModel training step against the floor.

The floor for a stability step is a plain `keras.Model` step at twice the
batch (the perturbed copy doubles the forward and backward work). This
script measures, in one run and one process: a plain step at B, a plain step
at 2B, and a stability step at B for each perturbation, and prints each
stability step's ratio to the floor, t(stability, B) / t(plain, 2B).

    python benchmarks/step_overhead.py --backend tensorflow --models small_cnn
    python benchmarks/step_overhead.py --backend jax --models small_cnn resnet50 --json out.json
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backend", default="tensorflow", choices=["tensorflow", "jax", "torch"]
    )
    parser.add_argument(
        "--models", nargs="+", default=["small_cnn"], choices=["small_cnn", "resnet50"]
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=None,
        help="B (default: 256 for small_cnn, 64 for resnet50)",
    )
    parser.add_argument("--steps", type=int, default=20, help="timed steps per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--perturbations",
        nargs="+",
        default=["noise", "crop", "thumbnail", "jpeg_dct", "jpeg_libjpeg"],
    )
    parser.add_argument("--json", default=None)
    return parser.parse_args(argv)


def _perturbation(name):
    from keras_stability import perturbations as p

    return {
        "noise": lambda: p.GaussianNoise(0.04),
        "crop": lambda: p.RandomCropOffset(4),
        "thumbnail": lambda: p.ThumbnailResize(scale=0.5),
        "jpeg_dct": lambda: p.JpegCompression((10, 90), method="dct"),
        "jpeg_libjpeg": lambda: p.JpegCompression((10, 90), method="libjpeg"),
    }[name]()


def _network(name, keras):
    if name == "small_cnn":
        from keras_stability.demo import build_cnn

        shape = (32, 32, 3)
        return (*build_cnn(shape, 10), shape)
    shape = (224, 224, 3)
    base = keras.applications.ResNet50(weights=None, input_shape=shape, classes=10)
    return base.input, base.output, shape


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
        "models": {},
    }
    for model_name in args.models:
        batch = args.batch or (256 if model_name == "small_cnn" else 64)
        inputs, outputs, shape = _network(model_name, keras)
        x2 = rng.random((2 * batch, *shape), dtype="float32")
        y2 = rng.integers(0, 10, 2 * batch)
        x, y = x2[:batch], y2[:batch]

        def compiled(model):
            model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
            return model

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
            if name == "jpeg_libjpeg" and args.backend != "tensorflow":
                continue
            try:
                perturbation = _perturbation(name)
            except ValueError as error:  # e.g. a method this version lacks
                print(f"  {name:>13}: skipped ({error})")
                continue
            model = compiled(StabilityModel(inputs, outputs, perturbation=perturbation))
            t = _time_steps(model, x, y, args.steps, args.repeats)
            row["stability"][name] = {"step_s": t, "ratio_to_floor": t / t_2b}
            print(
                f"  {name:>13}: stability step {t * 1e3:.1f} ms = "
                f"{t / t_2b:.2f}x the floor"
            )
        results["models"][model_name] = row
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
