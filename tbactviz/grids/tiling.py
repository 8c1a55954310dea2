"""Feature maps of any rank -> uint8 grid images: the host half (layout, palette) and the numpy entry point.

How a batch of activations becomes pictures is split in three (see ``docs/architecture.md``):

* :func:`tbactviz.grids.plan.plan_grid`: the static plan (rank handling, channels drawn, grid, scale factors);
* :func:`tbactviz.grids.quantize.grid_partial`: the data-dependent part (channel choice and order, the 4
  normalizations, non-finite markers, block-mean downscaling, quantization), written once with ``keras.ops``
  and run where the activations are (inside the compiled probe, or eagerly here);
* :func:`assemble` (here, numpy): tiles with separators, integer upscaling, palette / RGB colours.

:func:`tile_activations` is the three in a row on a numpy array, on the active Keras backend (imported on
first call; importing this module loads numpy only). Conventions shared by every function here:

* activations are batch first, channels last (Keras' default);
* separators are drawn *between* tiles only (no outer border), ``padding`` pixels wide, in white;
* non-finite values (NaN, +-Inf) never enter a statistic; they are drawn in magenta ``(255, 0, 255)``;
* the math never emits a ``RuntimeWarning`` and never produces a NaN pixel.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np

from tbactviz.checks import check_choice, check_int, check_optional_int
from tbactviz.grids.colormaps import LUTS
from tbactviz.grids.plan import (
    ALL_LEVELS,
    GridGeometry,
    GridPlan,
    check_sample_shape,
    grid_shape,
    plan_grid,
)
from tbactviz.grids.values import (
    apply_colormap,
    as_array,
    finite_count,
    to_float,
    value_range,
    value_range_arg,
)
from tbactviz.options import (
    CHANNEL_ORDERS,
    COLORMAPS,
    DEFAULT_MAX_SIDE,
    DEFAULT_MIN_SIDE,
    MAX_LEVELS,
    NORMALIZE_MODES,
)

__all__ = [
    "CHANNEL_ORDERS",
    "COLORMAPS",
    "DEFAULT_MAX_SIDE",
    "DEFAULT_MIN_SIDE",
    "MARKER_COLOR",
    "MAX_LEVELS",
    "NORMALIZE_MODES",
    "SEPARATOR_COLOR",
    "ChannelOrder",
    "GridGeometry",
    "Normalize",
    "TileResult",
    "apply_colormap",
    "assemble",
    "grid_shape",
    "tile_activations",
    "value_range",
]

Normalize = Literal["standardize", "minmax", "layer", "fixed"]
ChannelOrder = Literal["index", "activity"]


#: Colour of non-finite values (RGB).
MARKER_COLOR: tuple[int, int, int] = (255, 0, 255)
#: Colour of separators and empty grid slots (RGB; 255 in gray images).
SEPARATOR_COLOR: tuple[int, int, int] = (255, 255, 255)
_SPECIAL = np.array([MARKER_COLOR, SEPARATOR_COLOR], dtype=np.uint8)


@functools.lru_cache(maxsize=64)
def _palette(colormap: str, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """(code -> palette index table of 258 entries, palette (levels + 2, 3)) for ``levels`` colour levels.

    ``levels = 256`` gives the identity and the full colormap: codes 0..255, marker 256, separator 257.
    """
    code_to_index = np.concatenate(
        [(np.arange(256, dtype=np.int64) * (levels - 1) + 127) // 255, [levels, levels + 1]]
    ).astype(np.uint8 if levels < ALL_LEVELS else np.uint16)
    at = (np.arange(levels, dtype=np.int64) * 255 + (levels - 1) // 2) // (levels - 1)
    palette = np.vstack([LUTS[colormap][at], _SPECIAL])
    code_to_index.flags.writeable = False
    palette.flags.writeable = False
    return code_to_index, palette


@dataclass(frozen=True, eq=False)
class TileResult:
    """What :func:`tile_activations` (or :func:`assemble`) drew.

    The RGB (or gray) ``images`` are computed on first access; :meth:`indexed` gives the same pictures as
    palette indices (one byte per pixel, what the event writer encodes as PNG mode ``P``).

    Attributes:
        images: uint8 array of shape ``(k, H, W, C)``, one grid image per drawn sample, ``k = min(N,
            max_images)``. ``C`` is 1 for ``colormap="gray"`` when ``nonfinite == 0``, else 3 (RGB).
        channels: int64 array of the channel indices drawn, in drawing order (row-major over the grid for rank
            4+, left to right for rank 3). For rank 1/2 inputs: every unit, ``arange(units)``.
        rows: number of tile rows of the grid (rank 1/2: rows of unit cells; rank 3: 1).
        cols: number of tile columns of the grid (rank 1/2: unit cells per row; rank 3: 1).
        tile_shape: ``(h, w)`` of one tile in output pixels after up/downscaling (rank 1/2: one unit's cell,
            ``(1, 1)`` when cells were merged by downscaling; rank 3: the whole heatmap ``(H, W)``; ``(1, 1)``
            in the over-large-grid fallback, where a tile is smaller than a pixel).
        nonfinite: number of NaN/+-Inf values in the drawn samples, counted over *all* channels of the first
            ``k`` samples (also those not drawn because of the channel cap).
    """

    channels: np.ndarray
    rows: int
    cols: int
    tile_shape: tuple[int, int]
    nonfinite: int
    _codes: np.ndarray = field(repr=False)  # (k, H, W) palette indices: _levels levels, marker, separator
    _colormap: str = field(repr=False)
    _final_down: int = field(default=1, repr=False)
    _plan: GridPlan | None = field(default=None, repr=False)
    _levels: int = field(default=ALL_LEVELS, repr=False)

    @property
    def geometry(self) -> GridGeometry:
        """Where each tile lies in :attr:`images` (see :class:`GridGeometry`)."""
        if self._plan is None:
            raise ValueError("this TileResult was not made by tile_activations: no geometry")
        return self._plan.geometry

    @cached_property
    def images(self) -> np.ndarray:
        """uint8 ``(k, H, W, C)`` images (see the class docstring)."""
        lut = _palette(self._colormap, self._levels)[1]
        if self._colormap == "gray" and self.nonfinite == 0:
            lut = lut[:, :1]
        images = lut[self._codes]
        if self._final_down > 1:
            images = _block_mean_rgb(images, self._final_down)
        return np.ascontiguousarray(images)

    def indexed(self, levels: int = MAX_LEVELS) -> tuple[np.ndarray, np.ndarray] | None:
        """The images as palette indices: ``(indices, palette)``, or None in the over-large-grid fallback.

        Each of the 256 levels maps to the nearest of ``levels`` evenly spaced colormap entries (level 0 and
        255 exactly to the first and last), so with the default 254 a colour differs from :attr:`images` by
        at most one colormap step; fewer levels make smaller PNGs (64 are hard to tell from 256 in a
        feature map). One byte per pixel instead of three makes PNG encoding about three times cheaper.
        When the device already quantized to ``levels`` (``plan.levels``), the indices are returned as they
        are, without a pass over the pixels; other counts re-quantize those (never finer than the device's).

        Args:
            levels: Colour levels, 2..254 (:data:`MAX_LEVELS`).

        Returns:
            ``indices`` uint8 ``(k, H, W)`` and ``palette`` uint8 ``(levels + 2, 3)``: entries ``0..levels-1``
            the colormap, ``levels`` the marker and ``levels + 1`` the separator colour. None when the grid
            was block-averaged as a whole (``tile_shape == (1, 1)`` fallback), whose blended colours are not
            palette entries.

        Raises:
            ValueError: ``levels`` outside 2..254.

        Example:
            >>> r = tile_activations(np.ones((1, 4, 4, 2)), min_side=0, colormap="gray")
            >>> idx, pal = r.indexed()
            >>> idx.shape, pal.shape, int(idx[0, 0, 4]), pal[255].tolist()
            ((1, 4, 9), (256, 3), 255, [255, 255, 255])
            >>> r.indexed(levels=16)[1].shape
            (18, 3)
        """
        levels = check_int("levels", levels, minimum=2, maximum=MAX_LEVELS)
        if self._final_down > 1:
            return None
        code_to_index, palette = _palette(self._colormap, levels)
        if self._levels == levels:
            return self._codes.astype(np.uint8, copy=False), palette
        if self._levels != ALL_LEVELS:  # from the device's levels back to 0..255, then to ``levels``
            at = (np.arange(self._levels) * 255 + (self._levels - 1) // 2) // (self._levels - 1)
            code_to_index = np.concatenate([code_to_index[at], [levels, levels + 1]]).astype(np.uint8)
        return code_to_index[self._codes], palette


def _block_mean_rgb(images: np.ndarray, f: int) -> np.ndarray:
    """Mean over ``f x f`` blocks of uint8 ``(k, H, W, C)`` images (partial edge blocks: their pixels)."""
    k, h, w, c = images.shape
    hb, wb = -(-h // f), -(-w // f)
    padded, ones = np.zeros((k, hb * f, wb * f, c), np.float32), np.zeros((hb * f, wb * f), np.float32)
    padded[:, :h, :w], ones[:h, :w] = images, 1.0
    sums = padded.reshape(k, hb, f, wb, f, c).sum(axis=(2, 4))
    counts = ones.reshape(hb, f, wb, f).sum(axis=(1, 3))[None, :, :, None]
    out: np.ndarray = np.rint(sums / counts).astype(np.uint8)
    return out


def assemble(partial: Mapping[str, Any], plan: GridPlan, colormap: str = "viridis") -> TileResult:
    """Lay out what :func:`tbactviz.grids.quantize.grid_partial` returned (host, numpy): the drawn grids.

    Tiles go row-major into the grid with ``plan.pad`` separator pixels between them (empty slots in the
    separator colour), each upscaled ``plan.up`` times by nearest neighbour; colours come from ``colormap``
    at ``plan.levels`` levels.

    Args:
        partial: ``codes``, ``channels`` and ``nonfinite`` as :func:`~tbactviz.grids.quantize.grid_partial`
            returns them, as numpy arrays (:func:`~tbactviz.grids.quantize.partial_to_numpy`).
        plan: The plan the partial was computed with.
        colormap: One of :data:`COLORMAPS`.

    Returns:
        A :class:`TileResult` (``images``, ``indexed(levels)``, ``geometry``, ``channels``, ...).

    Raises:
        ValueError: ``colormap`` is unknown, or the codes do not have the plan's shape.

    Example:
        >>> from tbactviz.grids.plan import plan_grid
        >>> plan = plan_grid((2, 2, 3), min_side=0, levels=16)
        >>> codes = np.zeros((1, 2, 2, 3), np.uint8)
        >>> r = assemble({"codes": codes, "channels": np.arange(3), "nonfinite": 0}, plan, "gray")
        >>> r.indexed(16)[0][0].tolist()
        [[0, 0, 17, 0, 0], [0, 0, 17, 0, 0], [17, 17, 17, 17, 17], [0, 0, 17, 17, 17], [0, 0, 17, 17, 17]]
    """
    colormap = check_choice("colormap", colormap, COLORMAPS)
    codes = np.asarray(partial["codes"])
    th, tw = -(-plan.h // plan.down), -(-plan.w // plan.down)
    if codes.ndim != 4 or codes.shape[1:] != (th, tw, plan.tiles):
        raise ValueError(
            f"codes of shape {codes.shape} do not fit the plan: expected (k, {th}, {tw}, {plan.tiles})"
        )
    separator = plan.levels + 1 if plan.levels < ALL_LEVELS else ALL_LEVELS + 1
    rows, cols = plan.grid_dims
    return TileResult(
        channels=np.asarray(partial["channels"]).astype(np.int64),
        rows=rows,
        cols=cols,
        tile_shape=plan.reported_tile,
        nonfinite=int(partial["nonfinite"]),
        _codes=_assemble(codes, plan, separator),
        _colormap=colormap,
        _final_down=plan.final_down,
        _plan=plan,
        _levels=plan.levels,
    )


def _assemble(tiles: np.ndarray, plan: GridPlan, separator: int) -> np.ndarray:
    """Codes (k, th, tw, n) -> (k, H, W) code images: tiles row-major, upscaled plan.up times, separators."""
    (k, th, tw, n), up = tiles.shape, plan.up
    if plan.kind != "grid" or plan.rows == plan.cols == 1:
        one = np.broadcast_to(tiles[:, :, None, :, None, 0], (k, th, up, tw, up))
        return np.ascontiguousarray(one.reshape(k, th * up, tw * up))
    p, rows, cols = plan.pad, plan.rows, plan.cols
    canvas = np.full((k, rows, th * up + p, cols, tw * up + p), separator, dtype=tiles.dtype)
    s0, s1, s2, s3, s4 = canvas.strides  # the tiles' pixels, as (k, rows, th, up, cols, tw * up):
    slots = np.lib.stride_tricks.as_strided(
        canvas, (k, rows, th, up, cols, tw * up), (s0, s1, s2 * up, s2, s3, s4)
    )
    full, rest = divmod(n, cols)  # channels last -> (k, full rows, th, cols, tw): a view, copied once below
    body = tiles[..., : full * cols].reshape(k, th, tw, full, cols).transpose(0, 3, 1, 4, 2)
    slots[:, :full] = (np.repeat(body, up, axis=4) if up > 1 else body)[:, :, :, None]
    if rest:
        last = tiles[..., full * cols :].transpose(0, 1, 3, 2)  # (k, th, rest, tw)
        slots[:, full, :, :, :rest] = (np.repeat(last, up, axis=3) if up > 1 else last)[:, :, None]
    out: np.ndarray = canvas.reshape(k, rows * (th * up + p), cols * (tw * up + p))
    return out[:, : plan.assembled[0], : plan.assembled[1]]


# ----------------------------------------------------------------------------------------------------------
# the numpy entry point


def tile_activations(
    activations: np.ndarray,
    *,
    max_images: int = 3,
    max_channels: int = 64,
    normalize: str = "standardize",
    value_range: tuple[float, float] | None = None,
    colormap: str = "viridis",
    order: str = "index",
    columns: int | None = None,
    padding: int = 1,
    max_side: int = DEFAULT_MAX_SIDE,
    min_side: int = DEFAULT_MIN_SIDE,
    finite: bool | None = None,
) -> TileResult:
    """Draw a batch of activations as one uint8 image per sample.

    Layout by rank (batch first, channels last):

    * ``(N, H, W, C)`` (Conv2D): each channel is a tile in a near-square grid (``cols = ceil(sqrt(n))``,
      ``rows = ceil(n / cols)``) or ``columns`` per row; ``padding`` white pixels between tiles (no outer
      border); empty slots of the last row are white.
    * ``(N, D, H, W, C)`` (Conv3D) and higher: maximum-intensity projection over every dimension between the
      batch and ``H`` (NaN-aware: NaN is ignored unless a whole projected column is NaN), then as rank 4.
    * ``(N, T, C)`` (Conv1D, sequences): one heatmap, ``T`` rows by the drawn channels as columns.
    * ``(N, C)`` (Dense) and ``(N,)`` (as ``(N, 1)``): each unit is a cell of a near-square image without
      separators (unfilled cells white); every unit is drawn (``max_channels`` does not cap units and
      ``order`` is ignored); per-channel normalizations use the whole vector of the sample.

    Only the first ``k = min(N, max_images)`` samples are read. For ranks 3+, ``max_channels`` channels are
    drawn, chosen before any normalization (``order="index"``: the first ones; ``"activity"``: by mean
    ``|a|`` over the drawn samples and positions, descending, ties by index).

    Normalization (finite values only; levels 0..255 index the colormap):

    * ``"standardize"``: per sample and channel, ``(x - mean) / std * 64 + 128`` clipped; ``std == 0`` -> 128.
    * ``"minmax"``: per sample and channel, ``(x - min) / (max - min)``; zero range -> 0 (lowest colour).
    * ``"layer"``: like minmax with one min/max over all drawn samples and drawn channels.
    * ``"fixed"``: ``(x - lo) / (hi - lo)`` with the caller's ``value_range=(lo, hi)``, clipped.

    NaN and +-Inf are left out of every statistic, drawn magenta and counted in ``nonfinite``; with
    ``colormap="gray"`` the images are then RGB (3 channels) instead of 1.

    Size: tiles are upscaled by an integer nearest-neighbour factor until the longer side of the image is
    ``>= min_side`` (without exceeding ``max_side``; ``min_side=0`` disables). When the image would exceed
    ``max_side``, each tile is downscaled by the smallest integer factor that fits, by block mean of the
    normalized levels (a block holding a non-finite value stays magenta); separators stay ``padding`` px. If
    even 1-pixel tiles do not fit between the separators, the assembled image is block-averaged as a whole
    (then separators and markers blur). :func:`grid_shape` predicts the size exactly.

    Args:
        activations: array-like ``(N, ...)`` of any real dtype (float16/bfloat16/int/bool become float32).
        max_images: samples drawn, >= 1.
        max_channels: channels drawn for ranks 3+, >= 1.
        normalize: one of :data:`NORMALIZE_MODES`.
        value_range: ``(lo, hi)`` with finite ``lo < hi``; required by, and only allowed with, ``"fixed"``.
        colormap: one of :data:`COLORMAPS`.
        order: one of :data:`CHANNEL_ORDERS`.
        columns: tiles (or Dense cells) per row, >= 1 (capped at the number drawn); None = near-square.
        padding: separator width in pixels between tiles, >= 0.
        max_side: largest height and width of an image, >= 1.
        min_side: smallest longer side to upscale to, >= 0 (0 = never upscale).
        finite: None (default) checks the drawn samples for NaN/Inf; True is the caller's guarantee that
            there is none (e.g. :func:`tbactviz.stats.arrays.layer_stats` found ``nonfinite == 0``), which
            skips that pass over the data. Never pass True for data that may hold NaN/Inf.

    Returns:
        A :class:`TileResult`; ``images`` has shape ``(k, H, W, C)``, uint8, ``C`` 1 (gray without non-finite
        values) or 3. With ``N == 0`` the images array is empty, ``(0, H, W, C)``.

    Raises:
        ValueError: an option is out of range or not one of its choices, ``value_range`` is missing for (or
            given without) ``"fixed"``, the input is a scalar, or it has a size-0 spatial/channel dimension.
        TypeError: an option has the wrong type, or the activations are not real numbers.

    Example:
        >>> acts = np.random.default_rng(0).normal(size=(2, 8, 8, 10)).astype(np.float32)
        >>> result = tile_activations(acts, max_images=1, min_side=0)
        >>> result.images.shape, result.rows, result.cols, result.tile_shape
        ((1, 26, 35, 3), 3, 4, (8, 8))
        >>> result.channels.tolist()
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    """
    max_images = check_int("max_images", max_images, minimum=1)
    check_int("max_channels", max_channels, minimum=1)
    check_optional_int("columns", columns, minimum=1, meaning="near-square")
    check_int("padding", padding, minimum=0)
    check_int("max_side", max_side, minimum=1)
    check_int("min_side", min_side, minimum=0)
    normalize = check_choice("normalize", normalize, NORMALIZE_MODES)
    fixed = value_range_arg(normalize, value_range)
    colormap = check_choice("colormap", colormap, COLORMAPS)
    order = check_choice("order", order, CHANNEL_ORDERS)

    arr = as_array(activations)
    check_sample_shape(tuple(arr.shape[1:]), what="activations per-sample shape")
    with np.errstate(all="ignore"):
        x = to_float(arr[:max_images])
        nonfinite = 0 if finite is True else finite_count(x)
    from tbactviz.grids import quantize

    precision = quantize.host_precision()
    plan = plan_grid(
        tuple(arr.shape[1:]),
        max_images=max_images,
        max_channels=max_channels,
        normalize=normalize,
        order=order,
        columns=columns,
        padding=padding,
        max_side=max_side,
        min_side=min_side,
        finite=nonfinite == 0,
        precision=precision,
    )
    if plan.order == "index" and plan.kind != "dense":  # only the drawn channels go to the backend
        x = x[..., : plan.n]
    bounds = None if fixed is None else np.asarray(fixed, precision)
    partial = quantize.partial_to_numpy(quantize.grid_partial(x, plan, bounds))
    return assemble({**partial, "nonfinite": nonfinite}, plan, colormap)
