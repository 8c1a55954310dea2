"""The ``layout/<path>`` summary: where each tile of a logged grid lies and which channel it shows.

The logger writes it beside every ``activations/<path>`` image (a tensor summary of tbactviz's own plugin,
kind ``"layout"``), and the Activations tab reads it to map a click on a grid to a channel, to crop one
channel out of the grid of every step (the drill-down), and to order the layers as in the model.

Format (version 1): a flat int32 vector

=====  ==============  ==========================================================================
index  field           meaning
=====  ==============  ==========================================================================
0      ``format``      1 (this format)
1      ``index``       the layer's position among the logged layers, in model order
2      ``count``       number of logged layers
3      ``kind``        0 grid (a tile per channel), 1 heatmap (rank 3), 2 dense (a cell per unit)
4      ``images``      PNGs in the image summary of that step (one per drawn probe sample)
5, 6   ``height``,     size of each PNG in pixels
       ``width``
7, 8   ``rows``,       tile rows and columns
       ``cols``
9, 10  ``tile_h``,     one tile in PNG pixels *before* ``final_down`` (scaling included)
       ``tile_w``
11     ``pad``         separator width between tiles, before ``final_down``
12, 13 ``offset_y``,   pixel position of the first tile (0: no outer border)
       ``offset_x``
14, 15 ``source_h``,   one channel's map before scaling
       ``source_w``
16     ``down``        block-mean factor per tile (1 = none)
17     ``up``          nearest-neighbour factor per tile (1 = none)
18     ``final_down``  block-mean factor of the whole image (1 except when even 1-px tiles do not fit)
19     ``channels``    total channels of the layer (C)
20     ``drawn``       n, number of tiles drawn
21...   channel ids    the channel index tile ``i`` shows (row-major), ``n`` entries
=====  ==============  ==========================================================================

Tile ``i`` (``r, c = divmod(i, cols)``) starts at ``y = offset_y + r * (tile_h + pad)``,
``x = offset_x + c * (tile_w + pad)`` (divide by ``final_down``). numpy only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tbactviz.grids.tiling import GridGeometry

__all__ = ["FORMAT", "KINDS", "decode", "encode"]

#: Version of the layout vector written by :func:`encode`.
FORMAT = 1
#: Kind codes (index 3 of the vector).
KINDS: tuple[str, ...] = ("grid", "heatmap", "dense")
_FIELDS = (
    "format",
    "index",
    "count",
    "kind",
    "images",
    "height",
    "width",
    "rows",
    "cols",
    "tile_h",
    "tile_w",
    "pad",
    "offset_y",
    "offset_x",
    "source_h",
    "source_w",
    "down",
    "up",
    "final_down",
    "channels",
    "drawn",
)


def encode(
    geometry: GridGeometry, channel_ids: np.ndarray, *, index: int, count: int, images: int, channels: int
) -> np.ndarray:
    """The int32 layout vector of one layer at one step.

    Args:
        geometry: :attr:`tbactviz.grids.tiling.TileResult.geometry` of the drawn grids.
        channel_ids: :attr:`tbactviz.grids.tiling.TileResult.channels`, the channel each tile shows,
        row-major. index: The layer's position among the logged layers (model order), >= 0.
        count: Number of logged layers.
        images: PNGs written in the image summary at that step.
        channels: Channels of the layer (its last dimension).

    Returns:
        int32 vector of ``21 + len(channel_ids)`` entries (see the module docstring).

    Example:
        >>> from tbactviz.grids.tiling import tile_activations
        >>> r = tile_activations(np.ones((1, 4, 4, 3)), min_side=0)
        >>> encode(r.geometry, r.channels, index=0, count=1, images=1, channels=3).tolist()[:12]
        [1, 0, 1, 0, 1, 9, 9, 2, 2, 4, 4, 1]
    """
    g = geometry
    head = [
        FORMAT, index, count, KINDS.index(g.kind), images, g.height, g.width, g.rows, g.cols, g.tile_h,
        g.tile_w, g.pad, 0, 0, g.source_h, g.source_w, g.down, g.up, g.final_down, channels,
        len(channel_ids),
    ]  # fmt: skip
    ids = np.asarray(channel_ids, np.int64)
    out = np.empty(len(head) + len(ids), np.int32)
    out[: len(head)], out[len(head) :] = np.asarray(head, np.int64), ids  # int64 -> int32 as astype does
    return out


def decode(vector: Any) -> dict[str, Any]:
    """The fields of a layout vector as a dict (``kind`` as its name, ``channel_ids`` as a list).

    Raises:
        ValueError: The vector is too short, of another format, or its channel list has the wrong length.

    Example:
        >>> d = decode([1, 2, 5, 0, 1, 9, 9, 2, 2, 4, 4, 1, 0, 0, 4, 4, 1, 1, 1, 3, 3, 0, 1, 2])
        >>> d["index"], d["kind"], d["channel_ids"]
        (2, 'grid', [0, 1, 2])
    """
    values = [int(v) for v in np.asarray(vector).reshape(-1)]
    if len(values) < len(_FIELDS) or values[0] != FORMAT:
        raise ValueError(
            f"layout vector of {len(values)} entries, format {values[0] if values else None!r}: expected "
            f"format {FORMAT} with at least {len(_FIELDS)} entries"
        )
    out: dict[str, Any] = dict(zip(_FIELDS, values, strict=False))
    ids = values[len(_FIELDS) :]
    if len(ids) != out["drawn"] or not 0 <= out["kind"] < len(KINDS):
        raise ValueError(
            f"layout vector: drawn={out['drawn']} but {len(ids)} channel ids, kind={out['kind']}"
        )
    out["kind"] = KINDS[out["kind"]]
    out["channel_ids"] = ids
    return out
