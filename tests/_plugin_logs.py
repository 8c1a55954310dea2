"""Real tbactviz logs for the Activations tab's tests (built once per test session, small and fast).

* ``nested``: a functional CNN with a nested ``block`` model, 3 layers logged (``conv1``,
  ``block/inner_conv``,
  ``conv2``) at steps 0..3 (weights shrunk between steps, so the figures move), 2 probe samples drawn, plus
  ``channels/conv1`` per-channel figures written beside them (as the probe will write them).
* ``posthoc``: the same model, one step (a post-hoc run: the tab shows a layer profile).
* ``demo/activations``: ``tbactviz demo`` for 2 epochs on 64 samples (beside Keras' own runs).
* :func:`synthetic_run`: a large run written directly with the event writer (no model), e.g. 189 layers x 200
  steps, for the tab's speed.
* :func:`histogram_run`: a small run with histograms of known counts (fixed and moving bucket edges), for the
  histogram over time.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np

LAYERS = ["conv1", "block/inner_conv", "conv2"]


def nested_model() -> Any:
    """The small functional CNN with a nested ``block`` model that the logs are written with."""
    import keras

    keras.utils.set_random_seed(0)
    inner = keras.Sequential(
        [
            keras.Input((8, 8, 4)),
            keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="inner_conv"),
        ],
        name="block",
    )
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(name="pool1")(keras.layers.ZeroPadding2D(1)(x))
    x = keras.layers.Conv2D(5, 3, name="conv2")(inner(x))
    return keras.Model(inputs, x)


@functools.cache
def build(root: str, demo: bool = True) -> str:
    """Write the ``nested``, ``posthoc`` (and ``demo``) runs under ``root`` once; return ``root``."""
    import tbactviz

    model = nested_model()
    probe = np.random.default_rng(0).random((2, 16, 16, 3)).astype("float32")
    with tbactviz.ActivationLogger(os.path.join(root, "nested"), model, LAYERS, max_images=2) as log:
        for step in range(4):
            log(probe, step)
            for w in model.trainable_weights:
                w.assign(w * 0.8)
    with tbactviz.ActivationLogger(os.path.join(root, "posthoc"), model, LAYERS) as log:
        log(probe, 0)
    if demo:
        from tbactviz.tools.demo import run_demo

        run_demo(root, epochs=2, samples=64, verbose=0)
    return root


def _grid(
    rng: np.random.Generator, index: int, count: int, side: int, plain: bool
) -> tuple[bytes, int, int, Any]:
    """One layer's grid PNG (16 channels of ``side`` px maps), its height, width and layout vector."""
    from tbactviz.events import tilemap
    from tbactviz.grids import tiling
    from tbactviz.grids.png import encode_indexed_png

    shape = (1, side, side, 16)
    acts = (np.ones(shape) * np.arange(16) if plain else rng.normal(size=shape)).astype(np.float32)
    result = tiling.tile_activations(acts, max_images=1)
    indices, palette = result.indexed(64)
    png = encode_indexed_png(indices[0], palette)
    layout = tilemap.encode(result.geometry, result.channels, index=index, count=count, images=1, channels=16)
    return png, indices.shape[1], indices.shape[2], layout


def synthetic_run(
    root: str | Path,
    layers: int = 189,
    steps: int = 50,
    side: int = 14,
    plain: bool = False,
    name: str = "resnet_like",
) -> str:
    """A run of ``layers`` x ``steps`` written straight with the event writer: grids, layouts, scalars.

    Every third layer is nested (``stage_k/conv_i``). Grids are real palette PNGs (4 x 4 tiles of ``side`` px
    maps), one per layer, reused at every step: random maps, or with ``plain`` one flat value per channel
    (a few hundred bytes a PNG, for runs of many steps). Returns the run directory.
    """
    from tbactviz.events import naming
    from tbactviz.events.writer import EventWriter, image_value, scalar_value, tbactviz_tensor_value

    run_dir = os.path.join(root, name)
    rng = np.random.default_rng(0)
    paths = [f"stage{i // 3}/conv{i}" if i % 3 == 0 else f"conv{i}" for i in range(layers)]
    drawn = [_grid(rng, i, layers, side, plain) for i in range(layers)]
    with EventWriter(run_dir) as writer:
        for step in range(steps):
            values = []
            for i, path in enumerate(paths):
                png, height, width, layout = drawn[i]
                values.append(image_value(naming.image_tag(path), [png], width, height))
                values.append(tbactviz_tensor_value(naming.layout_tag(path), layout, kind="layout"))
                dead = (i / layers) * (step / steps)
                for stat, value in (
                    ("dead_channels", dead),
                    ("sparsity", 0.3 + 0.5 * dead),
                    ("std", 1 - dead),
                ):
                    values.append(scalar_value(naming.scalar_tag(stat, path), value))
            writer.write(step, values)
    return run_dir


#: ``histo``'s layer ``fixed``: 8 buckets on [-4, 4] at every step, count of bucket b at step s.
FIXED_EDGES = np.linspace(-4.0, 4.0, 9)
FIXED_COUNTS = np.array(
    [[0 if (b + s) % 3 == 0 else (b + 1) * (s + 1) for b in range(8)] for s in range(6)], float
)
#: ``histo``'s layer ``moving``: (left edge, right edge, count) rows per step: edges that move, a step with no
#: finite value (all zero) and a step whose values are all equal (zero-width buckets).
MOVING = [
    [[0.0, 1.0, 2.0], [1.0, 2.0, 4.0]],
    [[0.0, 2.0, 6.0], [2.0, 4.0, 2.0]],
    [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
    [[3.0, 3.0, 5.0], [3.0, 3.0, 0.0]],
    [[1.0, 2.0, 1.0], [2.0, 3.0, 1.0]],
    [[0.0, 2.0, 0.0], [2.0, 4.0, 8.0]],
]


def histogram_run(root: str | Path) -> str:
    """The run ``histo``: layers ``fixed`` and ``moving`` at steps 0..5, with grids, layouts, a scalar and
    the histograms :data:`FIXED_COUNTS` (on :data:`FIXED_EDGES`) and :data:`MOVING`. Returns its directory."""
    from tbactviz.events import naming
    from tbactviz.events.writer import (
        EventWriter,
        histogram_value,
        image_value,
        scalar_value,
        tbactviz_tensor_value,
    )

    run_dir = os.path.join(root, "histo")
    rng = np.random.default_rng(1)
    drawn = [_grid(rng, i, 2, 6, plain=True) for i in range(2)]
    with EventWriter(run_dir) as writer:
        for step in range(6):
            values = []
            for i, path in enumerate(("fixed", "moving")):
                png, height, width, layout = drawn[i]
                values.append(image_value(naming.image_tag(path), [png], width, height))
                values.append(tbactviz_tensor_value(naming.layout_tag(path), layout, kind="layout"))
                values.append(scalar_value(naming.scalar_tag("sparsity", path), step / 10))
            rows = np.column_stack([FIXED_EDGES[:-1], FIXED_EDGES[1:], FIXED_COUNTS[step]])
            values.append(histogram_value(naming.histogram_tag("fixed"), rows))
            values.append(histogram_value(naming.histogram_tag("moving"), np.array(MOVING[step])))
            writer.write(step, values)
    return run_dir
