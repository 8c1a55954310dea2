"""The static plan of a feature-map grid: geometry, channel count, scale factors (numpy and stdlib only).

A :class:`GridPlan` says, from one sample's shape and the drawing options alone (no data), everything that
stays fixed from one step to the next: how a rank is drawn (``dense`` cells for ``(N,)``/``(N, C)``, one
``heatmap`` for ``(N, T, C)``, a ``grid`` of one tile per channel for ``(N, ..., H, W, C)``, leading spatial
axes max-projected), how many channels, the block-mean factor per tile, the grid's rows and columns, the
integer upscale factor and the output size. :func:`tbactviz.grids.quantize.grid_partial` computes what depends
on the data (on the device), :func:`tbactviz.grids.tiling.assemble` lays it out (on the host).

Example:
    >>> plan = plan_grid((112, 112, 64), max_side=384)
    >>> plan.kind, plan.n, (plan.rows, plan.cols), plan.down, plan.up, plan.out_shape
    ('grid', 64, (8, 8), 3, 1, (311, 311))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from tbactviz.checks import check_choice, check_int, check_optional_int, value_error
from tbactviz.options import (
    CHANNEL_ORDERS,
    DEFAULT_MAX_SIDE,
    DEFAULT_MIN_SIDE,
    MAX_LEVELS,
    NORMALIZE_MODES,
)

__all__ = ["ALL_LEVELS", "GridGeometry", "GridPlan", "grid_shape", "plan_grid"]

#: ``levels`` value that keeps all 256 colormap entries (codes 0..255, marker 256, separator 257; int32).
ALL_LEVELS = 256


@dataclass(frozen=True)
class GridGeometry:
    """Where the tiles lie in a drawn image (what :attr:`tbactviz.grids.tiling.TileResult.geometry` returns).

    Tile ``i`` (row-major, showing channel ``TileResult.channels[i]``) covers, in the image's pixels, rows
    ``r * (tile_h + pad) // final_down`` onwards for ``tile_h // final_down`` pixels (and likewise columns
    with ``c``, ``tile_w``), with ``r, c = divmod(i, cols)``; there is no outer border (offset 0).

    Attributes:
        kind: ``"grid"`` (one tile per channel), ``"heatmap"`` (rank 3: one image, a column per channel) or
            ``"dense"`` (rank 1/2: a cell per unit).
        rows, cols: Tile rows and columns (heatmap: 1, 1; dense: cell rows, cells per row).
        tile_h, tile_w: One tile in pixels before ``final_down`` (scaling included).
        pad: Separator width in pixels between tiles, before ``final_down``.
        source_h, source_w: One channel's map before scaling (heatmap: T, channels drawn; dense: cell rows,
            cells per row).
        down: Block-mean factor applied to each tile (1 = none).
        up: Nearest-neighbour factor applied to each tile (1 = none).
        final_down: Block-mean factor of the assembled image (1 except in the over-large fallback).
        height, width: Image size in pixels.
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


