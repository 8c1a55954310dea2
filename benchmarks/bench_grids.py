"""Grids reduced on the device vs the naive pipeline, measured side by side in one run (TF backend).

Reference case (issue 11): keras.applications ResNet50V2(weights=None), 224x224x3, every layer with a 4-D
output (189 layers), 1 image (scikit-image's cat), TensorFlow backend.

* forward: the compiled single-output forward pass (``model.predict_on_batch``), the floor of every ratio.
* naive: ``benchmarks/bench_snapshot.py``'s naive pipeline: a multi-output ``predict_on_batch``, every
  channel at full size, standardized one channel at a time in numpy (Chollet's loop), 256 gray levels, one
  ``tf.summary.image`` (TensorFlow's PNG) per layer into a ``tf.summary`` writer.
* device, every channel: the same picture drawn by tbactviz's device path: one compiled probe
  (``ActivationExtractor.iter_batches(reduce=...)``) runs the forward pass and
  :func:`tbactviz.grids.quantize.grid_partial` for every layer (every channel, full size, standardize, 254
  levels); on the host :func:`tbactviz.grids.tiling.assemble`, palette PNG, one event record, flush.
* device, defaults: the logger's default drawing (64 channels, ``min_side=128``, side from the 4 MiB byte
  budget, 64 levels), plus on the device the per-layer figures and 30-bucket histogram counts of
  :mod:`tbactviz.stats.reductions`; on the host the figures, histograms, layout and PNGs, one event record.
* ``ActivationLogger.log`` with defaults, for reference.
* with ``--xla``: the same two device snapshots with each layer's reductions compiled by XLA
  (``tf.function(jit_compile=True)``); compiling 189 layers takes many minutes on 2 cores.

It also checks that the device grids equal the naive ones within one colour level (every channel's tile,
pixel for pixel; the naive pipeline adds 1e-5 to the std, which only matters for near-constant channels).

Usage: ``python benchmarks/bench_grids.py [--repeats 5] [--xla]``. Numbers depend on the machine; the
ratios are what to compare. Never asserted in tests.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))

import numpy as np
from bench_snapshot import (
    Naive,
    Ours,
    _machine,
    build_model,
    chollet_grid,
    four_d_layers,
    images,
    median_time,
)

from tbactviz.events import naming, tilemap
from tbactviz.events.writer import (
    EventWriter,
    histogram_value,
    image_value,
    scalar_value,
    tbactviz_tensor_value,
)
from tbactviz.grids import budget, tiling
from tbactviz.grids.plan import GridPlan, plan_grid
from tbactviz.grids.png import encode_indexed_png
from tbactviz.grids.quantize import grid_partial
from tbactviz.probe.extractor import ActivationExtractor
from tbactviz.stats import fold, reductions

_PARTIAL_KEYS = ("rows", "count", "total", "m2", "abs_sum", "small", "lo", "hi")


class DeviceSnapshot:
    """One compiled probe returning, per layer, the grid partial (and optionally figures and histograms)."""

    def __init__(
        self, model: Any, names: list[str], logdir: str, *, figures: bool, xla: bool = False, **drawing: Any
    ) -> None:
        self.extractor = ActivationExtractor(model, names)
        self.names, self.figures = names, figures
        self.pool = ThreadPoolExecutor(2)  # PNG encoding, as the logger's pool does
        shapes = {n: tuple(model.get_layer(n).output.shape[1:]) for n in names}
        if drawing.get("max_side") is None:
            drawing["max_side"] = budget.plan_max_side(
                list(shapes.values()),
                images=1,
                max_channels=drawing["max_channels"],
                levels=drawing["levels"],
            )
        self.max_side = drawing["max_side"]
        self.plans: dict[str, GridPlan] = {n: plan_grid(shapes[n], max_images=1, **drawing) for n in names}
        self.levels = drawing["levels"]
        self.layer_reduce = {n: functools.partial(self.reduce_layer, n) for n in names}
        if xla:  # TensorFlow: the reductions of each layer compiled by XLA (fused) inside the probe
            import tensorflow as tf

            self.layer_reduce = {n: tf.function(f, jit_compile=True) for n, f in self.layer_reduce.items()}
        self.writer = EventWriter(logdir)
        self.step = 0

    def reduce_layer(self, path: str, acts: Any) -> dict[str, Any]:
        result = grid_partial(acts, self.plans[path])
        if self.figures:
            part = reductions.partials(acts)
            lo, hi = reductions.device_bounds(part)
            result = {**result, **part, "hist": reductions.histogram_counts(acts, lo, hi, 30)}
        return result

    def reduce(self, outputs: dict[str, Any], extra: Any) -> dict[str, Any]:
        return {path: self.layer_reduce[path](acts) for path, acts in outputs.items()}

    def __call__(self, x: np.ndarray) -> None:
        values = []
        for chunk in self.extractor.iter_batches(x, reduce=self.reduce):
            for index, path in enumerate(self.names):
                result = chunk[path]
                drawn = tiling.assemble(result, self.plans[path], "viridis")
                indices, palette = drawn.indexed(self.levels)  # type: ignore[misc]
                pngs = [self.pool.submit(encode_indexed_png, i, palette) for i in indices]
                values.append((path, pngs, indices.shape[2], indices.shape[1]))
                if self.figures:
                    layout = tilemap.encode(
                        drawn.geometry, drawn.channels, index=index, count=len(self.names), images=1,
                        channels=self.plans[path].channels,
                    )  # fmt: skip
                    values.append(tbactviz_tensor_value(naming.layout_tag(path), layout, kind="layout"))
                    part = fold.merge(None, {k: result[k] for k in _PARTIAL_KEYS})
                    figures, _ = fold.finish(part)
                    for name in ("sparsity", "dead_channels"):
                        values.append(scalar_value(naming.scalar_tag(name, path), figures[name]))
                    lo, hi = fold.value_bounds(part)
                    rows = fold.histogram_rows(result["hist"], lo, hi)
                    values.append(histogram_value(naming.histogram_tag(path), rows))
        values = [
            image_value(naming.image_tag(v[0]), [f.result() for f in v[1]], v[2], v[3])
            if isinstance(v, tuple)
            else v
            for v in values
        ]
        self.writer.write(self.step, values)
        self.writer.flush()
        self.step += 1
        self.last = values


def naive_levels(model: Any, names: list[str], x: np.ndarray) -> dict[str, np.ndarray]:
    import keras

    probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
    return {n: chollet_grid(np.asarray(a)) for n, a in zip(names, probe.predict_on_batch(x), strict=True)}


def compare(model: Any, names: list[str], x: np.ndarray, device: DeviceSnapshot) -> dict[str, float]:
    """Level differences between the naive grids and the device's, channel tile by channel tile.

    Channels with a std below 1e-3 are counted apart: the naive pipeline divides by ``std + 1e-5``, which
    dims them (the device, like tile_activations, divides by the std).
    """
    naive = naive_levels(model, names, x)
    chunk = next(device.extractor.iter_batches(x, reduce=device.reduce))
    acts = device.extractor(x)
    worst, off, total, tiles, flat, worst_flat = 0, 0, 0, 0, 0, 0
    for path in names:
        plan = device.plans[path]
        codes = tiling.assemble(chunk[path], plan).indexed(device.levels)[0][0]  # type: ignore[index]
        grid = naive[path]
        size = grid.shape[0] // max(1, plan.channels // 16)
        want_index = (grid.astype(np.int64) * (device.levels - 1) + 127) // 255  # 256 levels -> palette
        for c in range(plan.channels):
            r, q = divmod(c, 16)
            want = want_index[r * size : (r + 1) * size, q * size : (q + 1) * size]
            rr, qq = divmod(c, plan.cols)
            top, left = rr * (plan.h + plan.pad), qq * (plan.w + plan.pad)
            got = codes[top : top + plan.h, left : left + plan.w]
            diff = np.abs(got.astype(np.int64) - want)
            tiles += 1
            if float(np.std(acts[path][0, ..., c])) < 1e-3:
                flat += 1
                worst_flat = max(worst_flat, int(diff.max()))
                continue
            worst = max(worst, int(diff.max()))
            off += int(np.count_nonzero(diff))
            total += diff.size
    return {"tiles": tiles, "worst": worst, "off": off / total, "flat": flat, "worst_flat": worst_flat}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--xla", action="store_true", help="also with XLA per layer (compiling takes many minutes)"
    )
    args = parser.parse_args()
    model = build_model()
    names = four_d_layers(model)
    x1 = images(1)
    root = tempfile.mkdtemp(prefix="tbactviz-grids-")
    print(f"machine: {_machine()}")
    print(f"reference: ResNet50V2(weights=None) 224x224x3, {len(names)} layers with 4-D outputs, 1 image, TF")

    full = {"max_channels": 4096, "max_side": 1 << 20, "min_side": 0, "levels": 254}
    defaults = {"max_channels": 64, "max_side": None, "min_side": 128, "levels": 64}
    forward = median_time(lambda: model.predict_on_batch(x1), args.repeats * 2)
    naive = Naive(model, names, os.path.join(root, "naive"))
    t_naive = median_time(lambda: naive(x1), args.repeats)
    every = DeviceSnapshot(model, names, os.path.join(root, "every"), figures=False, **full)
    t_every = median_time(lambda: every(x1), args.repeats)
    dflt = DeviceSnapshot(model, names, os.path.join(root, "defaults"), figures=True, **defaults)
    t_dflt = median_time(lambda: dflt(x1), args.repeats)
    t_every_x = t_dflt_x = float("nan")
    if args.xla:
        every_x = DeviceSnapshot(model, names, os.path.join(root, "every_x"), figures=False, xla=True, **full)
        t_every_x = median_time(lambda: every_x(x1), args.repeats)
        dflt_dir = os.path.join(root, "dflt_x")
        dflt_x = DeviceSnapshot(model, names, dflt_dir, figures=True, xla=True, **defaults)
        t_dflt_x = median_time(lambda: dflt_x(x1), args.repeats)
    logger = Ours(model, names, os.path.join(root, "logger"))
    t_logger = median_time(lambda: logger(x1), args.repeats)
    logger.logger.close()

    print()
    print(f"{'pipeline':<58}{'median s':>10}{'x forward':>11}")
    rows = [
        ("forward pass (predict_on_batch)", forward),
        ("naive: every channel, full size, 256 levels, numpy + PNG", t_naive),
        ("device grids: every channel, full size, 254 levels", t_every),
        ("  same, reductions compiled by XLA (jit_compile)", t_every_x),
        (f"device snapshot: defaults (max_side {dflt.max_side}, figures, hists)", t_dflt),
        ("  same, reductions compiled by XLA (jit_compile)", t_dflt_x),
        ("ActivationLogger.log, defaults", t_logger),
    ]
    for label, t in rows:
        print(f"{label:<58}{t:>10.3f}{t / forward:>11.2f}")
    print(
        f"every channel at full size: device path {t_naive / t_every:.1f}x faster than naive, "
        f"{t_naive / t_every_x:.1f}x with XLA (target >= 6x)"
    )
    print(
        f"defaults: {t_dflt / forward:.2f}x the forward pass, {t_dflt_x / forward:.2f}x with XLA "
        "(target <= 4.5x)"
    )
    c = compare(model, names, x1, every)
    print(
        f"same grids: {c['tiles']} channel tiles; {c['tiles'] - c['flat']} with std >= 1e-3: max difference "
        f"{c['worst']} level(s), {c['off']:.3%} of pixels off by one (naive truncates, tbactviz rounds); "
        f"{c['flat']} near-constant: max difference {c['worst_flat']} (naive's std + 1e-5)"
    )
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
