"""Tests of tbactviz.grids.tiling: feature maps of any rank -> uint8 grid images (pure numpy, fast)."""

from __future__ import annotations

import doctest
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tbactviz.grids import tiling
from tbactviz.grids.colormaps import LUTS
from tbactviz.grids.tiling import (
    CHANNEL_ORDERS,
    COLORMAPS,
    MARKER_COLOR,
    NORMALIZE_MODES,
    SEPARATOR_COLOR,
    TileResult,
    apply_colormap,
    grid_shape,
    tile_activations,
    value_range,
)

pytestmark = pytest.mark.filterwarnings("error")

MAGENTA = (255, 0, 255)
WHITE = 255


def gray(acts: Any, **kwargs: Any) -> TileResult:
    """Gray, unscaled drawing: pixel values are the levels themselves."""
    kwargs.setdefault("colormap", "gray")
    kwargs.setdefault("min_side", 0)
    return tile_activations(np.asarray(acts), **kwargs)


def tile(result: TileResult, index: int, sample: int = 0) -> np.ndarray:
    """Tile ``index`` (row-major) of a grid result, as (h, w, C)."""
    th, tw = result.tile_shape
    pad = _padding_of(result)
    r, c = divmod(index, result.cols)
    top, left = r * (th + pad), c * (tw + pad)
    return result.images[sample, top : top + th, left : left + tw]


def _padding_of(result: TileResult) -> int:
    if result.cols > 1:
        return (result.images.shape[2] - result.cols * result.tile_shape[1]) // (result.cols - 1)
    if result.rows > 1:
        return (result.images.shape[1] - result.rows * result.tile_shape[0]) // (result.rows - 1)
    return 0


def one_channel(values: Any) -> np.ndarray:
    """(1, h, w, 1) float32 activations from a 2-D list."""
    return np.asarray(values, dtype=np.float32)[None, :, :, None]


# ----------------------------------------------------------------------------------------------------------
# ranks and shapes


@pytest.mark.parametrize(
    ("shape", "rows", "cols", "n_channels"),
    [
        ((2,), 1, 1, 1),  # rank 1: one unit per sample
        ((2, 10), 3, 4, 10),  # Dense: cells 3 x 4
        ((2, 12, 5), 1, 1, 5),  # sequence: one heatmap
        ((2, 6, 6, 5), 2, 3, 5),
        ((2, 3, 6, 6, 5), 2, 3, 5),  # Conv3D: MIP over depth
        ((2, 2, 3, 6, 6, 5), 2, 3, 5),  # rank 6
    ],
)
def test_every_rank_draws(shape: tuple[int, ...], rows: int, cols: int, n_channels: int) -> None:
    acts = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    for normalize in NORMALIZE_MODES:
        vr = (-1.0, 1.0) if normalize == "fixed" else None
        result = tile_activations(acts, normalize=normalize, value_range=vr, order="activity")
        assert result.images.dtype == np.uint8
        assert result.images.shape == (2, *grid_shape(shape[1:]), 3)
        assert (result.rows, result.cols) == (rows, cols)
        assert result.channels.dtype == np.int64
        assert sorted(result.channels.tolist()) == list(range(n_channels))
        assert result.nonfinite == 0
        assert max(result.images.shape[1:3]) >= 128


def test_only_first_max_images_samples_are_read() -> None:
    acts = np.zeros((10, 4, 4, 2), np.float32)
    acts[5:] = np.nan  # beyond max_images: neither drawn nor counted
    result = tile_activations(acts, max_images=3)
    assert result.images.shape[0] == 3
    assert result.nonfinite == 0
    assert result.images.shape[-1] == 3


def test_empty_batch() -> None:
    result = tile_activations(np.zeros((0, 7, 7, 3), np.float32), colormap="gray")
    assert result.images.shape == (0, *grid_shape((7, 7, 3)), 1)
    assert result.channels.tolist() == [0, 1, 2]
    assert tile_activations(np.zeros((0, 5))).images.shape == (0, *grid_shape((5,)), 3)


@pytest.mark.parametrize(
    "shape", [(1, 0, 4, 2), (1, 4, 0, 2), (1, 4, 4, 0), (1, 0, 3), (1, 0), (1, 0, 4, 4, 1)]
)
def test_zero_size_dims_raise(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="dimension"):
        tile_activations(np.zeros(shape, np.float32))


def test_scalar_input_raises() -> None:
    with pytest.raises(ValueError, match="scalar"):
        tile_activations(np.float32(1.0))  # type: ignore[arg-type]


def test_input_is_not_modified() -> None:
    for shape in [(2, 5, 5, 1), (2, 5, 5, 3), (2, 7), (2, 9, 1), (2, 2, 5, 5, 1)]:
        acts = np.random.default_rng(1).normal(size=shape).astype(np.float32)
        acts.flat[0] = np.nan
        before = acts.copy()
        for normalize in ("standardize", "minmax", "layer"):
            tile_activations(acts, normalize=normalize)
        np.testing.assert_array_equal(acts, before)


