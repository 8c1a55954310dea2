"""ActivationCallback: fit a small CNN and read back exactly which steps and tags were written."""

from __future__ import annotations

import threading
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf
from _events import event_files, read_events, run_tags

import tbactviz
from tbactviz.errors import ProbeError, TbactvizWarning
from tbactviz.grids import tiling
from tbactviz.snapshot.logger import ActivationLogger
from tbactviz.training.callback import ActivationCallback

STATS = ("sparsity", "dead_channels", "mean", "std", "max_abs", "nonfinite", "dormant_fraction")
X = np.random.default_rng(0).random((16, 12, 12, 3), dtype=np.float32)
Y = np.random.default_rng(1).random((16, 2), dtype=np.float32)


def small_cnn(steps_per_execution: int = 1) -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv1"),
            keras.layers.Conv2D(6, 3, name="conv2"),
            keras.layers.GlobalAveragePooling2D(name="pool"),
            keras.layers.Dense(2, name="head"),
        ]
    )
    model.compile("sgd", "mse", steps_per_execution=steps_per_execution)
    return model


def tags_of(*paths: str) -> set[str]:
    return {f"{kind}/{p}" for p in paths for kind in ("activations", "histograms", *STATS)}


def steps_by_tag(logdir: str | Path, run: str = ".") -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for record in read_events(logdir):
        if record.run == run:
            out[record.tag].append(record.step)
    return {tag: sorted(steps) for tag, steps in out.items()}


def assert_logged(logdir: str | Path, steps: list[int], paths: tuple[str, ...] = ("conv1", "conv2")) -> None:
    """Every tag of ``paths`` was written at exactly ``steps``, and nothing else was written."""
    assert steps_by_tag(logdir) == {tag: steps for tag in tags_of(*paths)}


def fit(model: keras.Model, callback: Any, epochs: int = 2, **kwargs: Any) -> keras.callbacks.History:
    callbacks = callback if isinstance(callback, list) else [callback]
    return model.fit(X, Y, batch_size=4, epochs=epochs, verbose=0, callbacks=callbacks, **kwargs)


# -- schedules -----------------------------------------------------------------------------------------------


def test_default_logs_step_zero_and_every_epoch(tmp_path: Path) -> None:
    cb = ActivationCallback(tmp_path, X[:2], layers="conv*")
    assert "on_train_batch_end" not in vars(cb)  # epoch schedules leave Keras' async batch dispatch alone
    history = fit(small_cnn(), cb, epochs=3)
    assert len(history.history["loss"]) == 3
    assert_logged(tmp_path, [0, 1, 2, 3])
    assert cb.logged_steps == [0, 1, 2, 3]
    assert len(event_files(tmp_path)) == 1 and cb.logger is not None and cb.logger.closed
    grids = [r for r in read_events(tmp_path) if r.tag == "activations/conv2"]
    assert all(len(r.value[1]) == 2 for r in grids)  # one grid per probe sample (max_images=3 > 2)


def test_every_n_epochs_and_no_step_zero(tmp_path: Path) -> None:
    fit(small_cnn(), ActivationCallback(tmp_path, X[:2], "conv2", every_n_epochs=2, log_at_start=False), 5)
    assert_logged(tmp_path, [2, 4], ("conv2",))


def test_every_n_batches_counts_global_batches(tmp_path: Path) -> None:
    cb = ActivationCallback(tmp_path, X[:1], "conv1", every_n_epochs=0, every_n_batches=3)
    assert "on_train_batch_end" in vars(cb)
    fit(small_cnn(), cb, epochs=2)  # 4 batches per epoch
    assert_logged(tmp_path, [0, 3, 6], ("conv1",))
    assert cb.schedule.batches == 8


def test_epoch_trigger_in_batch_unit_logs_at_the_batch_count(tmp_path: Path) -> None:
    cb = ActivationCallback(tmp_path, X[:1], "conv1", every_n_epochs=1, every_n_batches=3, log_at_start=False)
    fit(small_cnn(), cb, epochs=2)
    assert_logged(tmp_path, [3, 4, 6, 8], ("conv1",))


