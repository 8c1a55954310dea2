"""What the Activations tab shows, read through TensorBoard's data provider (JSON-ready dicts).

Every function takes the request context, the experiment id and a ``tensorboard.data.provider.DataProvider``,
so the tab works with TensorBoard's Python reader, its fast Rust data server and remote log directories alike.
Only the summaries tbactviz writes are read: ``layout/<path>`` and ``channels/<path>`` (tensor summaries of
the
``tbactviz`` plugin), ``activations/<path>`` (images) and ``<figure>/<path>`` (scalars) of the same layers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from tensorboard.data import provider

from tbactviz.events import tilemap
from tbactviz.events.naming import (
    LAYOUT_PREFIX,
    PLUGIN_NAME,
    channels_tag,
    histogram_tag,
    image_tag,
    layout_tag,
)
from tbactviz.plugin import rebin

__all__ = [
    "CHANNEL_FIGURES",
    "DOWNSAMPLE",
    "channel",
    "histograms",
    "latest",
    "layer",
    "run",
    "runs",
    "sampling",
]

#: Points asked of the data provider per time series: more than any run logs, so every step it kept.
DOWNSAMPLE = 100_000
#: Columns of the ``channels/<path>`` tensor (C, 4), one figure per channel.
CHANNEL_FIGURES: tuple[str, ...] = ("mean", "std", "zero_fraction", "max_abs")
#: The plugins whose sampling (``--samples_per_plugin``) matters to the tab.
_SAMPLED = ("images", "scalars", PLUGIN_NAME)


def _path(tag: str, prefix: str) -> str | None:
    return tag[len(prefix) + 1 :] if tag.startswith(prefix + "/") else None


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def runs(ctx: Any, experiment: str, data: provider.DataProvider) -> list[str]:
    """Runs that hold tbactviz's own summaries, sorted."""
    listing = data.list_tensors(ctx, experiment_id=experiment, plugin_name=PLUGIN_NAME)
    return sorted(r for r, tags in listing.items() if any(_path(t, LAYOUT_PREFIX) for t in tags))


def latest(ctx: Any, experiment: str, data: provider.DataProvider) -> dict[str, dict[str, Any]]:
    """The newest step of every run with tbactviz data, from the series' metadata only (cheap to poll).

    The tab polls it at TensorBoard's reload cadence and fetches a run again only when its entry changes.

    Returns:
        ``{run: {"step": newest step, "wall_time": its wall time, "layers": layers with a layout}}``, runs
        sorted; the ``layout/<path>`` summaries of each run are what is counted.
    """
    listing = data.list_tensors(ctx, experiment_id=experiment, plugin_name=PLUGIN_NAME)
    out: dict[str, dict[str, Any]] = {}
    for run_name in sorted(listing):
        series = [
            ts
            for tag, ts in listing[run_name].items()
            if _path(tag, LAYOUT_PREFIX) and ts.max_step is not None
        ]
        if series:
            out[run_name] = {
                "step": max(int(ts.max_step) for ts in series),
                "wall_time": max(float(ts.max_wall_time) for ts in series),
                "layers": len(series),
            }
    return out


def _read_tensors(
    ctx: Any, experiment: str, data: provider.DataProvider, run_name: str, tags: Iterable[str] | None, n: int
) -> dict[str, list[Any]]:
    found = data.read_tensors(
        ctx,
        experiment_id=experiment,
        plugin_name=PLUGIN_NAME,
        downsample=n,
        run_tag_filter=provider.RunTagFilter(runs=[run_name], tags=None if tags is None else list(tags)),
    )
    result: dict[str, list[Any]] = found.get(run_name, {})
    return result