# ----------------------------------------------------------------------------------------------------------
# normalization: exact pixel values


def test_standardize_exact_values() -> None:
    # mean 1, std 1 -> (x - 1) * 64 + 128
    result = gray(one_channel([[0, 0], [2, 2]]))
    np.testing.assert_array_equal(result.images[0, :, :, 0], [[64, 64], [192, 192]])


def test_standardize_is_per_sample_and_channel_and_clips() -> None:
    acts = np.zeros((2, 4, 4, 2), np.float32)
    acts[0, 0, 0, 0] = 100.0  # one outlier: z = sqrt(15) -> clipped to 255; the rest z = -1/sqrt(15)
    acts[0, :, :, 1] = 1000.0 + np.arange(16).reshape(4, 4)  # offset does not matter
    acts[1, :, :, 1] = np.arange(16).reshape(4, 4)
    result = gray(acts)
    t00, t01 = tile(result, 0, 0)[..., 0], tile(result, 1, 0)[..., 0]
    assert t00[0, 0] == 255
    assert np.all(t00.ravel()[1:] == round(128 - 64 / np.sqrt(15)))
    np.testing.assert_array_equal(t01, tile(result, 1, 1)[..., 0])  # same pattern, same picture
    ramp = np.arange(16.0)
    expected = np.clip(np.rint((ramp - ramp.mean()) / ramp.std() * 64 + 128), 0, 255)
    np.testing.assert_array_equal(t01.ravel(), expected)


def test_minmax_endpoints_and_middle() -> None:
    result = gray(one_channel([[1, 2], [3, 5]]), normalize="minmax")
    np.testing.assert_array_equal(result.images[0, :, :, 0], [[0, 64], [128, 255]])


def test_layer_uses_one_scale_for_all_channels_and_samples() -> None:
    acts = np.zeros((2, 1, 2, 2), np.float32)
    acts[0, 0, :, 0] = [0, 1]
    acts[0, 0, :, 1] = [0, 4]
    acts[1, 0, :, 0] = [0, 2]
    result = gray(acts, normalize="layer", padding=0)
    np.testing.assert_array_equal(result.images[0, 0, :, 0], [0, 64, 0, 255])
    np.testing.assert_array_equal(result.images[1, 0, :, 0], [0, 128, 0, 0])
    # minmax scales each channel of each sample on its own
    per_channel = gray(acts, normalize="minmax", padding=0)
    np.testing.assert_array_equal(per_channel.images[0, 0, :, 0], [0, 255, 0, 255])


def test_fixed_clips_to_value_range() -> None:
    result = gray(one_channel([[-5, 0, 5, 10, 20]]), normalize="fixed", value_range=(0, 10))
    np.testing.assert_array_equal(result.images[0, 0, :, 0], [0, 0, 128, 255, 255])


@pytest.mark.parametrize(("normalize", "level"), [("standardize", 128), ("minmax", 0), ("layer", 0)])
@pytest.mark.parametrize("constant", [0.0, 3.5, -1e30])
def test_constant_channel_is_uniform(normalize: str, level: int, constant: float) -> None:
    acts = np.full((1, 5, 5, 1), constant, np.float32)
    result = gray(acts, normalize=normalize)
    assert np.all(result.images == level)


def test_dead_channel_next_to_live_ones() -> None:
    acts = np.random.default_rng(2).normal(size=(1, 6, 6, 3)).astype(np.float32)
    acts[..., 1] = 0.0
    result = gray(acts, normalize="minmax")
    assert np.all(tile(result, 1) == 0)
    assert tile(result, 0).min() == 0 and tile(result, 0).max() == 255


# ----------------------------------------------------------------------------------------------------------
# non-finite values


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("normalize", NORMALIZE_MODES)
def test_nonfinite_drawn_magenta_and_excluded_from_stats(bad: float, normalize: str) -> None:
    acts = one_channel([[0, bad], [2, 2]])
    vr = (0.0, 2.0) if normalize == "fixed" else None
    result = tile_activations(acts, normalize=normalize, value_range=vr, colormap="gray", min_side=0)
    assert result.nonfinite == 1
    assert result.images.shape == (1, 2, 2, 3)  # gray becomes RGB when there is a non-finite value
    assert tuple(result.images[0, 0, 1]) == MAGENTA
    low, high = result.images[0, 0, 0], result.images[0, 1, 0]
    assert low[0] == low[1] == low[2] and high[0] == high[1] == high[2]
    if normalize in ("minmax", "layer", "fixed"):
        assert (low[0], high[0]) == (0, 255)  # the non-finite value did not stretch the range
    else:  # values 0, 2, 2: mean 4/3, std sqrt(8)/3
        std = np.sqrt(8) / 3
        assert low[0] == round((0 - 4 / 3) / std * 64 + 128)
        assert high[0] == round((2 - 4 / 3) / std * 64 + 128)


