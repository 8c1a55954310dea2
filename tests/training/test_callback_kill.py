"""A training process running ActivationCallback is killed with SIGKILL: every event flushed before is kept.

The child trains a small CNN for (practically) ever, logging every epoch; after each logged step a second
callback prints the step, so the parent knows which events were flushed (the logger flushes before it
returns). Once a few steps were reported, the parent SIGKILLs the child (no ``on_train_end``, no ``close``, no
atexit handler) and reads the event file back the way TensorBoard does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from _events import event_files, read_events

STATS = ("sparsity", "dead_channels", "mean", "std", "max_abs", "nonfinite", "dormant_fraction")
LAYERS = ("conv1", "conv2", "head")

CHILD = textwrap.dedent(
    """
    import sys
    import keras, numpy as np
    from tbactviz import ActivationCallback

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((64, 16, 16, 3), dtype=np.float32)
    y = np.random.default_rng(1).random((64, 2), dtype=np.float32)
    model = keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(8, 3, activation="relu", name="conv1"),
        keras.layers.Conv2D(8, 3, activation="relu", name="conv2"),
        keras.layers.GlobalAveragePooling2D(name="pool"),
        keras.layers.Dense(2, name="head"),
    ])
    model.compile("sgd", "mse")
    cb = ActivationCallback(sys.argv[1], x[:4], ["conv1", "conv2", "head"], every_n_epochs=1)

    class Report(keras.callbacks.Callback):  # runs after cb: the step it prints was written and flushed
        def on_epoch_begin(self, epoch, logs=None):  # step 0 is logged at the first epoch's start
            if epoch == 0:
                print("logged", cb.logged_steps[-1], flush=True)

        def on_epoch_end(self, epoch, logs=None):
            print("logged", cb.logged_steps[-1], flush=True)

    model.fit(x, y, batch_size=16, epochs=100_000, verbose=0, callbacks=[cb, Report()])
    """
)


def test_sigkill_mid_training_keeps_every_flushed_event(tmp_path: Path) -> None:
    logdir = tmp_path / "acts"
    script = tmp_path / "train.py"
    script.write_text(CHILD)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(logdir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    reported: list[int] = []
    enough = threading.Event()

    def read_reports() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("logged "):
                reported.append(int(line.split()[1]))
                if len(reported) >= 4:
                    enough.set()

    reader = threading.Thread(target=read_reports, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while not enough.wait(0.05):
            if proc.poll() is not None or time.monotonic() > deadline:
                break
        assert enough.is_set(), f"the child did not log 4 steps in time: {proc.poll()=}, {reported=}"
        os.kill(proc.pid, signal.SIGKILL)  # mid-training: the child is in the middle of its next epoch
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        reader.join(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    flushed = list(reported)  # steps reported before the kill were flushed before the kill
    assert flushed[:4] == [0, 1, 2, 3]
    assert len(event_files(logdir)) == 1
    by_step: dict[int, dict[str, object]] = defaultdict(dict)
    for record in read_events(logdir):
        by_step[record.step][record.tag] = record
    steps = sorted(by_step)
    assert set(flushed) <= set(steps)  # nothing flushed is lost
    assert steps == list(range(len(steps)))  # and nothing in between (one event per step, never torn)
    assert len(steps) <= len(flushed) + 1  # at most the step being logged at the kill, if it made it whole
    expected = {f"{kind}/{p}" for p in LAYERS for kind in ("activations", "histograms", *STATS)}
    for step in steps:
        assert set(by_step[step]) == expected, f"step {step} is incomplete"
        (width, height), images = by_step[step]["activations/conv1"].value  # type: ignore[attr-defined]
        assert len(images) == 3
        for image in images:
            pixels = np.asarray(image)  # decodes the PNG completely
            assert pixels.dtype == np.uint8 and pixels.shape[:2] == (height, width)
        histogram = by_step[step]["histograms/conv2"].value  # type: ignore[attr-defined]
        assert histogram[:, 2].sum() == 4 * 12 * 12 * 8

    # Had the kill torn the last record (killed inside write()), the reader skips it and keeps the rest.
    torn = tmp_path / "torn"
    torn.mkdir()
    (source,) = event_files(logdir)
    data = Path(source).read_bytes()
    (torn / Path(source).name).write_bytes(data[:-10])
    assert sorted({r.step for r in read_events(torn)}) == steps[:-1]