def _layers(ctx: Any, experiment: str, data: provider.DataProvider, run_name: str) -> list[dict[str, Any]]:
    """The run's layers in model order (from the last layout of each), then layers without a layout."""
    last = _read_tensors(ctx, experiment, data, run_name, None, 1)
    rows = []
    for tag, series in last.items():
        path = _path(tag, LAYOUT_PREFIX)
        if path is None or not series:
            continue
        try:
            lay = tilemap.decode(series[-1].numpy)
        except ValueError:
            continue
        rows.append(
            {
                "path": path,
                "index": lay["index"],
                "depth": path.count("/"),
                "kind": lay["kind"],
                "channels": lay["channels"],
                "source": [lay["source_h"], lay["source_w"]],
                "drawn": lay["drawn"],
                "images": lay["images"],
            }
        )
    rows.sort(key=lambda r: (r["index"], r["path"]))
    return rows


def run(ctx: Any, experiment: str, data: provider.DataProvider, run_name: str) -> dict[str, Any]:
    """The health map of one run: layers x steps for every logged figure, and what sampling dropped.

    Returns:
        ``{"run", "layers": [{"path", "index", "depth", "kind", "channels", "source", "drawn", "images"}],
        "steps": [...], "figures": {name: [[value or None per step] per layer]}, "image_steps": [steps with
        grids of the first layer], "dropped": {"images": n}}``; figures are sorted by name, values in layer
        then step order; None where a figure was not logged (or not finite).
    """
    layers = _layers(ctx, experiment, data, run_name)
    row_of = {layer["path"]: i for i, layer in enumerate(layers)}
    scalars = data.read_scalars(
        ctx,
        experiment_id=experiment,
        plugin_name="scalars",
        downsample=DOWNSAMPLE,
        run_tag_filter=provider.RunTagFilter(runs=[run_name]),
    ).get(run_name, {})
    series: dict[str, dict[int, dict[int, float | None]]] = {}
    steps: set[int] = set()
    for tag, points in scalars.items():
        figure, _, path = tag.partition("/")
        if path not in row_of:
            continue
        cells = series.setdefault(figure, {}).setdefault(row_of[path], {})
        for p in points:
            cells[p.step] = _number(p.value)
            steps.add(p.step)
    image_steps: list[int] = []
    if layers:
        image_steps = sorted(d.step for d in _grids(ctx, experiment, data, run_name, layers[0]["path"]))
    steps.update(image_steps)
    ordered = sorted(steps)
    figures = {
        name: [[by_row.get(i, {}).get(s) for s in ordered] for i in range(len(layers))]
        for name, by_row in sorted(series.items())
    }
    return {
        "run": run_name,
        "layers": layers,
        "steps": ordered,
        "figures": figures,
        "image_steps": image_steps,
        "dropped": {"images": len(ordered) - len(image_steps) if image_steps else 0},
    }


def _grids(ctx: Any, experiment: str, data: provider.DataProvider, run_name: str, path: str) -> list[Any]:
    """The kept steps of one layer's grid images (``BlobSequenceDatum`` per step)."""
    tag = image_tag(path)
    found = data.read_blob_sequences(
        ctx,
        experiment_id=experiment,
        plugin_name="images",
        downsample=DOWNSAMPLE,
        run_tag_filter=provider.RunTagFilter(runs=[run_name], tags=[tag]),
    )
    return list(found.get(run_name, {}).get(tag, []))


def layer(ctx: Any, experiment: str, data: provider.DataProvider, run_name: str, path: str) -> dict[str, Any]:
    """Every kept step of one layer's grids: blob keys of the PNGs and the layout of the tiles.

    A step whose layout was dropped by TensorBoard's sampling gets the layout of the nearest step that has
    one (``layout_step`` says which).

    Returns:
        ``{"run", "layer", "steps": [{"step", "wall_time", "blobs": [key per probe sample], "layout": {...}
        or None, "layout_step": int or None}]}`` in step order.
    """
    grids = _grids(ctx, experiment, data, run_name, path)
    layouts: dict[int, dict[str, Any]] = {}
    tag = layout_tag(path)
    for datum in _read_tensors(ctx, experiment, data, run_name, [tag], DOWNSAMPLE).get(tag, []):
        try:
            layouts[datum.step] = tilemap.decode(datum.numpy)
        except ValueError:
            continue
    known = sorted(layouts)
    out = []
    for datum in sorted(grids, key=lambda d: d.step):
        nearest = min(known, key=lambda s: (abs(s - datum.step), s)) if known else None
        out.append(
            {
                "step": datum.step,
                "wall_time": datum.wall_time,
                "blobs": [ref.blob_key for ref in datum.values[2:]],
                "layout": None if nearest is None else layouts[nearest],
                "layout_step": nearest,
            }
        )
    return {"run": run_name, "layer": path, "steps": out}