def test_all_nonfinite_channel_is_all_magenta() -> None:
    acts = np.ones((2, 4, 4, 3), np.float32)
    acts[..., 1] = np.nan
    acts[1, ..., 2] = np.inf
    result = tile_activations(acts, min_side=0)
    assert result.nonfinite == 16 * 2 + 16
    assert np.all(tile(result, 1, 0) == MAGENTA)
    assert np.all(tile(result, 2, 1) == MAGENTA)
    assert not np.any(np.all(tile(result, 0, 0) == MAGENTA, axis=-1))


def test_nonfinite_counts_all_channels_even_capped_ones() -> None:
    acts = np.ones((1, 3, 3, 10), np.float32)
    acts[..., 9] = np.nan
    result = tile_activations(acts, max_channels=2, colormap="gray")
    assert result.nonfinite == 9
    assert result.channels.tolist() == [0, 1]
    assert not np.any(np.all(result.images == MAGENTA, axis=-1))


def test_gray_without_nonfinite_is_single_channel() -> None:
    result = tile_activations(np.random.default_rng(3).normal(size=(2, 5, 5, 4)), colormap="gray")
    assert result.images.shape[-1] == 1


def test_colour_pixels_come_from_the_lut() -> None:
    acts = one_channel([[1, 2], [3, 5]])
    for name in COLORMAPS:
        result = tile_activations(acts, normalize="minmax", colormap=name, min_side=0)
        levels = gray(acts, normalize="minmax").images[0, :, :, 0]
        np.testing.assert_array_equal(result.images[0], LUTS[name][levels][:, :, : result.images.shape[-1]])


# ----------------------------------------------------------------------------------------------------------
# channel cap and order


