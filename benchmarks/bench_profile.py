"""Where a snapshot's time goes: the device side (``probe_chunks``) and the host side (``write_chunks``).

ResNet50V2(weights=None), 224x224, all 189 layers with 4-D outputs, 1 image, on the active Keras backend;
medians, each also as a multiple of the compiled forward pass (``predict_on_batch``: the median ratio of 7
pairs, each run right after a forward pass), with and without histograms, grids and figures.

``--pieces`` adds what each piece of the device side costs inside the probe, each layer reduced where the
forward pass produces it (``probe.LayerReduce``), in interleaved rounds: the forward pass with the layers
captured and nothing reduced, one reduction pass per layer (a per-channel sum), the per-channel partial sums
(``reductions.partials``, fast path), partials and histogram counts, and the grids alone
(``quantize.grid_partial``, the default plans).

Usage: ``python benchmarks/bench_profile.py [--pieces]`` (one to two minutes).
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_snapshot import build_model, four_d_layers, images, median_time, paired_ratio

import tbactviz

VARIANTS: dict[str, dict[str, bool]] = {
    "defaults": {},
    "no histograms": {"histograms": False},
    "no grids": {"images": False},
    "nothing": {"images": False, "histograms": False, "stats": False},
}


def main() -> None:
    model = build_model()
    names = four_d_layers(model)
    x = images(1)

    def forward() -> None:
        model.predict_on_batch(x)

    found = {"forward pass": (median_time(forward, 10), 1.0)}
    for label, options in VARIANTS.items():
        log = tbactviz.ActivationLogger(tempfile.mkdtemp(), model, names, **options)
        chunks: list[object] = []

        def probe(log: tbactviz.ActivationLogger = log, chunks: list[object] = chunks) -> None:
            chunks[:] = list(log.probe_chunks(x))

        found[f"{label}: probe_chunks"] = paired_ratio(probe, forward, 7)

        def write(log: tbactviz.ActivationLogger = log, chunks: list[object] = chunks) -> None:
            log.write_chunks(chunks, 1, 0)  # type: ignore[arg-type]

        found[f"{label}: write_chunks"] = paired_ratio(write, forward, 7)
        log.close()
    extractor = tbactviz.ActivationLogger(tempfile.mkdtemp(), model, names).extractor
    found["raw activations (no reduce)"] = paired_ratio(lambda: extractor(x), forward, 7)
    print("medians; each ratio over 7 interleaved pairs (the part right after a forward pass):")
    for name, (seconds, ratio) in found.items():
        print(f"{name:<34}{seconds:8.3f} s{ratio:8.1f}x")


def pieces(model: Any, names: list[str], x: Any, rounds: int = 9) -> None:
    """The device side's pieces inside the probe (see the module docstring), medians of interleaved rounds."""
    from keras import ops

    from tbactviz.grids import quantize
    from tbactviz.model.compiled import LayerReduce
    from tbactviz.probe.extractor import ActivationExtractor
    from tbactviz.stats import reductions

    shapes = {name: tuple(model.get_layer(name).output.shape[1:]) for name in names}
    logger = tbactviz.ActivationLogger(tempfile.mkdtemp(), model, names)
    plans = logger._drawing.plans(shapes, 1)  # exactly the logger's default plans for a 1-image probe
    logger.close()

    def per_layer(fn: Callable[[str, Any], Any]) -> Callable[[], object]:
        extractor = ActivationExtractor(model, names)
        reduce = LayerReduce(lambda path, shape, extra: (path, None), lambda path, a, args: fn(path, a))
        return lambda: list(extractor.iter_batches(x, reduce=reduce))

    def with_histogram(path: str, a: Any) -> Any:
        part = reductions.partials(a, finite=True)
        lo, hi = reductions.device_bounds(part)
        return part, reductions.histogram_counts(a, lo, hi, 30, finite=True)

    def grid(path: str, a: Any) -> Any:
        return quantize.grid_partial(a, dataclasses.replace(plans[path], finite=True))

    runs = {
        "forward pass": lambda: model.predict_on_batch(x),
        "captured, nothing reduced": per_layer(lambda path, a: ops.sum(a[:1, :1])),
        "one sum per channel": per_layer(lambda path, a: ops.sum(ops.reshape(a, (-1, a.shape[-1])), axis=0)),
        "partials": per_layer(lambda path, a: reductions.partials(a, finite=True)),
        "partials + histogram": per_layer(with_histogram),
        "grids": per_layer(grid),
    }
    times: dict[str, list[float]] = {label: [] for label in runs}
    for run in runs.values():
        run()
    for _ in range(rounds):
        for label, run in runs.items():
            t0 = time.perf_counter()
            run()
            times[label].append(time.perf_counter() - t0)
    forward = statistics.median(times["forward pass"])
    print(f"pieces inside the probe, medians of {rounds} interleaved rounds:")
    for label, found in times.items():
        seconds = statistics.median(found)
        print(f"{label:<34}{seconds:8.3f} s{seconds / forward:8.1f}x")


if __name__ == "__main__":
    main()
    if "--pieces" in sys.argv[1:]:
        model = build_model()
        pieces(model, four_d_layers(model), images(1))
