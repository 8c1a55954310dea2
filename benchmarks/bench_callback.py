"""Overhead of ActivationCallback: share of ``fit`` wall time spent in the callback on the training thread.

A small CNN (4 conv layers, 32x32x3 inputs) is trained on synthetic data, logging every epoch all of its conv
layers on a few probe images, with three contenders built alike and run in interleaved rounds in one process:

* ``no callback``: the baseline fit time;
* ``sync``: ``ActivationCallback(..., async_write=False)``: forward pass, tiling, PNG encoding, statistics and
  writing all on the training thread;
* ``async``: ``ActivationCallback(..., async_write=True)``: only the forward pass on the training thread, the
  rest on the writer thread (``on_train_end`` waits for it to drain: counted).

The callback's hooks are wrapped with timers (only the hooks the callback defines, so Keras' dispatch is not
changed), and the time inside them is divided by the fit wall time of the same run. ``steady`` leaves out
``on_train_begin``/``on_train_end`` (building the logger, the one-time trace of the probe, step 0, draining):
the cost per epoch of a long training. ``fit vs baseline`` compares whole fit times (it also shows the writer
thread competing for CPU).

Run:
    python benchmarks/bench_callback.py [--epochs 5] [--samples 2048] [--probe 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from tbactviz import ActivationCallback

HOOKS = ("on_train_begin", "on_epoch_begin", "on_epoch_end", "on_train_end", "on_train_batch_end")


def small_cnn() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="conv3"),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="conv4"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


class HookTimer:
    """Wraps the hooks a callback defines with timers (seconds on the calling thread, per hook)."""

    def __init__(self, callback: keras.callbacks.Callback) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(HOOKS, 0.0)
        for name in HOOKS:
            if name == "on_train_batch_end" and name not in vars(callback):
                continue  # not overridden: wrapping it would switch Keras to synchronous batch hooks
            setattr(callback, name, self._wrap(name, getattr(callback, name)))

    def _wrap(self, name: str, hook: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return hook(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start

        return timed

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    @property
    def steady(self) -> float:
        return self.total - self.seconds["on_train_begin"] - self.seconds["on_train_end"]


def run(mode: str, x: np.ndarray, y: np.ndarray, args: argparse.Namespace, root: str) -> dict[str, float]:
    model = small_cnn()
    callbacks: list[keras.callbacks.Callback] = []
    timer = None
    if mode != "no callback":
        callback = ActivationCallback(
            tempfile.mkdtemp(dir=root),
            x[: args.probe],
            layers="conv*",
            every_n_epochs=1,
            async_write=mode == "async",
        )
        timer = HookTimer(callback)
        callbacks.append(callback)
    start = time.perf_counter()
    model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0, callbacks=callbacks)
    wall = time.perf_counter() - start
    out = {"wall": wall}
    if timer is not None:
        out |= {
            "total": timer.total,
            "steady": timer.steady,
            "begin": timer.seconds["on_train_begin"],
            "epoch_end": timer.seconds["on_epoch_end"],
            "end": timer.seconds["on_train_end"],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--probe", type=int, default=4, help="probe images")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.random((args.samples, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, args.samples)
    print(
        f"{platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}, keras "
        f"{keras.__version__}; small CNN, 4 conv layers logged every epoch on {args.probe} probe images; "
        f"{args.samples} samples, batch {args.batch_size}, {args.epochs} epochs, {args.repeats} rounds"
    )
    modes = ["no callback", "sync", "async"]
    results: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as root:
        small = max(args.batch_size * 2, args.probe)
        for mode in modes:  # warm-up: imports, first traces, thread pools
            run(mode, x[:small], y[:small], argparse.Namespace(**{**vars(args), "epochs": 1}), root)
        for _ in range(args.repeats):
            for mode in modes:
                results[mode].append(run(mode, x, y, args, root))

    def med(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in results[mode])

    base = med("no callback", "wall")
    print(
        f"\n{'contender':<12} {'fit s':>8} {'vs baseline':>12} {'in callback':>12} {'share':>8} "
        f"{'steady':>8} {'begin s':>8} {'per epoch ms':>13} {'end s':>7}"
    )
    print(f"{'no callback':<12} {base:8.2f} {'':>12}")
    for mode in ("sync", "async"):
        share = statistics.median(r["total"] / r["wall"] for r in results[mode])
        steady = statistics.median(r["steady"] / r["wall"] for r in results[mode])
        print(
            f"{mode:<12} {med(mode, 'wall'):8.2f} {med(mode, 'wall') / base - 1:+12.1%} "
            f"{med(mode, 'total'):11.3f}s {share:8.2%} {steady:8.2%} {med(mode, 'begin'):8.3f} "
            f"{1000 * med(mode, 'epoch_end') / args.epochs:13.1f} {med(mode, 'end'):7.3f}"
        )
    sync_s, async_s = med("sync", "total"), med("async", "total")
    print(f"\nasync/sync time in callback on the training thread: {async_s / sync_s:.2f}")


if __name__ == "__main__":
    main()