def hot_pixel_channels(n: int, h: int = 5) -> np.ndarray:
    """(1, h, h, n): channel c is zero except value (c + 1) at flat position c (distinct pictures)."""
    acts = np.zeros((1, h, h, n), np.float32)
    for c in range(n):
        acts[0, c // h % h, c % h, c] = c + 1
    return acts


def test_index_order_caps_to_first_channels() -> None:
    result = gray(hot_pixel_channels(10), max_channels=4, normalize="minmax")
    assert result.channels.tolist() == [0, 1, 2, 3]
    assert (result.rows, result.cols) == (2, 2)
    for i in range(4):
        t = tile(result, i)[..., 0]
        assert t.ravel()[i] == 255 and t.sum() == 255


def test_activity_order_puts_strongest_channel_first() -> None:
    acts = hot_pixel_channels(6)
    acts[..., 2] *= 0.01  # channel 2 weakest, channel 5 strongest
    acts[0, :, :, 3] -= 50.0  # |a| counts: channel 3 becomes strongest
    result = gray(acts, max_channels=3, order="activity", normalize="minmax")
    assert result.channels.tolist() == [3, 5, 4]
    alone = gray(acts[..., 3:4], normalize="minmax")
    np.testing.assert_array_equal(tile(result, 0), alone.images[0])


def test_activity_order_ties_keep_index_order_and_ignore_nonfinite() -> None:
    acts = np.ones((2, 3, 3, 5), np.float32)
    acts[0, 0, 0, 4] = np.inf  # excluded from the mean |a|: channel 4 ties with the others
    acts[..., 1] = 2.0
    result = tile_activations(acts, order="activity")
    assert result.channels.tolist() == [1, 0, 2, 3, 4]


def test_max_channels_does_not_cap_dense_units() -> None:
    result = tile_activations(np.ones((1, 100)), max_channels=4, order="activity")
    assert result.channels.tolist() == list(range(100))
    assert (result.rows, result.cols) == (10, 10)


def test_rank3_cap_and_order_select_heatmap_columns() -> None:
    acts = np.zeros((1, 4, 6), np.float32)
    acts[0, :, 4] = [0, 1, 2, 3]
    result = gray(acts, max_channels=2, order="activity", normalize="minmax")
    assert result.channels.tolist() == [4, 0]
    assert result.images.shape == (1, 4, 2, 1)
    np.testing.assert_array_equal(result.images[0, :, 0, 0], [0, 85, 170, 255])
    np.testing.assert_array_equal(result.images[0, :, 1, 0], [0, 0, 0, 0])


# ----------------------------------------------------------------------------------------------------------
# layout: columns, padding, separators, empty slots


def test_columns_fixes_tiles_per_row() -> None:
    acts = np.ones((1, 4, 4, 5), np.float32)
    result = gray(acts, columns=2)
    assert (result.rows, result.cols) == (3, 2)
    assert result.images.shape[1:3] == (3 * 4 + 2, 2 * 4 + 1)
    wide = gray(acts, columns=8)  # capped at the number of tiles
    assert (wide.rows, wide.cols) == (1, 5)


@pytest.mark.parametrize("padding", [0, 1, 3])
def test_separators_between_tiles_only(padding: int) -> None:
    acts = np.zeros((1, 3, 3, 3), np.float32)  # 3 tiles in a 2 x 2 grid: one empty slot
    result = gray(acts, normalize="minmax", padding=padding)
    img = result.images[0, :, :, 0]
    assert img.shape == (6 + padding, 6 + padding)
    assert result.tile_shape == (3, 3)
    sep = slice(3, 3 + padding)
    assert np.all(img[sep, :] == WHITE) and np.all(img[:, sep] == WHITE)
    assert np.all(img[:3, :3] == 0) and np.all(img[:3, -3:] == 0) and np.all(img[-3:, :3] == 0)
    assert np.all(img[-3:, -3:] == WHITE)  # empty slot in separator colour
    assert img[0, 0] == 0 and img[-1, 0] == 0  # no outer border


def test_dense_cells_without_separators() -> None:
    result = gray(np.arange(10, dtype=np.float32)[None], normalize="minmax")
    img = result.images[0, :, :, 0]
    assert img.shape == (3, 4) and result.tile_shape == (1, 1)
    expected = [*np.rint(np.arange(10) / 9 * 255).tolist(), WHITE, WHITE]
    assert img.ravel().tolist() == expected


def test_dense_per_channel_modes_use_the_whole_vector() -> None:
    acts = np.array([[0.0, 2.0, 2.0, 0.0]], np.float32)
    np.testing.assert_array_equal(gray(acts).images[0, :, :, 0], [[64, 192], [192, 64]])
    np.testing.assert_array_equal(gray(acts, normalize="minmax").images[0, :, :, 0], [[0, 255], [255, 0]])


def test_rank1_is_one_unit_per_sample() -> None:
    result = gray(np.array([1.0, 5.0, -3.0]), normalize="layer")
    assert result.images.shape == (3, 1, 1, 1)
    assert result.images[:, 0, 0, 0].tolist() == [128, 255, 0]


def test_rank3_heatmap_is_time_by_channel() -> None:
    acts = np.zeros((1, 5, 2), np.float32)
    acts[0, :, 0] = np.arange(5)
    acts[0, :, 1] = -np.arange(5)
    result = gray(acts, normalize="minmax")
    assert (result.rows, result.cols, result.tile_shape) == (1, 1, (5, 2))
    np.testing.assert_array_equal(result.images[0, :, 0, 0], np.rint(np.arange(5) / 4 * 255))
    np.testing.assert_array_equal(result.images[0, :, 1, 0], np.rint(np.arange(5)[::-1] / 4 * 255))


def test_rank5_maximum_intensity_projection() -> None:
    acts = np.random.default_rng(4).normal(size=(2, 4, 5, 5, 3)).astype(np.float32)
    acts[0, 1, 0, 0, 0] = np.nan  # ignored: other depths have values
    acts[0, :, 1, 1, 0] = np.nan  # a whole column: marker
    result = tile_activations(acts, normalize="minmax", min_side=0)
    assert result.nonfinite == 5
    projected = np.fmax.reduce(acts, axis=1)
    reference = tile_activations(projected, normalize="minmax", min_side=0)
    np.testing.assert_array_equal(result.images, reference.images)
    assert tuple(tile(result, 0)[1, 1]) == MAGENTA
    assert tuple(tile(result, 0)[0, 0]) != MAGENTA


# ----------------------------------------------------------------------------------------------------------
# scaling


def test_upscale_to_min_side_is_nearest_neighbour() -> None:
    acts = np.random.default_rng(5).normal(size=(1, 4, 4, 1)).astype(np.float32)
    small = gray(acts).images[0, :, :, 0]
    big = tile_activations(acts, colormap="gray", min_side=128)
    assert big.images.shape == (1, 128, 128, 1) and big.tile_shape == (128, 128)
    np.testing.assert_array_equal(big.images[0, :, :, 0], np.kron(small, np.ones((32, 32), np.uint8)))


def test_upscale_keeps_separators_thin() -> None:
    result = tile_activations(np.ones((1, 4, 4, 4), np.float32), colormap="gray", min_side=128, padding=1)
    # 2 * 4 * u + 1 >= 128 -> u = 16
    assert result.tile_shape == (64, 64)
    assert result.images.shape[1:3] == (129, 129)
    img = result.images[0, :, :, 0]
    assert np.all(img[64] == WHITE) and np.all(img[:, 64] == WHITE)
    assert not np.any(np.all(img[:64] == WHITE, axis=1))


def test_upscale_never_exceeds_max_side() -> None:
    result = tile_activations(np.ones((1, 4, 4, 1), np.float32), min_side=128, max_side=100)
    assert result.images.shape[1:3] == (100, 100)
    assert tile_activations(np.ones((1, 4, 4, 1)), min_side=0).images.shape[1:3] == (4, 4)


def test_downscale_to_max_side_with_marker_survival() -> None:
    acts = np.random.default_rng(6).normal(size=(1, 300, 200, 4)).astype(np.float32)
    acts[0, 151, 77, 3] = np.nan
    result = tile_activations(acts, max_side=256, padding=2)
    height, width = result.images.shape[1:3]
    assert height <= 256 and width <= 256
    assert result.tile_shape == (100, 67)  # factor 3: ceil(300/3), ceil(200/3)
    t = tile(result, 3)
    assert tuple(t[151 // 3, 77 // 3]) == MAGENTA
    assert np.all(t == MAGENTA, axis=-1).sum() == 1
    img = result.images[0]
    assert np.all(img[100:102] == WHITE) and np.all(img[:, 67:69] == WHITE)


def test_downscale_is_block_mean_of_levels() -> None:
    acts = one_channel(np.arange(9.0).reshape(3, 3))
    result = gray(acts, normalize="minmax", max_side=2)
    levels = np.arange(9.0).reshape(3, 3) / 8 * 255
    expected = [
        [levels[:2, :2].mean(), levels[:2, 2].mean()],
        [levels[2, :2].mean(), levels[2, 2]],
    ]
    np.testing.assert_array_equal(result.images[0, :, :, 0], np.rint(expected))


def test_dense_downscale_keeps_empty_cells_white() -> None:
    acts = np.ones((1, 10), np.float32)  # 3 x 4 cells, two empty
    result = gray(acts, normalize="minmax", max_side=2)
    np.testing.assert_array_equal(result.images[0, :, :, 0], [[0, 0], [0, WHITE]])


def test_fallback_when_one_pixel_tiles_do_not_fit() -> None:
    acts = np.random.default_rng(7).normal(size=(1, 8, 8, 400)).astype(np.float32)
    result = tile_activations(acts, max_channels=400, padding=3, max_side=50)
    assert max(result.images.shape[1:3]) <= 50
    assert result.images.shape[1:3] == grid_shape((8, 8, 400), max_channels=400, padding=3, max_side=50)
    assert result.tile_shape == (1, 1)


# ----------------------------------------------------------------------------------------------------------
# grid_shape


GRID_SHAPES = [
    (), (1,), (7,), (130,), (5000,), (3, 1), (300, 2), (20, 100), (1, 1, 1), (28, 28, 32), (112, 112, 256),
    (7, 7, 2048), (1, 500, 3), (2, 3, 9, 9, 5), (2, 2, 2, 4, 4, 1), (1000, 9, 1),
]  # fmt: skip
GRID_OPTIONS = [
    {}, {"min_side": 0}, {"columns": 3, "padding": 0}, {"max_side": 64, "padding": 2},
    {"max_channels": 3, "min_side": 500, "max_side": 300}, {"max_side": 5, "padding": 4},
]  # fmt: skip
GRID_CASES = [(shape, opts) for shape in GRID_SHAPES for opts in GRID_OPTIONS]


@pytest.mark.parametrize(("shape", "opts"), GRID_CASES)
def test_grid_shape_matches_drawing(shape: tuple[int, ...], opts: dict[str, int]) -> None:
    predicted = grid_shape(shape, **opts)
    drawn = tile_activations(np.zeros((1, *shape), np.float32), **opts).images.shape[1:3]
    assert drawn == predicted
    assert max(predicted) <= opts.get("max_side", tiling.DEFAULT_MAX_SIDE)


def test_grid_shape_rejects_unknown_and_empty_dims() -> None:
    with pytest.raises(ValueError, match=r"dimension 1 is None"):
        grid_shape((28, None, 32))
    with pytest.raises(ValueError, match="no channels"):
        grid_shape((28, 28, 0))
    with pytest.raises(ValueError, match=r"shape\[0\]"):
        grid_shape((-1, 3))
    with pytest.raises(TypeError, match=r"shape\[0\]"):
        grid_shape((2.5, 3))  # type: ignore[arg-type]
    assert grid_shape((np.int64(4), 4, 1), min_side=0) == (4, 4)


# ----------------------------------------------------------------------------------------------------------
# value_range and apply_colormap


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1.0, np.nan, 3.0, -np.inf], (1.0, 3.0)),
        ([], (0.0, 1.0)),
        ([np.nan, np.inf], (0.0, 1.0)),
        ([2.5, 2.5], (2.5, 3.5)),
        ([0, 7], (0.0, 7.0)),
    ],
)
def test_value_range(values: list[float], expected: tuple[float, float]) -> None:
    got = value_range(np.asarray(values))
    assert got == expected
    assert all(type(v) is float for v in got)


