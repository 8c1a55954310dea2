"""The probe compiled by the Keras backend: the model's own forward pass, chosen layers captured, reduced.

One :class:`CompiledProbe` per extractor. Its body is the same on every backend: run the model with the
chosen layers captured (:func:`tbactviz.model.capture.forward`) and, if given, apply a ``reduce`` function
written with ``keras.ops`` (:mod:`tbactviz.stats.reductions`) to what was captured, so that only what
``reduce``
returns leaves the device. A :class:`LayerReduce` runs on each layer's output as soon as the layer returns it
(under
TensorFlow the forward pass waits for it), so a layer's activations are freed before the next layers run.

How that body is compiled is the backend's own way:

* **tensorflow**: a ``tf.function`` traced once, eagerly, for the probe's per-sample shapes and dtypes with
  an open batch dimension, so every chunk size reuses that one trace; it reads the model's variables, so it
  follows training.
* **jax**: ``jax.jit`` over the model's call in a ``keras.StatelessScope`` (what ``model.stateless_call``
  does, through ``model.__call__``) with ``(trainable_values, non_trainable_values, x)`` as arguments: the
  weights are arguments, not constants, so training updates need no retrace; they are passed committed to
  their device and strongly typed, so that the values training leaves behind compile nothing new. XLA
  compiles per input shape: one trace per distinct chunk size (at most two per probe: the chunk size and
  the last, smaller chunk). With a :class:`LayerReduce`, the forward pass is compiled with the chosen
  layers' outputs as its results, and each reduction separately, once per (configuration, shape, dtype),
  shared by every layer that has them (ResNet50V2: 189 layers, 21 shapes): XLA's compile time follows the
  distinct shapes, not the layers. Each reduction is dispatched as the forward pass's results are ready
  (asynchronously: the device runs them back to back); a chunk's activations of all chosen layers are alive
  at once, which the extractor's automatic chunk size already budgets for.
* **torch**: eager, under ``torch.no_grad()`` (PyTorch's own kernels; nothing to trace): the capture is
  installed for each run, :attr:`CompiledProbe.trace_count` counts the first run only.

Any other backend (``numpy``, ``openvino``) is refused by :func:`check_backend` with
:class:`~tbactviz.errors.UnsupportedBackendError`.

What leaves the device: with a ``reduce``, everything it returns for a chunk is packed on the device into
one flat buffer per dtype (:class:`tbactviz.model.packing.Packing`, a plan made when the probe is traced),
copied to the host in that many transfers, and split there into read-only numpy views: on a GPU every copy
has its own latency, so a few large copies cost far less than thousands of small ones.
:func:`~tbactviz.model.packing.transfers` counts the copies.
Without a ``reduce`` (the raw activations) each output is converted on its own: zero-copy, read-only views
of the output buffers where the backend allows it (CPU).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import keras
import numpy as np

from tbactviz.errors import UnsupportedBackendError
from tbactviz.model.capture import CapturedLayer, TraceReport, forward
from tbactviz.model.packing import Joined, Packing, dims_of, is_tensor, to_numpy, transfers

__all__ = [
    "SUPPORTED_BACKENDS",
    "CompiledProbe",
    "LayerReduce",
    "Packing",
    "check_backend",
    "input_errors",
    "internal_error",
    "prepare",
    "stateless",
    "to_numpy",
    "transfers",
]

#: The Keras backends the probe runs on.
SUPPORTED_BACKENDS: tuple[str, ...] = ("tensorflow", "jax", "torch")

Reduce = Callable[[dict[str, Any], Any], Any]


class LayerReduce:
    """A reduce run on each chosen layer's output where the layer produces it.

    Args:
        split: ``split(path, shape, extra) -> (static, args)``: for the layer at ``path`` whose traced output
            has the static ``shape`` (batch first, ``None`` where unknown), the hashable configuration of its
            reduction and its own tensor arguments taken from the probe's ``extra`` (a nest, or None).
        fn: ``fn(static, tensor, args) -> nest of tensors``, written with ``keras.ops``: what leaves the
            device for that layer.

    Layers with the same ``static`` and output shape share one compiled reduction: under TensorFlow each is
    one function of the graph's library (not inlined), called once per layer, so a model of many layers of
    a few shapes (ResNet50V2: 189 layers, 21 shapes) keeps its graph small. Instances are compared by
    identity (one compiled probe each).
    """

    def __init__(
        self, split: Callable[[str, tuple[int | None, ...], Any], tuple[Any, Any]], fn: Callable[..., Any]
    ) -> None:
        self.split, self.fn = split, fn
        self._functions: dict[Any, Any] = {}

    def __call__(self, path: str, tensor: Any, extra: Any) -> Any:
        """Reduce one layer's output (inside the probe's trace or eager run)."""
        shape = tuple(tensor.shape)
        static, args = self.split(path, shape, extra)
        if keras.backend.backend() != "tensorflow":
            return own(self.fn, static, tensor, args)
        import tensorflow as tf

        if static not in self._functions:
            self._functions[static] = tf.function(
                functools.partial(own, self.fn, static),
                autograph=False,
                experimental_attributes={"_noinline": True},
            )
        return self._functions[static](tensor, args)


_INTERNAL = "_tbactviz_internal"


def own(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` for tbactviz's own code run inside the probe: an exception it raises is marked
    (:func:`internal_error`), so that it surfaces as itself rather than as "inputs do not fit the model"."""
    try:
        return fn(*args)
    except Exception as exc:
        with contextlib.suppress(AttributeError):  # an exception type without a __dict__ stays unmarked
            setattr(exc, _INTERNAL, True)
        raise


