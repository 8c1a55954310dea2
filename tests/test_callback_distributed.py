"""ActivationCallback under tf.distribute strategies, each run in fresh subprocesses.

Logical devices must be configured before TensorFlow initializes, and a multi-worker cluster needs one process
per worker, so every scenario runs a small training script in its own interpreter (bounded in time) and the
test reads the events it left behind.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _events import event_files, read_events

TIMEOUT = 150  # seconds per scenario; a hung collective fails the test instead of hanging the suite

COMMON = textwrap.dedent(
    """
    import json, os, sys
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    def small_cnn():
        import keras
        model = keras.Sequential([
            keras.Input((12, 12, 3)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv1"),
            keras.layers.Conv2D(6, 3, name="conv2"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2),
        ])
        model.compile("sgd", "mse")
        return model

    x = np.random.default_rng(0).random((16, 12, 12, 3), dtype=np.float32)
    y = np.random.default_rng(1).random((16, 2), dtype=np.float32)
    """
)

MIRRORED = COMMON + textwrap.dedent(
    """
    logdir, async_write = sys.argv[1], sys.argv[2] == "async"
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import tbactviz
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = small_cnn()
    cb = tbactviz.ActivationCallback(
        logdir, x[:2], "conv*", every_n_batches=2, async_write=async_write, on_error="raise"
    )
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[cb])  # 2 batches per epoch
    print(json.dumps({"replicas": strategy.num_replicas_in_sync, "logged": cb.logged_steps}))
    """
)

MULTI_WORKER = COMMON + textwrap.dedent(
    """
    logdir, report = sys.argv[1], sys.argv[2]
    import keras
    import tbactviz

    # Keras 3.15's own fit() under MultiWorkerMirroredStrategy needs two workarounds, neither about tbactviz:
    # 1. its symbolic build reduces the first (x, y) batch as one structure, which the collective strategy
    #    cannot convert ("Attempt to convert a value (PerReplica...)"): feed x only, add the loss in a layer;
    # 2. it reduces the scalar logs with MEAN over axis 0 ("Invalid reduction dimension 0 for input with 0
    #    dimensions", tensorflow/tensorflow#72388): return the logs as shape-(1,) tensors.
    class AddLoss(keras.layers.Layer):
        def call(self, inputs):
            self.add_loss(keras.ops.mean(keras.ops.square(inputs - 0.5)))
            return inputs

    class Workaround(keras.Sequential):
        def train_step(self, data):
            return {k: tf.reshape(v, [1]) for k, v in super().train_step(data).items()}

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    with strategy.scope():
        model = Workaround(small_cnn().layers + [AddLoss()])
        model.compile("sgd")
    cb = tbactviz.ActivationCallback(logdir, x[:2], "conv*", on_error="raise")
    model.fit(tf.data.Dataset.from_tensor_slices(x).batch(8), epochs=2, verbose=0, callbacks=[cb])
    with open(report, "w") as f:
        json.dump({"chief": cb.is_chief, "logged": cb.logged_steps, "pid": os.getpid(),
                   "workers": strategy.num_replicas_in_sync}, f)
    """
)

TAGS = {
    f"{kind}/{path}"
    for path in ("conv1", "conv2")
    for kind in (
        "activations",
        "histograms",
        "sparsity",
        "dead_channels",
        "mean",
        "std",
        "max_abs",
        "nonfinite",
        "dormant_fraction",
    )
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TF_CONFIG", None)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1]), env.get("PYTHONPATH", "")])
    env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def _steps_by_tag(logdir: Path) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for record in read_events(logdir):
        out.setdefault(record.tag, []).append(record.step)
    return {tag: sorted(steps) for tag, steps in out.items()}


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_mirrored_strategy_on_two_logical_cpus(tmp_path: Path, mode: str) -> None:
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED)
    logdir = tmp_path / "act"
    proc = subprocess.run(
        [sys.executable, str(script), str(logdir), mode],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"replicas": 2, "logged": [0, 2, 4]}
    assert _steps_by_tag(logdir) == {tag: [0, 2, 4] for tag in TAGS}
    assert len(event_files(tmp_path)) == 1


def _free_ports(n: int) -> list[int]:
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.mark.slow
def test_multi_worker_mirrored_strategy_only_the_chief_writes(tmp_path: Path) -> None:
    try:
        ports = _free_ports(2)
    except OSError as exc:
        pytest.skip(f"this platform cannot open TCP ports on 127.0.0.1 for a 2-worker cluster: {exc}")
    script = tmp_path / "worker.py"
    script.write_text(MULTI_WORKER)
    logdir = tmp_path / "logs" / "act"  # the same run directory for both workers
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    procs = []
    for index in range(2):
        env = _env()
        env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        report = tmp_path / f"worker{index}.json"
        procs.append(
            subprocess.Popen(
                [sys.executable, str(script), str(logdir), str(report)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=TIMEOUT))
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
        pytest.fail(f"the 2-worker cluster did not finish within {TIMEOUT} s")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-4000:]
    chief, worker = (json.loads((tmp_path / f"worker{i}.json").read_text()) for i in range(2))
    assert chief["workers"] == 2
    assert (chief["chief"], chief["logged"]) == (True, [0, 1, 2])
    assert (worker["chief"], worker["logged"]) == (False, [])
    files = event_files(tmp_path / "logs")
    assert len(files) == 1 and f".{chief['pid']}." in os.path.basename(files[0])
    assert _steps_by_tag(logdir) == {tag: [0, 1, 2] for tag in TAGS}
