"""How the logger draws: the static grid plans of a step (byte budget included) and the host-side assembly.

:class:`Drawing` holds the logger's drawing options. The probe asks it for one
:class:`~tbactviz.grids.plan.GridPlan` per layer (:meth:`Drawing.plans`) when it is traced, from the layers'
known output shapes: with ``max_side=None`` the side that keeps a step within the byte budget
(:func:`tbactviz.grids.budget.plan_max_side`) is chosen there, before anything is compiled. The compiled probe
then runs :func:`tbactviz.grids.quantize.grid_partial` on every layer, and only the quantized tiles reach the
host,
where :func:`draw` lays them out (:func:`tbactviz.grids.tiling.assemble`) and encodes the palette PNGs and the
``layout/<path>`` summary. With ``normalize="fixed"`` the ranges kept so far (given, or measured at the
first step) are passed to the probe as tensors, so a new range is no retrace.

Example:
    >>> d = Drawing({"max_images": 1, "max_channels": 4, "normalize": "minmax", "colormap": "gray",
    ...              "order": "index", "columns": None, "max_side": None, "min_side": 0}, levels=16)
    >>> plan = d.plans({"c": (8, 8, 4)}, 1)["c"]
    >>> plan.n, plan.levels, plan.down
    (4, 16, 1)
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from tbactviz.events import naming, tilemap, wire
from tbactviz.grids import budget, tiling
from tbactviz.grids.plan import GridPlan, plan_grid
from tbactviz.grids.png import encode_indexed_png, encode_png
from tbactviz.options import DEFAULT_COMPRESS_LEVEL, DEFAULT_STEP_BYTES

__all__ = ["Drawing", "ValueRange", "draw"]

ValueRange = tuple[float, float]


class Drawing:
    """The logger's drawing options, the grid plans made from them and the ``fixed`` ranges kept.

    Args:
        tile_options: ``max_images``, ``max_channels``, ``normalize``, ``colormap``, ``order``, ``columns``,
            ``max_side`` (None: from the byte budget) and ``min_side``, as the logger takes them.
        levels: Colour levels of the PNGs (2..254), computed on the device.
        compress_level: PNG deflate level.
        step_bytes: The byte budget of a step (``max_bytes_per_step``) when ``max_side`` is None.
        value_range: With ``normalize="fixed"``: one given ``(lo, hi)`` for every layer, a mapping of layer
            path to range, or None (measured at the first step).
    """

    def __init__(
        self,
        tile_options: Mapping[str, Any],
        *,
        levels: int,
        compress_level: int = DEFAULT_COMPRESS_LEVEL,
        step_bytes: int = DEFAULT_STEP_BYTES,
        value_range: ValueRange | Mapping[str, ValueRange] | None = None,
    ) -> None:
        self.options = dict(tile_options)
        self.levels, self.compress_level, self.step_bytes = int(levels), int(compress_level), int(step_bytes)
        self.ranges: dict[str, ValueRange] = dict(value_range) if isinstance(value_range, Mapping) else {}
        self.shared_range = value_range if isinstance(value_range, tuple) else None
        self._sides: dict[tuple[int, tuple[tuple[int, ...], ...]], int] = {}
        self._plans: dict[tuple[tuple[int, ...], int, int], GridPlan] = {}
        self._lock = threading.Lock()

    def check_paths(self, paths: Iterable[str]) -> None:
        """Raise ValueError when given ``fixed`` ranges name layers that are not logged."""
        paths = list(paths)
        unknown = sorted(set(self.ranges) - set(paths))
        if unknown:
            raise ValueError(
                f"value_range names layers that are not logged: {unknown}; logged layers are {list(paths)}"
            )

    @property
    def fixed(self) -> bool:
        """Whether ``normalize="fixed"``."""
        return bool(self.options["normalize"] == "fixed")

    def side(self, shapes: list[tuple[int, ...]], images: int) -> int:
        """``max_side``: the option, or the side that keeps a step of ``images`` drawn samples in budget."""
        if self.options["max_side"] is not None:
            return int(self.options["max_side"])
        key = (images, tuple(shapes))
        if key not in self._sides:
            self._sides[key] = budget.plan_max_side(
                shapes,
                budget=self.step_bytes,
                images=max(images, 1),
                max_channels=self.options["max_channels"],
                columns=self.options["columns"],
                levels=self.levels,
                per_channel_bytes=16,  # the (C, 4) float32 channels/<path> summary
            )
        return self._sides[key]

    def plans(self, shapes: Mapping[str, tuple[int, ...] | None], images: int) -> dict[str, GridPlan]:
        """One plan per layer of a step drawing ``images`` samples (layers of unknown shape are left out).

        Args:
            shapes: One sample's shape per layer path (None: unknown), every logged layer of the step (the
                byte budget is shared by all of them).
            images: Samples drawn, >= 1.
        """
        known = {p: s for p, s in shapes.items() if s is not None}
        with self._lock:
            side = self.side(list(known.values()), images)
            out = {}
            for path, shape in known.items():
                key = (shape, images, side)
                if key not in self._plans:
                    opts = self.options
                    self._plans[key] = plan_grid(
                        shape,
                        max_images=images,
                        max_channels=opts["max_channels"],
                        normalize=opts["normalize"],
                        order=opts["order"],
                        columns=opts["columns"],
                        max_side=side,
                        min_side=opts["min_side"],
                        levels=self.levels,
                    )
                out[path] = self._plans[key]
        return out

    def range_of(self, path: str) -> ValueRange | None:
        """With ``normalize="fixed"``: the layer's range so far (given or measured), else None."""
        return self.ranges.get(path) or self.shared_range

    def keep_range(self, path: str, found: Any) -> None:
        """Keep the range measured at a layer's first step (``fixed`` without a given range)."""
        if self.fixed and self.range_of(path) is None and found is not None:
            lo, hi = (float(v) for v in np.asarray(found).reshape(-1)[:2])
            self.ranges[path] = (lo, hi)

    def host_draw(self, acts: np.ndarray, path: str) -> tiling.TileResult:
        """Tile host activations (:func:`~tbactviz.grids.tiling.tile_activations`): shape unknown in trace."""
        options = dict(self.options)
        if options["max_side"] is None:
            options["max_side"] = self.side([tuple(acts.shape[1:])], len(acts))
        found = self.range_of(path)
        if self.fixed and found is None:
            found = self.ranges[path] = tiling.value_range(acts)
        return tiling.tile_activations(acts, value_range=found if self.fixed else None, **options)


