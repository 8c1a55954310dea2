"""Feature maps of any rank -> uint8 grid images (pure numpy).

This module owns how a batch of activations becomes pictures: which samples and channels are drawn
(channel cap and order), how values are normalized (``standardize``, ``minmax``, ``layer``, ``fixed``), how
channels are laid out (near-square grid of tiles with separator lines, a heatmap for sequences, a cell image
for Dense layers), how the result is up- or downscaled to a useful size, and how levels become colours
(256-entry lookup tables from :mod:`tbactviz._colormaps`). It imports numpy and the standard library only, so
it is fast to import and test.

Conventions shared by every function here:

* activations are batch first, channels last (Keras' default);
* separators are drawn *between* tiles only (no outer border), ``padding`` pixels wide, in white;
* non-finite values (NaN, +-Inf) never enter a statistic; they are drawn in magenta ``(255, 0, 255)``;
* the math never emits a ``RuntimeWarning`` and never produces a NaN pixel.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, cast

import numpy as np

from tbactviz._colormaps import LUTS
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

# Internal level codes past the 256 colormap entries: the extended LUTs have 258 rows.
_MARKER = 256
_SEPARATOR = 257
_EXT_LUTS: dict[str, np.ndarray] = {
    name: np.vstack([lut, np.array([MARKER_COLOR, SEPARATOR_COLOR], dtype=np.uint8)])
    for name, lut in LUTS.items()
}
for _lut in _EXT_LUTS.values():
    _lut.flags.writeable = False

# Data whose largest finite magnitude lies outside this window is rescaled (by an exact power of two) before
# the statistics are taken, so that sums of squares neither overflow nor underflow in float32.
_SAFE_LOW, _SAFE_HIGH = 2.0**-32, 2.0**32


@functools.lru_cache(maxsize=64)
def _palette(colormap: str, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """(code -> palette index table of 258 entries, palette (levels + 2, 3)) for ``levels`` colour levels."""
    code_to_index = np.concatenate(
        [(np.arange(256, dtype=np.int64) * (levels - 1) + 127) // 255, [levels, levels + 1]]
    ).astype(np.uint8)
    at = (np.arange(levels, dtype=np.int64) * 255 + (levels - 1) // 2) // (levels - 1)
    palette = np.vstack([LUTS[colormap][at], np.array([MARKER_COLOR, SEPARATOR_COLOR], dtype=np.uint8)])
    code_to_index.flags.writeable = False
    palette.flags.writeable = False
    return code_to_index, palette


@dataclass(frozen=True)
class GridGeometry:
    """Where the tiles lie in a drawn image (what :attr:`TileResult.geometry` returns).

    Tile ``i`` (row-major, showing channel ``TileResult.channels[i]``) covers, in the image's pixels, rows
    ``r * (tile_h + pad) // final_down`` onwards for ``tile_h // final_down`` pixels (and likewise columns
    with ``c``, ``tile_w``), with ``r, c = divmod(i, cols)``; there is no outer border (offset 0).

    Attributes:
        kind: ``"grid"`` (one tile per channel), ``"heatmap"`` (rank 3: one image, a column per channel) or
            ``"dense"`` (rank 1/2: a cell per unit).
        rows: Tile rows (heatmap: 1; dense: cell rows).
        cols: Tile columns (heatmap: 1; dense: cells per row).
        tile_h: Height of one tile in pixels before ``final_down`` (scaling included).
        tile_w: Width of one tile in pixels before ``final_down``.
        pad: Separator width in pixels between tiles, before ``final_down``.
        source_h: Height of one channel's map before scaling (heatmap: T; dense: cell rows).
        source_w: Width of one channel's map before scaling (heatmap: channels drawn; dense: cells per row).
        down: Block-mean factor applied to each tile (1 = none).
        up: Nearest-neighbour factor applied to each tile (1 = none).
        final_down: Block-mean factor applied to the assembled image (1 except in the over-large fallback).
        height: Image height in pixels.
        width: Image width in pixels.
    """

    kind: str
    rows: int
    cols: int
    tile_h: int
    tile_w: int
    pad: int
    source_h: int
    source_w: int
    down: int
    up: int
    final_down: int
    height: int
    width: int


@dataclass(frozen=True, eq=False)
class TileResult:
    """What :func:`tile_activations` drew.

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
    _codes: np.ndarray = field(repr=False)  # uint16 (k, H, W): 0..255 levels, 256 marker, 257 separator
    _colormap: str = field(repr=False)
    _final_down: int = field(default=1, repr=False)
    _layout: _Layout | None = field(default=None, repr=False)

    @property
    def geometry(self) -> GridGeometry:
        """Where each tile lies in :attr:`images` (see :class:`GridGeometry`)."""
        lay = self._layout
        if lay is None:
            raise ValueError("this TileResult was not made by tile_activations: no geometry")
        (rows, cols), (height, width) = lay.grid_dims, lay.out_shape
        tile_h, tile_w = lay.reported_tile if lay.kind == "dense" else lay.tile
        return GridGeometry(
            lay.kind, rows, cols, tile_h, tile_w, lay.pad, lay.h, lay.w, lay.down, lay.up,
            lay.final_down, height, width,
        )  # fmt: skip

    @cached_property
    def images(self) -> np.ndarray:
        """uint8 ``(k, H, W, C)`` images (see the class docstring)."""
        lut = _EXT_LUTS[self._colormap]
        if self._colormap == "gray" and self.nonfinite == 0:
            lut = lut[:, :1]
        images = lut[self._codes]
        if self._final_down > 1:
            blocks, _ = _block_mean(np.moveaxis(images, -1, 1).astype(np.float32), self._final_down, None)
            images = np.moveaxis(np.rint(blocks).astype(np.uint8), 1, -1)
        return np.ascontiguousarray(images)

    def indexed(self, levels: int = MAX_LEVELS) -> tuple[np.ndarray, np.ndarray] | None:
        """The images as palette indices: ``(indices, palette)``, or None in the over-large-grid fallback.

        Each of the 256 levels maps to the nearest of ``levels`` evenly spaced colormap entries (level 0 and
        255 exactly to the first and last), so with the default 254 a colour differs from :attr:`images` by
        at most one colormap step; fewer levels make smaller PNGs (64 are hard to tell from 256 in a
        feature map). One byte per pixel instead of three makes PNG encoding about three times cheaper.

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
        levels = _int_arg("levels", levels, 2)
        if levels > MAX_LEVELS:
            raise ValueError(f"levels={levels} must be an int in 2..{MAX_LEVELS}")
        if self._final_down > 1:
            return None
        code_to_index, palette = _palette(self._colormap, levels)
        return code_to_index[self._codes], palette


@dataclass(frozen=True)
class _Layout:
    """Geometry of one drawing, shared by :func:`grid_shape` and :func:`tile_activations`."""

    kind: Literal["grid", "heatmap", "dense"]
    n: int  # tiles (grid), heatmap columns (heatmap) or units (dense)
    rows: int  # tile rows (grid) / cell rows (dense) / 1
    cols: int  # tile cols (grid) / cells per row (dense) / 1
    h: int  # source size of one tile (grid), of the heatmap (T), of the cell image (rows)
    w: int  # (grid: W; heatmap: channels drawn; dense: cols)
    pad: int  # separator width in pixels (0 unless grid)
    down: int  # block-mean factor applied to each tile (1 = none)
    up: int  # nearest-neighbour factor applied to each tile after downscaling (1 = none)
    final_down: int  # block-mean factor applied to the assembled image (1 = none; fallback only)

    @property
    def tile(self) -> tuple[int, int]:
        return (-(-self.h // self.down) * self.up, -(-self.w // self.down) * self.up)

    @property
    def assembled(self) -> tuple[int, int]:
        th, tw = self.tile
        return (self.rows * th + (self.rows - 1) * self.pad, self.cols * tw + (self.cols - 1) * self.pad)

    @property
    def out_shape(self) -> tuple[int, int]:
        height, width = self.assembled
        return (-(-height // self.final_down), -(-width // self.final_down))

    @property
    def grid_dims(self) -> tuple[int, int]:
        """(rows, cols) as reported in :class:`TileResult`."""
        if self.kind == "heatmap":
            return (1, 1)
        if self.kind == "dense":
            return (self.h, self.w)
        return (self.rows, self.cols)

    @property
    def reported_tile(self) -> tuple[int, int]:
        if self.kind == "heatmap":
            return self.out_shape
        if self.kind == "dense":
            return (self.up, self.up) if self.down == 1 else (1, 1)
        return self.tile if self.final_down == 1 else (1, 1)


# ----------------------------------------------------------------------------------------------------------
# validation


def _int_arg(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name}={value!r} must be an int >= {minimum}, not a bool")
    try:
        result = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"{name}={value!r} must be an int >= {minimum} (got {type(value).__name__})"
        ) from None
    if result < minimum:
        raise ValueError(f"{name}={value!r} must be an int >= {minimum}")
    return result


def _choice_arg(name: str, value: object, options: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}={value!r} must be a str, one of {options}")
    if value not in options:
        raise ValueError(f"{name}={value!r} is not one of {options}")
    return value


def _layout_args(
    max_channels: object, columns: object, padding: object, max_side: object, min_side: object
) -> tuple[int, int | None, int, int, int]:
    return (
        _int_arg("max_channels", max_channels, 1),
        None if columns is None else _int_arg("columns", columns, 1),
        _int_arg("padding", padding, 0),
        _int_arg("max_side", max_side, 1),
        _int_arg("min_side", min_side, 0),
    )


def _value_range_arg(normalize: str, value: object) -> tuple[float, float] | None:
    if normalize != "fixed":
        if value is not None:
            raise ValueError(
                f"value_range={value!r} is only used with normalize='fixed' (got normalize={normalize!r})"
            )
        return None
    if value is None:
        raise ValueError(
            "value_range=None: normalize='fixed' needs value_range=(lo, hi) with finite lo < hi "
            "(e.g. tbactviz.tiling.value_range(activations) measured once)"
        )
    try:
        lo, hi = (float(v) for v in cast("Iterable[Any]", value))
    except (TypeError, ValueError):
        raise TypeError(f"value_range={value!r} must be a pair of numbers (lo, hi)") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ValueError(f"value_range={value!r} must be finite with lo < hi")
    return lo, hi


def _as_array(activations: object) -> np.ndarray:
    """The input as an ndarray of float32/float64 (other dtypes are converted to float32) or of int/bool."""
    try:
        arr = np.asarray(activations)
    except Exception as exc:  # an array-like that cannot become an ndarray
        raise TypeError(
            f"activations of type {type(activations).__name__} is not array-like: {exc}"
        ) from None
    if arr.dtype.kind in "cUSMma":
        raise TypeError(
            f"activations has dtype {arr.dtype}; expected a real numeric (float, int or bool) array"
        )
    if arr.ndim == 0:
        raise ValueError("activations is a scalar; expected a batch, shape (N, ...) with the batch first")
    return arr


def _to_float(arr: np.ndarray) -> np.ndarray:
    """``arr`` itself if float32/float64, else as float32 (float16, bfloat16-like, int, bool, object)."""
    if arr.dtype in (np.float32, np.float64):
        return arr
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 8:  # longdouble
        return np.asarray(arr, dtype=np.float64)
    try:
        return np.asarray(arr, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"activations of dtype {arr.dtype} cannot be converted to float32: {exc}") from None


def _check_sample_shape(shape: tuple[int, ...], *, what: str) -> None:
    if len(shape) >= 1 and shape[-1] == 0:
        raise ValueError(f"{what} {shape} has no channels (last dimension is 0); nothing to draw")
    if any(d == 0 for d in shape[:-1]):
        raise ValueError(
            f"{what} {shape} has a spatial dimension of size 0; feature maps need every dimension >= 1"
        )


# ----------------------------------------------------------------------------------------------------------
# layout


def _near_square(n: int, columns: int | None) -> tuple[int, int]:
    cols = math.isqrt(n - 1) + 1 if columns is None else min(columns, n)  # isqrt(n-1)+1 == ceil(sqrt(n))
    return -(-n // cols), cols


def _layout(
    shape: tuple[int, ...],
    *,
    max_channels: int,
    columns: int | None,
    padding: int,
    max_side: int,
    min_side: int,
) -> _Layout:
    """Geometry for activations of per-sample ``shape`` (validated, all dims >= 1)."""
    if len(shape) <= 1:  # Dense (units,) or one scalar per sample ()
        units = shape[0] if shape else 1
        rows, cols = _near_square(units, columns)
        lay = _Layout("dense", units, 1, 1, rows, cols, 0, 1, 1, 1)
    elif len(shape) == 2:  # sequence (T, C): one heatmap
        n = min(shape[1], max_channels)
        lay = _Layout("heatmap", n, 1, 1, shape[0], n, 0, 1, 1, 1)
    else:  # (..., H, W, C): one tile per channel
        n = min(shape[-1], max_channels)
        rows, cols = _near_square(n, columns)
        lay = _Layout("grid", n, rows, cols, shape[-3], shape[-2], padding, 1, 1, 1)
    return _fit(lay, max_side=max_side, min_side=min_side)


def _fit(lay: _Layout, *, max_side: int, min_side: int) -> _Layout:
    """Choose the down/upscale factors so the image respects ``max_side`` and, if possible, ``min_side``."""
    seps_h, seps_w = (lay.rows - 1) * lay.pad, (lay.cols - 1) * lay.pad
    height, width = lay.assembled
    if height > max_side or width > max_side:
        # room per tile along each axis; the smallest factor f with ceil(h / f) <= room is ceil(h / room)
        room_h, room_w = (max_side - seps_h) // lay.rows, (max_side - seps_w) // lay.cols
        if room_h >= 1 and room_w >= 1:
            down = max(-(-lay.h // room_h), -(-lay.w // room_w), 1)
            return _replace(lay, down=down)
        # Fallback: even 1-pixel tiles do not fit between the separators. Draw 1-pixel tiles, then block-mean
        # the whole assembled RGB image (separators and markers blend into their neighbours).
        lay = _replace(lay, down=max(lay.h, lay.w))
        height, width = lay.assembled
        return _replace(lay, final_down=max(-(-height // max_side), -(-width // max_side)))
    if min_side > 0 and max(height, width) < min_side:
        up_h = -(-(min_side - seps_h) // (lay.rows * lay.h))
        up_w = -(-(min_side - seps_w) // (lay.cols * lay.w))
        cap = min((max_side - seps_h) // (lay.rows * lay.h), (max_side - seps_w) // (lay.cols * lay.w))
        return _replace(lay, up=max(1, min(up_h, up_w, cap)))
    return lay


def _replace(lay: _Layout, **changes: int) -> _Layout:
    fields = {f: getattr(lay, f) for f in _Layout.__dataclass_fields__}
    fields.update(changes)
    return _Layout(**fields)  # type: ignore[arg-type]


def grid_shape(
    shape: tuple[int | None, ...],
    *,
    max_channels: int = 64,
    columns: int | None = None,
    padding: int = 1,
    max_side: int = DEFAULT_MAX_SIDE,
    min_side: int = DEFAULT_MIN_SIDE,
) -> tuple[int, int]:
    """Size of the image :func:`tile_activations` would draw for activations of one sample's ``shape``.

    Args:
        shape: per-sample shape, batch dimension excluded (e.g. a Keras ``output_shape[1:]``): ``()`` or
            ``(units,)`` for Dense, ``(T, C)``, ``(H, W, C)``, ``(D, H, W, C)``, ...
        max_channels, columns, padding, max_side, min_side: as in :func:`tile_activations`.

    Returns:
        ``(H, W)`` in pixels, exactly ``tile_activations(np.zeros((1, *shape)), ...).images.shape[1:3]`` for
        the same options (the colormap, normalization and order do not change the size).

    Raises:
        ValueError: an entry of ``shape`` is None (unknown) or negative, a spatial dimension or the channel
            dimension is 0, or an option is out of range.
        TypeError: an entry or an option is not an int.

    Example:
        >>> grid_shape((28, 28, 32))
        (173, 173)
    """
    opts = _layout_args(max_channels, columns, padding, max_side, min_side)
    dims: list[int] = []
    for i, d in enumerate(shape):
        if d is None:
            raise ValueError(
                f"shape={tuple(shape)!r}: dimension {i} is None (unknown); the size needs every dim"
            )
        dims.append(_int_arg(f"shape[{i}]", d, 0))
    _check_sample_shape(tuple(dims), what="shape")
    lay = _layout(
        tuple(dims),
        max_channels=opts[0],
        columns=opts[1],
        padding=opts[2],
        max_side=opts[3],
        min_side=opts[4],
    )
    return lay.out_shape


# ----------------------------------------------------------------------------------------------------------
# statistics and normalization


def _finite_count(arr: np.ndarray) -> int:
    """Number of NaN/Inf entries; a min/max check first, so all-finite data costs no mask."""
    if arr.dtype.kind not in "fc" or arr.size == 0:
        return 0
    if np.isfinite(arr.min()) and np.isfinite(arr.max()):  # NaN propagates through min/max
        return 0
    return int(arr.size - np.count_nonzero(np.isfinite(arr)))


def value_range(activations: np.ndarray) -> tuple[float, float]:
    """Minimum and maximum over the finite values of ``activations``, e.g. for ``normalize="fixed"``.

    Typical use: measure it once (at the first logged step) and pass it as ``value_range`` later, so that the
    colours of every step share one scale.

    Args:
        activations: array-like of any shape and real dtype (NaN and +-Inf are ignored).

    Returns:
        ``(lo, hi)`` as Python floats with ``lo < hi``. Edge cases: empty or all-non-finite input gives
        ``(0.0, 1.0)``; constant input ``c`` gives ``(c, c + 1.0)`` (or, when ``c`` is so large that
        ``c + 1.0 == c``, the nearest wider pair of floats around ``c``).

    Example:
        >>> value_range(np.array([[1.0, np.nan, 3.0, -np.inf]]))
        (1.0, 3.0)
    """
    arr = _as_array(activations)
    if arr.size == 0:
        return (0.0, 1.0)
    arr = _to_float(arr) if arr.dtype.kind not in "biu" else arr
    with np.errstate(all="ignore"):
        if _finite_count(arr) == 0:
            lo, hi = float(arr.min()), float(arr.max())
        else:
            mask = np.isfinite(arr)
            if not mask.any():
                return (0.0, 1.0)
            lo = float(np.min(arr, where=mask, initial=np.inf))
            hi = float(np.max(arr, where=mask, initial=-np.inf))
    if lo == hi:
        hi = lo + 1.0
        if not (hi > lo and math.isfinite(hi)):
            lo, hi = math.nextafter(lo, -math.inf), math.nextafter(lo, math.inf)
            if not math.isfinite(hi):  # lo is the largest float
                hi = lo = math.nextafter(lo, -math.inf)
                lo = math.nextafter(lo, -math.inf)
    return (lo, hi)


def _minmax(v: np.ndarray, mask: np.ndarray | None, axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Finite min and max along ``axis`` (keepdims); groups with no finite value give (0, 0)."""
    if mask is None:
        return v.min(axis=axis, keepdims=True), v.max(axis=axis, keepdims=True)
    lo = np.min(v, axis=axis, keepdims=True, where=mask, initial=np.inf)
    hi = np.max(v, axis=axis, keepdims=True, where=mask, initial=-np.inf)
    empty = lo > hi
    return np.where(empty, 0, lo), np.where(empty, 0, hi)


