"""The probe compiled by the Keras backend: the model's own forward pass, chosen layers captured, reduced.

One :class:`CompiledProbe` per extractor. Its body is the same on every backend: run the model with the
chosen layers captured (:func:`tbactviz.capture.forward`) and, if given, apply a ``reduce`` function written
with ``keras.ops`` (:mod:`tbactviz.reductions`) to what was captured, so that only what ``reduce`` returns
leaves the device. How that body is compiled is the backend's own way:

* **tensorflow**: a ``tf.function`` traced once, eagerly, for the probe's per-sample shapes and dtypes with
  an open batch dimension, so every chunk size reuses that one trace; it reads the model's variables, so it
  follows training.
* **jax**: ``jax.jit`` over the model's call in a ``keras.StatelessScope`` (what ``model.stateless_call``
  does, through ``model.__call__``) with ``(trainable_values, non_trainable_values, x)`` as arguments: the
  weights are arguments, not constants, so training updates need no retrace. XLA compiles per input shape:
  one trace per distinct chunk size (at most two per probe: the chunk size and the last, smaller chunk).
* **torch**: eager, under ``torch.no_grad()`` (PyTorch's own kernels; nothing to trace): the capture is
  installed for each run, :attr:`CompiledProbe.trace_count` counts the first run only.

Any other backend (``numpy``, ``openvino``) is refused by :func:`check_backend` with
:class:`~tbactviz.errors.UnsupportedBackendError`. Results come back as numpy arrays: zero-copy, read-only
views of the output buffers where the backend allows it (CPU), a copy otherwise (a GPU's results are copied
to the host: only what ``reduce`` returns).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from tbactviz.capture import CapturedLayer, L, TraceReport, forward
from tbactviz.errors import UnsupportedBackendError

__all__ = [
    "SUPPORTED_BACKENDS",
    "CompiledProbe",
    "build_if_needed",
    "check_backend",
    "infer_outputs",
    "input_errors",
    "input_specs",
    "is_spec",
    "prepare",
    "to_numpy",
    "trace_outputs",
]

#: The Keras backends the probe runs on.
SUPPORTED_BACKENDS: tuple[str, ...] = ("tensorflow", "jax", "torch")

Reduce = Callable[[dict[str, Any], Any], Any]


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


def to_numpy(tensor: Any) -> np.ndarray:
    """A read-only numpy array of a backend tensor: a zero-copy view where possible (CPU), else a copy."""
    if isinstance(tensor, np.ndarray):
        return tensor
    name = type(tensor).__module__
    if name.startswith("torch"):
        array = tensor.detach().cpu().numpy()
    elif name.startswith("tensorflow"):
        try:  # ``Tensor.numpy()`` copies; a memoryview of an eager CPU tensor does not
            array = np.asarray(memoryview(tensor))
        except (TypeError, ValueError):  # bfloat16 and other dtypes without a buffer format, non-CPU tensors
            array = tensor.numpy()
    else:
        array = np.asarray(tensor)
    view: np.ndarray = array.view()
    view.flags.writeable = False
    return view


def _tfspecs(sample: Any) -> Any:
    """TensorSpecs of a prepared sample with an open batch dimension (one trace serves every chunk size)."""
    import tensorflow as tf

    return keras.tree.map_structure(lambda t: tf.TensorSpec((None, *tuple(t.shape)[1:]), t.dtype), sample)


def _stateless(model: keras.Model, trainable: Any, non_trainable: Any) -> Callable[[Any], Any]:
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


class CompiledProbe:
    """The model's forward pass with the chosen layers captured, compiled by the active backend.

    Args:
        model: A built Keras model.
        infos: The chosen layers.
        report: Filled on each trace with what the capture found (see :class:`tbactviz.capture.TraceReport`).
        reduce: Optional function ``reduce(outputs, extra)`` of ``{path: tensor}`` (the captured outputs) and
            of the ``extra`` tensors given to :meth:`__call__` (or None), written with ``keras.ops`` and run
            inside the compiled function; its result (any nest of tensors) is what :meth:`__call__` returns,
            as numpy. ``None`` returns the captured outputs themselves.

    Raises:
        UnsupportedBackendError: The Keras backend is not tensorflow, jax or torch.
    """

    def __init__(
        self,
        model: keras.Model,
        infos: Sequence[CapturedLayer],
        report: TraceReport,
        reduce: Reduce | None = None,
    ) -> None:
        self.backend = check_backend()
        self._model = model
        self._infos = tuple(infos)
        self._report = report
        self._reduce = reduce
        self._function: Any = None

    def _body(
        self, report: TraceReport | None, x: Any, extra: Any, call: Callable[[Any], Any] | None = None
    ) -> Any:
        outputs = forward(self._model, self._infos, report, x, call=call)
        return outputs if self._reduce is None else self._reduce(outputs, extra)

    def build(self, sample: Any, extra: Any = None) -> None:
        """Compile (TensorFlow: trace) the probe for chunks like ``sample`` and ``extra`` like this."""
        if self._function is not None:
            return
        if self.backend == "tensorflow":
            import tensorflow as tf

            function = tf.function(functools.partial(self._body, self._report), reduce_retracing=True)
            extra_specs = (
                None
                if extra is None
                else keras.tree.map_structure(lambda t: tf.TensorSpec(t.shape, t.dtype), extra)
            )
            function.get_concrete_function(_tfspecs(sample), extra_specs)  # one trace for any chunk size
            self._function = function
        elif self.backend == "jax":
            import jax

            model = self._model

            def body(trainable: Any, non_trainable: Any, x: Any, extra: Any) -> Any:
                return self._body(self._report, x, extra, _stateless(model, trainable, non_trainable))

            jitted = jax.jit(body)

            def run(x: Any, extra: Any) -> Any:
                return jitted(
                    [v.value for v in model.trainable_variables],
                    [v.value for v in model.non_trainable_variables],
                    x,
                    extra,
                )

            self._function = run
        else:  # torch: eager, no gradients; the first run fills the report
            import torch

            def run_torch(x: Any, extra: Any) -> Any:
                first = self._report.count == 0
                with torch.no_grad():
                    return self._body(self._report if first else None, x, extra)

            self._function = run_torch

    def __call__(self, chunk: Any, extra: Any = None) -> Any:
        """Run the probe on a prepared chunk (and ``extra`` tensors for ``reduce``); return numpy results."""
        if extra is not None:
            extra = keras.tree.map_structure(keras.ops.convert_to_tensor, extra)
        self.build(chunk, extra)
        return keras.tree.map_structure(to_numpy, self._function(chunk, extra))


def _symbolic(tensor: Any) -> Any:
    """A KerasTensor with the shape (batch dimension open) and dtype of a traced or real tensor."""
    try:
        shape = tuple(tensor.shape)
    except (TypeError, ValueError):  # unknown rank
        return tensor
    return keras.KerasTensor((None, *shape[1:]), dtype=keras.backend.standardize_dtype(tensor.dtype))


def trace_outputs(model: keras.Model, infos: Sequence[CapturedLayer], specs: Any) -> dict[str, Any]:
    """The first output of each layer of ``infos`` in one forward pass on inputs like ``specs``.

    Nothing is computed where the backend can trace shapes (TensorFlow: a ``tf.function`` trace; JAX:
    ``jax.eval_shape``); PyTorch runs once on a one-sample batch of zeros.

    Args:
        model: A built model.
        infos: The layers to capture.
        specs: Input specs (objects with ``shape`` and ``dtype``, batch first), in the model's input
            structure.

    Returns:
        ``{path: output}`` for the layers that were called, outputs as :class:`keras.KerasTensor` (or a
        structure of them) with an open batch dimension.
    """
    from tbactviz.capture import capturing

    backend = check_backend()
    store: dict[str, list[Any]] = {}

    def run(x: Any, call: Callable[[Any], Any] | None = None) -> int:
        with capturing(infos, store):
            if call is None:
                model(x, training=False)
            else:
                call(x)
        return 0

    if backend == "tensorflow":
        import tensorflow as tf

        tf_specs = keras.tree.map_structure(lambda s: tf.TensorSpec(tuple(s.shape), s.dtype), specs)
        tf.function(run).get_concrete_function(tf_specs)
    elif backend == "jax":
        import jax

        def body(trainable: Any, non_trainable: Any, x: Any) -> int:
            return run(x, _stateless(model, trainable, non_trainable))

        def struct(s: Any) -> Any:
            return jax.ShapeDtypeStruct((1, *(1 if d is None else d for d in tuple(s.shape)[1:])), s.dtype)

        structs = keras.tree.map_structure(struct, specs)
        jax.eval_shape(
            body,
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            structs,
        )
    else:
        import torch

        zeros = keras.tree.map_structure(
            lambda s: keras.ops.zeros((1, *(1 if d is None else d for d in tuple(s.shape)[1:])), s.dtype),
            specs,
        )
        with torch.no_grad():
            run(zeros)
    return {path: keras.tree.map_structure(_symbolic, outs[0]) for path, outs in store.items() if outs}


def is_spec(obj: Any) -> bool:
    return hasattr(obj, "shape") and hasattr(obj, "dtype") and not isinstance(obj, np.ndarray)


def input_specs(input_shape: Any) -> Any:
    """Input specs (KerasTensors, floatx) from a shape, a list of shapes or a dict of shapes."""
    floatx = keras.config.floatx()

    def is_shape(obj: Any) -> bool:
        return isinstance(obj, (list, tuple)) and all(d is None or isinstance(d, int) for d in obj)

    def spec(value: Any) -> Any:
        if is_spec(value):
            return value
        if not is_shape(value) or len(value) < 2:
            raise ValueError(
                f"input_shape={input_shape!r} is not valid; expected a shape with the batch dimension first, "
                "e.g. (None, 32, 32, 3), or a list/dict of such shapes (one per model input)"
            )
        return keras.KerasTensor(tuple(value), dtype=floatx)

    if isinstance(input_shape, Mapping):
        return {key: spec(value) for key, value in input_shape.items()}
    if is_spec(input_shape) or is_shape(input_shape):
        return spec(input_shape)
    if not isinstance(input_shape, (list, tuple)):
        return spec(input_shape)  # raises: neither a shape nor a list of shapes
    return [spec(value) for value in input_shape]


def build_if_needed(model: keras.Model, specs: Any) -> None:
    """Build an unbuilt model from input specs: a Sequential from its shape, others by one call on zeros.

    ``model.build()`` creates no graph for subclassed models, and fails for those whose ``build()`` is not
    written, so they are called once on a one-sample batch of zeros, as Keras does when predicting.
    """
    if model.built:
        return
    if isinstance(model, keras.Sequential) and is_spec(specs):
        model.build(tuple(specs.shape))
        return
    zeros = keras.tree.map_structure(
        lambda s: keras.ops.zeros((1, *(1 if d is None else d for d in tuple(s.shape)[1:])), s.dtype), specs
    )
    model(zeros, training=False)


def infer_outputs(model: keras.Model, infos: Sequence[L], input_shape: Any) -> list[L]:
    """Fill in unknown output shapes by tracing the model once on symbolic inputs (nothing is computed).

    Args:
        model: The model (built with ``input_shape`` if it is not built yet).
        infos: Layers as :func:`~tbactviz.layers.list_layers` lists them.
        input_shape: Input shape with batch dimension, e.g. ``(None, 32, 32, 3)``, or a list/dict of them.

    Returns:
        ``infos`` with ``output_shape``/``drawable``/``reason`` taken from the traced outputs for the layers
        whose shape was unknown; layers not called during the forward pass keep their unknown shape.
    """
    check_backend()
    specs = input_specs(input_shape)
    build_if_needed(model, specs)
    unknown = [info for info in infos if info.output_shape is None and info.drawable]
    if not unknown:
        return list(infos)
    found = trace_outputs(model, unknown, specs)
    return [info.with_output(found[info.path]) if info.path in found else info for info in infos]
