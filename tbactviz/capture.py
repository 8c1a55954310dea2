"""Capturing chosen layers during the model's own forward pass, and tracing a model to learn its shapes.

The mechanism (see :mod:`tbactviz.extract` for why it is the only one): while TensorFlow traces a function
that calls ``model(x, training=False)``, each chosen layer's ``call`` is replaced, on that layer object only,
by a thin wrapper that records its outputs; the wrappers are removed as soon as the trace ends, so the model
is left exactly as it was. :func:`infer_outputs` uses it to learn output shapes without computing anything
(:func:`tbactviz.layers.list_layers` with ``input_shape``); :class:`tbactviz.extract.ActivationExtractor`
uses it to compile the probe.

This module knows layers only through what :class:`tbactviz.layers.LayerInfo` offers (``path``, ``layer``,
``output_shape``, ``drawable``, ``with_output``), so both ``layers`` and ``extract`` can import it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

import keras
import tensorflow as tf

__all__ = ["build_if_needed", "capturing", "infer_outputs", "specs"]


class CapturedLayer(Protocol):
    """What capture needs of a chosen layer (:class:`tbactviz.layers.LayerInfo` is one)."""

    @property
    def path(self) -> str: ...

    @property
    def layer(self) -> keras.layers.Layer: ...

    @property
    def output_shape(self) -> tuple[int | None, ...] | None: ...

    @property
    def drawable(self) -> bool: ...


L = TypeVar("L", bound=CapturedLayer)


def _call_attribute(layer: keras.layers.Layer) -> str:
    policy = getattr(layer, "dtype_policy", None)
    return "quantized_call" if getattr(policy, "quantization_mode", None) is not None else "call"


@contextmanager
def capturing(infos: Sequence[CapturedLayer], store: dict[str, list[Any]]) -> Iterator[None]:
    """Wrap each layer's call so that its outputs are appended to ``store[path]``; restore on exit.

    A layer that already had an instance-level attribute (another capture, a user patch) gets it back;
    otherwise the instance attribute is deleted so that the class method shows through again.
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
                **kwargs: Any,
            ) -> Any:
                out = __original(*args, **kwargs)
                __calls.append(out)
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


def specs(input_shape: Any) -> Any:
    """TensorSpecs (floatx) from a shape, a list of shapes or a dict of shapes."""
    floatx = keras.config.floatx()

    def is_shape(obj: Any) -> bool:
        return isinstance(obj, (list, tuple)) and all(d is None or isinstance(d, int) for d in obj)

    def spec(value: Any) -> tf.TensorSpec:
        if isinstance(value, tf.TensorSpec):
            return value
        if not is_shape(value) or len(value) < 2:
            raise ValueError(
                f"input_shape={input_shape!r} is not valid; expected a shape with the batch dimension first, "
                "e.g. (None, 32, 32, 3), or a list/dict of such shapes (one per model input)"
            )
        return tf.TensorSpec(tuple(value), floatx)

    if isinstance(input_shape, Mapping):
        return {key: spec(value) for key, value in input_shape.items()}
    if isinstance(input_shape, tf.TensorSpec) or is_shape(input_shape):
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
    if isinstance(model, keras.Sequential) and isinstance(specs, tf.TensorSpec):
        model.build(tuple(specs.shape))
        return
    zeros = tf.nest.map_structure(
        lambda s: tf.zeros([1, *(1 if d is None else d for d in s.shape[1:])], s.dtype), specs
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
    input_specs = specs(input_shape)
    build_if_needed(model, input_specs)
    unknown = [info for info in infos if info.output_shape is None and info.drawable]
    if not unknown:
        return list(infos)
    found: dict[str, Any] = {}

    def forward(x: Any) -> int:
        store: dict[str, list[Any]] = {}
        with capturing(unknown, store):
            model(x, training=False)
        for path, outs in store.items():
            if outs:
                found[path] = outs[0]
        return 0

    tf.function(forward).get_concrete_function(input_specs)
    return [
        info.with_output(found[info.path]) if info.path in found else info  # type: ignore[attr-defined]
        for info in infos
    ]