def channel(
    ctx: Any, experiment: str, data: provider.DataProvider, run_name: str, path: str, index: int
) -> dict[str, Any]:
    """Per-channel figures of channel ``index`` of a layer over steps, from ``channels/<path>`` if logged.

    Returns:
        ``{"run", "layer", "channel", "steps": [...], "figures": {name: [value or None per step]}}``;
        empty ``steps`` and ``figures`` when the run has no per-channel figures for the layer.
    """
    tag = channels_tag(path)
    series = _read_tensors(ctx, experiment, data, run_name, [tag], DOWNSAMPLE).get(tag, [])
    steps: list[int] = []
    columns: dict[str, list[float | None]] = {name: [] for name in CHANNEL_FIGURES}
    for datum in sorted(series, key=lambda d: d.step):
        arr = np.asarray(datum.numpy, dtype=np.float64)
        if arr.ndim != 2 or not 0 <= index < arr.shape[0]:
            continue
        steps.append(datum.step)
        for j, name in enumerate(CHANNEL_FIGURES):
            columns[name].append(_number(arr[index, j]) if j < arr.shape[1] else None)
    return {
        "run": run_name,
        "layer": path,
        "channel": index,
        "steps": steps,
        "figures": columns if steps else {},
    }


def sampling(hints: dict[str, Any] | None) -> dict[str, int | None]:
    """Steps kept per tag for the plugins the tab reads (None: TensorBoard's default)."""
    hints = hints or {}
    return {name: hints.get(name) for name in _SAMPLED}


def histograms(
    ctx: Any,
    experiment: str,
    data: provider.DataProvider,
    run_name: str,
    path: str,
    buckets: int = rebin.DEFAULT_BUCKETS,
) -> dict[str, Any]:
    """A layer's activation histogram at every kept step, on one value axis (the histogram over time).

    Read from ``histograms/<path>`` (the stock histogram summaries); see
    :func:`tbactviz.plugin.rebin.shared_axis` for when and how the counts are re-binned.

    Args:
        buckets: Shared buckets when the written edges differ between steps (2..512).

    Returns:
        ``{"run", "layer", "steps": [...], "edges": [n + 1 values], "counts": [[n counts] per step],
        "rebinned": bool, "source_buckets": most buckets written at one step}``, in step order; empty
        ``steps`` and ``counts``, ``edges`` ``[0, 1]`` and ``source_buckets`` 0 when the layer has no
        histogram.
    """
    tag = histogram_tag(path)
    found = data.read_tensors(
        ctx,
        experiment_id=experiment,
        plugin_name="histograms",
        downsample=DOWNSAMPLE,
        run_tag_filter=provider.RunTagFilter(runs=[run_name], tags=[tag]),
    )
    series = sorted(found.get(run_name, {}).get(tag, []), key=lambda d: d.step)
    arrays = [np.asarray(d.numpy, np.float64) for d in series]
    edges, counts, rebinned = rebin.shared_axis(arrays, buckets)
    return {
        "run": run_name,
        "layer": path,
        "steps": [int(d.step) for d in series],
        "edges": [float(e) for e in edges],
        "counts": [[float(c) for c in row] for row in counts],
        "rebinned": rebinned,
        "source_buckets": max((a.shape[0] for a in arrays if a.ndim == 2), default=0),
    }
