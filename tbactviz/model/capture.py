"""Capture the chosen layers' outputs during the model's own forward pass, on every Keras 3 backend.

Keras 3 layers have no forward-hook API on any backend, and ``layer.output`` does not exist for subclassed
models or reach into nested ones. So each chosen layer's ``call`` is replaced, on that layer object only and
only while the forward pass runs (a ``try/finally`` puts it back), by a thin wrapper that records its
outputs. Keras runs a layer through ``self.call`` (an ordinary public method, overridden per instance with
ordinary attribute assignment) the same way on TensorFlow, JAX and PyTorch, so the same capture serves all
three: inside a ``tf.function`` trace, a ``jax.jit`` trace of ``model.stateless_call`` or an eager torch run.
Quantized layers run ``quantized_call``, which is wrapped instead. A user's own instance-level ``call`` is put
back as it was. While a capture runs, the wrapped layers must not be called by another thread.

This module imports keras only (no backend).

Example:
    >>> import keras, numpy as np
    >>> from tbactviz.layers.listing import list_layers
    >>> model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3, name="c")])
    >>> report = TraceReport()
    >>> chosen = [i for i in list_layers(model) if i.path == "c"]
    >>> outs = forward(model, chosen, report, np.zeros((1, 4, 4, 1), "float32"))
    >>> tuple(outs["c"].shape), report.shapes["c"]
    ((1, 2, 2, 2), (None, 2, 2, 2))
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

import keras


class CapturedLayer(Protocol):
    """What capture and the probe need of a chosen layer (a :class:`~tbactviz.layers.listing.LayerInfo`)."""

    @property
    def path(self) -> str: ...

    @property
    def layer(self) -> keras.layers.Layer: ...

    @property
    def output_shape(self) -> tuple[int | None, ...] | None: ...

    @property
    def drawable(self) -> bool: ...

    def with_output(self, output: Any) -> Any: ...


#: A chosen layer's description, as the caller gave it (its own type comes back).
L = TypeVar("L", bound=CapturedLayer)

__all__ = ["CapturedLayer", "OnOutput", "TraceReport", "capturing", "describe_output", "forward"]

#: ``on_output(path, output) -> result``: what to compute of a chosen layer's output where it is produced.
OnOutput = Callable[[str, Any], Any]


def describe_output(output: Any) -> tuple[tuple[int | None, ...] | None, bool, str | None]:
    """Describe a layer output as ``(output_shape, drawable, reason)``.

    Args:
        output: A tensor-like with ``.shape`` (KerasTensor, tf.Tensor, ndarray) or a list/tuple/dict of them.

    Returns:
        ``(shape, True, None)`` for a single tensor of rank >= 2, else ``(shape or None, False, reason)``.
    """
    if isinstance(output, (list, tuple, dict)):
        n = len(output)
        if n == 1:
            only = next(iter(output.values())) if isinstance(output, dict) else output[0]
            return describe_output(only)
        kind = type(output).__name__
        return None, False, f"returns {n} outputs ({kind}); only layers with a single tensor output are drawn"
    shape = getattr(output, "shape", None)
    if shape is None:
        return None, False, f"returns a {type(output).__name__}, not a tensor"
    try:
        dims = tuple(None if d is None else int(d) for d in shape)
    except (TypeError, ValueError):  # unknown rank (tf.TensorShape(None))
        return None, True, None
    if len(dims) < 2:
        return dims, False, f"output has rank {len(dims)} (needs at least 2: batch and one more axis)"
    return dims, True, None


def _call_attribute(layer: keras.layers.Layer) -> str:
    policy = getattr(layer, "dtype_policy", None)
    return "quantized_call" if getattr(policy, "quantization_mode", None) is not None else "call"


@contextmanager
def capturing(
    infos: Sequence[CapturedLayer],
    store: dict[str, list[Any]],
    on_output: OnOutput | None = None,
    results: dict[str, Any] | None = None,
) -> Iterator[None]:
    """Wrap each layer's call so that its outputs are appended to ``store[path]``; restore on exit.

    A layer that already had an instance-level attribute (another capture, a user patch) gets it back;
    otherwise the instance attribute is deleted so that the class method shows through again.

    Args:
        infos: The layers to capture (``info.layer``), keyed in ``store`` by ``info.path``.
        store: Filled with ``path -> [output of each call]`` while the context is open; with ``on_output``,
            with symbolic stand-ins (:class:`keras.KerasTensor`, same shape and dtype) that hold no memory.
        on_output: Optional: called on the first output of each layer, as soon as the layer returns it (a
            single tensor of rank >= 2 only), its result kept in ``results[path]``. So a layer's reductions
            run while its output is fresh and the output can be freed before the forward pass goes on: under
            TensorFlow the output the next layers see waits for the reductions (a control dependency), so
            at most a layer or two of activations and their temporaries are alive at once.
        results: Filled by ``on_output``.
    """
    undo: list[Callable[[], None]] = []
    try:
        for info in infos:
            layer = info.layer
            attr = _call_attribute(layer)
            had_own = attr in vars(layer)
            original = getattr(layer, attr)
            calls = store.setdefault(info.path, [])

            def wrapper(
                *args: Any,
                __original: Callable[..., Any] = original,
                __calls: list[Any] = calls,
                __path: str = info.path,
                **kwargs: Any,
            ) -> Any:
                out = __original(*args, **kwargs)
                if on_output is None:
                    __calls.append(out)
                    return out
                if not __calls and results is not None and describe_output(out)[1]:
                    single = _single(out)
                    results[__path] = on_output(__path, single)
                    if single is out:
                        out = _after(out, results[__path])
                __calls.append(keras.tree.map_structure(_stand_in, out))
                return out

            wrapper.__wrapped__ = original  # type: ignore[attr-defined]  # keeps inspect.signature() right
            setattr(layer, attr, wrapper)
            if had_own:
                undo.append(functools.partial(setattr, layer, attr, original))
            else:
                undo.append(functools.partial(delattr, layer, attr))
        yield
    finally:
        for restore in reversed(undo):
            restore()


def _single(out: Any) -> Any:
    """The tensor of a drawable output: itself, or the one element of a one-element structure."""
    while isinstance(out, (list, tuple, dict)):
        out = next(iter(out.values())) if isinstance(out, dict) else out[0]
    return out


def _stand_in(value: Any) -> Any:
    """A KerasTensor with the shape and dtype of a tensor (other values as they are)."""
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        return value
    try:
        shape = tuple(None if d is None else int(d) for d in value.shape)
    except (TypeError, ValueError):  # unknown rank
        return value
    return keras.KerasTensor(shape, dtype=keras.backend.standardize_dtype(value.dtype))


def _after(out: Any, result: Any) -> Any:
    """``out``, made to wait for ``result`` under TensorFlow (graph order); as it is on other backends."""
    if keras.backend.backend() != "tensorflow":
        return out  # JAX: XLA orders a pure function itself; torch runs eagerly, in program order
    import tensorflow as tf

    leaves = [t for t in keras.tree.flatten(result) if tf.is_tensor(t)]
    if not leaves or not tf.is_tensor(out):
        return out
    with tf.control_dependencies(leaves):
        gated = tf.identity(out)
    mask = getattr(out, "_keras_mask", None)
    if mask is not None:
        gated._keras_mask = mask
    return gated


@dataclasses.dataclass
class TraceReport:
    """What the last trace of the probe found (filled by :func:`forward`, which runs only on traces).

    Attributes:
        count: Number of traces so far.
        problems: ``path -> (kind, detail)`` with kind ``'not-called'``, ``'not-drawable'`` or ``'calls'``.
        shapes: ``path -> static output shape`` (batch dimension ``None``) of the layers returned.
    """

    count: int = 0
    problems: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    shapes: dict[str, tuple[int | None, ...]] = dataclasses.field(default_factory=dict)


def _shape(out: Any) -> tuple[int | None, ...] | None:
    try:
        shape = tuple(out.shape)
    except (TypeError, ValueError):  # unknown rank
        return None
    return tuple(None if d is None else int(d) for d in shape)


def forward(
    model: keras.Model,
    infos: Sequence[CapturedLayer],
    report: TraceReport | None,
    x: Any,
    call: Callable[[Any], Any] | None = None,
    on_output: OnOutput | None = None,
) -> dict[str, Any]:
    """Run the model's forward pass on ``x`` with the capture installed; return the drawable outputs.

    Args:
        model: The model.
        infos: The chosen layers.
        report: Filled with what the run found (count incremented); None to leave it alone (eager re-runs).
        x: The inputs, as the backend's tensors (or tracers).
        call: What runs the forward pass (default ``model(x, training=False)``), e.g. a
            ``model.stateless_call`` with the variables as arguments under JAX.
        on_output: Optional: what to compute of each layer's first output where it is produced (see
            :func:`capturing`); then its results are returned instead of the outputs.

    Returns:
        ``{path: backend tensor (batch, ...)}``: each layer's first output (or what ``on_output`` returned
        for it), for the layers that were called and produced a single tensor of rank >= 2, in ``infos``
        order.
    """
    store: dict[str, list[Any]] = {}
    results: dict[str, Any] = {}
    with capturing(infos, store, on_output, results):
        if call is None:
            model(x, training=False)
        else:
            call(x)
    if report is not None:
        report.count += 1
        report.problems.clear()
    result: dict[str, Any] = {}
    for info in infos:
        outs = store.get(info.path) or []
        if not outs:
            if report is not None:
                report.problems[info.path] = ("not-called", "")
            continue
        _, drawable, reason = describe_output(outs[0])
        if not drawable:
            if report is not None:
                report.problems[info.path] = ("not-drawable", str(reason))
            continue
        out = _single(outs[0])
        result[info.path] = results[info.path] if on_output is not None else out
        if report is not None:
            shape = _shape(out)
            if shape is not None:
                report.shapes[info.path] = (None, *shape[1:])
            if len(outs) > 1:
                report.problems[info.path] = ("calls", str(len(outs)))
    return result
