"""Throughput of JPEG compression: libjpeg image by image vs the batched DCT.

Times `keras_stability.jpeg.libjpeg_compress` (TensorFlow backend only: the
real codec, one image at a time on the CPU) and `keras_stability.jpeg.
dct_compress` (the same arithmetic in `keras.ops` on the whole batch), eager
and compiled (`tf.function(jit_compile=True)` on TensorFlow, `jax.jit` on
JAX), on photographs resized to each size, one quality per image. The first
call of each is a warm-up (tracing, compilation) and is not timed; the
table gives the median of `--repeats` timed calls, each waited for until
its result is on the host. Ratios compare the DCT with the libjpeg row of
the same run.

    python benchmarks/jpeg_throughput.py                    # TensorFlow
    python benchmarks/jpeg_throughput.py --backend jax --json jax.json
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine  # noqa: E402
from _common import write_json  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--backend",
        default="tensorflow",
        choices=["tensorflow", "jax"],
        help="Keras backend, set before keras is imported (default: tensorflow)",
    )
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[32, 224], help="square image sizes"
    )
    parser.add_argument("--batch", type=int, default=64, help="images per call")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls")
    return parser.parse_args(argv)


def _set_backend(backend):
    """Selects the Keras backend; it cannot change once keras is imported."""
    if "keras" in sys.modules:
        active = sys.modules["keras"].backend.backend()
        if active != backend:
            raise ValueError(
                f"`--backend {backend}` must be chosen before keras is imported; "
                f"this process already runs keras on '{active}'."
            )
    os.environ["KERAS_BACKEND"] = backend


def photographs(size, batch):
    """`batch` photographs resized to `size` x `size`, float32 in [0, 1]."""
    import numpy as np
    import skimage.data
    import skimage.transform

    photos = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee()]
    resized = [
        skimage.transform.resize(p, (size, size), anti_aliasing=True) for p in photos
    ]
    # On the 8-bit grid, as decoded images are.
    images = np.round(np.stack(resized) * 255) / 255
    return images[np.arange(batch) % len(photos)].astype("float32")


def _time(function, images, qualities, repeats):
    """Seconds of each of `repeats` calls, after one untimed warm-up call."""
    import keras

    keras.ops.convert_to_numpy(function(images, qualities))
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        keras.ops.convert_to_numpy(function(images, qualities))
        seconds.append(time.perf_counter() - start)
    return seconds


def candidates(backend):
    """The timed functions `(method, mode, function)` for `backend`."""
    from keras_stability import jpeg

    if backend == "tensorflow":
        import tensorflow as tf

        return [
            ("libjpeg", "eager", jpeg.libjpeg_compress),
            ("libjpeg", "tf.function", tf.function(jpeg.libjpeg_compress)),
            ("dct", "eager", jpeg.dct_compress),
            ("dct", "xla", tf.function(jpeg.dct_compress, jit_compile=True)),
        ]
    import jax

    return [
        ("dct", "eager", jpeg.dct_compress),
        ("dct", "jax.jit", jax.jit(jpeg.dct_compress)),
    ]


def run(backend, sizes, batch, repeats):
    """Returns one result dict per (size, method, mode)."""
    import numpy as np

    qualities = np.linspace(10, 90, batch).round().astype("int32")
    results = []
    for size in sizes:
        images = photographs(size, batch)
        for method, mode, function in candidates(backend):
            seconds = _time(function, images, qualities, repeats)
            median = statistics.median(seconds)
            results.append(
                {
                    "size": size,
                    "method": method,
                    "mode": mode,
                    "median_seconds": median,
                    "images_per_second": batch / median,
                    "seconds": seconds,
                }
            )
    # The DCT against the fastest libjpeg row of the same size and run.
    for row in results:
        libjpeg = [
            r["images_per_second"]
            for r in results
            if r["size"] == row["size"] and r["method"] == "libjpeg"
        ]
        row["ratio_to_libjpeg"] = (
            row["images_per_second"] / max(libjpeg) if libjpeg else None
        )
    return results


def format_table(results):
    lines = [
        f"{'size':>5}  {'method':<8} {'mode':<12} {'images/s':>10} "
        f"{'median ms':>10} {'/ libjpeg':>10}"
    ]
    for r in results:
        ratio = r["ratio_to_libjpeg"]
        ratio = "n/a" if ratio is None else f"{ratio:.2f}x"
        lines.append(
            f"{r['size']:>5}  {r['method']:<8} {r['mode']:<12} "
            f"{r['images_per_second']:>10.1f} {1000 * r['median_seconds']:>10.2f} "
            f"{ratio:>10}"
        )
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    _set_backend(args.backend)
    import keras

    results = run(args.backend, args.sizes, args.batch, args.repeats)
    report = {
        "backend": keras.backend.backend(),
        "machine": machine(),
        "batch": args.batch,
        "repeats": args.repeats,
        "results": results,
    }
    print(
        f"JPEG throughput, backend {report['backend']}, {report['machine']}, "
        f"batch {args.batch}, median of {args.repeats} (/ libjpeg: against the "
        "fastest libjpeg row of the same size)"
    )
    print(format_table(results))
    return write_json(report, args.json)


if __name__ == "__main__":
    main()
