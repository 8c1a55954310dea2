"""ActivationCallback under distributed training, each scenario run in fresh subprocesses.

Logical devices must be configured before TensorFlow initializes, and a multi-process run (a multi-worker
tf.distribute cluster, multi-process JAX, torch.distributed) needs one process per worker, so every scenario
runs a small training script in its own interpreter (bounded in time) and the test reads the events it left
behind. Only process 0 (the chief) may write.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest
from _events import event_files, read_events

TIMEOUT = 150  # seconds per scenario; a hung collective fails the test instead of hanging the suite

MODEL = textwrap.dedent(
    """
    import numpy as np

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

COMMON = (
    textwrap.dedent(
        """
    import json, os, sys
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    """
    )
    + MODEL
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

# Multi-process JAX: jax.distributed.initialize before anything runs on a device. "data_parallel" also shards
# each global batch over the two processes' CPUs with keras.distribution (gloo collectives on CPU).
JAX_PROCESS = (
    textwrap.dedent(
        """
        import json, os, sys
        port, index, logdir, mode, report = sys.argv[1:6]
        import jax
        jax.distributed.initialize(
            coordinator_address=f"localhost:{port}", num_processes=2, process_id=int(index)
        )
        import keras
        """
    )
    + MODEL
    + textwrap.dedent(
        """
        import tbactviz
        keras.utils.set_random_seed(0)  # keras.distribution wants the same initial weights everywhere
        if mode == "data_parallel":
            keras.distribution.set_distribution(
                keras.distribution.DataParallel(devices=jax.devices(), auto_shard_dataset=False)
            )
            x, y = x[8 * int(index) : 8 * int(index) + 8], y[8 * int(index) : 8 * int(index) + 8]
        model = small_cnn()
        cb = tbactviz.ActivationCallback(logdir, x[:2], "conv*", on_error="raise")
        model.fit(x, y, batch_size=8 if mode == "plain" else 4, epochs=2, verbose=0, callbacks=[cb])
        with open(report, "w") as f:
            json.dump({"chief": cb.is_chief, "logged": cb.logged_steps, "pid": os.getpid(),
                       "processes": jax.process_count()}, f)
        """
    )
)

# torch.distributed: a gloo process group of two ranks; an all_reduce at the end shows both took part.
TORCH_PROCESS = (
    textwrap.dedent(
        """
        import json, os, sys
        port, index, logdir, mode, report = sys.argv[1:6]
        import torch
        import torch.distributed as dist
        dist.init_process_group(
            "gloo", init_method=f"tcp://localhost:{port}", rank=int(index), world_size=2
        )
        import keras
        """
    )
    + MODEL
    + textwrap.dedent(
        """
        import tbactviz
        model = small_cnn()
        cb = tbactviz.ActivationCallback(
            logdir, x[:2], "conv*", async_write=mode == "async", on_error="raise"
        )
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[cb])
        ranks = torch.ones(1)
        dist.all_reduce(ranks)
        with open(report, "w") as f:
            json.dump({"chief": cb.is_chief, "logged": cb.logged_steps, "pid": os.getpid(),
                       "processes": int(ranks.item())}, f)
        dist.barrier()  # neither rank tears the group down while the other still talks to it
        dist.destroy_process_group()
        # The interpreter's own teardown of TensorFlow's and PyTorch's native threads aborts in rare runs
        # ("terminate called without an active exception", SIGABRT: 1 of about 35 runs with the barrier
        # above), after all the work is done and reported; what is tested is that work, so end here.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
        """
    )
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
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")])
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


def _run_processes(
    tmp_path: Path, script: str, argvs: list[list[str]], envs: list[dict[str, str]]
) -> list[Any]:
    """Run ``script`` in one interpreter per argv, all at once (bounded by TIMEOUT); each writes a JSON report
    to its last argument, returned in order."""
    path = tmp_path / "process.py"
    path.write_text(script)
    procs = [
        subprocess.Popen(
            [sys.executable, str(path), *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for argv, env in zip(argvs, envs, strict=True)
    ]
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=TIMEOUT))
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
        pytest.fail(f"the {len(procs)} processes did not finish within {TIMEOUT} s")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-4000:]
    return [json.loads(Path(argv[-1]).read_text()) for argv in argvs]


def _assert_only_the_chief_wrote(
    root: Path, logdir: Path, chief: dict[str, Any], other: dict[str, Any]
) -> None:
    assert chief["processes"] == 2
    assert (chief["chief"], chief["logged"]) == (True, [0, 1, 2])
    assert (other["chief"], other["logged"]) == (False, [])
    files = event_files(root)
    assert len(files) == 1 and f".{chief['pid']}." in os.path.basename(files[0]), files
    assert _steps_by_tag(logdir) == {tag: [0, 1, 2] for tag in TAGS}


@pytest.mark.slow
def test_multi_worker_mirrored_strategy_only_the_chief_writes(tmp_path: Path) -> None:
    try:
        ports = _free_ports(2)
    except OSError as exc:
        pytest.skip(f"this platform cannot open TCP ports on 127.0.0.1 for a 2-worker cluster: {exc}")
    logdir = tmp_path / "logs" / "act"  # the same run directory for both workers
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    envs = []
    for index in range(2):
        env = _env()
        env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        envs.append(env)
    argvs = [[str(logdir), str(tmp_path / f"worker{i}.json")] for i in range(2)]
    chief, worker = _run_processes(tmp_path, MULTI_WORKER, argvs, envs)
    chief["processes"] = chief.pop("workers")
    _assert_only_the_chief_wrote(tmp_path / "logs", logdir, chief, worker)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "mode"),
    [("jax", "plain"), ("jax", "data_parallel"), ("torch", "sync"), ("torch", "async")],
)
def test_multi_process_jax_and_torch_only_process_0_writes(tmp_path: Path, backend: str, mode: str) -> None:
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    try:
        (port,) = _free_ports(1)
    except OSError as exc:
        pytest.skip(f"this platform cannot open a TCP port on 127.0.0.1 for a 2-process group: {exc}")
    logdir = tmp_path / "logs" / "act"  # the same run directory for both processes
    env = {**_env(), "KERAS_BACKEND": backend}
    argvs = [[str(port), str(i), str(logdir), mode, str(tmp_path / f"process{i}.json")] for i in range(2)]
    script = JAX_PROCESS if backend == "jax" else TORCH_PROCESS
    process0, process1 = _run_processes(tmp_path, script, argvs, [env, env])
    _assert_only_the_chief_wrote(tmp_path / "logs", logdir, process0, process1)


