"""The probe: one compiled forward pass returning the outputs of every chosen layer, on any Keras 3 backend.

Mechanism: capture during the model's own forward pass
------------------------------------------------------
One mechanism serves every kind of model and every backend. The probe's body calls ``model(x,
training=False)`` -- exactly what ``model.predict`` runs -- while each chosen layer's ``call`` is temporarily
replaced, on that layer object only, by a thin wrapper that records its first output
(:mod:`tbactviz.model.capture`). The body is compiled by the backend's own means
(:mod:`tbactviz.model.compiled`): a ``tf.function`` on TensorFlow, ``jax.jit`` with the weights as arguments
on JAX, eager ``torch.no_grad()``
runs on PyTorch. The wrappers exist only while the body runs (a ``try/finally`` removes them), so the model
object is left exactly as it was: no wrapper survives, weights and outputs are untouched. On TensorFlow the
function is traced once, eagerly at the first call, for the probe's per-sample shapes and dtypes with an open
batch dimension, so every chunk size (a smaller last chunk too) reuses that one trace
(:attr:`ActivationExtractor.trace_count`; JAX compiles once per distinct chunk size); it reads the model's
variables, so it follows training. Any other backend is refused at construction
(:class:`~tbactviz.errors.UnsupportedBackendError`).

Why one mechanism rather than a graph sub-model for Functional models (it serves every kind of model,
gives the real forward pass's values by construction and costs what a sub-model costs, measured): see
``docs/architecture.md``. Outputs are returned as read-only numpy arrays, zero-copy views of the output
buffers on CPU; with a ``reduce`` (:mod:`tbactviz.stats.reductions`) only what it returns leaves the device.

Probes are checked against the model's inputs before anything runs and prepared as ``model.predict``
prepares them (:mod:`tbactviz.probe.inputs`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterator, Sequence
from typing import Any

import keras
import numpy as np

from tbactviz.checks import check_optional_int, type_error
from tbactviz.errors import NoDrawableLayerError, WarnOnce
from tbactviz.layers.listing import LayerInfo, LayerSelector, list_layers
from tbactviz.layers.selection import resolve_layers
from tbactviz.model.capture import TraceReport
from tbactviz.model.compiled import CompiledProbe, check_backend
from tbactviz.model.shapes import build_if_needed, infer_outputs, input_specs, open_batch_spec, sample_shapes
from tbactviz.options import MAX_CHUNK_BYTES
from tbactviz.probe.inputs import (
    CheckedProbe,
    check_inputs,
    describe_inputs,
    graph_inputs,
    num_samples,
    slice_samples,
)

__all__ = [
    "ActivationExtractor",
    "CheckedProbe",
    "describe_inputs",
    "extract_activations",
    "infer_outputs",
    "num_samples",
    "slice_samples",
]


class ActivationExtractor:
    """Run a model once per chunk of probe samples and return the outputs of the chosen layers.

    The layer selection is resolved once; the probe (a compiled ``tf.function`` capturing the chosen layers'
    outputs during the model's own forward pass, see the module docstring) is built once, lazily on the first
    call, and reused. An Input-less Sequential model that is not built yet is built from the first probe's
    shape (or from ``input_shape``). A default selection on a model whose output shapes are unknown is made
    on the first call (see :attr:`layers`).

    The arrays returned are read-only, zero-copy views of the forward pass' output buffers (``np.array(a)``
    makes a writable copy); several chunks joined by :meth:`__call__` are new arrays.

    Args:
        model: A Keras model of any kind: Functional (single or multi-input), Sequential (built or not),
            subclassed, with nested models at any depth.
        layers: What :func:`~tbactviz.layers.listing.resolve_layers` takes (``None`` = default overview of at
        most
            :data:`~tbactviz.layers.listing.DEFAULT_MAX_LAYERS` layers), or a list of :class:`LayerInfo`.
        batch_size: Samples per forward pass; ``None`` (automatic): the first pass takes ``min_first``
            samples (see :meth:`iter_batches`), later ones as many as fit in about
            :data:`~tbactviz.options.MAX_CHUNK_BYTES` (256 MiB) of activations of all chosen layers. Peak
            memory is about one chunk's activations of all chosen layers when consuming :meth:`iter_batches`.
        input_shape: Optional input shape with batch dimension, e.g. ``(None, 32, 32, 3)`` (a list/dict of
            shapes for several inputs). Builds an unbuilt model at once and, for a default selection on a
            model without a graph (subclassed), lets the extractor learn the output shapes now (one trace, no
            computation) instead of on the first call.

    Example:
        >>> import keras, numpy as np
        >>> from tbactviz.probe.extractor import ActivationExtractor
        >>> model = keras.Sequential([keras.layers.Conv2D(4, 3, name="c1"), keras.layers.Flatten(name="f")])
        >>> extractor = ActivationExtractor(model, ["c1", "f"], batch_size=2)
        >>> acts = extractor(np.zeros((5, 8, 8, 3), "float32"))
        >>> {path: a.shape for path, a in acts.items()}
        {'c1': (5, 6, 6, 4), 'f': (5, 144)}
    """

    def __init__(
        self,
        model: keras.Model,
        layers: LayerSelector | Sequence[LayerSelector] | Sequence[LayerInfo] | None = None,
        *,
        batch_size: int | None = None,
        input_shape: Any = None,
    ) -> None:
        if not isinstance(model, keras.Model):
            raise type_error("model", model, "a keras.Model (Functional, Sequential or subclassed)")
        check_backend()
        batch_size = check_optional_int("batch_size", batch_size, minimum=1, meaning="automatic chunks")
        self._model = model
        self._selection = layers
        self._batch_size = batch_size
        self._bytes_per_sample: int | None = None
        self._infos: tuple[LayerInfo, ...] | None = None
        self._function: Any = None
        self._reducers: dict[Any, CompiledProbe] = {}
        self._warn = WarnOnce(logging.getLogger(__name__))
        self._report = TraceReport()
        if isinstance(layers, (list, tuple)) and layers and all(isinstance(x, LayerInfo) for x in layers):
            self._infos = tuple(layers)  # type: ignore[arg-type]
            return
        if input_shape is not None:
            build_if_needed(model, input_specs(input_shape))
            self._resolve(input_shape=input_shape)
        elif layers is not None or not self._shapes_unknown():
            self._resolve()
        # else: a default selection on a model whose output shapes are unknown (unbuilt, subclassed): chosen
        # on the first call from the probe's shape, or by class when `paths`/`layers` are read before that.

    # -- resolution -----------------------------------------------------------------------------------------

    def _shapes_unknown(self) -> bool:
        return any(info.output_shape is None and info.drawable for info in list_layers(self._model))

    def _resolve(self, *, input_shape: Any = None) -> None:
        infos = list_layers(self._model)
        if input_shape is not None and self._selection is None:
            infos = infer_outputs(self._model, infos, input_shape)
        self._infos = tuple(resolve_layers(self._model, self._selection, infos=infos))

    def _ensure_ready(self, sample: Any) -> None:
        if self._function is not None:
            return
        specs = keras.tree.map_structure(open_batch_spec, sample)
        build_if_needed(self._model, specs)
        if self._infos is None:
            self._resolve(input_shape=specs)
        assert self._infos is not None
        function = CompiledProbe(self._model, self._infos, self._report)
        # TensorFlow traces once for any number of samples: later chunks (and a smaller last one) reuse it.
        function.build(sample)
        self._function = function
        if self._report.count:
            self._check_report()

    def checked(self, inputs: Any, argument: str = "inputs") -> CheckedProbe:
        """``inputs`` checked against the model once (:func:`~tbactviz.probe.inputs.check_inputs`): pass the
        result to the other methods, which then check nothing again. A :class:`CheckedProbe` is returned as
        it is.

        Raises:
            ProbeError: As :meth:`iter_batches`.
        """
        if isinstance(inputs, CheckedProbe):
            return inputs
        probe = check_inputs(self._model, inputs, argument)
        if probe.unused:
            self._warn_once(
                "unused-keys",
                f"inputs has keys the model does not take: {list(probe.unused)}; they are ignored (the "
                f"model's inputs: {graph_inputs(self._model)[0]}).",  # type: ignore[index]
            )
        return probe

    def check(self, inputs: Any, argument: str = "inputs") -> CheckedProbe:
        """Check that ``inputs`` fit the model without running the whole probe: checked as
        :meth:`checked` does, then the forward pass traced on the first sample, compiling nothing where the
        backend can (TensorFlow: a trace; JAX: shapes evaluated; PyTorch: one eager forward pass of one
        sample). The layers' output shapes are then known, and layers that turn out not to be drawable are
        dropped (with a warning).

        Raises:
            ProbeError: ``inputs`` do not fit the model; the message describes them as given.
            NoDrawableLayerError: None of the chosen layers produces a drawable output.
        """
        probe = self.checked(inputs, argument)
        with probe.errors(self._model) as sample:
            self._ready(probe)
            if not self._report.count:
                assert self._function is not None
                self._function.check(sample)
                self._check_report()
        return probe

    @property
    def transfers(self) -> int:
        """Arrays converted to numpy by this process's probes so far
        (:func:`tbactviz.model.compiled.transfers`): on a GPU, the copies off the device. With a reduce, one
        per dtype per chunk."""
        from tbactviz.model.compiled import transfers

        return transfers()

    # -- public ---------------------------------------------------------------------------------------------

    @property
    def model(self) -> keras.Model:
        """The model the probe runs."""
        return self._model

    @property
    def layers(self) -> tuple[LayerInfo, ...]:
        """The chosen layers, in model order.

        A default selection (``layers=None``) on a model whose output shapes are unknown (an unbuilt
        Sequential model, a subclassed model) and created without ``input_shape`` is made on the first call,
        from the probe's shape. Reading this property before that call makes it at once, from the layer
        classes alone (convolutions, activations, pooling, merges count as spatial); either way it is made
        once. Layers that turn out not to be drawable when the probe is traced are dropped (with a warning).
        """
        if self._infos is None:
            self._resolve()
        assert self._infos is not None
        return self._infos

    @property
    def paths(self) -> tuple[str, ...]:
        """Paths of the chosen layers (the keys of what the extractor returns), in model order."""
        return tuple(info.path for info in self.layers)

    @property
    def trace_count(self) -> int:
        """How many times the probe was traced (compiled): 0 before the first call, then 1 as long as the
        inputs keep their structure, dtypes and per-sample shapes (any number of samples reuses the trace)."""
        return self._report.count

    @property
    def batch_size(self) -> int | None:
        """Samples per forward pass (``None``: automatic chunks of about ``MAX_CHUNK_BYTES``)."""
        return self._batch_size

    def _check_report(self) -> None:
        """Warn (once per layer) about what the trace found; drop layers that produced nothing drawable."""
        assert self._infos is not None
        kept: list[LayerInfo] = []
        for info in self._infos:
            note = self._report.problems.get(info.path, ())
            what = f"layer {info.path!r} ({info.class_name})"
            if note and note[0] == "not-called":
                self._warn_once(info.path, f"{what} was not called during the model's forward pass; skipped.")
                continue
            if note and note[0] == "not-drawable":
                self._warn_once(info.path, f"{what} {note[1]}; skipped.")
                continue
            if note and note[0] == "calls":
                self._warn_once(
                    info.path,
                    f"{what} is called {note[1]} times in one forward pass; the first call is shown "
                    "(like layer.output).",
                )
            shape = self._report.shapes.get(info.path)
            if info.output_shape is None and shape is not None:
                info = dataclasses.replace(info, output_shape=shape)
            kept.append(info)
        if not kept:
            raise NoDrawableLayerError(
                f"None of the chosen layers of {self._model.name!r} produced a drawable output (a single "
                "tensor of rank >= 2) during the forward pass; see the warnings and "
                "tbactviz.list_layers(model)."
            )
        self._infos = tuple(kept)

    def _warn_once(self, key: str, message: str) -> None:
        self._warn(key, message, stacklevel=4)

    def _run(self, chunk: Any, reduce: Any = None, extra: Any = None) -> dict[str, Any]:
        traces = self._report.count
        function = self._function
        if reduce is not None:
            assert self._infos is not None
            if reduce not in self._reducers:  # JAX: every variant shares the plain probe's forward pass
                self._reducers[reduce] = CompiledProbe(
                    self._model, self._infos, self._report, reduce, share=self._function
                )
            function = self._reducers[reduce]
        outputs = function(chunk, extra)
        if self._report.count != traces:  # traced just now: report what the trace found
            self._check_report()
        assert self._infos is not None
        return {info.path: outputs[info.path] for info in self._infos if info.path in outputs}

    def _chunk_size(self, n: int, min_first: int) -> int:
        if self._batch_size is not None:
            return self._batch_size
        per_sample = self._bytes_per_sample or self._estimated_bytes_per_sample()
        if per_sample is None:  # output shapes unknown: learn one sample's size from a first small pass
            return max(1, min(n, min_first))
        return max(min_first, MAX_CHUNK_BYTES // max(per_sample, 1))

    def _estimated_bytes_per_sample(self) -> int | None:
        """float32 bytes of one sample's activations of all chosen layers, from their static shapes."""
        if self._infos is None:
            return None
        total = 0
        for info in self._infos:
            shape = info.output_shape
            if shape is None or any(d is None for d in shape[1:]):
                return None
            total += 4 * math.prod(int(d) for d in shape[1:])  # type: ignore[arg-type,misc]
        return total

    def _ready(self, probe: CheckedProbe) -> None:
        """Trace the probe on the checked probe's first sample if not yet: shapes are then known."""
        if self._function is None:
            with probe.errors(self._model) as first:
                self._ensure_ready(first)

    def sample_shapes(self, inputs: Any) -> dict[str, tuple[int, ...] | None]:
        """One sample's output shape per chosen layer for inputs like ``inputs`` (batch axis excluded).

        Found without computing: the probe's trace, or :func:`~tbactviz.model.shapes.sample_shapes`; None
        where a shape is not static. ``inputs``: as :meth:`iter_batches` takes them, or checked
        (:meth:`checked`).
        """
        probe = self.checked(inputs)
        self._ready(probe)
        return sample_shapes(self._model, self.layers, self._report.shapes, probe.first)

    def chunk_size(self, inputs: Any, *, min_first: int = 1) -> int:
        """Samples per forward pass :meth:`iter_batches` will use for ``inputs`` (the probe is traced first
        if it was not yet); ``n`` when the probe runs as one chunk.

        Raises:
            ProbeError: As :meth:`iter_batches`.
        """
        probe = self.checked(inputs)
        self._ready(probe)
        return min(probe.n, self._chunk_size(probe.n, min_first))

    def iter_batches(
        self,
        inputs: Any,
        *,
        min_first: int = 1,
        reduce: Any = None,
        extra: Any = None,
        reduce_first: Any = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield the chosen layers' outputs chunk by chunk: one compiled forward pass per chunk.

        Args:
            inputs: The probe, as ``model.predict`` takes it: an array or tensor ``(n, ...)``, a list of them
                (multi-input, in ``model.inputs`` order) or a dict keyed by input name. ``n >= 1``. Or the
                probe checked once (:meth:`checked`), which is not checked again.
            min_first: With ``batch_size=None``: samples of the first chunk (and the least of every chunk),
                so a caller that needs the first samples together (e.g. to draw them) gets them in one chunk.
            reduce: Optional ``reduce(outputs, extra)`` written with ``keras.ops`` (see
                :class:`tbactviz.model.compiled.CompiledProbe`), run inside the compiled probe: then each
                chunk yields ``{path: ...}`` as ``reduce`` returns it (numpy), and only that leaves the
                device. One
                compiled probe per ``reduce`` function, kept for the extractor's lifetime.
            extra: Tensors (a nest) given to ``reduce`` with every chunk, e.g. histogram bounds.
            reduce_first: Optional reduce used instead of ``reduce`` for the chunks holding any of the first
                ``min_first`` samples (e.g. one that also returns what the grids need).

        Yields:
            ``{path: ndarray (chunk, ...)}`` in :attr:`paths` order, chunks of ``batch_size`` samples (the
            last one may be smaller; automatic sizes with ``batch_size=None``).

        Raises:
            ProbeError: ``inputs`` is empty, has no batch axis, inputs with different sample counts, a dtype
                that is not real numbers (complex, string, object), a structure that does not match the
                model's inputs (a missing dict key, a list of the wrong length) or a shape that does not fit
                them; the message names the input, the shape received and the shape expected.
        """
        probe = self.checked(inputs)
        n = probe.n
        start = 0
        while start < n:
            self._ready(probe)  # trace first, for any number of samples
            stop = min(n, start + self._chunk_size(n, min_first))
            fn = reduce_first if reduce_first is not None and start < min_first else reduce
            result = self.run(probe, start, stop, fn, extra)
            if fn is None:
                self._bytes_per_sample = sum(a.nbytes for a in result.values()) // (stop - start)
            start = stop
            yield result

    def run(
        self, probe: CheckedProbe, start: int, stop: int, reduce: Any = None, extra: Any = None
    ) -> dict[str, Any]:
        """One forward pass of samples ``start:stop`` of a checked probe (:meth:`checked`), traced first
        if it was not yet: ``{path: result}`` as :meth:`iter_batches` yields it for that chunk.

        What a caller that chooses its own chunks uses (the logger's
        :class:`~tbactviz.snapshot.runner.DeviceProbe` runs a chunk again with other reductions where the
        first ones may not be exact).

        Args:
            probe: The checked probe.
            start: First sample, ``0 <= start < probe.n``.
            stop: One past the last sample, ``start < stop`` (clipped to ``probe.n``).
            reduce: As for :meth:`iter_batches`.
            extra: As for :meth:`iter_batches`.

        Raises:
            ProbeError: The chunk does not fit the model; the message describes the probe as given.
        """
        self._ready(probe)
        with probe.errors(self._model, start, stop) as chunk:
            return self._run(chunk) if reduce is None else self._run(chunk, reduce, extra)

    def __call__(self, inputs: Any) -> dict[str, np.ndarray]:
        """Return ``{path: ndarray (n, ...)}`` for all samples (chunks concatenated along axis 0)."""
        chunks = list(self.iter_batches(inputs))
        if len(chunks) == 1:
            return chunks[0]
        return {path: np.concatenate([c[path] for c in chunks], axis=0) for path in chunks[-1]}

    def __repr__(self) -> str:
        chosen = "unresolved" if self._infos is None else f"{len(self._infos)} layers"
        return f"ActivationExtractor(model={self._model.name!r}, {chosen}, batch_size={self._batch_size})"


def extract_activations(
    model: keras.Model,
    inputs: Any,
    layers: LayerSelector | Sequence[LayerSelector] | None = None,
    batch_size: int | None = None,
) -> dict[str, np.ndarray]:
    """Return the outputs of the chosen layers of ``model`` for ``inputs``.

    A one-shot convenience around :class:`ActivationExtractor`; keep an extractor to reuse the compiled probe.

    Args:
        model: Any Keras model (Functional, Sequential, subclassed, nested).
        inputs: The probe, as ``model.predict`` takes it.
        layers: Layer selection (see :func:`~tbactviz.layers.listing.resolve_layers`); ``None`` = default
        overview. batch_size: Samples per forward pass (``None``: automatic chunks of at most about 256 MiB of
            activations; the result is the chunks joined).

    Returns:
        ``{layer path: ndarray (n, ...)}`` in model order.

    Example:
        >>> import keras, numpy as np, tbactviz
        >>> inp = keras.Input((8, 8, 3))
        >>> model = keras.Model(inp, keras.layers.Conv2D(2, 3, name="c")(inp))
        >>> tbactviz.extract_activations(model, np.ones((1, 8, 8, 3)), "c")["c"].shape
        (1, 6, 6, 2)
    """
    return ActivationExtractor(model, layers, batch_size=batch_size)(inputs)