def _normalize(
    v: np.ndarray, mask: np.ndarray | None, mode: str, fixed: tuple[float, float] | None
) -> np.ndarray:
    """Levels in [0, 255] (float32, NaN where ``mask`` is False) from ``v`` of shape ``(k, groups, P)``.

    ``v`` is the caller's own contiguous copy (float32 or float64) and is overwritten. Per-group statistics
    are taken along the last axis (``standardize``, ``minmax``), shared ones over everything (``layer``,
    ``fixed``).
    """
    per_group = mode in ("standardize", "minmax")
    axis = -1 if per_group else None
    lo, hi = _minmax(v, mask, axis)
    lo, hi = lo.astype(np.float64), hi.astype(np.float64)
    # Rescale by an exact power of two when magnitudes are extreme (scale invariant for every mode).
    mag = np.maximum(np.abs(lo), np.abs(hi))
    if fixed is not None:
        mag = np.maximum(mag, max(abs(fixed[0]), abs(fixed[1])))
    extreme = (mag != 0) & ((mag < _SAFE_LOW) | (mag > _SAFE_HIGH))
    scale: Any = 1.0
    if extreme.any() or v.dtype != np.float32:
        if extreme.any():
            scale = np.ldexp(1.0, -np.frexp(np.where(mag == 0, 1.0, mag))[1])
            v = np.multiply(v, scale, out=v, casting="unsafe")
            lo, hi = lo * scale, hi * scale
        v = v.astype(np.float32, copy=False)
    if mode == "standardize":
        count = v.shape[-1] if mask is None else np.count_nonzero(mask, axis=-1, keepdims=True)
        total = np.sum(v, axis=-1, keepdims=True, dtype=np.float64, where=mask if mask is not None else True)
        mean = (total / np.maximum(count, 1)).astype(np.float32)
        v -= mean
        # sum of squares one sample at a time: the temporary is one sample's size, not the batch's
        squares = np.empty((*v.shape[:-1], 1), dtype=np.float64)
        for i in range(v.shape[0]):
            sq = np.square(v[i]) if mask is None else np.square(v[i], where=mask[i], out=np.zeros_like(v[i]))
            squares[i] = np.sum(sq, axis=-1, keepdims=True, dtype=np.float64)
        var = squares / np.maximum(count, 1)
        std = np.sqrt(var)
        gain = np.where(std > 0, 64.0 / np.where(std > 0, std, 1.0), 0.0)
        v *= np.minimum(gain, np.finfo(np.float32).max).astype(np.float32)
        v += np.float32(128.0)
    else:
        if mode == "fixed":
            assert fixed is not None
            lo = np.float64(fixed[0]) * scale
            hi = np.float64(fixed[1]) * scale
        span = hi - lo
        gain = np.where(span > 0, 255.0 / np.where(span > 0, span, 1.0), 0.0)
        v -= np.asarray(lo, dtype=np.float32)
        v *= np.minimum(gain, np.finfo(np.float32).max).astype(np.float32)
    np.clip(v, 0.0, 255.0, out=v)
    if mask is not None:
        np.copyto(v, np.float32(np.nan), where=~mask)
    return v