def test_value_range_huge_constant_and_ints() -> None:
    lo, hi = value_range(np.array([1e300]))
    assert lo < hi and lo <= 1e300 <= hi
    lo, hi = value_range(np.array([np.finfo(np.float64).max]))
    assert lo < hi and np.isfinite(hi)
    assert value_range(np.array([[3, -2]], np.int8)) == (-2.0, 3.0)
    assert value_range(np.array([True, False])) == (0.0, 1.0)
    # one rule for a constant, the device's: (c, c + max(1, |c| 2**-20)); below where that overflows
    assert value_range(np.array([1e7])) == (1e7, 1e7 + 1e7 * 2.0**-20)
    f32_max = float(np.finfo(np.float32).max)
    below = float(np.float32(f32_max - f32_max * 2.0**-20))  # float32 input: a float32 range
    assert value_range(np.array([f32_max], np.float32)) == (below, f32_max)


def test_value_range_is_the_probes_measurement() -> None:
    """value_range runs grid_partial's own measurement (quantize.finite_range) eagerly: the device, in
    float32, gives the same range."""
    import keras

    from tbactviz.grids import quantize

    rng = np.random.default_rng(9)
    cases = [rng.normal(size=(2, 3, 3, 2)).astype(np.float32), np.full((1, 2, 2, 1), -3e38, np.float32)]
    cases.append(np.where(rng.random((2, 3, 3, 2)) < 0.5, np.nan, 1e38).astype(np.float32))
    for acts in cases:
        device = keras.ops.convert_to_numpy(quantize.finite_range(keras.ops.convert_to_tensor(acts)))
        assert value_range(acts) == tuple(float(v) for v in device)