# -- which process writes, without processes: each backend's answer stood in for ----------------------------


def _stand_ins(monkeypatch: pytest.MonkeyPatch, *, process_index: int, initialized: bool, rank: int) -> None:
    """Stand-ins for jax and torch.distributed (only the active backend's may be asked)."""
    dist = types.SimpleNamespace(
        is_available=lambda: True, is_initialized=lambda: initialized, get_rank=lambda: rank
    )
    monkeypatch.setitem(sys.modules, "jax", types.SimpleNamespace(process_index=lambda: process_index))
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(distributed=dist))
    monkeypatch.setitem(sys.modules, "torch.distributed", dist)


@pytest.mark.parametrize(
    ("backend", "process_index", "initialized", "rank", "expected"),
    [
        ("tensorflow", 1, True, 1, True),  # the other backends' answers are not asked
        ("jax", 0, True, 1, True),
        ("jax", 1, False, 0, False),
        ("torch", 1, True, 0, True),
        ("torch", 0, True, 1, False),
        ("torch", 0, False, 1, True),  # no process group: a single process
    ],
)
def test_is_chief_asks_the_active_backend(
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    process_index: int,
    initialized: bool,
    rank: int,
    expected: bool,
) -> None:
    import keras

    from tbactviz.training.chief import is_chief

    _stand_ins(monkeypatch, process_index=process_index, initialized=initialized, rank=rank)
    monkeypatch.setattr(keras.backend, "backend", lambda: backend)
    assert is_chief(None) is expected
    assert is_chief(object()) is expected  # a model without a distribution strategy
    worker = types.SimpleNamespace(
        distribute_strategy=types.SimpleNamespace(extended=types.SimpleNamespace(should_save_summary=False))
    )
    assert is_chief(worker) is False  # a non-chief tf.distribute worker, whatever the backend says


def test_callback_is_chief_follows_the_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras
    import numpy as np

    import tbactviz
    from tbactviz.training import chief

    model = keras.Sequential(
        [keras.Input((6, 6, 3)), keras.layers.Conv2D(2, 3, name="conv"), keras.layers.Flatten()]
    )
    model.compile("sgd", "mse")
    x, y = np.zeros((4, 6, 6, 3), np.float32), np.zeros((4, 32), np.float32)
    monkeypatch.setattr(chief, "is_chief", lambda model: False)
    cb = tbactviz.ActivationCallback(tmp_path / "act", x[:1], "conv")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    assert (cb.is_chief, cb.logged_steps, cb.logger) == (False, [], None)
    assert event_files(tmp_path) == []
    monkeypatch.undo()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])  # asked again at each fit
    assert cb.is_chief and len(cb.logged_steps) == 1 and len(event_files(tmp_path)) == 1
