"""One logged step on the host: probe chunks folded into per-layer digests, finished and written as one event.

:class:`StepWriter` is the half of :class:`tbactviz.ActivationLogger` that never touches the model: it
folds what the probe reduced on the device (:class:`tbactviz.snapshot.digest.LayerPart`, chunk after chunk)
into one
:class:`tbactviz.snapshot.digest.LayerDigest` per layer, finishes them (grid layout and PNGs, histograms,
figures), and writes one event into the logger's own event file (created lazily).
Errors of one layer become one warning per layer under ``on_error="warn"``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from tbactviz.errors import LogdirError, WarnOnce
from tbactviz.events.writer import EventWriter
from tbactviz.model.shapes import static_shape
from tbactviz.snapshot.digest import BUCKETS, LayerDigest, LayerPart, ReduceSpec, reduce_arrays
from tbactviz.snapshot.drawing import Drawing

__all__ = ["StepWriter"]

_log = logging.getLogger("tbactviz.snapshot.logger")


class StepWriter:
    """Folds probe chunks into per-layer digests and writes each step as one event.

    Args:
        logdir: The run directory (checked by the caller).
        tag_paths: ``{layer_path: tag-safe path}`` of the logged layers, in model order.
        drawing: How grids are drawn.
        images, histograms: Whether grids and histograms are written.
        stat_names: The scalar figures written.
        eps, dormant_tau: As the logger takes them.
        on_error: ``"raise"`` or ``"warn"``.
    """

    def __init__(
        self,
        logdir: str,
        tag_paths: Mapping[str, str],
        drawing: Drawing,
        *,
        images: bool,
        histograms: bool,
        stat_names: tuple[str, ...],
        eps: float,
        dormant_tau: float,
        on_error: str,
    ) -> None:
        self._logdir, self._tag_paths, self._drawing = logdir, dict(tag_paths), drawing
        self._order = {path: i for i, path in enumerate(self._tag_paths)}  # index in the layout summary
        self._images, self._histograms, self._stat_names = images, histograms, stat_names
        self._eps, self._tau, self._on_error = eps, dormant_tau, on_error
        self.writer: EventWriter | None = None
        self._warn = WarnOnce(_log)
        self.last_tags: list[str] = []  # the stock dashboards' tags of the last event written

    def digest(self, chunks: Iterable[Mapping[str, LayerPart]], n: int) -> list[LayerDigest]:
        """Fold chunk after chunk into per-layer digests (each chunk released before the next)."""
        digests: list[LayerDigest] | None = None
        for chunk in chunks:
            if digests is None:
                digests = self._new_digests(chunk, n)
            self._feed(digests, chunk)
            del chunk
        if digests is None:
            raise ValueError("chunks yielded no chunk; expected at least one (n >= 1 samples)")
        return digests

    def digest_arrays(self, activations: Mapping[str, Any]) -> list[LayerDigest]:
        """Host activations ``{path: (n, ...)}`` reduced eagerly (the same code as the probe's) and folded."""
        given = {p: np.asarray(activations[p]) for p in self._tag_paths if p in activations}
        n = max((len(a) for a in given.values()), default=0)
        grid = min(self._drawing.options["max_images"], n) if self._images else 0
        spec = ReduceSpec(eps=self._eps, buckets=BUCKETS if self._histograms else 0, grid_samples=grid)
        shapes = {p: static_shape((None, *a.shape[1:])) for p, a in given.items()}
        plans = self._drawing.plans(shapes, grid) if grid else {}
        ranges = {p: self._drawing.range_of(p) for p in given}
        chunk = {
            p: reduce_arrays(a, spec, plans.get(p), None if ranges[p] is None else np.asarray(ranges[p]))
            for p, a in given.items()
        }
        return self.digest([chunk], n)

    def _new_digests(self, chunk: Mapping[str, LayerPart], n: int) -> list[LayerDigest]:
        need = min(self._drawing.options["max_images"], n) if self._images else 0
        return [
            LayerDigest(
                path,
                tag_path,
                need=need,
                histograms=self._histograms,
                stat_names=self._stat_names,
                dormant_tau=self._tau,
                drawing=self._drawing,
                index=self._order[path],
                count=len(self._order),
            )
            for path, tag_path in self._tag_paths.items()
            if path in chunk
        ]

    def _feed(self, digests: list[LayerDigest], chunk: Mapping[str, LayerPart]) -> None:
        for digest in digests:
            digest.update(chunk[digest.path])

    def emit(self, digests: list[LayerDigest], step: int) -> dict[str, dict[str, float]]:
        """Finish every layer (tiles, PNGs, figures) and write them as one event at ``step``."""
        values: list[bytes] = []
        figures: dict[str, dict[str, float]] = {}
        tags: list[str] = []
        for digest, (layer_values, layer_figures) in zip(
            digests, [digest.finish() for digest in digests], strict=True
        ):
            if digest.error is not None:
                if self._on_error == "raise":
                    raise digest.error
                self.warn_once(
                    digest.path, digest.error, f"step {step}: layer {digest.path!r} was not logged"
                )
                continue
            values.extend(layer_values)
            figures[digest.path] = layer_figures
            tags.extend(digest.tags)
        self._warn_nonfinite(digests, step)
        if self.writer is None:
            self.writer = EventWriter(self._logdir)
        self.last_tags = []
        try:
            self.writer.write(step, values)
            self.writer.flush()
            self.last_tags = tags
        except LogdirError as exc:  # disk full, file system gone: the writer reopens on the next write
            if self._on_error == "raise":
                raise
            self.warn_once("*", exc, f"step {step}: writing the event failed")
        return figures

    def _warn_nonfinite(self, digests: list[LayerDigest], step: int) -> None:
        """One warning, the first time some layers are mostly NaN/Inf (a NaN probe, a diverged model)."""
        bad = [d for d in digests if d.error is None and d.values and 2 * d.nonfinite > d.values]
        if not bad:
            return
        shown = ", ".join(f"{d.path!r} ({d.nonfinite} of {d.values})" for d in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        self._warn(
            ("nonfinite",),
            f"tbactviz: step {step}: most values of layer(s) {shown}{more} are NaN or Inf: check the probe "
            "inputs and the model; nonfinite/<layer> counts them, the other figures come from the finite "
            "values, and a layer with no finite value gets no mean, std, max_abs or histogram (this warning "
            "is given once; later steps are logged at DEBUG level)",
        )

    def warn_once(self, path: str, exc: BaseException, what: str, hint: str = "") -> None:
        """One warning per layer and kind of error (then DEBUG); ``hint`` follows the error's message."""
        self._warn(
            (path, type(exc).__name__),
            f"tbactviz: {what}: {type(exc).__name__}: {exc}{hint} (further errors of this kind for this "
            "layer are logged at DEBUG level only)",
        )

    def close(self) -> None:
        """Close the event file (idempotent)."""
        if self.writer is not None:
            self.writer.close()
