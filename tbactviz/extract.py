"""The probe: one compiled forward pass returning the outputs of every chosen layer, on any Keras 3 backend.

Mechanism: capture during the model's own forward pass
------------------------------------------------------
One mechanism serves every kind of model and every backend. The probe's body calls ``model(x,
training=False)`` -- exactly what ``model.predict`` runs -- while each chosen layer's ``call`` is temporarily
replaced, on that layer object only, by a thin wrapper that records its first output
(:mod:`tbactviz.capture`). The body is compiled by the backend's own means (:mod:`tbactviz.probe`): a
``tf.function`` on TensorFlow, ``jax.jit`` with the weights as arguments on JAX, eager ``torch.no_grad()``
runs on PyTorch. The wrappers exist only while the body runs (a ``try/finally`` removes them), so the model
object is left exactly as it was: no wrapper survives, weights and outputs are untouched. On TensorFlow the
function is traced once, eagerly at the first call, for the probe's per-sample shapes and dtypes with an open
batch dimension, so every chunk size (a smaller last chunk too) reuses that one trace
(:attr:`ActivationExtractor.trace_count`; JAX compiles once per distinct chunk size); it reads the model's
variables, so it follows training. Any other backend is refused at construction
(:class:`~tbactviz.errors.UnsupportedBackendError`).

Why one mechanism rather than two (a graph sub-model ``keras.Model(model.inputs, [l.output ...])`` for
Functional models plus capture for the rest):

* It serves all five kinds with the same code path: Functional (incl. multi-input), Sequential (incl.
  Input-less ones, built from the probe's shape), subclassed models (no graph to cut), and nested models at
  any depth -- where a sub-model fails with "Graph disconnected" because the inner layer's ``output`` belongs
  to the inner model's graph, and stitching graphs back together would need private node APIs.
* The values are those of the real forward pass, by construction: inner layers of a nested backbone see what
  the backbone receives inside the outer model, a layer called twice reports its first call (like
  ``layer.output``), and masking/training flags follow the model's own ``call``.
* It costs what a graph sub-model costs. Measured with ``benchmarks/bench_extract.py`` (ResNet50V2,
  weights=None, 224x224, 1 image, 2 CPU cores, medians of interleaved runs): ``model.predict_on_batch``
  ~81 ms; the probe with all 189 4-D layers ~97 ms (1.2x: the extra is materializing 119 MiB of outputs that
  the plain forward pass reuses in place), a graph sub-model of the same layers in a ``tf.function`` ~94-96
  ms, the same sub-model through ``predict_on_batch`` ~150-190 ms (it copies every output); the default
  selection (8 layers) ~78-80 ms, i.e. the cost of predict. A second code path would buy nothing measurable
  and bring its own bugs.

The only thing it relies on is that Keras runs a layer through ``self.call`` (an ordinary public method,
overridden per instance with ordinary attribute assignment), on every backend; quantized layers run
``quantized_call``, which is wrapped instead. A user's own instance-level ``call`` is put back as it was.
While a trace runs the wrapped layers must not be called by another thread. Outputs are returned as
read-only numpy arrays, zero-copy views of the output buffers on CPU (``Tensor.numpy()`` would copy 119 MiB
for the ResNet case above).

Before anything runs, a probe is checked against the inputs of a model that has them (Functional models,
built Sequential ones): a missing dict key, a list of the wrong length or an array whose shape cannot fit its
input is a :class:`~tbactviz.errors.ProbeError` naming both shapes, instead of a traced-function traceback.
Inputs are prepared as ``model.predict`` prepares them: numpy/tensor leaves of any floating dtype other than
``keras.config.floatx()`` are cast to it, integer leaves (uint8 images) are passed as they are and the model's
``Input`` layers cast them to their dtype.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import keras
import numpy as np

from tbactviz.capture import TraceReport
from tbactviz.errors import (
    NoDrawableLayerError,
    ProbeError,
    TbactvizError,
    WarnOnce,
    close_matches,
)
from tbactviz.layers import LayerInfo, LayerSelector, list_layers
from tbactviz.options import MAX_CHUNK_BYTES, check_int
from tbactviz.probe import (
    CompiledProbe,
    build_if_needed,
    check_backend,
    infer_outputs,
    input_errors,
    input_specs,
    prepare,
)
from tbactviz.selection import resolve_layers

__all__ = [
    "ActivationExtractor",
    "describe_inputs",
    "extract_activations",
    "infer_outputs",
    "num_samples",
    "slice_samples",
]

# --------------------------------------------------------------------------------------------------
# Inputs.


def _leaves(inputs: Any) -> list[Any]:
    return keras.tree.flatten(inputs)


def _dtype_name(leaf: Any) -> tuple[str, bool]:
    """The dtype name of an array/tensor leaf and whether it holds real numbers (bool, int, float)."""
    dtype = getattr(leaf, "dtype", None)
    if (
        dtype is not None
        and not isinstance(dtype, np.dtype)
        and type(dtype).__module__.split(".")[0]
        in (
            "tensorflow",
            "torch",
            "jax",
            "jaxlib",
        )
    ):
        try:
            name = keras.backend.standardize_dtype(dtype)
        except ValueError:
            return str(dtype), False
        return name, name == "bool" or name.startswith(("int", "uint", "float", "bfloat"))
    try:
        dtype = np.dtype(dtype) if dtype is not None else np.asarray(leaf).dtype
    except TypeError:  # a framework dtype numpy does not know (e.g. torch): let the conversion decide
        return str(dtype), True
    # bfloat16 & co. (ml_dtypes) have kind 'V' and a name tensorflow knows.
    real = dtype.kind in "biuf" or dtype.name in ("bfloat16", "float8_e4m3fn", "float8_e5m2")
    return str(dtype), real


def _check_leaf_dtype(leaf: Any, argument: str) -> None:
    name, real = _dtype_name(leaf)
    if not real:
        raise ProbeError(
            f"{argument} has dtype {name}; expected real numbers: a float array, or integer/bool images "
            "(uint8 images are cast by the model's Input layer, as model.predict does)."
        )


def _num_samples(inputs: Any, argument: str = "inputs") -> int:
    leaves = _leaves(inputs)
    if not leaves:
        raise ProbeError(
            f"{argument} is empty ({type(inputs).__name__} with no arrays); pass the probe samples."
        )
    sizes = []
    for leaf in leaves:
        shape = getattr(leaf, "shape", None)
        if shape is None:
            leaf = np.asarray(leaf)
            shape = leaf.shape
            if leaf.dtype == object:
                kind = type(leaf.item() if leaf.ndim == 0 else leaf).__name__
                raise ProbeError(
                    f"{argument} contains an object of type {kind!r}; pass arrays or tensors (n, ...), a "
                    "list of them (one per model input) or a dict keyed by input name, as model.predict "
                    "takes (datasets and generators are not supported)."
                )
        if len(shape) == 0:
            raise ProbeError(f"{argument} contains a scalar; every input needs a leading batch axis.")
        _check_leaf_dtype(leaf, argument)
        sizes.append(int(shape[0]))
    if len(set(sizes)) != 1:
        raise ProbeError(
            f"{argument}: all inputs must have the same number of samples; received sizes {sizes}."
        )
    if sizes[0] == 0:
        raise ProbeError(f"{argument} has 0 samples; pass at least one probe sample.")
    return sizes[0]


def _slice(inputs: Any, start: int, stop: int) -> Any:
    if isinstance(inputs, Mapping):
        return {key: value[start:stop] for key, value in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return [value[start:stop] for value in inputs]
    return inputs[start:stop]


def describe_inputs(inputs: Any) -> str:
    """A short description of a probe for error messages: dtypes and shapes, in the probe's structure.

    Example:
        >>> describe_inputs({"image": np.zeros((2, 8, 8, 3), np.uint8)})
        "{'image': uint8[2, 8, 8, 3]}"
    """

    def one(leaf: Any) -> str:
        dtype = getattr(leaf, "dtype", None)
        name = getattr(dtype, "name", None) or type(leaf).__name__
        return f"{name}{list(np.shape(leaf))}"

    if isinstance(inputs, Mapping):
        return "{" + ", ".join(f"{k!r}: {one(v)}" for k, v in inputs.items()) + "}"
    if isinstance(inputs, (list, tuple)):
        return "[" + ", ".join(one(v) for v in inputs) + "]"
    return one(inputs)


def _expected(model: keras.Model) -> str:
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return ""
    if not inputs:
        return ""
    return "; the model expects " + ", ".join(f"{t.name} {tuple(t.shape)}" for t in inputs)


def _keras_message(exc: BaseException, limit: int = 400) -> str:
    """The gist of an error raised inside the traced forward pass, without tf.function's traceback."""
    text = str(exc)
    if "in user code:" in text:  # tf.function wraps the error with the user-code traceback: keep the last
        tail = re.split(r"\n\s*\w+(?:Error|Exception): ", text)  # 'XxxError: message' of the chain
        if len(tail) > 1:
            text = tail[-1]
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _graph_inputs(model: keras.Model) -> tuple[list[str], list[Any], bool] | None:
    """``(names, input tensors, keyed_by_dict)`` of a model whose inputs are known, else None.

    ``names`` are the keys a dict probe must have: the keys of the dict a Functional model was built with,
    or the names of its ``Input`` tensors otherwise (what Keras maps a dict probe by).
    """
    try:
        flat = list(model.inputs or [])
    except (AttributeError, ValueError):
        return None
    if not flat or not all(isinstance(t, keras.KerasTensor) for t in flat):
        return None
    struct: Any = None
    if not isinstance(model, keras.Sequential):
        try:
            struct = model.input
        except (AttributeError, ValueError):
            struct = None
    if isinstance(struct, Mapping) and all(isinstance(t, keras.KerasTensor) for t in struct.values()):
        return [str(k) for k in struct], list(struct.values()), True
    if isinstance(struct, (list, tuple)) and len(keras.tree.flatten(struct)) != len(struct):
        return None  # nested input structures: let Keras check them
    return [t.name for t in flat], flat, False