def draw(
    result: tiling.TileResult, drawing: Drawing, tag_path: str, *, index: int, count: int, channels: int
) -> list[bytes]:
    """The grid PNGs of one layer and their ``layout/<path>`` summary, as serialized summary values
    (:mod:`tbactviz.events.wire`).

    Args:
        result: What :func:`tbactviz.grids.tiling.assemble` (or ``tile_activations``) drew.
        drawing: The drawing options (levels, compression).
        tag_path: The layer's tag-safe path.
        index, count: The layer's index among the logged layers, and their number.
        channels: The layer's channel count.
    """
    indexed = result.indexed(drawing.levels)
    if indexed is None:  # the grid exists only as RGB (tiling's over-large fallback)
        pngs = [encode_png(img, compress_level=drawing.compress_level) for img in result.images]
        height, width = result.images.shape[1:3]
    else:
        indices, palette = indexed
        pngs = [encode_indexed_png(img, palette, compress_level=drawing.compress_level) for img in indices]
        height, width = indices.shape[1:3]
    layout = tilemap.encode(
        result.geometry, result.channels, index=index, count=count, images=len(pngs), channels=channels
    )
    return [
        wire.image(wire.layer_tag(naming.IMAGE_PREFIX, tag_path), pngs, width, height),
        wire.tensor(wire.layer_tag(naming.LAYOUT_PREFIX, tag_path), layout, kind="layout"),
    ]
