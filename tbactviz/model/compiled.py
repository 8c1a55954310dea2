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

from tbactviz.errors import UnsupportedBackendError
from tbactviz.model.capture import CapturedLayer, TraceReport, forward

__all__ = [
    "SUPPORTED_BACKENDS",
    "CompiledProbe",
    "LayerReduce",
    "check_backend",
    "input_errors",
    "prepare",
    "stateless",
    "to_numpy",
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
            return self.fn(static, tensor, args)
        import tensorflow as tf

        if static not in self._functions:
            self._functions[static] = tf.function(
                functools.partial(self.fn, static),
                autograph=False,
                experimental_attributes={"_noinline": True},
            )
        return self._functions[static](tensor, args)


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
            as numpy. A :class:`LayerReduce` runs on each layer's output as the layer produces it and
            returns ``{path: its result}``. ``None`` returns the captured outputs themselves.

    Raises:
        UnsupportedBackendError: The Keras backend is not tensorflow, jax or torch.
    """

    def __init__(
        self,
        model: keras.Model,
        infos: Sequence[CapturedLayer],
        report: TraceReport,
        reduce: Reduce | LayerReduce | None = None,
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
        reduce = self._reduce
        if isinstance(reduce, LayerReduce):
            return forward(self._model, self._infos, report, x, call, lambda p, a: reduce(p, a, extra))
        outputs = forward(self._model, self._infos, report, x, call=call)
        return outputs if reduce is None else reduce(outputs, extra)

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
                return self._body(self._report, x, extra, stateless(model, trainable, non_trainable))

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