def test_steps_per_execution_advances_batch_counter_by_k(tmp_path: Path) -> None:
    cb = ActivationCallback(tmp_path, X[:1], "conv1", every_n_epochs=0, every_n_batches=3, log_at_start=False)
    fit(small_cnn(steps_per_execution=2), cb, epochs=2)  # hooks at batches 2, 4 | 6, 8
    assert_logged(tmp_path, [4, 6], ("conv1",))


def test_explicit_steps(tmp_path: Path) -> None:
    cb = ActivationCallback(tmp_path, X[:1], "conv2", every_n_epochs=0, steps=[1, 3], log_at_start=False)
    fit(small_cnn(), cb, epochs=4)
    assert_logged(tmp_path, [1, 3], ("conv2",))


def test_explicit_batch_steps(tmp_path: Path) -> None:
    cb = ActivationCallback(tmp_path, X[:1], "conv2", every_n_epochs=0, steps=[0, 5], step_unit="batch")
    fit(small_cnn(), cb, epochs=2)
    assert_logged(tmp_path, [0, 5], ("conv2",))


def test_only_step_zero(tmp_path: Path) -> None:
    fit(small_cnn(), ActivationCallback(tmp_path, X[:1], "conv1", every_n_epochs=0), epochs=2)
    assert_logged(tmp_path, [0], ("conv1",))


def test_all_triggers_off_writes_nothing(tmp_path: Path) -> None:
    logdir = tmp_path / "act"
    cb = ActivationCallback(logdir, X[:1], "conv1", every_n_epochs=0, log_at_start=False)
    fit(small_cnn(), cb, epochs=2)
    assert not logdir.exists() and cb.logger is None


def test_default_layers_and_logger_options(tmp_path: Path) -> None:
    cb = ActivationCallback(tmp_path, X[:3], every_n_epochs=0, max_images=1, stats=["sparsity"], images=True)
    fit(small_cnn(), cb, epochs=1)
    assert cb.logger is not None
    paths = cb.logger.layer_paths
    assert "conv1" in paths and "conv2" in paths
    expected = {f"{kind}/{p}" for p in paths for kind in ("activations", "histograms", "sparsity")}
    assert {tag for _, tag in run_tags(tmp_path)} == expected
    assert all(len(r.value[1]) == 1 for r in read_events(tmp_path) if r.plugin == "images")


# -- several fit calls, lifecycle ----------------------------------------------------------------------------


def test_two_fit_calls_keep_a_monotonic_step_and_one_event_file_per_fit(tmp_path: Path) -> None:
    cb = ActivationCallback(tmp_path, X[:2], "conv*", normalize="fixed")
    model = small_cnn()
    fit(model, cb, epochs=2)
    first_logger = cb.logger
    assert first_logger is not None and first_logger.closed
    ranges = first_logger.value_ranges
    assert set(ranges) == {"conv1", "conv2"}
    fit(model, cb, epochs=2)
    assert cb.logger is not first_logger and cb.logger.closed
    assert cb.logger.value_ranges == ranges  # the fixed scale survives the second fit
    assert_logged(tmp_path, [0, 1, 2, 3, 4])
    files = event_files(tmp_path)
    assert len(files) == 2 and all(f.endswith(".tbactviz.v2") for f in files)
    per_file = sorted(sorted({r.step for r in read_events_file(f)}) for f in files)
    assert per_file == [[0, 1, 2], [3, 4]]


