"""A snapshot's and the callback's figures on an accelerator, for every installed backend, in one command.

Each installed Keras backend (TensorFlow, JAX, PyTorch) runs in a child process of its own (``KERAS_BACKEND``
set before Keras is imported) under a time limit; each prints one JSON line per figure, as soon as it is
measured, and this process passes them on (a child that fails or runs out of time adds one line saying so).
Every line names its ``backend``, the ``device`` it computed on (a GPU's name, or ``cpu``), the ``figure``,
its ``value`` and ``unit``, and what was measured (``case``).

Probe figures: keras.applications ResNet50V2(weights=None), 224x224x3, 1 image (scikit-image's cat), every
layer with a 4-D output (189 layers), :class:`tbactviz.ActivationLogger` with its defaults.

=======================  ==================================================================================
figure                   what
=======================  ==================================================================================
``forward``              the backend's own forward pass (``model.predict_on_batch``), median seconds
``first_snapshot``       the first ``log`` of a new logger: tracing and compiling the probe included
                         (JAX: ``compiles`` and ``compile_s`` from ``jax.monitoring``'s backend_compile
                         events); then the second one (``second_s``, ``second_compiles``: 0 when cached)
``probe_chunks``         the device side of one snapshot (``logger.probe_chunks``: the forward pass with
                         the chosen layers captured, the reductions, the copies to the host), median seconds
``write_chunks``         the host side (``logger.write_chunks``: figures, tiles, PNGs, one event written)
``copies_per_chunk``     device-to-host copies per probe chunk, counted by wrapping the backend's conversions
                         (below) during one steady ``probe_chunks``
``bytes_copied``         bytes those copies brought to the host per snapshot (``returned_bytes``: what the
                         probe's chunks hold; ``activation_bytes``: the float32 activations summarized)
``fit_share_sync``,      the callback's share of a ``fit``: seconds in its hooks on the training thread over
``fit_share_async``      the fit's wall time (``ActivationCallback`` defaults, every epoch, 4 probe images,
                         ``async_write`` False / True); ResNet50V2(weights=None) 96x96x3, 10 classes, 2,048
                         samples, batch 64; ``baseline_fit_s`` is the same fit without the callback (the
                         train step compiled before by a warm-up fit)
=======================  ==================================================================================

Copies are counted generically, whatever the probe does: PyTorch: ``Tensor.cpu``, ``Tensor.to`` (to the
CPU), ``Tensor.copy_`` (into a CPU tensor), ``item``, ``tolist`` of a tensor on an accelerator; JAX:
``jax.device_get`` (one batched transfer per call, whatever it holds), and outside it each array fetched by
``numpy.asarray``/``numpy.array`` or ``__array__`` (``ArrayImpl._value``) not fetched before; TensorFlow:
``EagerTensor._numpy`` and ``numpy.asarray``/``numpy.array`` of an eager tensor. On a CPU (no accelerator)
every conversion to numpy is counted instead (on an accelerator each would be a copy), except TensorFlow's
zero-copy ``memoryview`` of a CPU tensor, which no Python call reveals (TensorFlow counts 0 there).

Usage::

    python benchmarks/bench_gpu.py                 # on a machine with a GPU: within 5 minutes
    python benchmarks/bench_gpu.py --quick         # small sizes, any machine (the test runs this)
    python benchmarks/bench_gpu.py --backends jax,torch --time-limit 280

``--quick``: ResNet50V2 at 32x32 with its first 24 4-D layers for the probe figures, a small CNN (32x32, 256
samples, 1 epoch) for the fit figures, 3 repeats: it checks the command, not the figures. Numbers depend on
the machine; never asserted in tests.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BACKENDS = ("tensorflow", "jax", "torch")
#: The whole command must finish within 5 minutes on one GPU; each backend gets its share of this.
DEFAULT_TIME_LIMIT_S = 280.0


# ==========================================================================================================
# The parent: one child per backend, lines passed on as they come


def _line(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def _run_child(backend: str, args: argparse.Namespace, limit_s: float) -> None:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, str(Path(__file__).resolve()), "--child", backend]
    if args.quick:
        command.append("--quick")
    with tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
        seen = {"device": None, "lines": 0}

        def relay() -> None:
            assert proc.stdout is not None
            for text in proc.stdout:
                try:
                    record = json.loads(text)
                except json.JSONDecodeError:
                    continue  # a library printing on stdout: not ours
                seen["device"] = record.get("device", seen["device"])
                seen["lines"] += 1
                print(json.dumps(record), flush=True)

        reader = threading.Thread(target=relay, daemon=True)
        reader.start()
        try:
            code = proc.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            reader.join(5)
            _line(
                backend=backend,
                device=seen["device"],
                figure="timeout",
                value=limit_s,
                unit="s",
                case=f"ran past its time limit after {seen['lines']} figure(s); the rest is missing",
            )
            return
        reader.join(30)
        if code != 0:
            stderr.seek(0)
            tail = [line for line in stderr.read().splitlines() if line.strip()][-3:]
            _line(
                backend=backend,
                device=seen["device"],
                figure="error",
                value=code,
                unit="exit status",
                case=" | ".join(tail),
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (any machine, a few minutes)")
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help="comma-separated, among tensorflow,jax,torch"
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=DEFAULT_TIME_LIMIT_S,
        help=f"seconds for all backends together, shared equally (default {DEFAULT_TIME_LIMIT_S:.0f})",
    )
    parser.add_argument("--child", choices=BACKENDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, quick=args.quick)
        return 0
    wanted = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(wanted) - set(BACKENDS))
    if unknown:
        parser.error(f"--backends={args.backends!r}: unknown {unknown}; choose among {', '.join(BACKENDS)}")
    installed = [b for b in wanted if importlib.util.find_spec(b) is not None]
    for backend in wanted:
        if backend not in installed:
            _line(backend=backend, device=None, figure="skipped", value=None, unit=None, case="not installed")
    for backend in installed:
        _run_child(backend, args, args.time_limit / len(installed))
    return 0


# ==========================================================================================================
# The child: the figures of one backend


class CopyCounter:
    """Counts device-to-host copies (and their bytes) by wrapping the active backend's conversions.

    Args:
        backend: ``keras.backend.backend()``.
        on_host: No accelerator: count every conversion to numpy (each would be a copy on one).
    """

    def __init__(self, backend: str, on_host: bool) -> None:
        self.backend, self.on_host = backend, on_host
        self.copies = 0
        self.bytes = 0
        self._inside = threading.local()

    def _count(self, nbytes: int) -> None:
        self.copies += 1
        self.bytes += int(nbytes)

    @contextlib.contextmanager
    def _guard(self) -> Iterator[bool]:
        """True when this is the outermost counted call (nested conversions are part of it)."""
        outer = not getattr(self._inside, "depth", 0)
        self._inside.depth = getattr(self._inside, "depth", 0) + 1
        try:
            yield outer
        finally:
            self._inside.depth -= 1

    @contextlib.contextmanager
    def counting(self) -> Iterator[CopyCounter]:
        patches = getattr(self, f"_patches_{self.backend}")()
        missing = object()  # inherited, not the class's own: removed again afterwards
        saved = [(owner, name, vars(owner).get(name, missing)) for owner, name, _ in patches]
        try:
            for owner, name, new in patches:
                setattr(owner, name, new)
            yield self
        finally:
            for owner, name, old in reversed(saved):
                if old is missing:
                    delattr(owner, name)
                else:
                    setattr(owner, name, old)

    def _patches_torch(self) -> list[tuple[Any, str, Any]]:
        import torch

        tensor = torch.Tensor
        cpu, to, copy_, numpy_ = tensor.cpu, tensor.to, tensor.copy_, tensor.numpy
        item, tolist = tensor.item, tensor.tolist
        copied: weakref.WeakSet[Any] = weakref.WeakSet()
        counter = self

        def nbytes(t: Any) -> int:
            return int(t.element_size() * t.nelement())

        def on_device(t: Any) -> bool:
            return t.device.type != "cpu"

        def wrapped_cpu(self: Any, *a: Any, **k: Any) -> Any:
            out = cpu(self, *a, **k)
            if on_device(self):
                counter._count(nbytes(self))
                copied.add(out)
            return out

        def wrapped_to(self: Any, *a: Any, **k: Any) -> Any:
            out = to(self, *a, **k)
            if on_device(self) and isinstance(out, torch.Tensor) and not on_device(out):
                counter._count(nbytes(self))
                copied.add(out)
            return out

        def wrapped_copy_(self: Any, src: Any, *a: Any, **k: Any) -> Any:
            if not on_device(self) and isinstance(src, torch.Tensor) and on_device(src):
                counter._count(nbytes(src))
            return copy_(self, src, *a, **k)

        def wrapped_numpy(self: Any, *a: Any, **k: Any) -> Any:
            if counter.on_host and self not in copied:
                counter._count(nbytes(self))
            return numpy_(self, *a, **k)

        def scalar(method: Callable[..., Any]) -> Callable[..., Any]:
            def wrapped(self: Any, *a: Any, **k: Any) -> Any:
                if counter.on_host or on_device(self):
                    counter._count(nbytes(self))
                return method(self, *a, **k)

            return wrapped

        return [
            (tensor, "cpu", wrapped_cpu),
            (tensor, "to", wrapped_to),
            (tensor, "copy_", wrapped_copy_),
            (tensor, "numpy", wrapped_numpy),
            (tensor, "item", scalar(item)),
            (tensor, "tolist", scalar(tolist)),
        ]

    def _patches_jax(self) -> list[tuple[Any, str, Any]]:
        import jax
        import numpy as np
        from jax._src import array as jax_array

        impl = jax_array.ArrayImpl
        device_get, value = jax.device_get, impl.__dict__["_value"]
        asarray, array = np.asarray, np.array
        counter = self

        def fetched(x: Any) -> bool:
            return getattr(x, "_npy_value", None) is not None

        def wrapped_device_get(x: Any) -> Any:
            with counter._guard() as outer:
                if outer:
                    leaves = [leaf for leaf in jax.tree_util.tree_leaves(x) if isinstance(leaf, jax.Array)]
                    if leaves:
                        counter._count(sum(leaf.nbytes for leaf in leaves if not fetched(leaf)))
                return device_get(x)

        def wrapped_value(self: Any) -> Any:
            with counter._guard() as outer:
                if outer and not fetched(self):
                    counter._count(self.nbytes)
                return value.fget(self)

        def numpy_function(function: Callable[..., Any]) -> Callable[..., Any]:
            def wrapped(obj: Any, *a: Any, **k: Any) -> Any:
                with counter._guard() as outer:
                    if outer and isinstance(obj, jax.Array) and not fetched(obj):
                        counter._count(obj.nbytes)
                    return function(obj, *a, **k)

            return wrapped

        return [
            (jax, "device_get", wrapped_device_get),
            (impl, "_value", property(wrapped_value)),
            (np, "asarray", numpy_function(asarray)),
            (np, "array", numpy_function(array)),
        ]

    def _patches_tensorflow(self) -> list[tuple[Any, str, Any]]:
        import numpy as np
        from tensorflow.python.framework import ops

        eager = ops._EagerTensorBase
        numpy_ = eager._numpy
        asarray, array = np.asarray, np.array
        counter = self

        def wrapped_numpy(self: Any) -> Any:
            with counter._guard() as outer:
                out = numpy_(self)
                if outer:
                    counter._count(getattr(out, "nbytes", 0))
                return out

        def numpy_function(function: Callable[..., Any]) -> Callable[..., Any]:
            def wrapped(obj: Any, *a: Any, **k: Any) -> Any:
                with counter._guard() as outer:
                    out = function(obj, *a, **k)
                    if outer and isinstance(obj, eager):
                        counter._count(getattr(out, "nbytes", 0))
                    return out

            return wrapped

        return [
            (eager, "_numpy", wrapped_numpy),
            (np, "asarray", numpy_function(asarray)),
            (np, "array", numpy_function(array)),
        ]


class CompileCounter:
    """JAX: compiles and their seconds, from ``jax.monitoring``'s backend_compile duration events."""

    def __init__(self) -> None:
        self.compiles = 0
        self.seconds = 0.0
        import jax

        jax.monitoring.register_event_duration_secs_listener(self._on_event)

    def _on_event(self, event: str, duration: float, **_: Any) -> None:
        if "backend_compile" in event:
            self.compiles += 1
            self.seconds += duration