def test_value_range_feeds_fixed_mode() -> None:
    acts = np.random.default_rng(8).normal(size=(2, 4, 4, 2)).astype(np.float32)
    result = gray(acts, normalize="fixed", value_range=value_range(acts))
    assert result.images.min() == 0 and result.images.max() == 255


def test_apply_colormap() -> None:
    values = np.array([[0, 128], [255, 3]], np.uint8)
    out = apply_colormap(values, "viridis")
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    assert tuple(out[0, 0]) == (68, 1, 84) and tuple(out[1, 0]) == (253, 231, 37)
    np.testing.assert_array_equal(apply_colormap(values, "gray")[..., 1], values)
    assert apply_colormap(np.zeros((0, 5), np.uint8), "magma").shape == (0, 5, 3)
    with pytest.raises(TypeError, match="uint8"):
        apply_colormap(values.astype(np.int16), "gray")
    with pytest.raises(ValueError, match=r"name='jet' is not valid; expected one of 'gray'"):
        apply_colormap(values, "jet")


# ----------------------------------------------------------------------------------------------------------
# dtypes


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int8, np.int64, np.uint8, np.bool_])
def test_dtypes(dtype: type) -> None:
    acts = (np.random.default_rng(9).normal(size=(2, 5, 5, 3)) * 3).astype(dtype)
    result = tile_activations(acts, normalize="minmax", min_side=0)
    reference = tile_activations(acts.astype(np.float64), normalize="minmax", min_side=0)
    np.testing.assert_array_equal(result.images, reference.images)


def test_bfloat16_like_dtype() -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    acts = np.random.default_rng(10).normal(size=(1, 4, 4, 2)).astype(ml_dtypes.bfloat16)
    acts[0, 0, 0, 0] = np.nan
    result = tile_activations(acts)
    assert result.nonfinite == 1 and result.images.dtype == np.uint8


def test_extreme_magnitudes_are_not_nonfinite() -> None:
    base = np.array([[[0.0, 1.0], [2.0, 3.0]]])[..., None]
    expected = gray(base, normalize="minmax").images
    for scale in (1e300, 1e-300, 1e38, 1e-40):
        for normalize in ("standardize", "minmax", "layer"):
            scaled = gray(base * scale, normalize=normalize)
            assert scaled.nonfinite == 0
            np.testing.assert_array_equal(scaled.images, gray(base, normalize=normalize).images)
    mixed = np.array([[1e-45, 0.0, 3e38, -3e38]], np.float32)
    assert gray(mixed).images.dtype == np.uint8
    assert np.array_equal(gray(base * 1e300, normalize="minmax").images, expected)


def test_fixed_range_far_from_the_data() -> None:
    acts = one_channel([[0.0, 1.0]])
    assert gray(acts, normalize="fixed", value_range=(1e30, 2e30)).images.max() == 0
    assert gray(acts, normalize="fixed", value_range=(-1e300, -1e299)).images.min() == 255
    assert gray(acts, normalize="fixed", value_range=(0.0, 1e-300)).images.tolist() == [[[[0], [255]]]]


# ----------------------------------------------------------------------------------------------------------
# argument validation


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        (
            {"normalize": "foo"},
            ValueError,
            r"normalize='foo' is not valid; expected one of 'standardize', 'minmax'",
        ),
        ({"colormap": "jet"}, ValueError, r"colormap='jet' is not valid; expected one of 'gray', 'viridis'"),
        (
            {"order": "random"},
            ValueError,
            r"order='random' is not valid; expected one of 'index', 'activity'$",
        ),
        ({"colormap": None}, TypeError, r"colormap=None is not valid; expected one of .*, got NoneType"),
        ({"max_images": 0}, ValueError, r"max_images=0 is not valid; expected an int >= 1"),
        ({"max_images": 2.0}, TypeError, r"max_images=2.0"),
        ({"max_images": True}, TypeError, r"max_images=True"),
        ({"max_channels": 0}, ValueError, r"max_channels=0"),
        ({"columns": 0}, ValueError, r"columns=0"),
        ({"padding": -1}, ValueError, r"padding=-1"),
        ({"max_side": 0}, ValueError, r"max_side=0"),
        ({"min_side": -5}, ValueError, r"min_side=-5"),
        ({"normalize": "fixed"}, ValueError, r"value_range=None"),
        ({"value_range": (0, 1)}, ValueError, r"value_range=\(0, 1\) is only used with normalize='fixed'"),
        (
            {"normalize": "fixed", "value_range": (1, 1)},
            ValueError,
            r"value_range=\(1, 1\) is not valid; expected a pair \(low, high\) of finite numbers",
        ),
        ({"normalize": "fixed", "value_range": (0, np.inf)}, ValueError, r"value_range=\(0, inf\)"),
        ({"normalize": "fixed", "value_range": "ab"}, TypeError, r"value_range='ab'"),
        ({"normalize": "fixed", "value_range": (1, 2, 3)}, TypeError, r"value_range=\(1, 2, 3\)"),
    ],
)
def test_argument_errors_name_the_argument(kwargs: dict[str, Any], error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        tile_activations(np.zeros((1, 4, 4, 2), np.float32), **kwargs)


@pytest.mark.parametrize("bad", [np.zeros((1, 3, 3, 1), np.complex64), np.array([["a", "b"]]), "text"])
def test_non_numeric_activations_raise_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match="activations"):
        tile_activations(bad)


