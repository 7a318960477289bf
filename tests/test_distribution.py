"""Training across workers and devices equals one device at the same global batch."""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

_COMMON = """
import numpy as np
import keras
from keras_stability import StabilityModel


def shift(x):
    # Deterministic, so every replica's copy is known: runs can be compared.
    return x * 0.9 + 0.1


def build():
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(8, activation="tanh")(inputs)
    outputs = keras.layers.Dense(3)(hidden)
    model = StabilityModel(inputs, outputs, perturbation=shift, alpha=2.0,
                           from_logits=True, seed=3)
    rng = np.random.default_rng(0)
    model.set_weights([
        w if w.dtype.kind in "iu" else rng.normal(scale=0.5, size=w.shape).astype("float32")
        for w in model.get_weights()
    ])
    model.compile(keras.optimizers.SGD(0.5),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def data():
    rng = np.random.default_rng(1)
    return rng.normal(size=(64, 6)).astype("float32"), rng.integers(0, 3, 64)
"""

# Keras 3's `fit` does not run under MultiWorkerMirroredStrategy (upstream
# keras-team/keras#20585: PerReplica values reach a tensor conversion), so the
# workers train with the custom loop that such users write, around
# `StabilityModel.compute_loss`, and checkpoint with `save_weights`.
_WORKER = (
    _COMMON
    + """
import json, os, sys
import tensorflow as tf

index, out_path, checkpoint_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
strategy = tf.distribute.MultiWorkerMirroredStrategy()
with strategy.scope():
    model = build()
x, y = data()
options = tf.data.Options()
options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16).with_options(options)
distributed = strategy.experimental_distribute_dataset(dataset)


@tf.function
def train_step(x, y):
    def step(x, y):
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = model.compute_loss(x, y, y_pred, training=True)
        gradients = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss
    return strategy.reduce("SUM", strategy.run(step, args=(x, y)), axis=None)


stability = []
for epoch in range(3):
    model.stability_loss_tracker.reset_state()
    for batch_x, batch_y in distributed:
        train_step(batch_x, batch_y)
    stability.append(float(model.stability_loss_tracker.result()))
    model.save_weights(os.path.join(checkpoint_dir, f"worker{index}-{epoch + 1}.weights.h5"))
json.dump({"weights": [w.tolist() for w in model.get_weights()],
           "history": {"stability_loss": stability}}, open(out_path, "w"))
"""
)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _single_process_reference():
    namespace = {}
    exec(_COMMON, namespace)
    model = namespace["build"]()
    x, y = namespace["data"]()
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    return model.get_weights(), history.history


@pytest.mark.tensorflow
def test_multi_worker_mirrored_equals_single_process(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = []
    try:
        for index in range(2):
            env = {
                **os.environ,
                "TF_CPP_MIN_LOG_LEVEL": "3",
                "KERAS_BACKEND": "tensorflow",
                "TF_CONFIG": json.dumps(
                    {"cluster": cluster, "task": {"type": "worker", "index": index}}
                ),
            }
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        _WORKER,
                        str(index),
                        str(tmp_path / f"worker{index}.json"),
                        str(tmp_path),
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
        deadline = time.time() + 300
        for process in processes:
            remaining = max(1.0, deadline - time.time())
            _, stderr = process.communicate(timeout=remaining)
            assert process.returncode == 0, stderr.decode()[-3000:]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    results = [json.loads((tmp_path / f"worker{i}.json").read_text()) for i in range(2)]
    reference_weights, reference_history = _single_process_reference()
    for a, b, ref in zip(
        results[0]["weights"], results[1]["weights"], reference_weights, strict=True
    ):
        np.testing.assert_array_equal(np.array(a), np.array(b))  # workers agree
        np.testing.assert_allclose(np.array(a), ref, atol=1e-5)
    assert min(reference_history["stability_loss"]) > 0
    np.testing.assert_allclose(
        results[0]["history"]["stability_loss"],
        reference_history["stability_loss"],
        rtol=1e-5,
    )
    # The checkpoint callback wrote every epoch on both workers.
    for index in range(2):
        for epoch in (1, 2, 3):
            assert (tmp_path / f"worker{index}-{epoch}.weights.h5").exists()


_JAX_DATA_PARALLEL = (
    _COMMON
    + """
import json, sys
import jax
assert len(jax.devices()) == 2, jax.devices()
x, y = data()
single = build()
single.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
parallel = build()
history = parallel.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
json.dump({"single": [w.tolist() for w in single.get_weights()],
           "parallel": [w.tolist() for w in parallel.get_weights()],
           "stability_loss": history.history["stability_loss"]}, open(sys.argv[1], "w"))
"""
)


def test_jax_data_parallel_over_two_devices_equals_one(tmp_path):
    pytest.importorskip("jax")
    out = tmp_path / "jax.json"
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_PLATFORMS": "cpu",
    }
    completed = subprocess.run(
        [sys.executable, "-c", _JAX_DATA_PARALLEL, str(out)],
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr.decode()[-3000:]
    result = json.loads(out.read_text())
    assert min(result["stability_loss"]) > 0
    for a, b in zip(result["single"], result["parallel"], strict=True):
        np.testing.assert_allclose(np.array(a), np.array(b), atol=1e-5)
