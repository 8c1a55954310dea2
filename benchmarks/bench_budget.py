"""Bytes per logged step under the default byte budget (``max_side=None``, ``max_bytes_per_step=4 MiB``).

Reference case (as ``bench_snapshot.py``): ResNet50V2(weights=None), one 224x224 photograph (scikit-image's
cat), every layer with a 4-D output (189 layers). Printed for the budget and for the former fixed
``max_side=384``: the side chosen, the bytes of the event (one step), the largest grid; then the same for 3
large layers (``conv1_conv``, ``conv2_block1_out``, ``conv3_block1_out``), which should come out at full size.

Usage::

    python benchmarks/bench_budget.py
"""

from __future__ import annotations

import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np
from bench_snapshot import _machine, build_model, four_d_layers, images


def one_step(model, layers, x, **options):
    """(event file bytes, largest grid side, side chosen) of one logged step."""
    import tbactviz

    with tempfile.TemporaryDirectory() as tmp:
        with tbactviz.ActivationLogger(tmp, model, layers, max_images=1, **options) as log:
            log(x, step=0)
            path = log.event_file
            sides = list(log._drawing._sides.values())  # the sides the byte budget chose
        size = os.path.getsize(path)  # the whole file: header + one event
        from tensorboard.backend.event_processing import event_file_loader

        largest = 0
        for event in event_file_loader.EventFileLoader(path).Load():
            for value in event.summary.value:
                if value.tag.startswith("activations/"):
                    w, h = (int(v) for v in value.tensor.string_val[:2])
                    largest = max(largest, w, h)
    return size, largest, sides[0] if sides else options.get("max_side")


def main() -> None:
    print(_machine())
    model = build_model()
    x = images(1)
    every = four_d_layers(model)
    three = ["conv1_conv", "conv2_block1_out", "conv3_block1_out"]
    shapes = {name: tuple(model.get_layer(name).output.shape[1:]) for name in three}
    print(f"{'case':<44} {'max_side':>8} {'MiB/step':>9} {'largest grid':>13}")
    for label, layers, options in (
        (f"ResNet50V2, {len(every)} layers, budget (default)", every, {}),
        (f"ResNet50V2, {len(every)} layers, max_side=384", every, {"max_side": 384}),
        ("3 layers, budget (default)", three, {}),
        ("3 layers, max_side=384", three, {"max_side": 384}),
    ):
        size, largest, side = one_step(model, layers, x, **options)
        print(f"{label:<44} {side!s:>8} {size / 2**20:>9.2f} {largest:>10} px")
    full = {n: int(np.ceil(np.sqrt(min(s[-1], 64)))) * s[0] for n, s in shapes.items()}
    print(f"full-size grids of the 3 layers (tiles x map side, + separators): {full}")


if __name__ == "__main__":
    main()