# ----------------------------------------------------------------------------------------------------------
# properties


def _shapes() -> st.SearchStrategy[tuple[int, ...]]:
    return st.integers(1, 5).flatmap(
        lambda rank: st.tuples(st.integers(0, 3), *[st.integers(1, 6)] * (rank - 1))
    )


_DTYPES = st.sampled_from([np.float16, np.float32, np.float64, np.int32, np.uint8])


@st.composite
def _activations(draw: st.DrawFn) -> np.ndarray:
    shape = draw(_shapes())
    dtype = np.dtype(draw(_DTYPES))
    if dtype.kind == "f":
        special = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1.0])
        elements = st.one_of(hnp.from_dtype(dtype), special)
    else:
        elements = hnp.from_dtype(dtype)
    if draw(st.booleans()):
        return np.full(shape, draw(elements), dtype=dtype)  # constant input
    return draw(hnp.arrays(dtype, shape, elements=elements))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    acts=_activations(),
    normalize=st.sampled_from(NORMALIZE_MODES),
    colormap=st.sampled_from(COLORMAPS),
    order=st.sampled_from(CHANNEL_ORDERS),
    max_images=st.integers(1, 3),
    max_channels=st.integers(1, 5),
    columns=st.none() | st.integers(1, 4),
    padding=st.integers(0, 2),
    max_side=st.integers(1, 40),
    min_side=st.integers(0, 60),
)
def test_property_always_uint8_of_predicted_shape(
    acts: np.ndarray,
    normalize: str,
    colormap: str,
    order: str,
    max_images: int,
    max_channels: int,
    columns: int | None,
    padding: int,
    max_side: int,
    min_side: int,
) -> None:
    layout = {
        "max_channels": max_channels,
        "columns": columns,
        "padding": padding,
        "max_side": max_side,
        "min_side": min_side,
    }
    vr = (-1.0, 2.0) if normalize == "fixed" else None
    result = tile_activations(
        acts,
        max_images=max_images,
        normalize=normalize,
        value_range=vr,
        colormap=colormap,
        order=order,
        **layout,
    )
    k = min(acts.shape[0], max_images)
    with np.errstate(invalid="ignore"):
        drawn = acts[:k].astype(np.float64)
    expected_nonfinite = int(np.count_nonzero(~np.isfinite(drawn)))
    channels = 1 if colormap == "gray" and expected_nonfinite == 0 else 3
    assert result.images.dtype == np.uint8
    assert result.images.shape == (k, *grid_shape(acts.shape[1:], **layout), channels)
    assert max(result.images.shape[1:3]) <= max_side
    assert result.nonfinite == expected_nonfinite
    assert result.channels.dtype == np.int64
    assert len(set(result.channels.tolist())) == len(result.channels)


# ----------------------------------------------------------------------------------------------------------
# module hygiene


def test_docstring_examples() -> None:
    failures, tried = doctest.testmod(tiling, optionflags=doctest.ELLIPSIS)
    assert tried >= 4 and failures == 0


