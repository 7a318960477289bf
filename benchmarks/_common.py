"""What the step benchmarks share: their models, perturbations and output."""

import json
import os
import platform
import statistics
import time

PERTURBATIONS = ("noise", "crop", "thumbnail", "jpeg_dct", "jpeg_libjpeg", "default")


def add_model_arguments(parser):
    """`--models` and `--batch`, the same for every step benchmark."""
    parser.add_argument(
        "--models", nargs="+", default=["small_cnn"], choices=["small_cnn", "resnet50"]
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=None,
        help="B (default: 256 for small_cnn, 64 for resnet50)",
    )


def default_batch(model_name):
    return 256 if model_name == "small_cnn" else 64


def perturbation(name):
    """The perturbation a benchmark row is named after."""
    from keras_stability import perturbations as p

    return {
        "noise": lambda: p.GaussianNoise(0.04),
        "crop": lambda: p.RandomCropOffset(4),
        "thumbnail": lambda: p.ThumbnailResize(scale=0.5),
        "jpeg_dct": lambda: p.JpegCompression((10, 90), method="dct"),
        "jpeg_libjpeg": lambda: p.JpegCompression((10, 90), method="libjpeg"),
        # What StabilityModel uses when given none, for 32x32 RGB images.
        "default": lambda: p.default_perturbation((32, 32, 3)),
    }[name]()


def network(name, keras):
    """`(inputs, outputs, input_shape)` of a benchmark model, 10 classes."""
    if name == "small_cnn":
        from keras_stability.demo import build_cnn

        shape = (32, 32, 3)
        return (*build_cnn(shape, 10), shape)
    shape = (224, 224, 3)
    base = keras.applications.ResNet50(weights=None, input_shape=shape, classes=10)
    return base.input, base.output, shape


def compile_model(model, jit_compile="auto"):
    """Compiles a benchmark model the same way for the plain and stability steps."""
    import keras

    model.compile(
        keras.optimizers.SGD(0.01),
        "sparse_categorical_crossentropy",
        jit_compile=jit_compile,
    )
    return model


def repeated_batches(x, y, size):
    """An endless, prefetched tf.data pipeline of `(x, y)` batches of `size`."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((x, y)).repeat()
    return dataset.batch(size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def time_fit(model, dataset, steps):
    """Times one `fit` call of `steps` batches of `dataset`.

    Returns `(per_step, outside)` in seconds: the time from the start of the
    first batch to the end of the last, divided by `steps`, and the rest of
    the call. The rest is not a cost of the step: it is `fit`'s set-up and
    the tear-down of the tf.data iterator, which with tf.data autotuning on
    waits for the autotuner's thread, sometimes about 1.2 s per call on two
    cores (see "fit on tf.data" in RESULTS.md).
    """
    import time

    import keras

    marks = []
    clock = keras.callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs: (
            marks.append(time.perf_counter()) if batch == 0 else None
        ),
        on_train_batch_end=lambda batch, logs: (
            marks.append(time.perf_counter()) if batch == steps - 1 else None
        ),
    )
    started = time.perf_counter()
    model.fit(
        dataset,
        steps_per_epoch=steps,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[clock],
    )
    total = time.perf_counter() - started
    inside = marks[-1] - marks[0]
    return inside / steps, total - inside


def interleaved_rounds(timers, repeats):
    """Each timer's figures, the timers interleaved round by round.

    Every round times each configuration once, in turn, so a slow spell of
    a shared machine weighs on all of them alike instead of on whichever
    ran then; ratios are then taken within a round.
    """
    rounds = {name: [] for name in timers}
    for _ in range(repeats):
        for name, timer in timers.items():
            rounds[name].append(timer())
    return rounds


def round_ratio(rounds, name, reference):
    """Median over rounds of `name`'s time over `reference`'s, and the rounds'."""
    ratios = [a / b for a, b in zip(rounds[name], rounds[reference], strict=True)]
    return statistics.median(ratios), ratios


def timed_step(model, x, y, steps):
    """A timer of `steps` training steps of `model` on one batch, traced first."""
    model.train_on_batch(x, y)  # trace / compile
    model.train_on_batch(x, y)

    def seconds_per_step():
        started = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        return (time.perf_counter() - started) / steps

    return seconds_per_step


def load_runs(path, config):
    """The runs recorded with `config`, by key.

    Runs of other configurations (another patience, another backend) share
    the file and are left out; later records of a key replace earlier ones.
    """
    runs = {}
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip():
                    record = json.loads(line)
                    if record["config"] == config:
                        runs[record["key"]] = record
    return runs


def machine():
    """The machine a run was on, as every benchmark records it."""
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"


def append_run(path, record):
    """Appends one run to the file `load_runs` reads, if a path was given."""
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")


def write_json(results, path):
    """Writes `results` to `path` if a path was given; returns `results`."""
    if path:
        with open(path, "w") as f:
            json.dump(results, f, indent=2)
    return results
