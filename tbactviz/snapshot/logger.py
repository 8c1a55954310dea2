"""ActivationLogger: one forward pass -> grids, histograms and scalars -> one TensorBoard event.

The logger does *what* is logged; :class:`tbactviz.ActivationCallback` decides *when*. Each
:meth:`ActivationLogger.log` call

1. runs the probe inputs through the model once, capturing every chosen layer
   (:class:`tbactviz.probe.extractor.ActivationExtractor`, built once and reused),
2. per layer, reduces inside the compiled probe (:mod:`tbactviz.snapshot.runner`): the first ``max_images``
   samples into quantized grid tiles (:mod:`tbactviz.grids.quantize`, laid out on the host by
   :mod:`tbactviz.snapshot.drawing`), and every probe sample into histogram counts and per-channel sums
   (:mod:`tbactviz.snapshot.digest`),
3. writes them as one event at ``step`` into the logger's own event file (:mod:`tbactviz.events.writer`) and
flushes.

Tags follow :mod:`tbactviz.events.naming`: ``activations/<path>``, ``histograms/<path>``, ``<stat>/<path>``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from tbactviz.checks import check_int
from tbactviz.errors import WriterClosedError, out_of_memory_hint
from tbactviz.events import naming
from tbactviz.events.writer import check_logdir
from tbactviz.options import (
    DEFAULT_COMPRESS_LEVEL,
    DEFAULT_LEVELS,
    DEFAULT_MIN_SIDE,
    DEFAULT_STEP_BYTES,
    check_options,
)
from tbactviz.probe.extractor import ActivationExtractor
from tbactviz.probe.inputs import CheckedProbe
from tbactviz.snapshot.digest import LayerPart
from tbactviz.snapshot.drawing import Drawing, ValueRange
from tbactviz.snapshot.runner import Chunk, DeviceProbe
from tbactviz.snapshot.steps import StepWriter

if TYPE_CHECKING:
    import keras

    from tbactviz.layers.listing import LayerInfo

__all__ = ["ActivationLogger", "check_options"]

_NOT_OPTIONS = ("self", "logdir", "model", "layers")
_DRAWING_OPTIONS = (
    "max_images",
    "max_channels",
    "normalize",
    "colormap",
    "order",
    "columns",
    "max_side",
    "min_side",
)


class ActivationLogger:
    """Logs what the chosen layers of a Keras model "see" as TensorBoard events.

    Per layer path ``L`` and call, one event at ``step`` holds: the image ``activations/L`` (one feature-map
    grid per probe sample, up to ``max_images``), the histogram ``histograms/L`` and the scalars
    ``sparsity/L``, ``dead_channels/L``, ``mean/L``, ``std/L``, ``max_abs/L`` and ``nonfinite/L``. The event
    file is the logger's own, created in ``logdir`` on the first :meth:`log` (nothing is created before).

    NaN and +-Inf are counted in ``nonfinite/L`` and left out of the other figures; a step where a layer has
    no finite value has no ``mean/L``, ``std/L``, ``max_abs/L`` or ``histograms/L`` (nothing true to write),
    and the first step where most values of some layer are NaN/Inf gives one
    :class:`tbactviz.TbactvizWarning`.

    Args:
        logdir: Run directory of the events, e.g. ``"logs/activations"``. Use a directory of its own (not the
            ``train``/``validation`` runs of ``keras.callbacks.TensorBoard``); it is created when needed.
        model: A Keras model (Functional, Sequential, nested or subclassed; see :func:`tbactviz.list_layers`).
        layers: Which layers: an exact name, a nested path ``"outer/inner"``, a glob (``"conv*"``), a layer
            class, or a list mixing these. ``None`` picks an overview of the whole depth: up to 8 layers with
            spatial outputs, evenly spaced from first to last.
        max_images: Probe samples drawn as grids per layer (>= 1). Stats and histograms use every sample.
        max_channels: Channels drawn per grid (>= 1); the rest are left out (see ``order``).
        normalize: How activations map to colours: ``"standardize"`` (per channel, Chollet's x*64+128),
            ``"minmax"`` (per channel), ``"layer"`` (one scale for the whole layer, so magnitudes compare) or
            ``"fixed"`` (one range kept across calls, so growth and death show over time; see
            ``value_range``).
        value_range: With ``normalize="fixed"``: a ``(low, high)`` pair for every layer, a mapping from layer
            path to pair, or ``None`` to measure each layer's range (min/max of the finite values of the drawn
            samples) at the first call and keep it. Must be ``None`` with the other modes.
        colormap: ``"gray"``, ``"viridis"``, ``"magma"``, ``"inferno"`` or ``"plasma"``.
        order: ``"index"`` draws the first channels; ``"activity"`` the most active first (mean |a|).
        columns: Fixed number of grid columns, or ``None`` for a near-square grid.
        images: Write the grids (False turns them off).
        histograms: Write the histograms (False turns them off).
        stats: Write the scalars: True for all of :data:`tbactviz.stats.arrays.STAT_NAMES`, False for none, or
        an
            iterable of stat names.
        batch_size: Probe samples per forward pass. ``None`` (auto): chunks of at most about 256 MiB of
            activations of all chosen layers (but at least ``max_images`` samples), so memory stays bounded
            for large probes; stats and histograms are merged across chunks.
        eps: Values with ``|a| <= eps`` count as zero for ``sparsity`` and ``dead_channels`` (>= 0).
        dormant_tau: ReDo's threshold for ``dormant_fraction`` (>= 0, default 0.1; 0 counts dead channels).
        max_side: Grids larger than this many pixels on a side are downscaled by an integer factor per tile
            (>= 1). ``None`` (default): the largest side that keeps a step within ``max_bytes_per_step``,
            the same for every layer (:func:`tbactviz.grids.budget.plan_max_side`), chosen at the first call.
        max_bytes_per_step: With ``max_side=None``, the bytes one logged step may take, every layer
            together (default 4 MiB): a few layers get full-size maps, many layers card-size ones.
        min_side: Small grids are upscaled (nearest neighbour, integer factor) up to this side (0 = off).
        levels: Colour levels of the written PNGs, 2..254 (default 64: hard to tell from 254 in a feature
            map, and a quarter fewer bytes on noisy maps).
        compress_level: PNG deflate level: ISA-L's 0 (stored) to 3 (smallest); default 2. 4..9 still write
            what 3 writes, with a ``DeprecationWarning`` (refused in the next release).
        on_error: ``"raise"`` (default) propagates errors of :meth:`log`; ``"warn"`` turns an error while
            drawing one layer into one warning per layer and keeps the other layers, and an error of the whole
            call into a warning (what training callbacks want: logging never kills a run).
        workers: Deprecated, does nothing (a ``DeprecationWarning`` when given; removed in the next
            release). The layers are finished on the calling thread: a thread pool measured no faster (most
            of the host work holds the GIL; ``docs/performance.md``).

    Raises:
        TypeError: An argument has the wrong type (the message names it, the value and what is valid).
        ValueError: An argument has a wrong value (the message names it, the value and the valid values).
        tbactviz.LayerNotFoundError: A layer selector matches nothing (close matches are listed).
        tbactviz.LogdirError: ``logdir`` is a file or not writable.

    Example:
        >>> import keras, numpy as np, tempfile, tbactviz
        >>> model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(8, 3, name="conv1")])
        >>> with tbactviz.ActivationLogger(tempfile.mkdtemp(), model, layers="conv*") as log:
        ...     figures = log(np.random.rand(2, 32, 32, 3), step=0)
        >>> sorted(figures["conv1"])[:2]
        ['dead_channels', 'dormant_fraction']
    """

    def __init__(
        self,
        logdir: str | os.PathLike[str],
        model: keras.Model,
        layers: Any = None,
        *,
        max_images: int = 3,
        max_channels: int = 64,
        normalize: str = "standardize",
        value_range: ValueRange | Mapping[str, ValueRange] | None = None,
        colormap: str = "viridis",
        order: str = "index",
        columns: int | None = None,
        images: bool = True,
        histograms: bool = True,
        stats: bool | Iterable[str] = True,
        batch_size: int | None = None,
        eps: float = 0.0,
        dormant_tau: float = 0.1,
        max_side: int | None = None,
        max_bytes_per_step: int = DEFAULT_STEP_BYTES,
        min_side: int = DEFAULT_MIN_SIDE,
        levels: int = DEFAULT_LEVELS,
        compress_level: int = DEFAULT_COMPRESS_LEVEL,
        on_error: Literal["raise", "warn"] = "raise",
        workers: int | None = None,
    ) -> None:
        self._logdir = check_logdir(logdir)
        opts = check_options({k: v for k, v in locals().items() if k not in _NOT_OPTIONS})
        self._stat_names: tuple[str, ...] = opts["stats"]
        self._drawing = Drawing(
            {name: opts[name] for name in _DRAWING_OPTIONS},
            levels=opts["levels"],
            compress_level=opts["compress_level"],
            step_bytes=opts["max_bytes_per_step"],
            value_range=opts["value_range"],
        )
        self._images, self._histograms, self._on_error = bool(images), bool(histograms), on_error
        self._extractor: ActivationExtractor = ActivationExtractor(model, layers, batch_size=batch_size)
        grids = int(max_images) if self._images else 0
        # what the compiled probe depends on: another logger with the same may run this one's probe
        self._probe_key = (layers, batch_size, opts["eps"], self._histograms, grids)
        self._device = DeviceProbe(
            self._extractor, eps=opts["eps"], histograms=histograms, grid_samples=grids
        )
        self._device.drawing = self._drawing
        paths = self._extractor.paths
        self._tag_paths = dict(zip(paths, naming.unique_paths(paths), strict=True))
        self._drawing.check_paths(self._tag_paths)
        self._steps = StepWriter(
            self._logdir,
            self._tag_paths,
            self._drawing,
            images=self._images,
            histograms=self._histograms,
            stat_names=self._stat_names,
            eps=opts["eps"],
            dormant_tau=opts["dormant_tau"],
            on_error=on_error,
        )
        self._closed = False

    def _share_probe(self, previous: ActivationLogger) -> bool:
        """Run the probe ``previous`` compiled (same model, layers and probe options), so that nothing is
        compiled again: what the callback does for each ``fit`` after the first. Returns whether it does."""
        same = (
            previous._extractor.model is self._extractor.model
            and previous._probe_key == self._probe_key
            and previous._drawing.options == self._drawing.options
            and previous._drawing.step_bytes == self._drawing.step_bytes
            and previous._drawing.levels == self._drawing.levels
        )
        if same:
            self._extractor, self._device = previous._extractor, previous._device
            self._device.drawing = self._drawing
        return same

    # -- properties ---------------------------------------------------------------------------------------

    @property
    def logdir(self) -> str:
        """The run directory the events go to."""
        return self._logdir

    @property
    def layer_paths(self) -> tuple[str, ...]:
        """Paths of the logged layers, in model order (nested layers as ``outer/inner``)."""
        return self._extractor.paths

    @property
    def layers(self) -> tuple[LayerInfo, ...]:
        """The resolved layers (path, layer, class, output shape)."""
        return self._extractor.layers

    @property
    def extractor(self) -> ActivationExtractor:
        """The probe that runs the model (built once, reused by every call)."""
        return self._extractor

    @property
    def tags(self) -> list[str]:
        """Every tag of the stock dashboards one :meth:`log` call writes, in writing order.

        Beside them the logger writes tensor summaries only the Activations tab reads: ``layout/<path>``
        beside each grid (where each channel's tile lies; see :mod:`tbactviz.events.tilemap`) and, with stats,
        ``channels/<path>`` (per channel ``[mean, std, zero_fraction, max_abs]``, float32 ``(C, 4)``);
        ``naming.tags_for_layer(..., own=True)`` lists them too.
        """
        return [
            tag
            for path in self._tag_paths.values()
            for tag in naming.tags_for_layer(
                path, images=self._images, histograms=self._histograms, stats=self._stat_names
            )
        ]

    @property
    def written_tags(self) -> list[str]:
        """The tags of the stock dashboards that the last step wrote, in writing order: :attr:`tags` less what
        that step left out (a layer that failed; a layer with no finite value has no ``mean``, ``std``,
        ``max_abs`` and no histogram). Empty before the first step, and after a step that wrote nothing (its
        probe failed, or its event could not be written).

        Example:
            >>> import keras, numpy as np, tempfile, tbactviz
            >>> model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3, name="c")])
            >>> with tbactviz.ActivationLogger(tempfile.mkdtemp(), model, "c", stats=["mean"]) as logger:
            ...     _ = logger.log(np.full((1, 8, 8, 3), np.nan, "float32"), step=0)
            ...     logger.tags, logger.written_tags
            (['activations/c', 'histograms/c', 'mean/c'], ['activations/c'])
        """
        return list(self._steps.last_tags)

    @property
    def value_ranges(self) -> dict[str, ValueRange]:
        """With ``normalize="fixed"``: the range used per layer path so far (given or measured)."""
        return dict(self._drawing.ranges)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def event_file(self) -> str | None:
        """Path of the event file, or None while nothing has been written."""
        writer = self._steps.writer
        return writer.path if writer is not None else None

    # -- logging ------------------------------------------------------------------------------------------

    def log(self, inputs: Any, step: int) -> dict[str, dict[str, float]]:
        """Run ``inputs`` through the model and write one event for every chosen layer at ``step``.

        The same as ``write_chunks(probe_chunks(inputs), num_samples(inputs), step)``: the probe runs in
        chunks of ``batch_size`` samples (auto: at most about 256 MiB of activations of all chosen layers
        per chunk, and at least ``max_images`` samples), and each chunk is folded into the histograms and
        stats and released before the next, so memory stays bounded whatever the probe's size; grids come
        from the first ``max_images`` samples.

        Args:
            inputs: Probe inputs as ``model.predict`` takes them: an array of shape (N, ...) with N >= 1, or a
                list/dict of arrays for multi-input models. Keep them fixed across calls so that pictures
                compare.
            step: The step shown in TensorBoard (epoch, global batch, ...), an int >= 0.

        Returns:
            ``{layer_path: {stat_name: value}}`` for the stats that were computed (an empty dict per layer
            when ``stats=False``; layers that failed under ``on_error="warn"`` are left out).

        Raises:
            tbactviz.WriterClosedError: The logger was closed.
            ValueError: ``step`` is not an int >= 0, or ``inputs`` do not fit the model.
        """
        self._check_step(step)
        try:
            probe = self._extractor.checked(inputs)  # checked once, passed on
            digests = self._steps.digest(self._chunks(probe), probe.n)
        except Exception as exc:
            self._steps.last_tags = []
            if self._on_error == "raise":
                raise
            hint = out_of_memory_hint(exc, self._extractor.batch_size)
            self._steps.warn_once("*", exc, f"step {step}: extracting activations failed", hint)
            return {}
        return self._steps.emit(digests, step)

    def probe_chunks(self, inputs: Any) -> Iterator[Chunk]:
        """Run the probe through the model chunk by chunk: the part that must run where the model lives.

        Chunks hold ``batch_size`` samples (auto: at most about 256 MiB of activations of all chosen layers,
        and the first at least ``max_images`` samples, so the grids come from one chunk). Consume each chunk
        before asking for the next (e.g. hand it to :meth:`write_chunks` on another thread through a queue
        bounded in bytes) to keep memory bounded.

        Args:
            inputs: Probe inputs, as for :meth:`log`, or checked once by
                ``extractor.checked(inputs)`` (:meth:`tbactviz.probe.extractor.ActivationExtractor.checked`),
                which are not checked again.

        Yields:
            ``{layer_path: LayerPart}`` in :attr:`layer_paths` order: what the compiled probe reduced on the
            device (:mod:`tbactviz.snapshot.digest`), small numpy arrays (per-channel partial sums, histogram
            counts, and the first ``max_images`` samples' quantized grid tiles); each part's ``nbytes`` is
            what it
            holds. With several chunks, the probe first runs once more for the histogram's edges (the whole
            probe's finite extremes).

        Raises:
            tbactviz.ProbeError: ``inputs`` do not fit the model.
        """
        yield from self._chunks(self._extractor.checked(inputs))

    def _chunks(self, probe: CheckedProbe) -> Iterator[Chunk]:
        """:meth:`probe_chunks` of a checked probe."""
        need = min(probe.n, self._drawing.options["max_images"]) if self._images else 0
        return self._device.chunks(probe, need)

    def write_chunks(
        self, chunks: Iterable[Mapping[str, LayerPart]], n: int, step: int
    ) -> dict[str, dict[str, float]]:
        """Fold probe chunks into grids, histograms and stats, and write them as one event at ``step``.

        Thread-safe with respect to the event file; it does not touch the model. Each chunk is released once
        folded, so memory stays at about one chunk.

        Args:
            chunks: What :meth:`probe_chunks` yields, in order (any iterable: a generator reading a queue).
            n: Total number of probe samples in ``chunks`` (sizes the histogram sample), >= 1.
            step: The step shown in TensorBoard, an int >= 0.

        Returns:
            As :meth:`log`.

        Raises:
            tbactviz.WriterClosedError: The logger was closed.
        """
        self._check_step(step)
        check_int("n", n, minimum=1)
        return self._steps.emit(self._steps.digest(chunks, n), step)

    def capture(self, inputs: Any) -> dict[str, np.ndarray]:
        """Run the forward pass only: the chosen layers' activations for ``inputs``.

        This is the part that must run where the model lives (e.g. the training thread); :meth:`write` can
        then run elsewhere (a worker thread).

        Args:
            inputs: Probe inputs, as for :meth:`log`.

        Returns:
            ``{layer_path: ndarray of shape (N, ...)}`` in :attr:`layer_paths` order.
        """
        return self._extractor(inputs)

    def write(self, activations: Mapping[str, np.ndarray], step: int) -> dict[str, dict[str, float]]:
        """Tile, measure and write activations captured by :meth:`capture` as one event at ``step``.

        :meth:`capture` holds every probe sample's activations at once: for large probes prefer :meth:`log`,
        or :meth:`probe_chunks` with :meth:`write_chunks`.

        Thread-safe with respect to the event file; it does not touch the model.

        Args:
            activations: ``{layer_path: ndarray}`` as :meth:`capture` returns (paths not logged are ignored;
                missing paths are skipped).
            step: The step shown in TensorBoard, an int >= 0.

        Returns:
            As :meth:`log`.

        Raises:
            tbactviz.WriterClosedError: The logger was closed.
        """
        self._check_step(step)
        return self._steps.emit(self._steps.digest_arrays(activations), step)

    def _check_step(self, step: int) -> None:
        """Before a step is logged: the logger is open, and ``step`` is an int >= 0."""
        if self._closed:
            raise WriterClosedError(
                f"logging step={step} after close(): this ActivationLogger for logdir={self._logdir!r} is "
                "closed; create a new one to keep logging"
            )
        check_int("step", step, minimum=0)

    __call__ = log

    # -- lifecycle ----------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Push written events to disk (each :meth:`log` already flushes)."""
        if self._steps.writer is not None:
            self._steps.writer.flush()

    def close(self) -> None:
        """Flush and close the event file. Idempotent; :meth:`log` afterwards raises."""
        self._closed = True
        self._steps.close()

    def __enter__(self) -> ActivationLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"ActivationLogger(logdir={self._logdir!r}, layers={list(self.layer_paths)!r}"
            f"{', closed' if self._closed else ''})"
        )
