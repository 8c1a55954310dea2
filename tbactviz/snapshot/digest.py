"""One layer's share of one log event: reduced on the device, folded and drawn on the host.

The logger's probe runs :func:`reduce_layer` on every chosen layer inside the compiled forward pass
(:mod:`tbactviz.model.compiled`), so only small arrays leave the device: per channel a few partial sums
(:func:`tbactviz.stats.reductions.partials`), the histogram's bucket counts, and the first ``max_images``
samples' grids reduced to quantized tiles (:func:`tbactviz.grids.quantize.grid_partial`, one static
:class:`~tbactviz.grids.plan.GridPlan` per layer). Each chunk's result becomes a :class:`LayerPart`;
a :class:`LayerDigest` folds the parts of a step (:func:`tbactviz.stats.fold.merge`) and turns them into
summary values: the grid PNGs and their layout (:mod:`tbactviz.snapshot.drawing`), the histogram, the
per-channel ``(C, 4)`` figures and the scalars. Raw activations (:meth:`tbactviz.ActivationLogger.write`) go
through
the same :func:`reduce_layer`, run eagerly (:func:`reduce_arrays`): one implementation of each computation.

Example:
    >>> import numpy as np
    >>> spec = ReduceSpec(eps=0.0, buckets=4, grid_samples=1)
    >>> part = reduce_arrays(np.ones((2, 3, 3, 2), "float32"), spec)
    >>> part.shape, part.partials["total"].tolist(), part.counts.tolist(), part.raw.shape
    ((2, 3, 3, 2), [18.0, 18.0], [0, 0, 0, 36], (1, 3, 3, 2))
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from tbactviz.events import naming, wire
from tbactviz.grids import quantize, tiling
from tbactviz.snapshot.drawing import Drawing, draw
from tbactviz.stats import arrays, fold, reductions

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from tbactviz.grids.plan import GridPlan

__all__ = ["BUCKETS", "LayerDigest", "LayerPart", "ReduceSpec", "reduce_arrays", "reduce_layer"]

#: Histogram buckets per layer (TensorBoard's default).
BUCKETS = 30


@dataclasses.dataclass(frozen=True)
class ReduceSpec:
    """What :func:`reduce_layer` computes (static: one compiled probe per spec).

    Attributes:
        eps: Values with ``|a| <= eps`` count as zero (>= 0; +inf is clamped to the float32 maximum).
        buckets: Histogram buckets ``k`` (0: no histogram).
        grid_samples: Samples whose grid inputs are returned (0: none).
        dtype: The floating dtype of the sums: float32 on the device
            (:func:`tbactviz.stats.reductions.host_dtype` for host arrays).
        finite: Assume the activations hold no NaN/Inf and no extreme magnitudes: no masks, no scaling,
            fewer passes over the data. The probe checks each result
            (:func:`tbactviz.stats.reductions.suspect`) and recomputes a chunk that does not qualify with
            ``finite=False``.
    """

    eps: float = 0.0
    buckets: int = BUCKETS
    grid_samples: int = 0
    dtype: str = "float32"
    finite: bool = False


def reduce_layer(
    acts: Any, spec: ReduceSpec, bounds: Any = None, plan: GridPlan | None = None, value_range: Any = None
) -> dict[str, Any]:
    """What leaves the device of one layer's chunk (``keras.ops``; runs inside the compiled probe).

    Args:
        acts: Tensor ``(n, ..., C)``, rank >= 2.
        spec: What to compute.
        bounds: ``(lo, hi)`` float32 scalars, the whole probe's finite extremes (a probe of several chunks),
            or None: the chunk is the whole probe, and its own extremes are the histogram's edges.

    Returns:
        ``{"partials": {...}, "counts": (k,) int32, "lo", "hi": edges used, "grid": (k, ...)}``, the last
        three only when asked for (``buckets``, ``grid_samples`` > 0).
    """
    eps = min(float(spec.eps), float(np.finfo(spec.dtype).max))  # eps=inf: Inf itself is not small
    part = reductions.partials(acts, eps=eps, dtype=spec.dtype, finite=spec.finite)
    out: dict[str, Any] = {"partials": part}
    if spec.buckets:
        lo, hi = reductions.device_bounds(part) if bounds is None else bounds
        out["counts"] = reductions.histogram_counts(
            acts, lo, hi, spec.buckets, dtype=spec.dtype, finite=spec.finite
        )
        out["lo"], out["hi"] = lo, hi
    if spec.grid_samples:
        if plan is None:
            out["raw"] = acts[: spec.grid_samples]
        else:
            fast = dataclasses.replace(plan, finite=True) if spec.finite else plan
            out["grid"] = quantize.grid_partial(acts, fast, value_range)
    return out


@dataclasses.dataclass(frozen=True)
class LayerPart:
    """What one probe chunk brings of one layer to the host: small numpy arrays.

    Attributes:
        samples: Probe samples in the chunk.
        sample_shape: One sample's activation shape (batch axis excluded).
        partials: Per-channel partial sums (:func:`tbactviz.stats.reductions.partials`, numpy).
        counts: Histogram bucket counts ``(k,)`` or None.
        bounds: The histogram's ``(lo, hi)`` edges the counts were taken with, or None.
        grid: The first samples' quantized tiles (:func:`tbactviz.grids.quantize.grid_partial`), or None.
        plan: The plan ``grid`` was computed with.
        raw: The first samples as they are (a layer whose sample shape was not static), or None.
    """

    samples: int
    sample_shape: tuple[int, ...]
    partials: dict[str, np.ndarray]
    counts: np.ndarray | None = None
    bounds: tuple[float, float] | None = None
    grid: dict[str, np.ndarray] | None = None
    plan: GridPlan | None = None
    raw: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the activations this part summarizes, ``(samples, *sample_shape)``."""
        return (self.samples, *self.sample_shape)

    def __len__(self) -> int:
        return self.samples

    @property
    def nbytes(self) -> int:
        """Bytes held (what :func:`tbactviz.training.background.chunk_nbytes` counts)."""
        arrays = [*self.partials.values(), self.counts, self.raw, *(self.grid or {}).values()]
        return sum(int(a.nbytes) for a in arrays if a is not None)

    @classmethod
    def from_reduced(
        cls,
        reduced: Mapping[str, Any],
        samples: int,
        sample_shape: Sequence[int],
        plan: GridPlan | None = None,
    ) -> LayerPart:
        """A part from what :func:`reduce_layer` returned, as numpy (``plan``: the one ``grid`` used)."""
        bounds = None
        if "lo" in reduced:
            bounds = (float(np.asarray(reduced["lo"])), float(np.asarray(reduced["hi"])))
        return cls(
            samples=int(samples),
            sample_shape=tuple(int(d) for d in sample_shape),
            partials={k: np.asarray(v) for k, v in reduced["partials"].items()},
            counts=None if "counts" not in reduced else np.asarray(reduced["counts"]),
            bounds=bounds,
            grid=None if "grid" not in reduced else {k: np.asarray(v) for k, v in reduced["grid"].items()},
            plan=plan if "grid" in reduced else None,
            raw=reduced.get("raw"),
        )


