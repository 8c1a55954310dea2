"""One backend's run of the logger, the callback and the CLI, for tests/test_backends.py.

Usage: ``KERAS_BACKEND=<name> python _backend_run.py WORKDIR OUTDIR``. WORKDIR holds ``cnn.keras``,
``nested.keras`` (saved by the test on the TensorFlow backend, so every backend runs the same weights),
``probe.npy``, ``x.npy`` and ``y.npy``. Events go to ``OUTDIR/<model>/<logger|callback|cli>``. Then the
probe raises the backend's own out-of-memory exception during ``fit`` (events to a directory of their own).
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

import tbactviz
from tbactviz import cli

LAYERS = {"cnn": ["c1", "bn", "c2", "dense"], "nested": ["backbone/b1", "backbone/b2", "head"]}


def main(workdir: str, outdir: str) -> None:
    probe = np.load(os.path.join(workdir, "probe.npy"))
    x, y = np.load(os.path.join(workdir, "x.npy")), np.load(os.path.join(workdir, "y.npy"))
    for name, layers in LAYERS.items():
        path = os.path.join(workdir, f"{name}.keras")
        out = os.path.join(outdir, name)
        model = keras.saving.load_model(path)
        with tbactviz.ActivationLogger(os.path.join(out, "logger"), model, layers, batch_size=2) as log:
            log(probe, step=0)
        code = cli.main(
            [
                *("log", path, os.path.join(workdir, "probe.npy"), "--layers", ",".join(layers), "-q"),
                *("--logdir", os.path.join(out, "cli"), "--step", "3"),
            ]
        )
        assert code == 0, code
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        callback = tbactviz.ActivationCallback(
            os.path.join(out, "callback"), probe[:2], layers, every_n_epochs=1, on_error="raise"
        )
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[callback])
        assert callback.logged_steps == [0, 1, 2], callback.logged_steps
    check_out_of_memory(keras.saving.load_model(os.path.join(workdir, "cnn.keras")), probe, x, y)
    check_out_of_memory_in_the_reduction(
        keras.saving.load_model(os.path.join(workdir, "cnn.keras")), probe, x, y
    )
    check_copies_and_compiles(workdir, probe, x, y)
    check_programs_per_shape()
    print("backend", keras.backend.backend())


def oom_error() -> Exception:
    """The exception the active backend raises when a device runs out of memory."""
    backend = keras.backend.backend()
    if backend == "jax":
        from jax.errors import JaxRuntimeError  # jaxlib's XlaRuntimeError in older releases

        return JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.00GiB.")
    if backend == "torch":
        import torch

        return torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
    import tensorflow as tf

    return tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[2,10,10,6]")


def check_out_of_memory(model: Any, probe: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
    """Steps 0 and 1 run out of memory in the probe: one warning with the hint, fit goes on, 2 and 3 log."""
    real = tbactviz.ActivationLogger.probe_chunks
    oom = {"now": True}
    error = oom_error()

    def probe_chunks(self: Any, inputs: Any) -> Any:
        if oom["now"]:
            raise error
        yield from real(self, inputs)

    class MemoryFreed(keras.callbacks.Callback):  # before ours: the probe fits again from step 2 on
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            oom["now"] = epoch < 1

    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    tbactviz.ActivationLogger.probe_chunks = probe_chunks  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as logdir, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            callback = tbactviz.ActivationCallback(logdir, probe[:2], ["c1"], batch_size=2)
            history = model.fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[MemoryFreed(), callback])
    finally:
        tbactviz.ActivationLogger.probe_chunks = real  # type: ignore[method-assign]
    ours = [str(w.message) for w in caught if issubclass(w.category, tbactviz.TbactvizWarning)]
    assert len(ours) == 1, ours
    assert f"step 0: logging activations failed: {type(error).__name__}" in ours[0], ours[0]
    assert "out of memory while running the probe (batch_size=2): pass a smaller batch_size" in ours[0], ours[
        0
    ]
    assert len(history.history["loss"]) == 3 and callback.logged_steps == [2, 3], callback.logged_steps


def check_out_of_memory_in_the_reduction(model: Any, probe: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
    """The backend's out-of-memory error raised inside the compiled probe (where it reduces a layer): the
    hint, not "inputs do not fit the model"; the callback follows ``on_error`` (PyTorch's
    ``OutOfMemoryError`` is a ``RuntimeError``, which a forward pass raises for shapes that do not fit)."""
    from tbactviz.snapshot import runner

    real, error = runner.reduce_layer, oom_error()
    oom = {"now": False}

    def reduce_layer(*args: Any, **kwargs: Any) -> Any:
        if oom["now"]:
            raise error
        return real(*args, **kwargs)

    class Start(keras.callbacks.Callback):  # before ours: the probe's check passed, every step fails
        def on_train_begin(self, logs: Any = None) -> None:
            oom["now"] = True

    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    runner.reduce_layer = reduce_layer  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory() as logdir, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            callback = tbactviz.ActivationCallback(logdir, probe[:2], ["c1"], batch_size=2)
            history = model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[Start(), callback])
            ours = [str(w.message) for w in caught if issubclass(w.category, tbactviz.TbactvizWarning)]
            assert len(ours) == 1, ours
            assert "out of memory while running the probe (batch_size=2)" in ours[0], ours[0]
            assert "does not fit" not in ours[0], ours[0]
            assert len(history.history["loss"]) == 2 and callback.logged_steps == [], callback.logged_steps
            callback = tbactviz.ActivationCallback(logdir, probe[:2], ["c1"], on_error="raise")
            try:
                model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[Start(), callback])
            except type(error) as exc:
                assert not isinstance(exc, tbactviz.ProbeError), exc
            else:
                raise AssertionError("on_error='raise' did not raise the out-of-memory error")
    finally:
        runner.reduce_layer = real  # type: ignore[assignment]


def check_copies_and_compiles(workdir: str, probe: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
    """Per chunk, at most one copy off the device per dtype returned (the logger, the callback, the CLI);
    JAX: a second ``log()`` with the same shapes and a second ``fit()`` with the same callback compile
    nothing (XLA compiles counted from ``jax._src.monitoring`` events whose names contain
    ``backend_compile``)."""
    from tbactviz.model import compiled

    compiles: list[str] = []
    if keras.backend.backend() == "jax":
        from jax._src import monitoring

        def listen(name: str, seconds: float, **kwargs: Any) -> None:
            if "backend_compile" in name:
                compiles.append(name)

        monitoring.register_event_duration_secs_listener(listen)
    conversions = _count_conversions()
    path = os.path.join(workdir, "cnn.keras")
    model = keras.saving.load_model(path)
    layers = LAYERS["cnn"]
    with tempfile.TemporaryDirectory() as logdir:
        with tbactviz.ActivationLogger(logdir, model, layers) as log:
            log(probe, step=0)
            dtypes = {
                a.dtype.name for part in next(iter(log.probe_chunks(probe))).values() for a in _arrays(part)
            }
            before, conversions[0], compiles[:] = compiled.transfers(), 0, []
            log(probe, step=1)  # one chunk
            copies = compiled.transfers() - before
            assert copies <= len(dtypes) <= 3, (copies, dtypes)
            assert conversions[0] <= copies, conversions  # the backend's own conversions, counted too
            assert compiles == [], compiles
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        callback = tbactviz.ActivationCallback(os.path.join(logdir, "cb"), probe, layers, every_n_epochs=1)
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[callback])
        model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # Keras' own compiles for these epochs
        compiles[:] = []
        before = compiled.transfers()
        model.fit(x, y, batch_size=4, epochs=3, initial_epoch=1, verbose=0, callbacks=[callback])
        assert compiles == [], compiles  # the second fit() with the same callback
        assert callback.logged_steps == [0, 1, 2, 3], callback.logged_steps
        assert compiled.transfers() - before <= 2 * len(dtypes), compiled.transfers() - before  # 2 steps
        before = compiled.transfers()
        code = cli.main(
            [
                *("log", path, os.path.join(workdir, "probe.npy"), "--layers", ",".join(layers), "-q"),
                *("--logdir", os.path.join(logdir, "cli")),
            ]
        )
        assert code == 0 and compiled.transfers() - before <= len(dtypes), compiled.transfers() - before
    conversions.clear()


def check_programs_per_shape() -> None:
    """JAX: the logger's first snapshot compiles one reduction program per distinct layer shape, not one per
    layer: layers of outputs (6, 6, 64), (6, 6, 128) twice and (8, 8, 128) need 3; a second snapshot
    compiles nothing. XLA compiles counted from ``jax._src.monitoring`` events, by function name."""
    if keras.backend.backend() != "jax":
        return
    from jax._src import monitoring

    compiles: list[str] = []

    def listen(name: str, seconds: float, **kwargs: Any) -> None:
        if "backend_compile" in name:
            compiles.append(str(kwargs.get("fun_name")))

    monitoring.register_event_duration_secs_listener(listen)
    inputs = keras.Input((6, 6, 3))
    a = keras.layers.Conv2D(64, 1, name="a")(inputs)
    b = keras.layers.Conv2D(128, 1, name="b")(a)
    c = keras.layers.ReLU(name="c")(b)
    d = keras.layers.ZeroPadding2D(1, name="d")(c)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(d))
    probe = np.random.default_rng(0).normal(size=(2, 6, 6, 3)).astype("float32")
    with (
        tempfile.TemporaryDirectory() as logdir,
        tbactviz.ActivationLogger(logdir, model, ["a", "b", "c", "d"]) as log,
    ):
        compiles.clear()
        log(probe, step=0)
        assert compiles.count("jit(_reduce_one)") == 3, compiles
        compiles.clear()
        log(probe, step=1)
        assert compiles == [], compiles


def _arrays(part: Any) -> list[np.ndarray]:
    arrays = [*part.partials.values(), part.counts, part.raw, *(part.grid or {}).values()]
    return [np.asarray(a) for a in arrays if a is not None]


def _count_conversions() -> list[int]:
    """Count the backend's own device-to-host conversions where its array type can be wrapped (PyTorch's
    ``Tensor.cpu``; JAX's ``Array.__array__``); TensorFlow's are counted by ``compiled.transfers`` alone."""
    counter = [0]
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        real_cpu = torch.Tensor.cpu

        def cpu(self: Any, *args: Any, **kwargs: Any) -> Any:
            counter[0] += 1
            return real_cpu(self, *args, **kwargs)

        torch.Tensor.cpu = cpu  # type: ignore[method-assign]
    elif backend == "jax":
        from jax._src.array import ArrayImpl

        real_array = ArrayImpl.__array__

        def array(self: Any, *args: Any, **kwargs: Any) -> Any:
            counter[0] += 1
            return real_array(self, *args, **kwargs)

        ArrayImpl.__array__ = array  # type: ignore[method-assign]
    return counter


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