def read_events_file(path: str) -> list[Any]:
    """Records of one event file (copied alone into a directory of its own)."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(path, tmp)
        return read_events(tmp)


def test_initial_epoch_continues_the_steps(tmp_path: Path) -> None:
    cb = ActivationCallback(tmp_path, X[:1], "conv1")
    model = small_cnn()
    fit(model, cb, epochs=2)
    fit(model, cb, epochs=4, initial_epoch=2)
    assert_logged(tmp_path, [0, 1, 2, 3, 4], ("conv1",))


def test_exception_during_fit_leaves_readable_events(tmp_path: Path) -> None:
    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if epoch == 1:
                raise KeyboardInterrupt

    cb = ActivationCallback(tmp_path, X[:1], "conv1")
    with pytest.raises(KeyboardInterrupt):
        fit(small_cnn(), [cb, Interrupt()], epochs=4)
    assert_logged(tmp_path, [0, 1, 2], ("conv1",))  # flushed after each step, no on_train_end needed
    cb.close()
    cb.close()  # idempotent


def test_fit_again_after_an_exception(tmp_path: Path) -> None:
    class Fail(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            raise RuntimeError("boom")

    cb = ActivationCallback(tmp_path, X[:1], "conv1", async_write=True)
    model = small_cnn()
    with pytest.raises(RuntimeError, match="boom"):
        fit(model, [cb, Fail()], epochs=2)
    cb.close()  # finishes pending background writes
    fit(model, cb, epochs=1)
    assert_logged(tmp_path, [0, 1, 2], ("conv1",))


# -- alongside keras.callbacks.TensorBoard -------------------------------------------------------------------


def test_coexists_with_keras_tensorboard_in_the_same_log_root(tmp_path: Path) -> None:
    cb = ActivationCallback(tmp_path / "activations", X[:2], "conv*", async_write=True)
    tensorboard = keras.callbacks.TensorBoard(tmp_path, write_graph=False)
    model = small_cnn()
    fit(model, [tensorboard, cb], epochs=2, validation_data=(X[:4], Y[:4]))
    fit(model, [cb, tensorboard], epochs=1, validation_data=(X[:4], Y[:4]))
    expected = {("activations", tag) for tag in tags_of("conv1", "conv2")} | {
        ("train", "epoch_loss"),
        ("train", "epoch_learning_rate"),
        ("validation", "epoch_loss"),
        ("validation", "evaluation_loss_vs_iterations"),
    }
    assert run_tags(tmp_path) == expected
    assert steps_by_tag(tmp_path, "activations")["activations/conv1"] == [0, 1, 2, 3]
    assert steps_by_tag(tmp_path, "train")["epoch_loss"] == [0, 0, 1]  # Keras restarts its epochs
    ours = {f for f in event_files(tmp_path) if f.endswith(".tbactviz.v2")}
    assert ours == set(event_files(tmp_path / "activations")) and len(ours) == 2


# -- background writing --------------------------------------------------------------------------------------


def test_async_write_writes_the_same_events(tmp_path: Path) -> None:
    model = small_cnn()
    sync_cb = ActivationCallback(tmp_path / "sync", X[:2], "conv*")
    async_cb = ActivationCallback(tmp_path / "async", X[:2], "conv*", async_write=True, max_queue=1)
    fit(model, [sync_cb, async_cb], epochs=2)
    assert not [t for t in threading.enumerate() if t.name.startswith("tbactviz-writer")]
    assert_logged(tmp_path / "async", [0, 1, 2])
    sync, background = read_events(tmp_path / "sync"), read_events(tmp_path / "async")
    assert [(r.tag, r.step) for r in sync] == [(r.tag, r.step) for r in background]
    for a, b in zip(sync, background, strict=True):
        if a.plugin == "scalars":
            assert a.value == pytest.approx(b.value, rel=1e-6, abs=1e-7)


# -- errors --------------------------------------------------------------------------------------------------


@pytest.fixture
def conv2_drawing_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make drawing conv2 (the only layer with 6 channels) raise."""
    original = tiling.assemble

    def tile(partial: Any, plan: Any, *args: Any) -> Any:
        if plan.sample_shape[-1] == 6:
            raise FloatingPointError("cannot draw this layer")
        return original(partial, plan, *args)

    monkeypatch.setattr(tiling, "assemble", tile)