def reduce_arrays(
    acts: np.ndarray, spec: ReduceSpec, plan: GridPlan | None = None, value_range: Any = None
) -> LayerPart:
    """:func:`reduce_layer` run eagerly on host activations ``(n, ..., C)`` taken as one whole probe.

    With a ``plan`` (and ``grid_samples`` > 0) the grids are reduced as in the probe
    (:func:`tbactviz.grids.quantize.grid_partial`, eagerly); without, the first samples are kept (``raw``).

    The figures and histogram are :func:`tbactviz.stats.arrays.reduce_host`'s, the code
    :func:`tbactviz.layer_stats` and :func:`tbactviz.histogram_buckets` run: the same reductions as the
    probe's (their exact variant), in pieces, in float64 where the backend has it. Rank 1 ``(n,)`` is one
    channel.
    """
    from keras import ops

    array = np.asarray(acts)
    if array.ndim < 1:
        raise ValueError(f"activations must have rank >= 1 (batch first, channels last); got {array.shape}")
    merged, counts, edges = arrays.reduce_host(array, eps=spec.eps, buckets=spec.buckets)
    grid = None
    if spec.grid_samples and plan is not None:
        first = array[: spec.grid_samples]
        if plan.order == "index" and plan.kind != "dense":  # only the drawn channels go to the backend
            first = first[..., : plan.n]
        first = ops.convert_to_tensor(first)
        grid = quantize.partial_to_numpy(quantize.grid_partial(first, plan, value_range))
    return LayerPart(
        samples=len(array),
        sample_shape=tuple(int(d) for d in array.shape[1:]),
        partials=merged,
        counts=counts,
        bounds=edges if spec.buckets else None,
        grid=grid,
        plan=plan if grid is not None else None,
        raw=array[: spec.grid_samples] if spec.grid_samples and grid is None else None,
    )


