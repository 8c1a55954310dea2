"""The logger's probe: the model's forward pass with every chosen layer reduced on the device.

:class:`DeviceProbe` runs an :class:`~tbactviz.probe.extractor.ActivationExtractor` with
:func:`tbactviz.snapshot.digest.reduce_layer` applied to each captured layer where the layer returns its
output (a :class:`~tbactviz.model.compiled.LayerReduce`: one compiled reduction per layer shape), and yields,
chunk by chunk, ``{layer_path: LayerPart}``: small numpy arrays (per-channel partial sums, histogram bucket
counts, what the grids need of the first samples). Histogram edges come from the whole probe, as
TensorBoard's do: a probe that runs as one chunk computes its extremes and its bucket counts in the same
compiled call; a probe of several chunks first runs a pass that returns only each layer's finite extremes.

Grids are reduced in the same compiled call (:func:`tbactviz.grids.quantize.grid_partial`): the plans come
from :meth:`tbactviz.snapshot.drawing.Drawing.plans` before the probe is compiled, from the layers' static
output shapes (:meth:`tbactviz.probe.extractor.ActivationExtractor.sample_shapes`), and with
``normalize="fixed"``
the kept ranges are tensor arguments (no retrace when they change).

The reductions first run without NaN/Inf masks and without scaling (``ReduceSpec.finite``: about half the
passes over the data); a chunk whose results may differ from the exact ones
(:func:`tbactviz.stats.reductions.suspect`: a non-finite sum, extreme magnitudes, a histogram range that
overflows; in the extremes pass, non-finite bounds) is run again with the exact variant (masks, values
scaled by a power of two), which gives the exact figures: a model that produces NaN, Inf or extreme values
pays one more forward pass for each such chunk.

One compiled probe per variant (drawn samples, with or without given edges, which layers have a kept
``fixed`` range, with or without masks, the extremes pass), built on first use and kept for the extractor's
lifetime.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

import keras
import numpy as np

from tbactviz.model.compiled import LayerReduce
from tbactviz.model.shapes import static_shape
from tbactviz.probe.extractor import ActivationExtractor
from tbactviz.probe.inputs import CheckedProbe
from tbactviz.snapshot.digest import BUCKETS, LayerPart, ReduceSpec, reduce_layer
from tbactviz.snapshot.drawing import Drawing
from tbactviz.stats import reductions

__all__ = ["Chunk", "DeviceProbe"]

#: What one probe chunk brings to the host: ``{layer_path: LayerPart}``.
Chunk = dict[str, LayerPart]


class DeviceProbe:
    """Probe chunks reduced on the device, for :meth:`tbactviz.ActivationLogger.probe_chunks`.

    Args:
        extractor: The compiled probe of the chosen layers.
        eps: Values with ``|a| <= eps`` count as zero (>= 0).
        histograms: Whether histogram counts are computed.
        grid_samples: ``max_images`` (0: no grids).
        drawing: How grids are planned (None: the first samples leave the device as they are).

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="c")])
        >>> extractor = ActivationExtractor(model, "c")
        >>> device = DeviceProbe(extractor, eps=0.0, histograms=True, grid_samples=0)
        >>> checked = extractor.checked(np.zeros((2, 8, 8, 3), "float32"))
        >>> [chunk["c"].shape for chunk in device.chunks(checked, need=1)]
        [(2, 6, 6, 4)]
    """

    def __init__(
        self,
        extractor: ActivationExtractor,
        *,
        eps: float,
        histograms: bool,
        grid_samples: int,
        drawing: Drawing | None = None,
    ) -> None:
        self._extractor = extractor
        self._eps, self._histograms, self._grid = eps, histograms, grid_samples
        self.drawing = drawing
        self._reducers: dict[Any, Any] = {}
        # (drawn samples, per-sample input shapes, path) -> GridPlan, made before the probe is traced
        self._plans: dict[tuple[int, Any, str], Any] = {}
        self._shape_key: Any = None

    def chunks(self, probe: CheckedProbe, need: int) -> Iterator[Chunk]:
        """Run the probe chunk by chunk; yield each chunk's parts.

        Args:
            probe: The probe, checked once (:meth:`~tbactviz.probe.extractor.ActivationExtractor.checked`).
            need: Samples that will be drawn (the first chunk holds them all with automatic chunk sizes).

        Raises:
            tbactviz.ProbeError: ``probe`` does not fit the model.
        """
        extractor = self._extractor
        n = probe.n
        first = max(need, 1)
        size = extractor.chunk_size(probe, min_first=first)
        grid = min(self._grid, need) if need else 0
        self._plan(probe, grid)
        ranges = self._ranges() if grid else {}
        given: dict[str, Any] = {"ranges": ranges} if ranges else {}
        several = size < n  # then a first pass for the whole probe's extremes (TensorBoard's edges)
        if several and self._histograms:
            given["bounds"] = self._probe_bounds(probe, size)
        extra = given or None
        shapes = {info.path: info.output_shape for info in extractor.layers}
        ranged = frozenset(ranges)
        for start in range(0, n, size):
            stop = min(n, start + size)
            # one chunk: the histogram's edges and counts in the same compiled call; the drawn samples'
            # chunks also reduce what the grids need
            drawn = grid if start < first else 0
            chunk = extractor.run(probe, start, stop, self._reducer(drawn, several, ranged), extra)
            if any(reductions.suspect(r) for r in chunk.values()):  # NaN/Inf, extremes: exact variant
                careful = self._reducer(drawn, several, ranged, careful=True)
                chunk = extractor.run(probe, start, stop, careful, extra)
            parts: Chunk = {}
            for path, r in chunk.items():
                plan = self._plans.get((grid, self._shape_key, path)) if "grid" in r else None
                sample_shape = _sample_shape(shapes.get(path), r, plan)
                parts[path] = LayerPart.from_reduced(r, stop - start, sample_shape, plan)
            yield parts

    def _ranges(self) -> dict[str, np.ndarray]:
        """With ``normalize="fixed"``: the ranges kept so far, as ``(2,)`` float32 arrays per layer path."""
        drawing = self.drawing
        if drawing is None or not drawing.fixed:
            return {}
        found = {path: drawing.range_of(path) for path in self._extractor.paths}
        return {path: np.asarray(r, np.float32) for path, r in found.items() if r is not None}

    def _reducer(
        self, grid: int, with_bounds: bool, ranged: frozenset[str] = frozenset(), careful: bool = False
    ) -> LayerReduce:
        """The per-layer reduce run in the compiled probe (one per variant, kept: one trace each).

        ``careful``: masks for NaN/Inf (exact in every case); else the fast variant, for finite values only
        (:attr:`tbactviz.snapshot.digest.ReduceSpec.finite`), whose results :meth:`chunks` checks.
        """
        key = (grid, with_bounds, ranged, careful)
        if key not in self._reducers:
            spec = ReduceSpec(
                eps=self._eps,
                buckets=BUCKETS if self._histograms else 0,
                grid_samples=grid,
                finite=not careful,
            )

            def split(path: str, shape: tuple[int | None, ...], extra: Any) -> tuple[Any, Any]:
                extra = extra or {}
                bounds, ranges = extra.get("bounds"), extra.get("ranges", {})
                plan = self._plans.get((grid, self._shape_key, path)) if grid else None
                if plan is not None and static_shape(shape) != tuple(plan.sample_shape):
                    plan = None  # traced shape differs from the planned one: the samples leave as they are
                args = {"bounds": None if bounds is None else bounds[path], "range": ranges.get(path)}
                return (plan, args["bounds"] is None, args["range"] is None), args

            def reduce(static: Any, a: Any, args: Any) -> dict[str, Any]:
                return reduce_layer(a, spec, args["bounds"], static[0], args["range"])

            self._reducers[key] = LayerReduce(split, reduce)
        reducer: LayerReduce = self._reducers[key]
        return reducer

    def _plan(self, probe: CheckedProbe, grid: int) -> None:
        """Plan every layer's grid before the probe is compiled (the byte budget is shared by all layers)."""
        key = self._shape_key = tuple(tuple(np.shape(leaf))[1:] for leaf in keras.tree.flatten(probe.inputs))
        if not grid or self.drawing is None or any(k[:2] == (grid, key) for k in self._plans):
            return
        plans = self.drawing.plans(self._extractor.sample_shapes(probe), grid)
        self._plans.update({(grid, key, path): plan for path, plan in plans.items()})

    def _probe_bounds(self, probe: CheckedProbe, size: int) -> dict[str, tuple[np.float32, np.float32]]:
        """The whole probe's finite extremes per layer: one compiled pass per chunk of ``size`` samples,
        folded here.

        The fast pass (no masks) is kept where both extremes are finite; a chunk where one is not (NaN or
        +-Inf among the values) is run again with masks.
        """
        for careful in (False, True):
            if ("bounds", careful) not in self._reducers:
                self._reducers["bounds", careful] = LayerReduce(
                    lambda path, shape, extra: (None, None),
                    functools.partial(_bounds, finite=not careful),
                )
        extractor = self._extractor
        found: dict[str, tuple[float, float]] = {}
        for start in range(0, probe.n, size):
            stop = min(probe.n, start + size)
            chunk = extractor.run(probe, start, stop, self._reducers["bounds", False])
            if not all(np.isfinite([float(lo), float(hi)]).all() for lo, hi in chunk.values()):
                chunk = extractor.run(probe, start, stop, self._reducers["bounds", True])
            for path, (lo, hi) in chunk.items():
                old = found.get(path, (np.inf, -np.inf))
                found[path] = (min(old[0], float(lo)), max(old[1], float(hi)))
        return {
            path: (np.float32(lo), np.float32(hi)) if lo <= hi else (np.float32(0), np.float32(0))
            for path, (lo, hi) in found.items()
        }


def _bounds(static: Any, a: Any, args: Any, *, finite: bool) -> tuple[Any, Any]:
    return reductions.bounds(a, finite=finite)


def _sample_shape(
    shape: tuple[int | None, ...] | None, reduced: Mapping[str, Any], plan: Any = None
) -> tuple[int, ...]:
    """One sample's activation shape: the layer's static output shape, or the drawn samples' shape."""
    if shape is not None and all(d is not None for d in shape[1:]):
        return tuple(int(d) for d in shape[1:])  # type: ignore[arg-type]
    if plan is not None:
        return tuple(plan.sample_shape)
    if "raw" in reduced:
        return tuple(int(d) for d in np.shape(reduced["raw"])[1:])
    return tuple(1 if d is None else int(d) for d in (shape or (None, 1))[1:])
