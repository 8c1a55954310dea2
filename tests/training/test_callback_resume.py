"""Resuming training in a new process never writes a step twice (two real processes per scenario).

Process 1 trains and is interrupted (an exception after the third epoch, with ``BackupAndRestore``), or ends
after saving the model; process 2 is a new interpreter with a new callback on the same log directory that
resumes: ``BackupAndRestore`` restores the weights, the optimizer's step count and the epoch, or
``fit(initial_epoch=k)`` continues a reloaded model. The event files are read back record by record (not
through TensorBoard's reader, which hides a step written twice by purging "orphaned" steps).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest
from _events import event_files
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

pytestmark = pytest.mark.slow

SCRIPT = """
import json, sys
sys.path[:0] = [{here!r}, {tests!r}]
import keras
import test_callback as t
from tbactviz.training.callback import ActivationCallback

phase, root = sys.argv[1], sys.argv[2]
SCHEDULES = {{"epochs": {{}}, "batches": {{"every_n_epochs": 0, "every_n_batches": 3}}}}


class Stop(Exception):
    pass


class StopAfterEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Stop


def new_model():
    keras.utils.set_random_seed(0)
    return t.small_cnn()  # 16 samples, batch 4: 4 batches per epoch


logged = {{}}
for name, schedule in SCHEDULES.items():
    cb = ActivationCallback(f"{{root}}/{{name}}/act", t.X[:2], "conv1", **schedule)
    backup = keras.callbacks.BackupAndRestore(f"{{root}}/{{name}}/backup")
    if phase == "1":
        try:
            t.fit(new_model(), [backup, cb, StopAfterEpoch(2)], epochs=6)
        except Stop:
            pass
    else:  # our callback first: BackupAndRestore restores after our on_train_begin, before the first epoch
        t.fit(new_model(), [cb, backup], epochs=6)
    logged[name] = cb.logged_steps

cb = ActivationCallback(f"{{root}}/initial/act", t.X[:2], "conv1")
if phase == "1":
    model = new_model()
    t.fit(model, cb, epochs=2)
    model.save(f"{{root}}/initial/model.keras")
else:
    t.fit(keras.models.load_model(f"{{root}}/initial/model.keras"), cb, epochs=4, initial_epoch=2)
logged["initial"] = cb.logged_steps
print(json.dumps(logged))
"""


def steps_written(logdir: Path) -> dict[str, list[int]]:
    """tag -> every step written for it, across all event files, repeats included."""
    out: dict[str, list[int]] = defaultdict(list)
    for path in event_files(logdir):
        for event in EventFileLoader(path).Load():
            for value in event.summary.value:
                out[value.tag].append(event.step)
    return {tag: sorted(steps) for tag, steps in out.items()}


def test_a_new_process_resuming_the_run_continues_the_steps(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            SCRIPT.format(
                here=str(Path(__file__).resolve().parent), tests=str(Path(__file__).resolve().parents[1])
            )
        )
    )

    def run(phase: str) -> dict[str, list[int]]:
        proc = subprocess.run(
            [sys.executable, str(script), phase, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    first, second = run("1"), run("2")
    expected = {
        # 3 epochs, interrupted; resumed at epoch 3 (not a second step 0 with trained weights)
        "epochs": ([0, 1, 2, 3], [4, 5, 6]),
        # batches 1..12, interrupted; resumed at optimizer step 12 (not back at 0)
        "batches": ([0, 3, 6, 9, 12], [15, 18, 21, 24]),
        # fit(epochs=2), saved; reloaded, fit(initial_epoch=2, epochs=4): no untrained step 0
        "initial": ([0, 1, 2], [3, 4]),
    }
    for name, (steps_1, steps_2) in expected.items():
        assert (first[name], second[name]) == (steps_1, steps_2), name
        written = steps_written(tmp_path / name / "act")
        assert set(written) == {
            f"{kind}/conv1"
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
                "layout",
                "channels",
            )
        }, name
        for tag, steps in written.items():
            assert steps == steps_1 + steps_2, (name, tag)  # every step exactly once across the files
        assert len(event_files(tmp_path / name / "act")) == 2  # one file per process
