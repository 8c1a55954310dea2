"""Snapshot cost of tbactviz vs the naive pipeline, measured side by side in one process.

Reference case: keras.applications ResNet50V2(weights=None), 224x224x3, every layer with a 4-D output (189
layers, 119 MiB of float32 activations per image).

* forward: the compiled single-output forward pass (``model.predict_on_batch``), the floor.
* naive: a multi-output ``predict_on_batch``, Chollet's per-channel Python-loop tiling (every channel, 16 per
  row), one ``tf.summary.image`` per layer with TensorFlow's default PNG encoding, into a ``tf.summary``
  file writer.
* tbactviz: ``ActivationLogger(...).log(x, step)`` with default settings (extract + tile + stats +
  histograms + encode + write + flush).

Printed: median of several runs for each, the ratios (tbactviz vs naive, tbactviz vs forward), event bytes per
step, and a scaling table (snapshot time vs number of layers and vs probe batch size). The peak-memory figure
runs each pipeline in a fresh subprocess (``--memory``), sampling the RSS on a thread during the run.

Usage::

    python benchmarks/bench_snapshot.py              # timings, bytes, scaling (a few minutes)
    python benchmarks/bench_snapshot.py --memory     # + peak RSS growth for a 64-image probe
    python benchmarks/bench_snapshot.py --quick      # fewer repeats, no scaling table
    python benchmarks/bench_snapshot.py --backends   # + the snapshot's ratio on JAX and PyTorch
    python benchmarks/bench_snapshot.py --compile    # first snapshot vs first predict_on_batch, on JAX

* tbactviz, full: every channel at full size and 254 levels (the naive pipeline's output: same layers,
  channels, sizes and levels; tbactviz also writes histograms and figures, the naive pipeline does not).
* backends: each backend in a subprocess (``KERAS_BACKEND``): the snapshot with defaults vs that backend's
  own compiled forward pass (``predict_on_batch``), printed next to TensorFlow's.

The device each backend computes on is printed (a GPU when one is visible), with the bytes that leave it per
snapshot (what the compiled probe returns) next to the size of the activations they summarize.

* compile (``--compile [BACKEND]``, default jax): in a fresh process, the model's first ``predict_on_batch``
  and then the logger's first ``log`` (defaults, 1 image), each including its compiles (JAX: XLA compiles
  counted from ``jax._src.monitoring`` duration events whose names contain ``backend_compile``), their ratio,
  the compiles of a second ``log``, and the arrays it converts to numpy (on a GPU, each is one copy off the
  device).

Numbers depend on the machine; the ratios are what to compare. Never asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from _rss import PeakRss, current_rss_mib


def _machine() -> str:
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        machine = platform.processor() or platform.machine()
        return f"{machine}, {os.cpu_count()} cores, Keras {keras.__version__}"

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}, "
        f"numpy {np.__version__}"
    )


def device_name() -> str:
    """Where the active Keras backend computes: a GPU's name, or ``cpu``."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return f"gpu ({gpus[0].name})" if gpus else "cpu"
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return "cpu" if device.platform == "cpu" else f"{device.platform} ({device.device_kind})"
    import torch

    return f"gpu ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"


def moved_bytes(logger: Any, x: np.ndarray) -> tuple[int, int]:
    """``(bytes leaving the device per snapshot, bytes of the float32 activations they summarize)``."""
    chunks = list(logger.probe_chunks(x))
    moved = sum(part.nbytes for chunk in chunks for part in chunk.values())
    acts = sum(4 * int(np.prod(part.shape)) for chunk in chunks for part in chunk.values())
    return moved, acts


def build_model() -> Any:
    import keras

    keras.utils.set_random_seed(0)
    return keras.applications.ResNet50V2(weights=None, include_top=True, input_shape=(224, 224, 3))


def four_d_layers(model: Any) -> list[str]:
    import keras

    return [
        layer.name
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer) and len(layer.output.shape) == 4
    ]


def images(n: int) -> np.ndarray:
    """``n`` photographs: scikit-image's cat (offline), cropped to 224x224 at shifted offsets, in [-1, 1].

    Falls back to uniform noise when scikit-image is missing (noise compresses worse: more event bytes).
    """
    try:
        from skimage import data
    except ImportError:  # pragma: no cover
        return np.random.default_rng(0).uniform(-1, 1, (n, 224, 224, 3)).astype(np.float32)
    cat = data.chelsea().astype(np.float32) / 127.5 - 1.0  # (300, 451, 3), resnet_v2 preprocessing
    offsets = np.linspace(0, cat.shape[1] - 224, max(n, 1)).astype(int)
    return np.stack([cat[38:262, o : o + 224] for o in offsets[:n]])