def _shape_of(leaf: Any) -> tuple[int | None, ...]:
    try:
        shape = tuple(leaf.shape)
    except (TypeError, ValueError):  # unknown rank (tf.TensorShape(None))
        return ()
    return tuple(None if d is None else int(d) for d in shape)


def _compatible(got: Sequence[int | None], want: Sequence[int | None]) -> bool:
    if len(got) != len(want):
        return False
    return all(g is None or w is None or g == w for g, w in zip(got, want, strict=True))


def _check_shape(label: str, leaf: Any, tensor: Any) -> None:
    """Raise a ProbeError when a probe array cannot fit a model input (Keras' own rank +-1 rule allowed)."""
    shape = _shape_of(leaf)
    want = tuple(tensor.shape)
    got, exp = shape[1:], want[1:]
    fits = (
        _compatible(got, exp)
        or (len(got) == len(exp) + 1 and got[-1] == 1 and _compatible(got[:-1], exp))  # Keras squeezes
        or (len(got) + 1 == len(exp) and exp and exp[-1] == 1 and _compatible(got, exp[:-1]))  # expands
    )
    if fits:
        return
    hint = ""
    if len(shape) == len(exp):
        hint = (
            " It has one axis fewer than the input: if it is one sample, add the batch axis with x[None] "
            "(np.expand_dims(x, 0))."
        )
    elif len(got) == len(exp):
        bad = [i + 1 for i, (g, w) in enumerate(zip(got, exp, strict=True)) if w is not None and g != w]
        hint = f" Axis {bad[0]} differs ({got[bad[0] - 1]} instead of {exp[bad[0] - 1]})."
    raise ProbeError(
        f"{label} has shape {shape}, which does not fit the model's input {tensor.name!r} of shape {want} "
        f"(batch first; None = any size).{hint}"
    )