def test_tiling_imports_no_heavy_frameworks() -> None:
    code = (
        "import sys, tbactviz.grids.tiling\n"
        "heavy = {'tensorflow', 'keras', 'matplotlib', 'torch'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_large_layer_is_fast_enough() -> None:
    acts = np.random.default_rng(11).normal(size=(1, 112, 112, 256)).astype(np.float32)
    for order in CHANNEL_ORDERS:
        result = tile_activations(acts, order=order)
        assert result.images.shape == (1, *grid_shape((112, 112, 256)), 3)
        assert len(result.channels) == 64


# ----------------------------------------------------------------------------------------------------------
# indexed (palette) output


@pytest.mark.parametrize("colormap", COLORMAPS)
def test_indexed_output_matches_images_within_one_palette_step(colormap: str) -> None:
    acts = np.random.default_rng(3).normal(size=(2, 6, 7, 5)).astype(np.float32)
    acts[0, 0, 0, 1] = np.nan
    result = tile_activations(acts, colormap=colormap, min_side=0)
    indices, palette = result.indexed()
    assert indices.dtype == np.uint8 and indices.shape == result.images.shape[:3]
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    rgb = result.images if result.images.shape[-1] == 3 else np.repeat(result.images, 3, axis=-1)
    step = np.abs(np.diff(LUTS[colormap].astype(int), axis=0)).max()
    assert np.abs(palette[indices].astype(int) - rgb).max() <= 2 * step
    # marker and separator keep their own exact entries
    assert (indices == 254).sum() == 1 and tuple(palette[254]) == MARKER_COLOR
    assert tuple(palette[255]) == SEPARATOR_COLOR
    assert (indices[:, 6, :] == 255).all()  # the separator row between the two tile rows


def test_indexed_endpoints_are_exact() -> None:
    result = tile_activations(
        np.array([[[[0.0]], [[1.0]]]]), normalize="layer", colormap="viridis", min_side=0
    )
    indices, palette = result.indexed()
    assert indices.ravel().tolist() == [0, 253]
    assert palette[0].tolist() == LUTS["viridis"][0].tolist()
    assert palette[253].tolist() == LUTS["viridis"][255].tolist()


def test_indexed_is_none_in_the_whole_grid_fallback() -> None:
    result = tile_activations(np.ones((1, 2, 2, 400)), max_channels=400, max_side=30, min_side=0)
    assert result.tile_shape == (1, 1)
    assert result.indexed() is None
    assert result.images.shape[1] <= 30


@pytest.mark.parametrize("levels", [2, 16, 64, 254])
def test_indexed_levels_quantize_to_evenly_spaced_colormap_entries(levels: int) -> None:
    ramp = np.linspace(0, 1, 256, dtype=np.float32).reshape(1, 16, 16, 1)
    result = tile_activations(ramp, normalize="fixed", value_range=(0.0, 1.0), colormap="gray", min_side=0)
    indices, palette = result.indexed(levels)
    assert palette.shape == (levels + 2, 3)
    assert set(np.unique(indices).tolist()) == set(range(levels))  # every level used, no marker/separator
    assert palette[0].tolist() == [0, 0, 0] and palette[levels - 1].tolist() == [255, 255, 255]
    gray = result.images[0, ..., 0].astype(int)
    assert np.abs(palette[indices[0], 0].astype(int) - gray).max() <= 255 // (levels - 1) // 2 + 1


@pytest.mark.parametrize("levels", [1, 255, 2.5])
def test_indexed_levels_validated(levels: Any) -> None:
    result = tile_activations(np.ones((1, 2, 2, 1)))
    with pytest.raises((ValueError, TypeError), match="levels="):
        result.indexed(levels)


def test_finite_hint_skips_the_check_and_changes_nothing() -> None:
    acts = np.random.default_rng(21).standard_normal((2, 5, 6, 7)).astype(np.float32)
    checked = tile_activations(acts)
    hinted = tile_activations(acts, finite=True)
    np.testing.assert_array_equal(checked.images, hinted.images)
    assert hinted.nonfinite == 0
    acts[0, 0, 0, 0] = np.nan  # without the hint, a NaN is found and drawn as a marker
    assert tile_activations(acts, finite=None).nonfinite == 1


@pytest.mark.parametrize(
    "shape", [(5, 5, 7), (3, 9, 1), (2, 3, 40), (6, 4, 13), (4, 4, 4, 5), (50, 7), (12,)]
)
@pytest.mark.parametrize("min_side", [0, 64, 200])
@pytest.mark.parametrize("images", [1, 3])
def test_assemble_places_every_tile_as_a_loop_does(
    shape: tuple[int, ...], min_side: int, images: int
) -> None:
    """Each tile upscaled plan.up times at its row-major slot, separators elsewhere (a loop as reference)."""
    from tbactviz.grids.plan import plan_grid

    plan = plan_grid(shape, max_images=images, min_side=min_side, levels=16)
    th, tw = -(-plan.h // plan.down), -(-plan.w // plan.down)
    codes = np.random.default_rng(0).integers(0, 16, (images, th, tw, plan.tiles)).astype(np.uint8)
    got = tiling.assemble({"codes": codes, "channels": np.arange(plan.tiles), "nonfinite": 0}, plan, "gray")
    big = codes.transpose(0, 3, 1, 2).repeat(plan.up, axis=2).repeat(plan.up, axis=3)
    height, width = plan.assembled
    if plan.kind != "grid" or plan.rows == plan.cols == 1:
        want = big[:, 0]
    else:
        want = np.full((images, height + plan.pad, width + plan.pad), 17, np.uint8)
        step_h, step_w = big.shape[2] + plan.pad, big.shape[3] + plan.pad
        for i in range(plan.tiles):
            r, c = divmod(i, plan.cols)
            want[:, r * step_h : r * step_h + big.shape[2], c * step_w : c * step_w + big.shape[3]] = big[
                :, i
            ]
        want = want[:, :height, :width]
    np.testing.assert_array_equal(got.indexed(16)[0], want)