class LayerDigest:
    """One layer's parts of one step, folded as they come (one thread at a time per digest).

    Args:
        path, tag_path: The layer's path and its tag-safe form.
        need: Samples to draw (0: no grid).
        histograms: Whether the histogram is written.
        stat_names: The scalar figures written (empty: none, and no per-channel figures either).
        dormant_tau: ReDo's threshold.
        drawing: How to draw.
        index, count: The layer's index among the logged layers and their number (``layout/<path>``).

    Grids come from the first chunk(s) holding the first ``need`` samples: their quantized tiles are laid out
    here (:func:`tbactviz.grids.tiling.assemble`); tiles of several chunks are concatenated (``layer``,
    ``fixed`` ranges and ``activity`` order are then those of the first chunk). An error is kept (``error``)
    rather
    than raised, so that the other layers go on.
    """

    def __init__(
        self,
        path: str,
        tag_path: str,
        *,
        need: int,
        histograms: bool,
        stat_names: Sequence[str],
        dormant_tau: float,
        drawing: Drawing,
        index: int = 0,
        count: int = 1,
    ) -> None:
        self.path, self.tag_path = path, tag_path
        self.error: Exception | None = None
        self._need, self._histograms, self._stat_names = need, histograms, tuple(stat_names)
        self._tau, self._drawing, self._index, self._count = dormant_tau, drawing, index, count
        self._merged: dict[str, np.ndarray] | None = None
        self._counts: np.ndarray | None = None
        self._kept: list[LayerPart] = []
        self._images: list[bytes] = []
        #: After :meth:`finish`: the layer's values in the step, and how many of them are NaN or +-Inf.
        self.values = self.nonfinite = 0
        self.tags: list[str] = []  # the stock dashboards' tags finish() wrote

    def update(self, part: LayerPart) -> None:
        """Fold one chunk's part (errors are kept in ``error``)."""
        if self.error is not None:
            return
        try:
            self._merged = fold.merge(self._merged, part.partials)
            if part.counts is not None:
                counts = part.counts.astype(np.int64)
                self._counts = counts if self._counts is None else self._counts + counts
            if self._need > 0 and (part.grid is not None or part.raw is not None):
                self._need -= min(self._need, part.samples)
                self._kept.append(part)
                if self._need == 0:
                    self._images = self._drawn()
        except Exception as exc:
            self.error = exc

    def _drawn(self) -> list[bytes]:
        parts, self._kept = self._kept, []
        first = parts[0]
        channels = first.sample_shape[-1] if first.sample_shape else 1
        if first.raw is not None or first.plan is None or first.grid is None:
            acts = np.concatenate([p.raw for p in parts if p.raw is not None])
            result = self._drawing.host_draw(acts, self.path)
        else:
            grids = [p.grid for p in parts if p.grid is not None]
            partial = {
                "codes": (
                    grids[0]["codes"] if len(grids) == 1 else np.concatenate([g["codes"] for g in grids])
                )[: first.plan.max_images],
                "channels": grids[0]["channels"],
                "nonfinite": sum(int(g["nonfinite"]) for g in grids),
            }
            self._drawing.keep_range(self.path, grids[0].get("range"))
            result = tiling.assemble(partial, first.plan, self._drawing.options["colormap"])
        return draw(
            result, self._drawing, self.tag_path, index=self._index, count=self._count, channels=channels
        )

    def finish(self) -> tuple[list[bytes], dict[str, float]]:
        """The layer's summary values (serialized, :mod:`tbactviz.events.wire`) and its figures ``{stat:
        value}`` (``([], {})`` after an error).

        A layer with no finite value has no ``mean``, ``std``, ``max_abs`` and no histogram
        (:func:`tbactviz.stats.fold.finish`); :attr:`values` and :attr:`nonfinite` say how many values the
        step had and how many were NaN or +-Inf, :attr:`tags` which tags of the stock dashboards it wrote.
        """
        if self.error is not None:
            return [], {}
        try:
            if self._kept:  # fewer probe samples than max_images: draw what there is
                self._images = self._drawn()
            values = list(self._images)
            if self._merged is None:
                raise ValueError(f"layer {self.path!r}: no probe chunk was folded")
            count = self._merged["count"]
            self.values = int(self._merged["rows"]) * int(count.size)
            self.nonfinite = self.values - int(count.sum())
            # no finite value: no histogram (there is no range to bucket), as no mean, std or max_abs
            counts = self._counts if self._histograms and self.nonfinite < self.values else None
            if counts is not None:
                lo, hi = fold.value_bounds(self._merged)
                rows = fold.histogram_rows(counts, lo, hi)
                values.append(wire.histogram(wire.layer_tag(naming.HISTOGRAM_PREFIX, self.tag_path), rows))
            figures: dict[str, float] = {}
            if self._stat_names:
                all_figures, channels = fold.finish(self._merged, dormant_tau=self._tau)
                figures = {name: all_figures[name] for name in self._stat_names if name in all_figures}
                tag = wire.layer_tag(naming.CHANNELS_PREFIX, self.tag_path)
                values.append(wire.tensor(tag, channels, kind="channels"))
                values.extend(wire.scalar(wire.layer_tag(k, self.tag_path), v) for k, v in figures.items())
            self.tags = naming.tags_for_layer(
                self.tag_path, images=bool(self._images), histograms=counts is not None, stats=figures
            )
        except Exception as exc:
            self.error = exc
            return [], {}
        return values, figures