def _conform(model: keras.Model, inputs: Any, argument: str = "inputs") -> tuple[Any, list[str]]:
    """Check a probe against the model's inputs before running it; return it (a one-element list for a
    single-input model unwrapped) and the dict keys the model does not use.

    Models whose inputs are unknown (subclassed, unbuilt) are not checked here; the forward pass checks them.

    Raises:
        ProbeError: A missing dict key, a list of the wrong length, a single array for a multi-input model,
            or an array whose shape cannot fit its input. The message names the input, the shape received and
            the shape expected.
    """
    known = _graph_inputs(model)
    if known is None:
        return inputs, []
    names, tensors, _ = known
    listed = ", ".join(f"{n!r} {tuple(t.shape)}" for n, t in zip(names, tensors, strict=True))
    unused: list[str] = []
    if isinstance(inputs, Mapping):
        keys = [str(k) for k in inputs]
        missing = [n for n in names if n not in inputs]
        if missing:
            spare = [k for k in keys if k not in names]
            near = {m: close_matches(m, spare, n=1) for m in missing}
            hints = [f"{near[m][0]!r} for {m!r}" for m in missing if near[m]]
            raise ProbeError(
                f"{argument} has no key {', '.join(repr(m) for m in missing)}: the model's inputs are "
                f"{listed}; received keys {keys}." + (f" Did you mean {', '.join(hints)}?" if hints else "")
            )
        unused = [k for k in keys if k not in names]
        pairs = [(f"{argument}[{n!r}]", inputs[n], t) for n, t in zip(names, tensors, strict=True)]
    elif isinstance(inputs, (list, tuple)):
        if len(inputs) != len(tensors):
            raise ProbeError(
                f"{argument} is a {type(inputs).__name__} of {len(inputs)} array(s), but the model has "
                f"{len(tensors)} input(s): {listed}. Pass one array per input, in this order, or a dict "
                "keyed by these names."
            )
        pairs = [(f"{argument}[{i}]", x, t) for i, (x, t) in enumerate(zip(inputs, tensors, strict=True))]
        if len(tensors) == 1:
            inputs = inputs[0]  # what Keras would do, without its structure warning
    else:
        if len(tensors) != 1:
            raise ProbeError(
                f"{argument} is a single array of shape {_shape_of(inputs)}, but the model has "
                f"{len(tensors)} inputs: {listed}. Pass a list of arrays in this order, or a dict keyed by "
                "these names."
            )
        pairs = [(argument, inputs, tensors[0])]
    for label, leaf, tensor in pairs:
        _check_shape(label, leaf, tensor)
    return inputs, unused