@pytest.mark.parametrize("async_write", [False, True])
@pytest.mark.usefixtures("conv2_drawing_fails")
def test_a_failing_layer_warns_once_and_training_continues(tmp_path: Path, async_write: bool) -> None:
    cb = ActivationCallback(tmp_path, X[:2], "conv*", async_write=async_write)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit(small_cnn(), cb, epochs=3)
    ours = [w for w in caught if issubclass(w.category, TbactvizWarning)]
    assert len(ours) == 1, [str(w.message) for w in ours]
    assert "conv2" in str(ours[0].message) and "cannot draw this layer" in str(ours[0].message)
    if not async_write:  # on the training thread: the warning points at the fit call, not inside Keras
        assert ours[0].filename == __file__
    assert len(history.history["loss"]) == 3
    assert_logged(tmp_path, [0, 1, 2, 3], ("conv1",))  # the other layer is still logged at every step


@pytest.mark.parametrize("async_write", [False, True])
@pytest.mark.usefixtures("conv2_drawing_fails")
def test_on_error_raise_ends_fit_and_closes(tmp_path: Path, async_write: bool) -> None:
    cb = ActivationCallback(tmp_path, X[:2], "conv*", on_error="raise", async_write=async_write)
    with pytest.raises(FloatingPointError, match="cannot draw this layer"):
        fit(small_cnn(), cb, epochs=3)
    assert cb.logger is not None and cb.logger.closed
    assert not [t for t in threading.enumerate() if t.name.startswith("tbactviz-writer")]


def test_failing_probe_warns_once_per_cause(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A probe that does not fit is raised at the start of fit (tests/test_reliability.py); skip that check
    # here to see how a forward pass that fails at every step is handled.
    monkeypatch.setattr(ActivationCallback, "_check_probe_fits", lambda self, logger: None)
    cb = ActivationCallback(tmp_path, np.zeros((2, 5, 5, 7), np.float32), "conv1")  # wrong input shape
    with pytest.warns(TbactvizWarning, match="step 0") as record:
        history = fit(small_cnn(), cb, epochs=2)
    assert len([w for w in record if issubclass(w.category, TbactvizWarning)]) == 1
    assert len(history.history["loss"]) == 2
    assert event_files(tmp_path) == []


@pytest.mark.parametrize(
    ("async_write", "batch_size", "hint"), [(False, 2, "batch_size=1"), (True, None, "batch_size=8")]
)
def test_out_of_memory_in_the_probe_warns_once_and_logging_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, async_write: bool, batch_size: int | None, hint: str
) -> None:
    real = ActivationLogger.probe_chunks
    oom = {"now": True}

    def probe_chunks(self: ActivationLogger, inputs: Any) -> Any:  # what a device out of memory raises
        if oom["now"]:
            raise tf.errors.ResourceExhaustedError(
                None, None, "OOM when allocating tensor with shape[2,10,10,4]"
            )
        yield from real(self, inputs)

    class MemoryFreed(keras.callbacks.Callback):  # runs before ours: from step 3 on the probe fits again
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            oom["now"] = epoch < 2

    monkeypatch.setattr(ActivationLogger, "probe_chunks", probe_chunks)
    cb = ActivationCallback(tmp_path, X[:2], "conv*", async_write=async_write, batch_size=batch_size)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit(small_cnn(), [MemoryFreed(), cb], epochs=4)  # steps 0, 1 and 2 fail
    ours = [str(w.message) for w in caught if issubclass(w.category, TbactvizWarning)]
    assert len(ours) == 1, ours
    assert "step 0: logging activations failed: ResourceExhaustedError: OOM when allocating tensor" in ours[0]
    assert f"out of memory while running the probe (batch_size={batch_size}" in ours[0]
    assert f"pass a smaller batch_size, e.g. {hint}" in ours[0] and "training continues" in ours[0]
    assert len(history.history["loss"]) == 4
    assert cb.logged_steps == [3, 4]
    assert_logged(tmp_path, [3, 4])


