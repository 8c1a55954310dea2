"""Where a snapshot's time goes: the device side (``probe_chunks``) and the host side (``write_chunks``).

ResNet50V2(weights=None), 224x224, all 189 layers with 4-D outputs, 1 image, on the active Keras backend;
medians of 5 runs, each also as a multiple of the compiled forward pass (``predict_on_batch``), with and
without histograms, grids and figures.

Usage: ``python benchmarks/bench_profile.py`` (about a minute).
"""

from __future__ import annotations

import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_snapshot import build_model, four_d_layers, images, median_time

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
    forward = median_time(lambda: model.predict_on_batch(x), 10)
    found = {"forward pass": forward}
    for label, options in VARIANTS.items():
        log = tbactviz.ActivationLogger(tempfile.mkdtemp(), model, names, **options)
        chunks: list[object] = []

        def probe(log: tbactviz.ActivationLogger = log, chunks: list[object] = chunks) -> None:
            chunks[:] = list(log.probe_chunks(x))

        found[f"{label}: probe_chunks"] = median_time(probe, 5)

        def write(log: tbactviz.ActivationLogger = log, chunks: list[object] = chunks) -> None:
            log.write_chunks(chunks, 1, 0)  # type: ignore[arg-type]

        found[f"{label}: write_chunks"] = median_time(write, 5)
        log.close()
    extractor = tbactviz.ActivationLogger(tempfile.mkdtemp(), model, names).extractor
    found["raw activations (no reduce)"] = median_time(lambda: extractor(x), 5)
    for name, seconds in found.items():
        print(f"{name:<34}{seconds:8.3f} s{seconds / forward:8.1f}x")


if __name__ == "__main__":
    main()
