"""On the JAX and PyTorch backends, TensorFlow is never imported: the logger, the callback and the CLI run in
a process where ``import tensorflow`` fails as if it were not installed.

The child's ``sitecustomize`` (first on its ``PYTHONPATH``) makes the import system's path finder blind to
TensorFlow before anything else is imported: ``import tensorflow`` raises ``ModuleNotFoundError: No module
named 'tensorflow'``, ``importlib.util.find_spec("tensorflow")`` answers None and ``"tensorflow"`` is not in
``sys.modules``, all as on a machine without it (what Keras and torch._dynamo check); at exit it records
that TensorFlow was never imported. The events are read back here with TensorBoard's own loader
(EventAccumulator).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest
from _events import event_files, read_events

from tbactviz.events.naming import tags_for_layer

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
STATS = ("sparsity", "dead_channels", "mean", "std", "max_abs", "nonfinite", "dormant_fraction")

BLOCKER = textwrap.dedent(
    """
    import atexit, importlib.machinery, os, sys

    class _HidingPathFinder(importlib.machinery.PathFinder):  # TensorFlow's files are not found
        @classmethod
        def find_spec(cls, fullname, path=None, target=None):
            if fullname.partition(".")[0] == "tensorflow":
                return None
            return super().find_spec(fullname, path, target)

    sys.meta_path[:] = [
        _HidingPathFinder if f is importlib.machinery.PathFinder else f for f in sys.meta_path
    ]

    def _report():
        with open(os.environ["TBACTVIZ_TEST_MARK"], "a") as f:
            f.write(f"{os.getpid()} hidden={_HidingPathFinder in sys.meta_path} "
                    f"imported={'tensorflow' in sys.modules}\\n")

    atexit.register(_report)
    """
)

CHILD = textwrap.dedent(
    """
    import sys
    import keras, numpy as np
    import tbactviz
    from tbactviz.errors import LogdirError

    out = sys.argv[1]
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((16, 12, 12, 3), dtype=np.float32)
    y = rng.integers(0, 2, 16)


    def cnn():
        model = keras.Sequential([
            keras.Input((12, 12, 3)),
            keras.layers.Conv2D(4, 3, activation="relu", name="c1"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(2, name="dense"),
        ])
        model.compile("sgd", "sparse_categorical_crossentropy")
        return model

    model = cnn()
    with tbactviz.ActivationLogger(out + "/logger", model, "c1") as log:
        log(x[:2], step=0)
        log(x[2:4], step=5)
    for mode in ("sync", "async"):
        cb = tbactviz.ActivationCallback(out + "/" + mode, x[:2], "c1", async_write=mode == "async")
        cnn().fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[cb])
    for make in (lambda: tbactviz.ActivationLogger("gs://bucket/run", model, "c1"),
                 lambda: tbactviz.ActivationCallback("gs://bucket/run", x[:2], "c1")):
        try:
            make()
        except LogdirError as exc:
            print("gs error:", exc)
    model.save(out + "/model.keras")
    np.save(out + "/probe.npy", x[:3])
    print("backend", keras.backend.backend())
    """
)


def _env(tmp_path: Path, backend: str) -> dict[str, str]:
    block = tmp_path / "block"
    block.mkdir(exist_ok=True)
    (block / "sitecustomize.py").write_text(BLOCKER)
    path = os.pathsep.join(p for p in (str(block), str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {
        **os.environ,
        "PYTHONPATH": path,
        "KERAS_BACKEND": backend,
        "CUDA_VISIBLE_DEVICES": "",
        "TBACTVIZ_TEST_MARK": str(tmp_path / "marks.txt"),
    }


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )


def _steps(logdir: Path) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for record in read_events(logdir):
        out[record.tag].append(record.step)
    return {tag: sorted(steps) for tag, steps in out.items()}


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_logger_callback_and_cli_never_import_tensorflow(backend: str, tmp_path: Path) -> None:
    env = _env(tmp_path, backend)
    (tmp_path / "child.py").write_text(CHILD)
    child = _run([str(tmp_path / "child.py"), str(tmp_path)], env, tmp_path)
    assert child.returncode == 0, child.stderr[-4000:]
    assert f"backend {backend}" in child.stdout
    gs_errors = [line for line in child.stdout.splitlines() if line.startswith("gs error:")]
    assert len(gs_errors) == 2 and all("pip install tensorflow" in line for line in gs_errors), child.stdout

    layers = _run(["-m", "tbactviz", "layers", "model.keras"], env, tmp_path)
    assert layers.returncode == 0 and "c1" in layers.stdout, layers.stderr[-4000:]
    log = _run(
        ["-m", "tbactviz", "log", "model.keras", "probe.npy", "--layers", "c1", "--logdir", "cli"],
        env,
        tmp_path,
    )
    assert log.returncode == 0, log.stderr[-4000:]
    remote = _run(
        ["-m", "tbactviz", "log", "model.keras", "probe.npy", "--logdir", "gs://bucket/run"], env, tmp_path
    )
    assert remote.returncode == 9 and "pip install tensorflow" in remote.stderr, remote.stderr[-4000:]

    marks = (tmp_path / "marks.txt").read_text().splitlines()
    assert len(marks) == 4 and all(m.endswith("hidden=True imported=False") for m in marks), marks

    tags = set(tags_for_layer("c1", stats=STATS))
    assert _steps(tmp_path / "logger") == {tag: [0, 5] for tag in tags}
    assert _steps(tmp_path / "sync") == {tag: [0, 1, 2] for tag in tags}
    assert _steps(tmp_path / "async") == {tag: [0, 1, 2] for tag in tags}
    assert _steps(tmp_path / "cli") == {tag: [0] for tag in tags}
    assert not (tmp_path / "gs:").exists() and len(event_files(tmp_path / "cli")) == 1


@pytest.mark.parametrize("backend", ["jax"])
def test_the_demo_runs_without_tensorflow(backend: str, tmp_path: Path) -> None:
    env = _env(tmp_path, backend)
    args = ["--logdir", "logs", "--epochs", "1", "--samples", "64", "--quiet"]
    demo = _run(["-m", "tbactviz", "demo", *args], env, tmp_path)
    assert demo.returncode == 0, demo.stderr[-4000:]
    marks = (tmp_path / "marks.txt").read_text().splitlines()
    assert len(marks) == 1 and marks[0].endswith("hidden=True imported=False"), marks
    steps = _steps(tmp_path / "logs" / "demo" / "activations")
    assert steps and all(s == [0, 1] for s in steps.values()), steps
    assert not (tmp_path / "logs" / "demo" / "train").exists()  # Keras' TensorBoard callback needs TensorFlow
    assert "Runs: logs/demo/activations (activations)\n" in demo.stdout, demo.stdout


def test_the_cli_names_the_extra_when_kerass_backend_is_not_installed(tmp_path: Path) -> None:
    env = _env(tmp_path, "tensorflow")  # Keras' default backend, blocked as if not installed
    demo = _run(["-m", "tbactviz", "demo", "--logdir", "logs", "--epochs", "1"], env, tmp_path)
    assert demo.returncode == 1, demo.stderr[-4000:]
    assert "backend 'tensorflow' is not installed" in demo.stderr
    assert "pip install 'tbactviz[tensorflow]'" in demo.stderr and "Traceback" not in demo.stderr


def test_board_serves_the_activations_tab_without_tensorflow(tmp_path: Path) -> None:
    from _tensorboard import TensorBoardServer, free_port

    env = _env(tmp_path, "jax")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tbactviz", "board", "--logdir", str(tmp_path), "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        client = TensorBoardServer(tmp_path, port=port)  # only its HTTP helpers; not started
        client.wait_for("/data/plugins_listing", lambda body: "tbactviz" in body, timeout=120)  # our tab
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert "Traceback" not in stderr and "not installed (Keras reads" not in stderr, stderr[-4000:]
    marks = (tmp_path / "marks.txt").read_text().splitlines()
    assert marks and all(m.endswith("hidden=True imported=False") for m in marks), marks
