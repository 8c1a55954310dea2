"""Grid sizes from a byte budget per logged step (numpy only).

Instead of one fixed cap on every grid's side, :func:`plan_max_side` picks the largest ``max_side`` such that
the PNG grids of all chosen layers, plus what else a step writes, fit ``budget`` bytes: a run that logs a few
layers gets its maps at full size, one that logs 189 gets card-size maps. Grids smaller than the chosen side
are not touched (a layer's maps are never drawn larger than they are, except for ``min_side`` upscaling).

The size of a palette PNG is estimated from its pixel count *before* ``min_side`` upscaling (repeated pixels
deflate to almost nothing): about :data:`BYTES_PER_PIXEL` bytes per pixel at 64 colour levels (measured on
ResNet50V2's 189 layers, random weights, a photograph: 0.65 to 0.71 with any side from 128 to 4096; noisy maps
compress worst), scaled by ``log2(levels) / 6`` for other level counts; the rest of a layer's summaries by
:data:`OTHER_BYTES_PER_LAYER` (measured there: 1.6 KB). ``benchmarks/bench_budget.py`` measures the result.

Example:
    >>> plan_max_side([(8, 8, 16)], budget=1 << 20, images=1)  # small grids: no limit needed
    4096
    >>> plan_max_side([(112, 112, 64)] * 60, budget=4 << 20, images=1)
    310
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tbactviz import options
from tbactviz.checks import check_int
from tbactviz.grids import tiling

__all__ = [
    "BYTES_PER_PIXEL",
    "DEFAULT_STEP_BYTES",
    "MAX_SIDE_CEILING",
    "MIN_SIDE_FLOOR",
    "OTHER_BYTES_PER_LAYER",
    "estimate_step_bytes",
    "plan_max_side",
]

#: Default budget of one logged step, every layer and summary together: 4 MiB.
DEFAULT_STEP_BYTES = options.DEFAULT_STEP_BYTES
#: Estimated PNG bytes per grid pixel at 64 colour levels (see the module docstring).
BYTES_PER_PIXEL = 0.72
#: Estimated bytes a layer adds to a step besides its PNGs (histogram, scalars, layout, tags).
OTHER_BYTES_PER_LAYER = 2048
#: The largest side the budget ever picks (browsers draw images up to 32767 px; 4096 is a screen or two).
MAX_SIDE_CEILING = 4096
#: The smallest side the budget picks, however many layers: a TensorBoard card's worth is 384.
MIN_SIDE_FLOOR = 128


def _pixels(shape: tuple[int, ...], side: int, max_channels: int, columns: int | None) -> int:
    """Pixels of a grid before ``min_side`` upscaling (upscaled pixels cost next to nothing once deflated)."""
    height, width = tiling.grid_shape(
        shape, max_channels=max_channels, columns=columns, max_side=side, min_side=0
    )
    return height * width


def estimate_step_bytes(
    shapes: Sequence[tuple[int, ...]],
    max_side: int,
    *,
    images: int = 1,
    max_channels: int = 64,
    columns: int | None = None,
    levels: int = 64,
    per_channel_bytes: int = 0,
) -> int:
    """Estimated bytes of one step that draws layers of per-sample ``shapes`` with ``max_side``.

    Args:
        shapes: Per-sample output shape of each logged layer (batch axis excluded).
        max_side: The grids' largest side in pixels.
        images: Grids per layer (probe samples drawn).
        max_channels, columns: As in :func:`tbactviz.grids.tiling.tile_activations` (``min_side`` upscaling
            adds next to no bytes, so it is not an argument).
        levels: Colour levels of the PNGs (2..254).
        per_channel_bytes: Bytes written per channel of each layer besides the grids (e.g. 16 for a float32
            (C, 4) per-channel figure tensor); 0 when nothing is.

    Returns:
        The estimate, in bytes.
    """
    bpp = BYTES_PER_PIXEL * math.log2(max(levels, 2)) / 6.0
    total = 0.0
    for shape in shapes:
        total += images * bpp * _pixels(tuple(shape), max_side, max_channels, columns)
        total += OTHER_BYTES_PER_LAYER + per_channel_bytes * (int(shape[-1]) if shape else 1)
    return int(total)


def plan_max_side(
    shapes: Sequence[tuple[int, ...]],
    *,
    budget: int = DEFAULT_STEP_BYTES,
    images: int = 1,
    max_channels: int = 64,
    columns: int | None = None,
    levels: int = 64,
    per_channel_bytes: int = 0,
) -> int:
    """The largest grid side (``max_side``) whose step fits ``budget`` bytes, by bisection.

    Args:
        shapes: Per-sample output shape of each logged layer (batch axis excluded), e.g. ``(112, 112, 64)``.
        budget: Bytes one step may take, >= 1 (:data:`DEFAULT_STEP_BYTES`).
        images, max_channels, columns, levels, per_channel_bytes: As in
            :func:`estimate_step_bytes`.

    Returns:
        A side in ``MIN_SIDE_FLOOR..MAX_SIDE_CEILING``: :data:`MAX_SIDE_CEILING` when every grid fits at full
        size, :data:`MIN_SIDE_FLOOR` when even that does not fit (then the step exceeds the budget).

    Raises:
        TypeError: ``budget`` or ``images`` is not an int.
        ValueError: ``budget`` or ``images`` is below 1, or a shape has a dimension < 1.
    """
    budget = check_int("budget", budget, minimum=1)
    images = check_int("images", images, minimum=1)
    shapes = [tuple(int(d) for d in s) for s in shapes]

    def fits(side: int) -> bool:
        cost = estimate_step_bytes(
            shapes,
            side,
            images=images,
            max_channels=max_channels,
            columns=columns,
            levels=levels,
            per_channel_bytes=per_channel_bytes,
        )
        return cost <= budget

    if fits(MAX_SIDE_CEILING):
        return MAX_SIDE_CEILING
    low, high = MIN_SIDE_FLOOR, MAX_SIDE_CEILING  # fits(low) is assumed; fits(high) is False
    if not fits(low):
        return MIN_SIDE_FLOOR
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    return low