# ----------------------------------------------------------------------------------------------------------
# resampling and assembly


def _block_mean(levels: np.ndarray, f: int, valid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean over ``f x f`` blocks of the last two axes of ``levels`` (partial edge blocks: over their pixels).

    NaN (non-finite markers) propagates, so a block with any marker stays a marker. ``valid`` (2-D, optional)
    marks cells that exist; a block with no valid cell is returned as True in the second result (empty).
    """
    *lead, h, w = levels.shape
    hb, wb = -(-h // f), -(-w // f)
    ph, pw = hb * f - h, wb * f - w
    if valid is not None:
        levels = np.where(valid, levels, 0)
    if ph or pw:
        levels = np.pad(levels, [(0, 0)] * len(lead) + [(0, ph), (0, pw)])
    # f*f strided adds: each reads 1/f^2 of the data with a contiguous inner loop, several times faster than
    # a reduction over the two small block axes of a (hb, f, wb, f) view.
    blocks = levels.reshape(*lead, hb, f, wb, f)
    sums = blocks[..., 0, :, 0].astype(np.float32, copy=True)
    for i in range(f):
        for j in range(f):
            if i or j:
                sums += blocks[..., i, :, j]
    if valid is None:
        count_h = np.full(hb, f)
        count_h[-1] = h - (hb - 1) * f
        count_w = np.full(wb, f)
        count_w[-1] = w - (wb - 1) * f
        counts = np.outer(count_h, count_w)
        empty = None
    else:
        counts = np.pad(valid, [(0, ph), (0, pw)]).reshape(hb, f, wb, f).sum(axis=(1, 3))
        empty = counts == 0
    return sums / np.maximum(counts, 1).astype(np.float32), empty


def _codes(levels: np.ndarray, empty: np.ndarray | None, markers: bool) -> np.ndarray:
    """Levels (float, NaN = marker) -> uint16 codes: 0..255 colours, 256 marker, 257 separator."""
    np.rint(levels, out=levels)
    np.clip(levels, 0, 255, out=levels)
    if markers:
        np.copyto(levels, np.float32(_MARKER), where=np.isnan(levels))
    codes = levels.astype(np.uint16)
    if empty is not None:
        np.copyto(codes, np.uint16(_SEPARATOR), where=empty)
    return codes


def _assemble(tiles: np.ndarray, lay: _Layout) -> np.ndarray:
    """Codes (k, n, th, tw) -> one (k, H, W) code image per sample, tiles row-major with separators."""
    k, n, th, tw = tiles.shape
    if lay.rows == lay.cols == 1:
        return tiles[:, 0]
    p = lay.pad
    canvas = np.full((k, lay.rows, lay.cols, th + p, tw + p), _SEPARATOR, dtype=np.uint16)
    canvas.reshape(k, lay.rows * lay.cols, th + p, tw + p)[:, :n, :th, :tw] = tiles
    height, width = lay.assembled
    grid = canvas.transpose(0, 1, 3, 2, 4).reshape(k, lay.rows * (th + p), lay.cols * (tw + p))
    out: np.ndarray = grid[:, :height, :width]
    return out


def apply_colormap(values: np.ndarray, name: str) -> np.ndarray:
    """Colour uint8 levels through a 256-entry lookup table.

    Args:
        values: uint8 array of any shape (0 = lowest colour, 255 = highest).
        name: one of :data:`COLORMAPS`.

    Returns:
        uint8 array of shape ``(*values.shape, 3)`` (RGB; ``gray`` gives three equal components).

    Raises:
        TypeError: ``values`` is not uint8, or ``name`` is not a str.
        ValueError: ``name`` is not a known colormap.

    Example:
        >>> apply_colormap(np.array([0, 255], dtype=np.uint8), "gray").tolist()
        [[0, 0, 0], [255, 255, 255]]
    """
    name = _choice_arg("name", name, COLORMAPS)
    values = np.asarray(values)
    if values.dtype != np.uint8:
        raise TypeError(f"values has dtype {values.dtype}; apply_colormap expects uint8 levels (0..255)")
    colored: np.ndarray = LUTS[name][values]
    return colored


# ----------------------------------------------------------------------------------------------------------
# the public entry point


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
            there is none (e.g. :func:`tbactviz.stats.layer_stats` found ``nonfinite == 0``), which skips that
            pass over the data. Never pass True for data that may hold NaN/Inf.

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
    max_images = _int_arg("max_images", max_images, 1)
    max_channels, columns, padding, max_side, min_side = _layout_args(
        max_channels, columns, padding, max_side, min_side
    )
    normalize = _choice_arg("normalize", normalize, NORMALIZE_MODES)
    fixed = _value_range_arg(normalize, value_range)
    colormap = _choice_arg("colormap", colormap, COLORMAPS)
    order = _choice_arg("order", order, CHANNEL_ORDERS)

    arr = _as_array(activations)
    sample_shape = tuple(arr.shape[1:])
    _check_sample_shape(sample_shape, what="activations per-sample shape")
    lay = _layout(
        sample_shape,
        max_channels=max_channels,
        columns=columns,
        padding=padding,
        max_side=max_side,
        min_side=min_side,
    )
    with np.errstate(all="ignore"):
        x = _to_float(arr[:max_images])
        nonfinite = 0 if finite is True else _finite_count(x)
        pick, channels = _select_channels(x, lay, order, nonfinite)
        levels, valid = _levels(x, pick, lay, normalize, fixed, nonfinite)
        empty = None
        if lay.down > 1:
            levels, empty = _block_mean(levels, lay.down, valid)
        elif valid is not None:
            empty = ~valid
        codes = _codes(levels, empty, markers=nonfinite > 0)
        if lay.up > 1:
            kk, n, th, tw = codes.shape
            codes = np.broadcast_to(codes[:, :, :, None, :, None], (kk, n, th, lay.up, tw, lay.up))
            codes = codes.reshape(kk, n, th * lay.up, tw * lay.up)
        grid = _assemble(codes, lay)
    rows, cols = lay.grid_dims
    return TileResult(
        channels=channels,
        rows=rows,
        cols=cols,
        tile_shape=lay.reported_tile,
        nonfinite=nonfinite,
        _codes=grid,
        _colormap=colormap,
        _final_down=lay.final_down,
        _layout=lay,
    )


def _select_channels(
    x: np.ndarray, lay: _Layout, order: str, nonfinite: int
) -> tuple[slice | np.ndarray, np.ndarray]:
    """Which channels of the drawn samples ``x`` (channels last) to draw: (channel-axis index, indices).

    The index is a slice for ``order="index"`` (no copy needed) and the index array for ``"activity"``.
    """
    if lay.kind == "dense" or order == "index" or x.shape[0] == 0:
        return slice(0, lay.n), np.arange(lay.n, dtype=np.int64)
    # mean |a| per channel, one sample at a time (the temporaries are one sample's size)
    axes = tuple(range(x.ndim - 2))
    total = np.zeros(x.shape[-1], dtype=np.float64)
    count = np.zeros(x.shape[-1], dtype=np.int64)
    for sample in x:
        magnitude = np.abs(sample)
        if nonfinite == 0:
            count += sample.size // sample.shape[-1]
        else:
            finite = np.isfinite(sample)
            magnitude[~finite] = 0
            count += np.count_nonzero(finite, axis=axes)
        total += magnitude.sum(axis=axes, dtype=np.float64)
    score = total / np.maximum(count, 1)
    score = np.nan_to_num(score, nan=0.0, posinf=np.finfo(np.float64).max)
    channels = np.argsort(-score, kind="stable")[: lay.n].astype(np.int64)
    return channels, channels


def _levels(
    x: np.ndarray,
    pick: slice | np.ndarray,
    lay: _Layout,
    mode: str,
    fixed: tuple[float, float] | None,
    nonfinite: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Normalized levels as tiles ``(k, n_tiles, h, w)`` (float32, NaN = marker) and the valid-cell mask.

    ``pick`` selects the drawn channels (last axis of ``x``); the selection, the channels-first layout and the
    copy that normalization overwrites are one gather. The mask is for Dense cell images whose last row is not
    full (else None).
    """
    k = x.shape[0]
    if lay.kind == "dense":
        v = x.reshape(k, 1, lay.n)
    elif lay.kind == "heatmap":
        v = np.swapaxes(x, 1, 2)[:, pick]  # (k, C, T)
    else:
        if x.ndim > 4:  # maximum-intensity projection over the leading spatial dims
            x = np.fmax.reduce(x[..., pick], axis=tuple(range(1, x.ndim - 3)))
            pick = slice(None)
        v = np.moveaxis(x, -1, 1)[:, pick].reshape(k, lay.n, lay.h * lay.w)
    v = np.ascontiguousarray(v)
    if np.may_share_memory(v, x):
        v = v.copy()
    mask = None
    if nonfinite:
        mask = np.isfinite(v)
        if mask.all():
            mask = None
    levels = np.zeros(v.shape, dtype=np.float32) if k == 0 else _normalize(v, mask, mode, fixed)
    if lay.kind == "dense":
        cells = lay.h * lay.w
        valid = None
        if cells != lay.n:
            levels = np.concatenate([levels, np.zeros((k, 1, cells - lay.n), np.float32)], axis=-1)
            valid = (np.arange(cells) < lay.n).reshape(lay.h, lay.w)
        return levels.reshape(k, 1, lay.h, lay.w), valid
    if lay.kind == "heatmap":
        return np.ascontiguousarray(np.swapaxes(levels, 1, 2))[:, None], None
    return levels.reshape(k, lay.n, lay.h, lay.w), None