# --------------------------------------------------------------------------------------------------


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
        layers: What :func:`~tbactviz.layers.resolve_layers` takes (``None`` = default overview of at most
            :data:`~tbactviz.layers.DEFAULT_MAX_LAYERS` layers), or a list of :class:`LayerInfo`.
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
        >>> from tbactviz.extract import ActivationExtractor
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
            raise TypeError(
                f"model must be a keras.Model (Functional, Sequential or subclassed); received "
                f"{type(model).__name__}."
            )
        check_backend()
        batch_size = check_int("batch_size", batch_size, 1, allow_none=True)
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
        specs = keras.tree.map_structure(
            lambda t: keras.KerasTensor(
                (None, *tuple(t.shape)[1:]), dtype=keras.backend.standardize_dtype(t.dtype)
            ),
            sample,
        )
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
            if reduce not in self._reducers:
                self._reducers[reduce] = CompiledProbe(self._model, self._infos, self._report, reduce)
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
            total += 4 * math.prod(int(d) for d in shape[1:])  # type: ignore[arg-type]
        return total

    @contextmanager
    def _input_errors(self, chunk: Any, shown: Any = None) -> Iterator[Any]:
        """Turn what the backend raises for inputs that do not fit the model into a ProbeError.

        The message describes ``shown`` (default ``chunk``): the probe as the caller gave it.
        """
        try:
            yield chunk
        except input_errors() as exc:
            if isinstance(exc, TbactvizError):
                raise
            received = describe_inputs(chunk if shown is None else shown)
            raise ProbeError(
                f"inputs do not fit the model {self._model.name!r}: received {received}"
                f"{_expected(self._model)}. Keras said: {_keras_message(exc)}"
            ) from exc

    def iter_batches(
        self, inputs: Any, *, min_first: int = 1, reduce: Any = None, extra: Any = None
    ) -> Iterator[dict[str, Any]]:
        """Yield the chosen layers' outputs chunk by chunk: one compiled forward pass per chunk.

        Args:
            inputs: The probe, as ``model.predict`` takes it: an array or tensor ``(n, ...)``, a list of them
                (multi-input, in ``model.inputs`` order) or a dict keyed by input name. ``n >= 1``.
            min_first: With ``batch_size=None``: samples of the first chunk (and the least of every chunk),
                so a caller that needs the first samples together (e.g. to draw them) gets them in one chunk.
            reduce: Optional ``reduce(outputs, extra)`` written with ``keras.ops`` (see
                :class:`tbactviz.probe.CompiledProbe`), run inside the compiled probe: then each chunk
                yields ``{path: ...}`` as ``reduce`` returns it (numpy), and only that leaves the device. One
                compiled probe per ``reduce`` function, kept for the extractor's lifetime.
            extra: Tensors (a nest) given to ``reduce`` with every chunk, e.g. histogram bounds.

        Yields:
            ``{path: ndarray (chunk, ...)}`` in :attr:`paths` order, chunks of ``batch_size`` samples (the
            last one may be smaller; automatic sizes with ``batch_size=None``).

        Raises:
            ProbeError: ``inputs`` is empty, has no batch axis, inputs with different sample counts, a dtype
                that is not real numbers (complex, string, object), a structure that does not match the
                model's inputs (a missing dict key, a list of the wrong length) or a shape that does not fit
                them; the message names the input, the shape received and the shape expected.
        """
        n = _num_samples(inputs)
        inputs, unused = _conform(self._model, inputs)
        if unused:
            self._warn_once(
                "unused-keys",
                f"inputs has keys the model does not take: {unused}; they are ignored (the model's inputs: "
                f"{_graph_inputs(self._model)[0]}).",  # type: ignore[index]
            )
        start = 0
        while start < n:
            if self._function is None:  # trace first, for any number of samples: shapes are then known
                with self._input_errors(prepare(_slice(inputs, 0, 1)), shown=inputs) as first:
                    self._ensure_ready(first)
            stop = min(n, start + self._chunk_size(n, min_first))
            chunk = prepare(_slice(inputs, start, stop))
            with self._input_errors(chunk):
                result = self._run(chunk) if reduce is None else self._run(chunk, reduce, extra)
            if reduce is None:
                self._bytes_per_sample = sum(a.nbytes for a in result.values()) // (stop - start)
            start = stop
            yield result

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
        layers: Layer selection (see :func:`~tbactviz.layers.resolve_layers`); ``None`` = default overview.
        batch_size: Samples per forward pass (``None``: automatic chunks of at most about 256 MiB of
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


def num_samples(inputs: Any) -> int:
    """Number of samples in a probe (the length of its batch axis), checked as the extractor checks it.

    Args:
        inputs: An array or tensor ``(n, ...)``, a list of them or a dict keyed by input name.

    Returns:
        ``n`` (>= 1).

    Raises:
        ProbeError: The probe is empty, has no batch axis, or its inputs have different sample counts.

    Example:
        >>> num_samples({"a": np.zeros((3, 2)), "b": np.zeros((3, 5))})
        3
    """
    return _num_samples(inputs)


def slice_samples(inputs: Any, start: int, stop: int) -> Any:
    """Samples ``start:stop`` of a probe, in the probe's own structure (array, list or dict).

    Example:
        >>> slice_samples([np.arange(4), np.arange(4) * 2], 1, 3)
        [array([1, 2]), array([2, 4])]
    """
    return _slice(inputs, start, stop)