def test_other_errors_get_no_out_of_memory_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def probe_chunks(self: ActivationLogger, inputs: Any) -> Any:
        raise ValueError("some other failure")
        yield

    monkeypatch.setattr(ActivationLogger, "probe_chunks", probe_chunks)
    with pytest.warns(TbactvizWarning, match="step 0: logging activations failed: ValueError") as record:
        fit(small_cnn(), ActivationCallback(tmp_path, X[:2], "conv*"), epochs=1)
    (message,) = [str(w.message) for w in record if issubclass(w.category, TbactvizWarning)]
    assert "out of memory" not in message and "batch_size" not in message


def test_unknown_layer_is_raised_at_fit_start(tmp_path: Path) -> None:
    cb = ActivationCallback(tmp_path, X[:1], "conv9")
    model = small_cnn()
    with pytest.raises(tbactviz.LayerNotFoundError, match="conv9"):
        fit(model, cb)
    assert model.optimizer.iterations.numpy() == 0  # raised before any training step


# -- probes --------------------------------------------------------------------------------------------------


def test_dataset_probe_takes_a_fixed_number_of_samples_once(tmp_path: Path) -> None:
    dataset = tf.data.Dataset.from_tensor_slices((X, Y)).batch(3)
    cb = ActivationCallback(tmp_path / "cb", dataset, "conv1", probe_samples=4, max_images=8)
    model = small_cnn()
    with tbactviz.ActivationLogger(tmp_path / "ref", model, "conv1") as reference:
        reference.log(X[:4], step=0)  # what the untrained model shows on the first 4 samples
    fit(model, cb, epochs=1)
    fit(model, cb, epochs=1)
    grids = [r for r in read_events(tmp_path / "cb") if r.tag == "activations/conv1"]
    assert [r.step for r in grids] == [0, 1, 2]
    assert all(len(r.value[1]) == 4 for r in grids)
    step0 = {(r.tag, r.step): r.value for r in read_events(tmp_path / "cb") if r.plugin == "scalars"}
    for r in read_events(tmp_path / "ref"):
        if r.plugin == "scalars":
            assert step0[(r.tag, 0)] == pytest.approx(r.value, rel=1e-5, abs=1e-6)


def test_unbatched_dataset_probe(tmp_path: Path) -> None:
    dataset = tf.data.Dataset.from_tensor_slices(X)
    cb = ActivationCallback(tmp_path, dataset, "conv1", probe_samples=2, every_n_epochs=0)
    fit(small_cnn(), cb, epochs=1)
    (grid,) = [r for r in read_events(tmp_path) if r.tag == "activations/conv1"]
    assert len(grid.value[1]) == 2


def test_short_dataset_probe_warns_and_uses_what_there_is(tmp_path: Path) -> None:
    dataset = tf.data.Dataset.from_tensor_slices((X[:3], Y[:3])).batch(2)
    cb = ActivationCallback(tmp_path, dataset, "conv1", probe_samples=5, every_n_epochs=0)
    with pytest.warns(TbactvizWarning, match=r"only 3 sample\(s\), fewer than probe_samples=5"):
        fit(small_cnn(), cb, epochs=1)
    (grid,) = [r for r in read_events(tmp_path) if r.tag == "activations/conv1"]
    assert len(grid.value[1]) == 3


def test_empty_dataset_probe_is_an_error(tmp_path: Path) -> None:
    dataset = tf.data.Dataset.from_tensor_slices((X[:0], Y[:0])).batch(2)
    with pytest.raises(ProbeError, match="yielded no sample"):
        fit(small_cnn(), ActivationCallback(tmp_path, dataset, "conv1"), epochs=1)