def child(backend: str, *, quick: bool) -> None:
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    import keras
    import numpy as np
    from bench_snapshot import device_name, four_d_layers, images, median_time

    from tbactviz import ActivationLogger

    assert keras.backend.backend() == backend, (keras.backend.backend(), backend)
    device = device_name()
    on_host = device == "cpu"
    repeats = 3 if quick else 20
    side, max_layers = (32, 24) if quick else (224, None)

    def emit(figure: str, value: Any, unit: str | None, case: str, **extra: Any) -> None:
        _line(backend=backend, device=device, figure=figure, value=value, unit=unit, case=case, **extra)

    compiles = CompileCounter() if backend == "jax" else None
    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50V2(weights=None, input_shape=(side, side, 3))
    names = four_d_layers(model)[:max_layers]
    x = images(1) if side == 224 else images(1)[:, ::7, ::7][:, :side, :side]
    case = f"ResNet50V2(weights=None) {side}x{side}x3, 1 image, {len(names)} 4-D layers, logger defaults"

    # median_time compiles it once (warm-up) before timing
    emit(
        "forward", median_time(lambda: model.predict_on_batch(x), repeats * 2), "s", case, repeats=repeats * 2
    )

    with tempfile.TemporaryDirectory() as root:
        logger = ActivationLogger(os.path.join(root, "probe"), model, names)
        before = (compiles.compiles, compiles.seconds) if compiles else (None, None)
        t0 = time.perf_counter()
        logger.log(x, step=0)
        first = time.perf_counter() - t0
        after = (compiles.compiles, compiles.seconds) if compiles else (None, None)
        t0 = time.perf_counter()
        logger.log(x, step=1)
        second = time.perf_counter() - t0
        extra: dict[str, Any] = {"second_s": second}
        if compiles is not None:
            extra |= {
                "compiles": after[0] - before[0],
                "compile_s": round(after[1] - before[1], 4),
                "second_compiles": compiles.compiles - after[0],
            }
        emit("first_snapshot", first, "s", case, **extra)

        probe_times, write_times = [], []
        for step in range(2, 2 + repeats):
            t0 = time.perf_counter()
            chunks = list(logger.probe_chunks(x))
            probe_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            logger.write_chunks(iter(chunks), len(x), step)
            write_times.append(time.perf_counter() - t0)
        emit("probe_chunks", statistics.median(probe_times), "s", case, repeats=repeats)
        emit("write_chunks", statistics.median(write_times), "s", case, repeats=repeats)

        counter = CopyCounter(backend, on_host)
        with counter.counting():
            chunks = list(logger.probe_chunks(x))
        counted = "conversions to numpy (no accelerator)" if on_host else "device-to-host copies"
        if on_host and backend == "tensorflow":
            counted += "; zero-copy memoryviews of CPU tensors not counted"
        emit(
            "copies_per_chunk",
            counter.copies / max(1, len(chunks)),
            "copies",
            f"{case}; {counted}",
            copies=counter.copies,
            chunks=len(chunks),
        )
        returned = sum(part.nbytes for chunk in chunks for part in chunk.values())
        activations = sum(4 * int(np.prod(part.shape)) for chunk in chunks for part in chunk.values())
        emit(
            "bytes_copied",
            counter.bytes,
            "bytes",
            f"{case}; {counted}",
            returned_bytes=returned,
            activation_bytes=activations,
        )
        logger.close()

        fit_share(backend, quick, root, emit)