def internal_error(exc: BaseException) -> BaseException | None:
    """The error tbactviz's own code raised inside the probe (:func:`own`) that ``exc`` is or comes from
    (the backends' tracing re-raises errors as new exceptions: TensorFlow's ``StagingError``, Keras' errors
    "encountered when calling" a layer), or None when the error is the model's.

    Example:
        >>> internal_error(ValueError("the model's")) is None
        True
    """
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if getattr(link, _INTERNAL, False):
            return link
        link = link.__cause__ or link.__context__
    return None


def check_backend() -> str:
    """Return the active Keras backend's name, or raise if the probe cannot run on it.

    Raises:
        UnsupportedBackendError: The backend is not one of :data:`SUPPORTED_BACKENDS` (e.g. ``numpy``, which
            has no compiler, or ``openvino``, inference only); the message names it and the valid ones.

    Example:
        >>> check_backend() in SUPPORTED_BACKENDS
        True
    """
    name = keras.backend.backend()
    if name not in SUPPORTED_BACKENDS:
        raise UnsupportedBackendError(
            f"the Keras backend {name!r} is not supported by tbactviz; supported backends are "
            f"{list(SUPPORTED_BACKENDS)} (set KERAS_BACKEND before importing keras)"
        )
    return str(name)


@functools.lru_cache(maxsize=1)
def input_errors() -> tuple[type[BaseException], ...]:
    """What running a probe that does not fit the model raises on the active backend."""
    errors: list[type[BaseException]] = [ValueError, TypeError]
    name = keras.backend.backend()
    if name == "tensorflow":
        import tensorflow as tf

        errors += [tf.errors.InvalidArgumentError, tf.errors.UnimplementedError]
    elif name == "torch":
        errors.append(RuntimeError)  # shape mismatches ("mat1 and mat2 shapes cannot be multiplied")
    return tuple(errors)