def test_multi_input_dict_probe(tmp_path: Path) -> None:
    image = keras.Input((12, 12, 3), name="image")
    extra = keras.Input((2,), name="extra")
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, name="conv")(image))
    output = keras.layers.Dense(2)(keras.layers.Concatenate()([features, extra]))
    model = keras.Model({"image": image, "extra": extra}, output)
    model.compile("sgd", "mse")
    probe = {"image": X[:2], "extra": Y[:2]}
    cb = ActivationCallback(tmp_path, probe, "conv", every_n_epochs=1)
    model.fit({"image": X, "extra": Y}, Y, epochs=1, batch_size=8, verbose=0, callbacks=[cb])
    assert_logged(tmp_path, [0, 1], ("conv",))


# -- arguments -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "fragments"),
    [
        ({"every_n_epochs": -1}, ValueError, ["every_n_epochs=-1", "0 turns epoch logging off"]),
        ({"steps": "5"}, TypeError, ["steps='5'", "got str"]),
        ({"max_queue": 0}, ValueError, ["max_queue=0", "int >= 1"]),
        ({"probe_samples": 0}, ValueError, ["probe_samples=0"]),
        ({"async_write": "yes"}, TypeError, ["async_write='yes'", "True or False", "got str"]),
        ({"value_range": (0, 1), "normalize": "layer"}, ValueError, ["value_range=(0, 1)", "'layer'"]),
        ({"colour": "red"}, TypeError, ["['colour']", "colormap"]),
        ({"on_error": "ignore"}, ValueError, ["on_error='ignore'", "one of 'raise', 'warn'"]),
        ({"fixed_scale": True}, TypeError, ["['fixed_scale']", "normalize"]),
    ],
)
def test_invalid_arguments_are_rejected_at_construction(
    tmp_path: Path, kwargs: dict[str, Any], error: type[Exception], fragments: list[str]
) -> None:
    with pytest.raises(error) as info:
        ActivationCallback(tmp_path, X[:1], **kwargs)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_probe_is_required_and_logdir_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="probe=None"):
        ActivationCallback(tmp_path, None)
    for bad in (X[:0], X[0, 0, 0, 0], [X[:2], Y[:3]], []):
        with pytest.raises(ProbeError, match=r"expected one or more arrays of shape \(N, \.\.\.\)"):
            ActivationCallback(tmp_path, bad)
    (tmp_path / "file").write_text("x")
    with pytest.raises(tbactviz.LogdirError):
        ActivationCallback(tmp_path / "file", X[:1])


def test_fixed_normalization_with_given_range(tmp_path: Path) -> None:
    cb = ActivationCallback(tmp_path, X[:1], "conv1", normalize="fixed", value_range=(-1.0, 1.0))
    fit(small_cnn(), cb, epochs=1)
    assert cb.logger is not None and cb.logger.value_ranges == {}  # shared range given, nothing measured
    assert_logged(tmp_path, [0, 1], ("conv1",))


def test_exported_from_the_package(tmp_path: Path) -> None:
    assert tbactviz.ActivationCallback is ActivationCallback
    cb = ActivationCallback(tmp_path / "unused", X[:1])
    assert isinstance(cb, keras.callbacks.Callback)
    assert "ActivationCallback(logdir=" in repr(cb) and "every_n_epochs=1" in repr(cb)
    assert not (tmp_path / "unused").exists()


def test_logged_steps_leave_out_failed_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ActivationCallback, "_check_probe_fits", lambda self, logger: None)
    cb = ActivationCallback(tmp_path, np.zeros((2, 5, 5, 7), np.float32), "conv1")
    with pytest.warns(TbactvizWarning):
        fit(small_cnn(), cb, epochs=1)
    assert cb.logged_steps == []