def fit_share(backend: str, quick: bool, root: str, emit: Callable[..., None]) -> None:
    """The callback's share of a ``fit`` (sync and async) against the same fit without it."""
    import keras
    import numpy as np
    from bench_callback import HookTimer, small_cnn

    from tbactviz import ActivationCallback

    rng = np.random.default_rng(0)
    if quick:
        model, side, samples, epochs = small_cnn(), 32, 256, 1
        case = f"small CNN 32x32x3 (4 conv layers), 10 classes, {samples} samples, batch 64, {epochs} epoch"
    else:
        keras.utils.set_random_seed(0)
        model = keras.applications.ResNet50V2(weights=None, input_shape=(96, 96, 3), classes=10)
        model.compile("adam", "sparse_categorical_crossentropy")
        side, samples, epochs = 96, 2048, 2
        case = f"ResNet50V2(weights=None) 96x96x3, 10 classes, {samples} samples, batch 64, {epochs} epochs"
    case += ", callback defaults, every epoch, 4 probe images"
    x = rng.random((samples, side, side, 3), dtype=np.float32)
    y = rng.integers(0, 10, samples)
    model.fit(x[:128], y[:128], batch_size=64, epochs=1, verbose=0)  # the train step compiled once
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=64, epochs=epochs, verbose=0)
    baseline = time.perf_counter() - t0
    for mode in ("sync", "async"):
        callback = ActivationCallback(
            os.path.join(root, f"fit_{mode}"), x[:4], every_n_epochs=1, async_write=mode == "async"
        )
        timer = HookTimer(callback)
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=64, epochs=epochs, verbose=0, callbacks=[callback])
        wall = time.perf_counter() - t0
        emit(
            f"fit_share_{mode}",
            timer.total / wall,
            "fraction",
            case,
            fit_s=wall,
            in_callback_s=timer.total,
            steady_s=timer.steady,
            baseline_fit_s=baseline,
            logged_steps=callback.logged_steps,
        )


if __name__ == "__main__":
    raise SystemExit(main())
