"""The fast path equals simple reference implementations, pixel for pixel and value for value.

* tiling: a per-sample, per-channel Python loop (Chollet's recipe, written plainly) vs the vectorized
  :func:`tbactviz.grids.tiling.tile_activations`;
* stats: plain float64 numpy over the whole array vs the chunked one-pass
:func:`tbactviz.stats.arrays.layer_stats`;
* writing: the same images, histogram and scalar written by TensorFlow's own ``tf.summary`` ops into a
  ``tf.summary`` writer vs tbactviz's pre-serialized events, read back the same way.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from _events import read_events
from PIL import Image

from tbactviz import stats
from tbactviz.events.writer import EventWriter, histogram_value, image_value, scalar_value
from tbactviz.grids import tiling
from tbactviz.grids.colormaps import LUTS
from tbactviz.grids.png import encode_indexed_png

pytestmark = pytest.mark.filterwarnings("error")

SEPARATOR = np.array(tiling.SEPARATOR_COLOR, np.uint8)


def reference_levels(x: np.ndarray, mode: str, lo_hi: tuple[float, float] | None) -> np.ndarray:
    """Levels 0..255 of one channel map ``x`` (float32), the plain way, same arithmetic as documented."""
    x = x.astype(np.float32)
    if mode == "standardize":
        mean = np.float32(np.sum(x, dtype=np.float64) / x.size)
        centred = x - mean
        std = math.sqrt(float(np.sum(np.square(centred), dtype=np.float64)) / x.size)
        gain = np.float32(64.0 / std) if std > 0 else np.float32(0.0)
        levels = centred * gain + np.float32(128.0)
    else:
        lo, hi = lo_hi if lo_hi is not None else (float(x.min()), float(x.max()))
        gain = np.float32(255.0 / (hi - lo)) if hi > lo else np.float32(0.0)
        levels = (x - np.float32(lo)) * gain
    return np.rint(np.clip(levels, 0, 255)).astype(np.uint8)


def reference_grid(
    acts: np.ndarray,
    *,
    max_images: int,
    max_channels: int,
    normalize: str,
    value_range: tuple[float, float] | None = None,
    colormap: str = "viridis",
    up: int = 1,
) -> np.ndarray:
    """Grids (k, H, W, 3) of (N, H, W, C) activations: loops over samples and channels."""
    k = min(len(acts), max_images)
    n = min(acts.shape[-1], max_channels)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    h, w = acts.shape[1] * up, acts.shape[2] * up
    shared = None
    if normalize == "layer":
        drawn = acts[:k, ..., :n]
        shared = (float(drawn.min()), float(drawn.max()))
    elif normalize == "fixed":
        shared = value_range
    grids = np.empty((k, rows * (h + 1) - 1, cols * (w + 1) - 1, 3), np.uint8)
    for i in range(k):
        grids[i] = SEPARATOR
        for c in range(n):
            levels = reference_levels(acts[i, :, :, c], normalize, shared)
            tile = LUTS[colormap][np.kron(levels, np.ones((up, up), np.uint8))]
            r, q = divmod(c, cols)
            grids[i, r * (h + 1) : r * (h + 1) + h, q * (w + 1) : q * (w + 1) + w] = tile
    return grids


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("normalize", ["standardize", "minmax"])
def test_tiling_equals_the_reference_loop(seed: int, normalize: str) -> None:
    rng = np.random.default_rng(seed)
    acts = np.maximum(rng.standard_normal((3, 9, 11, 7)), 0).astype(np.float32) * rng.uniform(0.1, 10)
    acts[..., 3] = 0.0  # a dead channel
    acts[1, ..., 5] = 2.5  # a constant one
    got = tiling.tile_activations(acts, max_images=2, max_channels=6, normalize=normalize, min_side=0)
    want = reference_grid(acts, max_images=2, max_channels=6, normalize=normalize)
    np.testing.assert_array_equal(got.images, want)


@pytest.mark.parametrize(("normalize", "value_range"), [("layer", None), ("fixed", (-1.0, 3.0))])
def test_shared_scale_tiling_equals_the_reference_loop(
    normalize: str, value_range: tuple[float, float] | None
) -> None:
    rng = np.random.default_rng(7)
    acts = rng.integers(-8, 24, (2, 6, 5, 5)).astype(np.float32) / 8  # dyadic values: exact arithmetic
    got = tiling.tile_activations(acts, normalize=normalize, value_range=value_range, min_side=0)
    want = reference_grid(acts, max_images=3, max_channels=64, normalize=normalize, value_range=value_range)
    np.testing.assert_array_equal(got.images, want)


def test_upscaled_tiling_equals_the_reference_loop() -> None:
    acts = np.random.default_rng(8).standard_normal((1, 5, 5, 4)).astype(np.float32)
    got = tiling.tile_activations(acts, colormap="magma", min_side=40)
    want = reference_grid(
        acts, max_images=1, max_channels=64, normalize="standardize", colormap="magma", up=4
    )
    assert got.tile_shape == (20, 20)
    np.testing.assert_array_equal(got.images, want)


def test_downscaled_tiling_equals_a_block_mean_of_the_reference_levels() -> None:
    acts = np.random.default_rng(9).integers(0, 16, (1, 8, 8, 4)).astype(np.float32)  # dyadic means
    got = tiling.tile_activations(
        acts, normalize="fixed", value_range=(0.0, 16.0), colormap="gray", max_side=9
    )
    assert got.tile_shape == (4, 4)
    for c in range(4):
        x = acts[0, :, :, c]
        levels = np.clip(x * np.float32(255 / 16), 0, 255)
        blocks = levels.reshape(4, 2, 4, 2).mean(axis=(1, 3))
        r, q = divmod(c, 2)
        tile = got.images[0, r * 5 : r * 5 + 4, q * 5 : q * 5 + 4, 0]
        np.testing.assert_array_equal(tile, np.rint(blocks).astype(np.uint8))


@pytest.mark.parametrize("seed", range(3))
def test_stats_equal_plain_float64_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    acts = np.maximum(rng.standard_normal((4, 30, 30, 16)), 0).astype(np.float32)
    acts[..., 2] = 0.0
    acts[0, 0, 0, 5] = np.nan
    a64 = acts.astype(np.float64)
    finite = a64[np.isfinite(a64)]
    want = {
        "sparsity": np.count_nonzero(a64 == 0) / a64.size,
        "dead_channels": np.mean([np.all(a64[..., c] == 0) for c in range(16)]),
        "mean": finite.mean(),
        "std": finite.std(),
        "max_abs": np.abs(finite).max(),
        "nonfinite": 1.0,
        "dormant_fraction": stats.dormant_fraction(
            np.abs(np.where(np.isfinite(a64), a64, 0)).reshape(-1, 16).sum(axis=0),
            np.isfinite(a64).reshape(-1, 16).sum(axis=0),
        ),
    }
    got = stats.layer_stats(acts)
    assert list(got) == list(want)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, rel=1e-12, abs=1e-15), name


def test_events_equal_those_tensorflow_writes(tmp_path: Path) -> None:
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(10)
    grid = tiling.tile_activations(rng.standard_normal((2, 6, 6, 5)).astype(np.float32), min_side=0)
    rgb = grid.images
    data = rng.standard_normal(1000)

    writer = tf.summary.create_file_writer(str(tmp_path / "tf"))
    with writer.as_default():
        tf.summary.image("activations/a", rgb, step=3, max_outputs=2)
        tf.summary.histogram("histograms/a", data, step=3)
        tf.summary.scalar("sparsity/a", 0.25, step=3)
    writer.close()

    indices, palette = grid.indexed()
    pngs = [encode_indexed_png(i, palette) for i in indices]
    with EventWriter(tmp_path / "ours") as ours:
        ours.write(
            3,
            [
                image_value("activations/a", pngs, width=rgb.shape[2], height=rgb.shape[1]),
                histogram_value("histograms/a", stats.histogram_buckets(data)),
                scalar_value("sparsity/a", 0.25),
            ],
        )

    theirs = {(r.tag, r.step, r.plugin): r.value for r in read_events(tmp_path / "tf")}
    mine = {(r.tag, r.step, r.plugin): r.value for r in read_events(tmp_path / "ours")}
    assert theirs.keys() == mine.keys()
    (size_t, images_t), (size_m, images_m) = (
        theirs[("activations/a", 3, "images")],
        mine[("activations/a", 3, "images")],
    )
    assert size_t == size_m == (rgb.shape[2], rgb.shape[1])
    for t, m, idx, want in zip(images_t, images_m, indices, rgb, strict=True):
        np.testing.assert_array_equal(np.asarray(t.convert("RGB")), want)  # TensorFlow's PNG of the RGB grid
        np.testing.assert_array_equal(np.asarray(m.convert("RGB")), palette[idx])  # ours, palette PNG
        # the same picture: the palette holds the colormap at 254 levels, within one colormap step
        assert np.abs(np.asarray(m.convert("RGB")).astype(int) - want).max() <= 3
    np.testing.assert_array_equal(
        theirs[("histograms/a", 3, "histograms")], mine[("histograms/a", 3, "histograms")]
    )
    assert theirs[("sparsity/a", 3, "scalars")] == mine[("sparsity/a", 3, "scalars")] == 0.25


def test_png_decodes_to_exactly_the_grid() -> None:
    grid = tiling.tile_activations(np.random.default_rng(11).standard_normal((1, 7, 7, 9)), min_side=0)
    indices, palette = grid.indexed(tiling.MAX_LEVELS)
    decoded = Image.open(io.BytesIO(encode_indexed_png(indices[0], palette)))
    np.testing.assert_array_equal(np.asarray(decoded.convert("RGB")), palette[indices[0]])