def test_pending_background_writes_are_drained_at_interpreter_exit(tmp_path: Path) -> None:
    """fit ends with an uncaught KeyboardInterrupt (no on_train_end, no close): nothing queued is lost."""
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "interrupted.py"
    HERE = Path(__file__).resolve().parent  # this folder and tests/, for the helpers
    script.write_text(
        textwrap.dedent(
            f"""
            import sys, time
            sys.path[:0] = {[str(p) for p in (HERE, HERE.parent)]!r}
            import keras, numpy as np
            import test_callback as t
            from tbactviz.grids import tiling
            from tbactviz.training.callback import ActivationCallback

            original = tiling.tile_activations
            def slow(*args, **kwargs):
                time.sleep(0.3)  # the writer thread lags behind training
                return original(*args, **kwargs)
            tiling.tile_activations = slow

            class Interrupt(keras.callbacks.Callback):
                def on_epoch_end(self, epoch, logs=None):
                    if epoch == 2:
                        raise KeyboardInterrupt

            logdir = {str(tmp_path / "act")!r}
            cb = ActivationCallback(logdir, t.X[:1], "conv1", async_write=True, max_queue=8)
            t.fit(t.small_cnn(), [cb, Interrupt()], epochs=5)
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert "KeyboardInterrupt" in proc.stderr and proc.returncode != 0
    assert_logged(tmp_path / "act", [0, 1, 2, 3], ("conv1",))


# -- compiled once per run -----------------------------------------------------------------------------------


def test_a_second_fit_and_a_resumed_run_trace_nothing(tmp_path: Path) -> None:
    """The same callback in a second ``fit``, or again after a ``fit`` that failed, runs what the first
    compiled (the extractor's traces are counted; JAX's compiles: tests/_backend_run.py)."""
    model = small_cnn()
    cb = ActivationCallback(tmp_path, X[:2], "conv*", every_n_epochs=1)
    fit(model, cb, epochs=1)
    assert cb.logger is not None
    extractor, traces = cb.logger.extractor, cb.logger.extractor.trace_count
    assert traces >= 1
    fit(model, cb, epochs=2, initial_epoch=1)
    assert cb.logger.extractor is extractor and extractor.trace_count == traces

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(model, [cb, Interrupt()], epochs=3, initial_epoch=2)
    fit(model, cb, epochs=4, initial_epoch=3)  # resumed in the same process
    assert cb.logger.extractor is extractor and extractor.trace_count == traces
    assert cb.logged_steps == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("where", ["reduce", "pack"])
def test_out_of_memory_inside_the_compiled_probe_gets_the_hint_and_training_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Out of memory raised where the probe reduces or packs its results: not "inputs do not fit"."""
    from tbactviz.model import compiled
    from tbactviz.snapshot import runner

    owner, name = (runner, "reduce_layer") if where == "reduce" else (compiled.Packing, "pack")
    real = getattr(owner, name)
    oom = {"now": False}

    def reduce_layer(*args: Any, **kwargs: Any) -> Any:
        if oom["now"]:
            raise tf.errors.ResourceExhaustedError(
                None, None, "OOM when allocating tensor with shape[2,10,10,4]"
            )
        return real(*args, **kwargs)

    class Start(
        keras.callbacks.Callback
    ):  # before ours: from the first step on, the probe runs out of memory
        def on_train_begin(self, logs: Any = None) -> None:
            oom["now"] = True

    monkeypatch.setattr(owner, name, reduce_layer)
    cb = ActivationCallback(tmp_path, X[:2], "conv*", batch_size=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit(small_cnn(), [Start(), cb], epochs=2)
    ours = [str(w.message) for w in caught if issubclass(w.category, TbactvizWarning)]
    assert len(ours) == 1, ours
    assert "step 0: logging activations failed: ResourceExhaustedError" in ours[0]
    assert "out of memory while running the probe (batch_size=2)" in ours[0] and "does not fit" not in ours[0]
    assert len(history.history["loss"]) == 2 and cb.logged_steps == []
    cb = ActivationCallback(tmp_path / "raise", X[:2], "conv*", on_error="raise")
    with pytest.raises(tf.errors.ResourceExhaustedError):
        fit(small_cnn(), [Start(), cb], epochs=1)