@dataclass(frozen=True)
class GridPlan:
    """Everything static about drawing one layer (made by :func:`plan_grid`; hashable, a jit-safe constant).

    Attributes:
        sample_shape: One sample's shape (batch excluded).
        kind: ``"grid"``, ``"heatmap"`` or ``"dense"`` (see the module docstring).
        n: Tiles (grid), heatmap columns (heatmap) or units (dense).
        rows, cols: Tile rows and columns (1, 1 unless grid).
        h, w: Source size of one tile (grid: H, W; heatmap: T, n; dense: cell rows, cells per row).
        pad: Separator width between tiles (0 unless grid).
        down: Block-mean factor per tile; up: nearest-neighbour factor per tile (applied on the host);
        final_down: block-mean factor of the whole assembled image (fallback only, else 1).
        max_images: Samples drawn (the first ones).
        normalize: One of ``NORMALIZE_MODES``; order: one of ``CHANNEL_ORDERS`` (dense: always index).
        levels: Colour levels the device quantizes to: 2..254 gives uint8 palette indices (marker
            ``levels``, separator ``levels + 1``); :data:`ALL_LEVELS` (256) gives int32 codes 0..255 (marker
            256, separator 257), which is what :func:`tbactviz.grids.tiling.tile_activations` draws.
        finite: True when the caller guarantees there is no NaN/Inf (no masks are computed).
        precision: ``"float32"`` (the device) or ``"float64"``: dtype of sums and of float64 inputs before
            scaling (the numpy path uses it where the backend has float64).
    """

    sample_shape: tuple[int, ...]
    kind: Literal["grid", "heatmap", "dense"]
    n: int
    rows: int
    cols: int
    h: int
    w: int
    pad: int
    down: int = 1
    up: int = 1
    final_down: int = 1
    max_images: int = 3
    normalize: str = "standardize"
    order: str = "index"
    levels: int = ALL_LEVELS
    finite: bool = False
    precision: str = "float32"

    @property
    def channels(self) -> int:
        """Channels (units) of the layer: the last dimension (1 for a rank-1 batch)."""
        return self.sample_shape[-1] if self.sample_shape else 1

    @property
    def tiles(self) -> int:
        """Tiles the device returns per sample (grid: n; heatmap and dense: 1)."""
        return self.n if self.kind == "grid" else 1

    @property
    def tile(self) -> tuple[int, int]:
        """One tile after down- and upscaling."""
        return (-(-self.h // self.down) * self.up, -(-self.w // self.down) * self.up)

    @property
    def assembled(self) -> tuple[int, int]:
        """The assembled image before ``final_down``."""
        th, tw = self.tile
        return (self.rows * th + (self.rows - 1) * self.pad, self.cols * tw + (self.cols - 1) * self.pad)

    @property
    def out_shape(self) -> tuple[int, int]:
        """``(height, width)`` of the drawn images."""
        height, width = self.assembled
        return (-(-height // self.final_down), -(-width // self.final_down))

    @property
    def grid_dims(self) -> tuple[int, int]:
        """``(rows, cols)`` as reported in :class:`tbactviz.grids.tiling.TileResult`."""
        if self.kind == "heatmap":
            return (1, 1)
        return (self.h, self.w) if self.kind == "dense" else (self.rows, self.cols)

    @property
    def reported_tile(self) -> tuple[int, int]:
        """``TileResult.tile_shape``."""
        if self.kind == "heatmap":
            return self.out_shape
        if self.kind == "dense":
            return (self.up, self.up) if self.down == 1 else (1, 1)
        return self.tile if self.final_down == 1 else (1, 1)

    @property
    def geometry(self) -> GridGeometry:
        """Where the tiles lie in the drawn images."""
        (rows, cols), (height, width) = self.grid_dims, self.out_shape
        tile_h, tile_w = self.reported_tile if self.kind == "dense" else self.tile
        return GridGeometry(
            self.kind, rows, cols, tile_h, tile_w, self.pad, self.h, self.w, self.down, self.up,
            self.final_down, height, width,
        )  # fmt: skip


# ----------------------------------------------------------------------------------------------------------
# validation (the checks themselves are tbactviz.checks')


def levels_arg(value: object) -> int:
    """Colour levels: 2..254 (:data:`MAX_LEVELS`) or :data:`ALL_LEVELS`."""
    valid = f"an int in 2..{MAX_LEVELS} (or {ALL_LEVELS}: every level)"
    levels = check_int("levels", value, minimum=2, valid=valid)
    if levels > MAX_LEVELS and levels != ALL_LEVELS:
        raise value_error("levels", value, valid)
    return levels


def check_sample_shape(shape: tuple[int, ...], *, what: str) -> None:
    """Raise ValueError when a dimension of ``shape`` is 0 (no channels, or an empty spatial axis)."""
    if len(shape) >= 1 and shape[-1] == 0:
        raise ValueError(f"{what} {shape} has no channels (last dimension is 0); nothing to draw")
    if any(d == 0 for d in shape[:-1]):
        raise ValueError(
            f"{what} {shape} has a spatial dimension of size 0; feature maps need every dimension >= 1"
        )


def _shape_arg(shape: tuple[int | None, ...]) -> tuple[int, ...]:
    dims: list[int] = []
    for i, d in enumerate(shape):
        if d is None:
            raise ValueError(
                f"shape={tuple(shape)!r}: dimension {i} is None (unknown); the size needs every dim"
            )
        dims.append(check_int(f"shape[{i}]", d, minimum=0))
    check_sample_shape(tuple(dims), what="shape")
    return tuple(dims)


# ----------------------------------------------------------------------------------------------------------
# the plan


def _near_square(n: int, columns: int | None) -> tuple[int, int]:
    cols = math.isqrt(n - 1) + 1 if columns is None else min(columns, n)  # isqrt(n-1)+1 == ceil(sqrt(n))
    return -(-n // cols), cols


def _fit(plan: GridPlan, *, max_side: int, min_side: int) -> GridPlan:
    """Choose the down/upscale factors so the image respects ``max_side`` and, if possible, ``min_side``."""
    seps_h, seps_w = (plan.rows - 1) * plan.pad, (plan.cols - 1) * plan.pad
    height, width = plan.assembled
    if height > max_side or width > max_side:
        # room per tile along each axis; the smallest factor f with ceil(h / f) <= room is ceil(h / room)
        room_h, room_w = (max_side - seps_h) // plan.rows, (max_side - seps_w) // plan.cols
        if room_h >= 1 and room_w >= 1:
            return replace(plan, down=max(-(-plan.h // room_h), -(-plan.w // room_w), 1))
        # Fallback: even 1-pixel tiles do not fit between the separators. Draw 1-pixel tiles, then block-mean
        # the whole assembled RGB image (separators and markers blend into their neighbours).
        plan = replace(plan, down=max(plan.h, plan.w))
        height, width = plan.assembled
        return replace(plan, final_down=max(-(-height // max_side), -(-width // max_side)))
    if min_side > 0 and max(height, width) < min_side:
        up_h = -(-(min_side - seps_h) // (plan.rows * plan.h))
        up_w = -(-(min_side - seps_w) // (plan.cols * plan.w))
        cap = min((max_side - seps_h) // (plan.rows * plan.h), (max_side - seps_w) // (plan.cols * plan.w))
        return replace(plan, up=max(1, min(up_h, up_w, cap)))
    return plan


def plan_grid(
    sample_shape: tuple[int | None, ...],
    *,
    max_images: int = 3,
    max_channels: int = 64,
    normalize: str = "standardize",
    order: str = "index",
    columns: int | None = None,
    padding: int = 1,
    max_side: int = DEFAULT_MAX_SIDE,
    min_side: int = DEFAULT_MIN_SIDE,
    levels: int = ALL_LEVELS,
    finite: bool | None = None,
    precision: str = "float32",
) -> GridPlan:
    """The static plan of one layer's grids, from one sample's shape and the drawing options.

    Args:
        sample_shape: Per-sample shape, batch excluded: ``()``/``(units,)`` (Dense), ``(T, C)``,
            ``(H, W, C)``, ``(D, H, W, C)``, ...; every entry known and >= 1.
        max_images, max_channels, normalize, order, columns, padding, max_side, min_side: As in
            :func:`tbactviz.grids.tiling.tile_activations`.
        levels: Colour levels computed on the device: 2..254 (uint8 palette indices, what the PNG writer
            takes; the logger's ``levels``) or 256 (:data:`ALL_LEVELS`: codes of the full colormap).
        finite: True when the data are known to hold no NaN/Inf (skips the masks); None/False: check.
        precision: ``"float32"`` (default; every backend) or ``"float64"`` (sums in float64; needs a
            backend with float64: TensorFlow, PyTorch, JAX with ``jax_enable_x64``).

    Returns:
        A frozen, hashable :class:`GridPlan`.

    Raises:
        ValueError, TypeError: An option out of range or of the wrong type, or a dimension None or 0 (the
            message names the argument and the value).

    Example:
        >>> p = plan_grid((7, 7, 2048), max_channels=2048, min_side=0, levels=64)
        >>> (p.rows, p.cols, p.down, p.out_shape)
        (45, 46, 1, (359, 367))
    """
    shape = _shape_arg(sample_shape)
    max_images = check_int("max_images", max_images, minimum=1)
    max_channels = check_int("max_channels", max_channels, minimum=1)
    columns = check_optional_int("columns", columns, minimum=1, meaning="near-square")
    padding = check_int("padding", padding, minimum=0)
    max_side = check_int("max_side", max_side, minimum=1)
    min_side = check_int("min_side", min_side, minimum=0)
    normalize = check_choice("normalize", normalize, NORMALIZE_MODES)
    order = check_choice("order", order, CHANNEL_ORDERS)
    precision = check_choice("precision", precision, ("float32", "float64"))
    common = {
        "max_images": max_images,
        "normalize": normalize,
        "levels": levels_arg(levels),
        "finite": finite is True,
        "precision": precision,
    }
    plan: GridPlan
    if len(shape) <= 1:  # Dense (units,) or one scalar per sample ()
        units = shape[0] if shape else 1
        rows, cols = _near_square(units, columns)
        plan = GridPlan(shape, "dense", units, 1, 1, rows, cols, 0, **common)  # type: ignore[arg-type]
    elif len(shape) == 2:  # sequence (T, C): one heatmap
        n = min(shape[1], max_channels)
        plan = GridPlan(shape, "heatmap", n, 1, 1, shape[0], n, 0, order=order, **common)  # type: ignore[arg-type]
    else:  # (..., H, W, C): one tile per channel
        n = min(shape[-1], max_channels)
        rows, cols = _near_square(n, columns)
        plan = GridPlan(
            shape,
            "grid",
            n,
            rows,
            cols,
            shape[-3],
            shape[-2],
            padding,
            order=order,
            **common,  # type: ignore[arg-type]
        )
    return _fit(plan, max_side=max_side, min_side=min_side)


def grid_shape(
    shape: tuple[int | None, ...],
    *,
    max_channels: int = 64,
    columns: int | None = None,
    padding: int = 1,
    max_side: int = DEFAULT_MAX_SIDE,
    min_side: int = DEFAULT_MIN_SIDE,
) -> tuple[int, int]:
    """Size of the image :func:`tbactviz.grids.tiling.tile_activations` would draw for one sample's ``shape``.

    Args:
        shape: Per-sample shape, batch dimension excluded (e.g. a Keras ``output_shape[1:]``): ``()`` or
            ``(units,)`` for Dense, ``(T, C)``, ``(H, W, C)``, ``(D, H, W, C)``, ...
        max_channels, columns, padding, max_side, min_side: As in ``tile_activations``.

    Returns:
        ``(H, W)`` in pixels, exactly ``tile_activations(np.zeros((1, *shape)), ...).images.shape[1:3]`` for
        the same options (the colormap, normalization and order do not change the size).

    Raises:
        ValueError: An entry of ``shape`` is None (unknown) or negative, a spatial dimension or the channel
            dimension is 0, or an option is out of range.
        TypeError: An entry or an option is not an int.

    Example:
        >>> grid_shape((28, 28, 32))
        (173, 173)
    """
    return plan_grid(
        shape,
        max_channels=max_channels,
        columns=columns,
        padding=padding,
        max_side=max_side,
        min_side=min_side,
    ).out_shape