def median_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (traces, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def paired_ratio(fn: Callable[[], object], base: Callable[[], object], repeats: int) -> tuple[float, float]:
    """``(median time of fn, median of the ratios fn / base)`` over ``repeats`` interleaved pairs.

    Each pair runs ``base`` then ``fn`` back to back, so a change of the machine's load between the two
    measurements (this machine is shared) moves both: the ratio is steadier than one of two medians.
    """
    fn(), base()  # warm-up
    times, ratios = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        base()
        t1 = time.perf_counter()
        fn()
        t2 = time.perf_counter()
        times.append(t2 - t1)
        ratios.append((t2 - t1) / (t1 - t0))
    return statistics.median(times), statistics.median(ratios)


def dir_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)


# -- the naive pipeline ---------------------------------------------------------------------------------


def chollet_grid(act: np.ndarray, images_per_row: int = 16) -> np.ndarray:
    """Chollet's tiling (Deep Learning with Python, 5.4.1): a Python loop over channels."""
    n_features = act.shape[-1]
    size = act.shape[1]
    n_cols = max(1, n_features // images_per_row)
    display = np.zeros((size * n_cols, images_per_row * size))
    for col in range(n_cols):
        for row in range(min(images_per_row, n_features)):
            channel = act[0, :, :, col * images_per_row + row].copy()
            channel -= channel.mean()
            channel /= channel.std() + 1e-5
            channel *= 64
            channel += 128
            display[col * size : (col + 1) * size, row * size : (row + 1) * size] = np.clip(channel, 0, 255)
    return display.astype("uint8")


class Naive:
    def __init__(self, model: Any, names: list[str], logdir: str) -> None:
        import keras
        import tensorflow as tf

        self.names = names
        self.probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
        self.writer = tf.summary.create_file_writer(logdir)
        self.step = 0

    def __call__(self, x: np.ndarray) -> None:
        import tensorflow as tf

        outs = self.probe.predict_on_batch(x)
        with self.writer.as_default():
            for name, act in zip(self.names, outs, strict=True):
                grid = chollet_grid(np.asarray(act))
                tf.summary.image(name, grid[None, :, :, None], step=self.step)
        self.writer.flush()
        self.step += 1


class Ours:
    def __init__(self, model: Any, names: list[str], logdir: str, **options: object) -> None:
        import tbactviz

        self.logger = tbactviz.ActivationLogger(logdir, model, layers=names, **options)
        self.step = 0

    def __call__(self, x: np.ndarray) -> None:
        self.logger.log(x, self.step)
        self.step += 1


# -- memory (subprocess) -----------------------------------------------------------------------------


def memory_child(which: str, n: int) -> None:
    model = build_model()
    names = four_d_layers(model)
    x = images(n)
    logdir = tempfile.mkdtemp()
    model.predict_on_batch(x[:1])  # TensorFlow's kernels and the model's forward pass, common to both
    before = current_rss_mib()
    with PeakRss() as rss:
        run = Naive(model, names, logdir) if which == "naive" else Ours(model, names, logdir)
        run(x)
    print(f"{rss.peak - before:.0f}")
    shutil.rmtree(logdir, ignore_errors=True)


def memory_figure(which: str, n: int) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", which, "--n", str(n)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(out.strip().splitlines()[-1])


# -- main ------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="3 repeats, no scaling table")
    parser.add_argument("--memory", action="store_true", help="also measure peak RSS growth (64 images)")
    parser.add_argument("--memory-child", choices=["naive", "tbactviz"], help=argparse.SUPPRESS)
    parser.add_argument("--backends", action="store_true", help="also the ratio on jax and torch")
    parser.add_argument("--backend-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=64, help=argparse.SUPPRESS)
    parser.add_argument(
        "--compile",
        nargs="?",
        const="jax",
        choices=["jax", "tensorflow", "torch"],
        help="first snapshot vs first predict_on_batch, compiles included (default backend: jax)",
    )
    parser.add_argument("--compile-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compile_child:
        compile_child()
        return
    if args.compile:
        env = {**os.environ, "KERAS_BACKEND": args.compile}
        subprocess.run([sys.executable, __file__, "--compile-child"], env=env, check=True)
        return
    if args.memory_child:
        memory_child(args.memory_child, args.n)
        return
    repeats = 3 if args.quick else args.repeats
    if args.backend_child:
        backend_child(repeats)
        return

    model = build_model()
    names = four_d_layers(model)
    x1 = images(1)
    root = tempfile.mkdtemp(prefix="tbactviz-bench-")
    print(f"machine: {_machine()}")
    print(f"reference: ResNet50V2(weights=None) 224x224x3, {len(names)} layers with 4-D outputs, 1 image")

    forward = median_time(lambda: model.predict_on_batch(x1), repeats * 2)
    naive = Naive(model, names, os.path.join(root, "naive"))
    t_naive = median_time(lambda: naive(x1), repeats)
    naive_bytes = dir_bytes(os.path.join(root, "naive")) / naive.step
    ours = Ours(model, names, os.path.join(root, "ours"))
    pairs = max(9, 3 * repeats)
    t_ours, ratio = paired_ratio(lambda: ours(x1), lambda: model.predict_on_batch(x1), pairs)
    ours.logger.close()
    ours_bytes = dir_bytes(os.path.join(root, "ours")) / ours.step

    print()
    print(f"{'pipeline':<34}{'median s':>10}{'x forward':>11}{'MiB/step':>10}")
    print(f"{'forward pass (predict_on_batch)':<34}{forward:>10.3f}{1:>11.1f}{'':>10}")
    print(
        f"{'naive (Chollet loop + tf.summary)':<34}{t_naive:>10.3f}{t_naive / forward:>11.1f}"
        f"{naive_bytes / 2**20:>10.2f}"
    )
    print(f"{'tbactviz (defaults)':<34}{t_ours:>10.3f}{ratio:>11.1f}{ours_bytes / 2**20:>10.2f}")
    full = Ours(model, names, os.path.join(root, "full"), max_channels=4096, max_side=1 << 15, levels=254)
    t_full = median_time(lambda: full(x1), repeats)
    full.logger.close()
    print(f"{'tbactviz (every channel, full, 254)':<34}{t_full:>10.3f}{t_full / forward:>11.1f}")
    print(f"speed-up tbactviz vs naive: {t_naive / t_ours:.1f}x (defaults), {t_naive / t_full:.1f}x (every")
    print("  channel at full size and 254 levels, the naive pipeline's output; target >= 6x)")
    print(
        f"tbactviz vs forward pass: {ratio:.1f}x   (target <= 4.5x; median of {pairs} interleaved pairs, "
        "each the snapshot right after a forward pass)"
    )
    probe = Ours(model, names, os.path.join(root, "moved"))
    moved, acts = moved_bytes(probe.logger, x1)
    probe.logger.close()
    print(
        f"device: {device_name()}; leaving the device per snapshot: {moved / 2**10:.0f} KiB "
        f"(the activations: {acts / 2**20:.0f} MiB)"
    )
    print(
        f"event bytes per step: {ours_bytes / 2**20:.2f} MiB   (target <= 4 MiB; naive "
        f"{naive_bytes / 2**20:.2f} MiB)"
    )

    if not args.quick:
        print()
        print("scaling (tbactviz defaults, median s per snapshot):")
        print(f"{'layers':>8}{'s':>9}{'x forward':>11}")
        for k in (10, 50, 100, len(names)):
            chosen = names[:: max(1, len(names) // k)][:k]
            run = Ours(model, chosen, os.path.join(root, f"layers{k}"))
            t = median_time(lambda run=run: run(x1), repeats)
            run.logger.close()
            print(f"{len(chosen):>8}{t:>9.3f}{t / forward:>11.1f}")
        print(f"{'batch':>8}{'s':>9}{'s/image':>11}")
        for n in (1, 4, 16):
            xn = images(n)
            run = Ours(model, names, os.path.join(root, f"batch{n}"))
            t = median_time(lambda run=run, xn=xn: run(xn), max(1, repeats // 2))
            run.logger.close()
            print(f"{n:>8}{t:>9.3f}{t / n:>11.3f}")

    if args.memory:
        print()
        for which in ("tbactviz", "naive"):
            mib = memory_figure(which, args.n)
            print(
                f"peak RSS growth, {which}, {args.n} images: {mib:.0f} MiB"
                + ("   (target <= 512 MiB)" if which == "tbactviz" else "")
            )
    if args.backends:
        print()
        print(f"{'backend':<12}{'forward s':>11}{'snapshot s':>12}{'x forward':>11}  device")
        print(f"{'tensorflow':<12}{forward:>11.3f}{t_ours:>12.3f}{ratio:>11.1f}  {device_name()}")
        for backend in ("jax", "torch"):
            env = {**os.environ, "KERAS_BACKEND": backend}
            proc = subprocess.run(
                [sys.executable, __file__, "--backend-child", "--repeats", str(repeats)],
                env=env,
                capture_output=True,
                text=True,
            )
            if proc.returncode:
                print(f"{backend:<12}failed: {proc.stderr.strip().splitlines()[-1:]}")
                continue
            f_s, o_s, r_s, device = proc.stdout.strip().splitlines()[-1].split(" ", 3)
            forward_s, snapshot_s, ratio = float(f_s), float(o_s), float(r_s)
            print(f"{backend:<12}{forward_s:>11.3f}{snapshot_s:>12.3f}{ratio:>11.1f}  {device}")
    shutil.rmtree(root, ignore_errors=True)


def backend_child(repeats: int) -> None:
    """On the backend of KERAS_BACKEND: print 'forward_s snapshot_s ratio device' (defaults, 1 image; the
    ratio is the median over interleaved pairs, :func:`paired_ratio`)."""
    model = build_model()
    names = four_d_layers(model)
    x1 = images(1)
    root = tempfile.mkdtemp(prefix="tbactviz-bench-")
    forward = median_time(lambda: model.predict_on_batch(x1), repeats * 2)
    ours = Ours(model, names, root)
    t_ours, ratio = paired_ratio(lambda: ours(x1), lambda: model.predict_on_batch(x1), max(9, 3 * repeats))
    ours.logger.close()
    shutil.rmtree(root, ignore_errors=True)
    print(f"{forward} {t_ours} {ratio} {device_name()}")


def compile_child() -> None:
    """In a fresh process: the first ``predict_on_batch`` and the first snapshot, compiles included."""
    import keras

    compiles: list[float] = []
    if keras.backend.backend() == "jax":
        from jax._src import monitoring

        def listen(name: str, seconds: float, **kwargs: object) -> None:
            if "backend_compile" in name:
                compiles.append(seconds)

        monitoring.register_event_duration_secs_listener(listen)
    model = build_model()
    names = four_d_layers(model)
    x1 = images(1)
    root = tempfile.mkdtemp(prefix="tbactviz-bench-")
    compiles.clear()  # the weights' initializers, compiled while the model was built
    t0 = time.perf_counter()
    model.predict_on_batch(x1)
    first_predict = time.perf_counter() - t0
    predict_compiles, predict_compile_s = len(compiles), sum(compiles)
    compiles.clear()
    ours = Ours(model, names, root)
    t0 = time.perf_counter()
    ours(x1)
    first_snapshot = time.perf_counter() - t0
    snapshot_compiles, snapshot_compile_s = len(compiles), sum(compiles)
    compiles.clear()
    from tbactviz.model import compiled

    real, copies = compiled.to_numpy, [0]

    def counted(tensor: Any) -> Any:  # every array the probe converts to numpy: a copy off a GPU
        copies[0] += not isinstance(tensor, np.ndarray)
        return real(tensor)

    compiled.to_numpy = counted  # type: ignore[assignment]
    t0 = time.perf_counter()
    ours(x1)
    second_snapshot = time.perf_counter() - t0
    compiled.to_numpy = real  # type: ignore[assignment]
    ours.logger.close()
    shutil.rmtree(root, ignore_errors=True)
    print(f"machine: {_machine()}; backend: {keras.backend.backend()}; device: {device_name()}")
    print(f"reference: ResNet50V2(weights=None) 224x224x3, {len(names)} layers with 4-D outputs, 1 image")
    print(
        f"first predict_on_batch: {first_predict:.2f} s ({predict_compiles} XLA compiles, "
        f"{predict_compile_s:.2f} s)"
    )
    print(
        f"first snapshot (log):   {first_snapshot:.2f} s ({snapshot_compiles} XLA compiles, "
        f"{snapshot_compile_s:.2f} s)"
    )
    print(f"second snapshot:        {second_snapshot:.2f} s ({len(compiles)} XLA compiles)")
    print(f"arrays converted to numpy per snapshot (one chunk; copies off a GPU): {copies[0]}")
    print(f"first snapshot / first predict_on_batch: {first_snapshot / first_predict:.1f}x (target <= 3x)")


if __name__ == "__main__":
    main()