def prepare(inputs: Any) -> Any:
    """Convert probe leaves to backend tensors as ``model.predict`` does (non-floatx floats -> floatx).

    Numpy floats are cast on the host (so that float64 never reaches a backend that would truncate it with a
    warning, like JAX without x64); integer leaves (uint8 images) are passed as they are.
    """
    floatx = keras.config.floatx()

    def convert(leaf: Any) -> Any:
        if isinstance(leaf, np.ndarray) or not hasattr(leaf, "dtype"):
            leaf = np.asarray(leaf)
            if leaf.dtype.kind == "f" and leaf.dtype.name != floatx:
                leaf = leaf.astype(floatx)
            return keras.ops.convert_to_tensor(leaf)
        tensor = keras.ops.convert_to_tensor(leaf)
        dtype = keras.backend.standardize_dtype(tensor.dtype)
        if "float" in dtype and dtype != floatx:
            tensor = keras.ops.cast(tensor, floatx)
        return tensor

    if isinstance(inputs, Mapping):
        return {key: convert(value) for key, value in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return [convert(value) for value in inputs]
    return convert(inputs)


def _tfspecs(sample: Any) -> Any:
    """TensorSpecs of a prepared sample with an open batch dimension (one trace serves every chunk size)."""
    import tensorflow as tf

    return keras.tree.map_structure(lambda t: tf.TensorSpec((None, *tuple(t.shape)[1:]), t.dtype), sample)


def stateless(model: keras.Model, trainable: Any, non_trainable: Any) -> Callable[[Any], Any]:
    """``model(x, training=False)`` with the variables' values given as arguments (traced under JAX).

    What ``model.stateless_call`` does, but through ``model.__call__`` (a ``keras.StatelessScope`` mapping
    each variable to its value), so that a model whose ``call`` takes no ``training`` argument works too.
    """
    mapping = [
        *zip(model.trainable_variables, trainable, strict=True),
        *zip(model.non_trainable_variables, non_trainable, strict=True),
    ]

    def call(x: Any) -> Any:
        with keras.StatelessScope(state_mapping=mapping):
            return model(x, training=False)

    return call


def _input_key(x: Any, extra: Any, open_batch: bool) -> tuple[Any, ...]:
    """What decides the shapes of a probe's results: the inputs' shapes (TensorFlow: per sample, one
    trace serves every chunk size) and dtypes, and the shapes of ``extra``."""
    shapes = tuple((dims_of(t.shape)[1 if open_batch else 0 :], str(t.dtype)) for t in keras.tree.flatten(x))
    if extra is None:
        return shapes, None
    return shapes, tuple(dims_of(t.shape) if is_tensor(t) else np.shape(t) for t in keras.tree.flatten(extra))


class _Weights:
    """The model's variables as ``jax.jit`` arguments, in one form whatever training left behind.

    ``jax.jit`` compiles again when an argument's weak type or placement changes: values written by a
    training step can be committed to their device where the initial ones were not. Each value is passed
    strongly typed and committed to the device it is on (single-device values; sharded ones as they are),
    converted again only when the variables hold new values.
    """

    def __init__(self, model: keras.Model) -> None:
        self._model = model
        self._seen: tuple[int, ...] = ()
        self._values: tuple[list[Any], list[Any]] = ([], [])
        self._held: tuple[list[Any], list[Any]] = ([], [])

    def __call__(self) -> tuple[list[Any], list[Any]]:
        model = self._model
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        seen = tuple(id(v) for v in (*trainable, *non_trainable))
        if seen != self._seen:
            self._values = (_canonical(trainable), _canonical(non_trainable))
            self._seen = seen
            self._held = (trainable, non_trainable)  # held, so that no new value can reuse an id
        return self._values


def _canonical(values: list[Any]) -> list[Any]:
    import jax

    out = list(values)
    fix = [
        i
        for i, v in enumerate(values)
        if isinstance(v, jax.Array) and (v.weak_type or (not v.committed and len(v.sharding.device_set) == 1))
    ]
    if fix:
        strong = [values[i].astype(values[i].dtype) if values[i].weak_type else values[i] for i in fix]
        placed = jax.device_put(strong, [values[i].sharding for i in fix])
        for i, value in zip(fix, placed, strict=True):
            out[i] = value
    return out


class CompiledProbe:
    """The model's forward pass with the chosen layers captured, compiled by the active backend.

    Args:
        model: A built Keras model.
        infos: The chosen layers.
        report: Filled on each trace with what the capture found (see
            :class:`tbactviz.model.capture.TraceReport`).
        reduce: Optional function ``reduce(outputs, extra)`` of ``{path: tensor}`` (the captured outputs) and
            of the ``extra`` tensors given to :meth:`__call__` (or None), written with ``keras.ops`` and run
            inside the compiled function; its result (any nest of tensors) is what :meth:`__call__` returns,
            as numpy, packed on the device into one buffer per dtype (:class:`Packing`). A
            :class:`LayerReduce` runs on each layer's output as the layer produces it (JAX: as the forward
            pass returns it, one compiled reduction per configuration and shape) and returns
            ``{path: its result}``. ``None`` returns the captured outputs themselves, each on its own.
        share: Another probe of the same model and layers whose compiled forward pass (JAX) and weights'
            arguments this one uses: every reduction variant of an extractor shares one forward pass, so
            XLA compiles it once per chunk shape.

    Raises:
        UnsupportedBackendError: The Keras backend is not tensorflow, jax or torch.
    """

    def __init__(
        self,
        model: keras.Model,
        infos: Sequence[CapturedLayer],
        report: TraceReport,
        reduce: Reduce | LayerReduce | None = None,
        share: CompiledProbe | None = None,
    ) -> None:
        self.backend = check_backend()
        self._model = model
        self._infos = tuple(infos)
        self._report = report
        self._reduce = reduce
        self._share = share
        self._function: Any = None
        self._forward: Any = None  # JAX: the forward pass alone (a LayerReduce, or a check's trace)
        self._weights: _Weights | None = None
        self._plans: dict[Any, Packing] = {}  # input key -> plan of the packed results
        self._layer_fns: dict[Any, Any] = {}  # JAX, LayerReduce: (static, shape, dtype) -> [jit, plan]
        self._gather: Any = None  # JAX, LayerReduce: the per-layer buffers joined, one per dtype
        self._ahead: set[Any] = set()  # JAX, LayerReduce: inputs whose reductions were compiled ahead

    def _body(
        self, report: TraceReport | None, x: Any, extra: Any, call: Callable[[Any], Any] | None = None
    ) -> Any:
        reduce = self._reduce
        if isinstance(reduce, LayerReduce):
            return forward(self._model, self._infos, report, x, call, lambda p, a: reduce(p, a, extra))
        outputs = forward(self._model, self._infos, report, x, call=call)
        return outputs if reduce is None else own(reduce, outputs, extra)

    def _packed_body(
        self, report: TraceReport | None, x: Any, extra: Any, call: Callable[[Any], Any] | None = None
    ) -> list[Any]:
        """The body with its results packed, the plan kept for inputs like these (runs at trace time)."""
        result = self._body(report, x, extra, call)
        key = _input_key(x, extra, open_batch=self.backend == "tensorflow")
        plan = self._plans[key] = own(Packing, result)
        return list(own(plan.pack, result))

    def build(self, sample: Any, extra: Any = None) -> None:
        """Compile (TensorFlow: trace) the probe for chunks like ``sample`` and ``extra`` like this."""
        if self._function is not None:
            return
        if self.backend == "tensorflow":
            import tensorflow as tf

            if self._reduce is None:
                function = tf.function(functools.partial(self._body, self._report), reduce_retracing=True)
            else:
                function = tf.function(
                    functools.partial(self._packed_body, self._report), reduce_retracing=True
                )
            extra_specs = (
                None
                if extra is None
                else keras.tree.map_structure(lambda t: tf.TensorSpec(t.shape, t.dtype), extra)
            )
            function.get_concrete_function(_tfspecs(sample), extra_specs)  # one trace for any chunk size
            self._function = function
        elif self.backend == "jax":
            self._function = self._build_jax()
        else:  # torch: eager, no gradients; the first run fills the report
            import torch

            def run_torch(x: Any, extra: Any) -> Any:
                first = self._report.count == 0
                with torch.no_grad():
                    return self._body(self._report if first else None, x, extra)

            self._function = run_torch

    def _jax_forward(self) -> Any:
        """JAX: the forward pass alone, ``(trainable, non_trainable, x) -> {path: output}`` (jitted)."""
        if self._share is not None:
            return self._share._jax_forward()
        if self._forward is None:
            import jax

            model = self._model

            def body(trainable: Any, non_trainable: Any, x: Any) -> Any:
                call = stateless(model, trainable, non_trainable)
                return forward(model, self._infos, self._report, x, call)

            self._forward = jax.jit(body)
        return self._forward

    def _build_jax(self) -> Callable[[Any, Any], Any]:
        import jax

        model = self._model
        weights = self._jax_weights()
        reduce = self._reduce
        if isinstance(reduce, LayerReduce):
            forward_pass = self._jax_forward()

            def run_layers(x: Any, extra: Any) -> Any:
                ahead = self._compile_ahead(reduce, x, extra)  # while the forward pass compiles
                outputs = forward_pass(*weights(), x)
                for future in ahead:
                    future.result()
                return self._reduce_layers(reduce, outputs, extra)

            return run_layers
        if reduce is None:
            forward_pass = self._jax_forward()
            return lambda x, extra: forward_pass(*weights(), x)

        def body(trainable: Any, non_trainable: Any, x: Any, extra: Any) -> Any:
            return self._packed_body(self._report, x, extra, stateless(model, trainable, non_trainable))

        jitted = jax.jit(body)
        return lambda x, extra: jitted(*weights(), x, extra)

    def _jax_weights(self) -> _Weights:
        if self._share is not None:
            return self._share._jax_weights()
        if self._weights is None:
            self._weights = _Weights(self._model)
        return self._weights

    def _layer_entry(self, reduce: LayerReduce, key: Any) -> tuple[list[Any], bool]:
        """JAX: ``[jitted reduction, its packing plan]`` for ``key = (static, shape, dtype)``; new or not."""
        import jax

        entry = self._layer_fns.get(key)
        if entry is not None:
            return entry, False
        entry = self._layer_fns[key] = [None, None]
        entry[0] = jax.jit(functools.partial(_reduce_one, reduce.fn, key[0], entry))
        return entry, True

    def _compile_ahead(self, reduce: LayerReduce, x: Any, extra: Any) -> list[Any]:
        """JAX: compile, on threads, the reductions the layers' declared output shapes call for, while the
        forward pass compiles (XLA compiles without the GIL); a shape guessed wrong costs one compile more.
        Returns the futures to wait for (none once every configuration has been met)."""
        import jax

        seen = _input_key(x, extra, open_batch=False)
        if seen in self._ahead:  # compiled ahead for inputs like these already (or found out then)
            return []
        self._ahead.add(seen)
        batch = int(keras.tree.flatten(x)[0].shape[0])
        values = [v for group in self._jax_weights()() for v in group]
        # the forward pass's outputs are committed where the (committed) weights are
        sharding = values[0].sharding if values and isinstance(values[0], jax.Array) else None
        jobs: dict[Any, Any] = {}
        for info in self._infos:
            shape = info.output_shape
            if shape is None or any(d is None for d in shape[1:]):
                continue
            full = (batch, *(int(d) for d in shape[1:]))  # type: ignore[arg-type]
            dtype = keras.backend.standardize_dtype(getattr(info.layer, "compute_dtype", None) or "float32")
            static, args = reduce.split(info.path, full, extra)
            key = (static, full, dtype)
            entry, new = self._layer_entry(reduce, key)
            if new:
                jobs[key] = (entry, jax.ShapeDtypeStruct(full, dtype, sharding=sharding), args)
        if not jobs:
            return []
        pool = ThreadPoolExecutor(min(len(jobs), os.cpu_count() or 1), thread_name_prefix="tbactviz-compile")
        futures = [pool.submit(_compile_quietly, e[0], spec, args) for e, spec, args in jobs.values()]
        pool.shutdown(wait=False)
        return futures

    def _reduce_layers(self, reduce: LayerReduce, outputs: dict[str, Any], extra: Any) -> list[Any]:
        """JAX: each layer's output reduced by the compiled reduction of its configuration and shape (shared
        by the layers that have them), packed per layer, then joined into one buffer per dtype."""
        import jax

        work: list[tuple[str, Any, Any, list[Any]]] = []
        new: dict[Any, int] = {}  # configurations met for the first time -> a layer that has them
        for path in list(outputs):
            tensor = outputs.pop(path)  # the activations can go once their reduction is dispatched
            shape, dtype = tuple(tensor.shape), str(tensor.dtype)
            static, args = reduce.split(path, shape, extra)
            key = (static, shape, dtype)
            entry, fresh = self._layer_entry(reduce, key)
            if fresh or entry[1] is None:  # not compiled yet (a guess made ahead did not fit)
                new.setdefault(key, len(work))
            work.append((path, tensor, args, entry))
        early: dict[int, list[Any]] = {}
        if len(new) > 1:  # compiled side by side: XLA compiles without the GIL
            with ThreadPoolExecutor(min(len(new), os.cpu_count() or 1)) as pool:
                futures = {i: pool.submit(work[i][3][0], work[i][1], work[i][2]) for i in new.values()}
                early = {i: future.result() for i, future in futures.items()}
        parts: list[tuple[str, Packing, list[Any]]] = []
        for i, (path, tensor, args, entry) in enumerate(work):
            buffers = early[i] if i in early else entry[0](tensor, args)
            parts.append((path, entry[1], buffers))
        del work
        dtypes: list[str] = []
        for _, plan, _ in parts:
            dtypes.extend(d for d in plan.dtypes if d not in dtypes)
        groups = [
            [b for _, plan, bs in parts for kind, b in zip(plan.dtypes, bs, strict=True) if kind == dtype]
            for dtype in dtypes
        ]
        if self._gather is None:
            self._gather = jax.jit(lambda gs: [jax.numpy.concatenate(g) if len(g) > 1 else g[0] for g in gs])
        joined = self._gather(groups)
        return [Joined(dtypes, parts), *joined]

    def check(self, sample: Any) -> None:
        """Trace the forward pass on ``sample`` (prepared inputs) without compiling where the backend can
        (TensorFlow: the trace of :meth:`build`; JAX: shapes evaluated, ``jax.eval_shape``; PyTorch: one
        eager run), so that inputs that do not fit the model fail here, and the report is filled."""
        self.build(sample)
        if self._report.count:
            return
        if self.backend == "jax":
            import jax

            jax.eval_shape(self._jax_forward(), *self._jax_weights()(), sample)
        elif self.backend == "torch":
            import torch

            with torch.no_grad():
                forward(self._model, self._infos, self._report, sample)

    def __call__(self, chunk: Any, extra: Any = None) -> Any:
        """Run the probe on a prepared chunk (and ``extra`` tensors for ``reduce``); return numpy results.

        With a ``reduce``, its results leave the device in one copy per dtype (:class:`Packing`).
        """
        if extra is not None:
            extra = keras.tree.map_structure(keras.ops.convert_to_tensor, extra)
        try:
            self.build(chunk, extra)  # TensorFlow traces here
            result = self._function(chunk, extra)
        except Exception as exc:
            found = internal_error(exc)
            if found is None or found is exc:
                raise
            raise found from None  # tbactviz's own error as itself, with its own traceback
        if self._reduce is None:
            return keras.tree.map_structure(to_numpy, result)
        if isinstance(result, list) and result and isinstance(result[0], Joined):
            joined: Joined = result[0]
            return joined.unpack([to_numpy(b) for b in result[1:]])
        if self.backend == "torch":
            key = _input_key(chunk, extra, open_batch=False)
            plan = self._plans.get(key)
            if plan is None:
                plan = self._plans[key] = own(Packing, result)
            result = own(plan.pack, result)
            return plan.unpack([to_numpy(b) for b in result])
        key = _input_key(chunk, extra, open_batch=self.backend == "tensorflow")
        plan = self._plans.get(key)
        if plan is None:  # pragma: no cover - a trace always records its plan
            raise RuntimeError(f"no packing plan for inputs {key}")
        return plan.unpack([to_numpy(b) for b in result])


def _compile_quietly(jitted: Any, spec: Any, args: Any) -> None:
    """Compile ``jitted`` for ``(spec, args)`` ahead of its call; an error is left to the call to raise."""
    try:
        jitted.lower(spec, args).compile()
    except Exception:  # the real call raises it again, where it belongs
        return


def _reduce_one(fn: Callable[..., Any], static: Any, entry: list[Any], tensor: Any, args: Any) -> list[Any]:
    """JAX: one layer's reduction, packed; the plan is kept in ``entry[1]`` (runs at trace time)."""
    result = own(fn, static, tensor, args)
    plan = entry[1] = own(Packing, result)
    return list(own(plan.pack, result))
