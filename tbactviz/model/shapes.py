"""Layers' output shapes found without computing: the model traced on symbolic inputs, on every backend.

TensorFlow traces a ``tf.function``, JAX evaluates shapes (``jax.eval_shape``), PyTorch runs once on a
one-sample batch of zeros. Used to fill in the shapes a model does not declare (subclassed models, unbuilt
Sequential models) before anything is compiled: the selection (:mod:`tbactviz.layers.listing`), the
extractor's automatic chunk sizes and the probe's grid plans need them.

Example:
    >>> import keras
    >>> specs = input_specs((None, 8, 8, 3))
    >>> tuple(specs.shape), specs.dtype
    ((None, 8, 8, 3), 'float32')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from tbactviz.checks import type_error, value_error
from tbactviz.model.capture import CapturedLayer, L
from tbactviz.model.compiled import check_backend, stateless

__all__ = [
    "build_if_needed",
    "infer_outputs",
    "input_specs",
    "is_spec",
    "open_batch_spec",
    "sample_shapes",
    "static_shape",
    "trace_outputs",
]


def static_shape(shape: Any) -> tuple[int, ...] | None:
    """One sample's shape as ints (batch axis excluded), or None when a dimension is unknown."""
    dims = tuple(shape)[1:]
    if any(d is None for d in dims):
        return None
    return tuple(int(d) for d in dims)


def open_batch_spec(tensor: Any) -> Any:
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
    from tbactviz.model.capture import capturing

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
            return run(x, stateless(model, trainable, non_trainable))

        def struct(s: Any) -> Any:
            return jax.ShapeDtypeStruct(_one_sample(s), s.dtype)

        structs = keras.tree.map_structure(struct, specs)
        jax.eval_shape(
            body,
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            structs,
        )
    else:
        import torch

        with torch.no_grad():
            run(_zeros(specs))
    return {path: keras.tree.map_structure(open_batch_spec, outs[0]) for path, outs in store.items() if outs}


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
        valid = (
            "a shape with the batch dimension first, e.g. (None, 32, 32, 3), or a list/dict of such shapes "
            "(one per model input)"
        )
        if not is_shape(value):
            raise type_error("input_shape", input_shape, valid)
        if len(value) < 2:
            raise value_error("input_shape", input_shape, valid)
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
    model(_zeros(specs), training=False)


def _one_sample(spec: Any) -> tuple[int, ...]:
    """The shape of a one-sample batch like ``spec`` (unknown dimensions 1)."""
    return (1, *(1 if d is None else d for d in tuple(spec.shape)[1:]))


def _zeros(specs: Any) -> Any:
    """A one-sample batch of zeros for each spec of the nest ``specs``."""
    return keras.tree.map_structure(lambda s: keras.ops.zeros(_one_sample(s), s.dtype), specs)


def infer_outputs(model: keras.Model, infos: Sequence[L], input_shape: Any) -> list[L]:
    """Fill in unknown output shapes by tracing the model once on symbolic inputs (nothing is computed).

    Args:
        model: The model (built with ``input_shape`` if it is not built yet).
        infos: Layers as :func:`~tbactviz.layers.listing.list_layers` lists them.
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


def sample_shapes(
    model: keras.Model, infos: Sequence[CapturedLayer], traced: Mapping[str, Any], sample: Any
) -> dict[str, tuple[int, ...] | None]:
    """One sample's output shape per layer of ``infos`` (batch axis excluded), None where not static.

    Args:
        model: The model, built.
        infos: The chosen layers.
        traced: Shapes a trace of the probe found (``TraceReport.shapes``), preferred when given.
        sample: Prepared inputs (backend tensors, batch first) like the probe's.

    Layers whose shape is neither traced nor fully declared are traced here on ``sample``'s specs (JAX:
    shapes evaluated; torch: one run on a one-sample batch of zeros), the batch dimension open.
    """

    def static(shape: Any) -> tuple[int, ...] | None:
        return None if shape is None else static_shape(shape)

    shapes = {info.path: static(traced.get(info.path, info.output_shape)) for info in infos}
    unknown = [info for info in infos if shapes[info.path] is None and info.path not in traced]
    if unknown:
        specs = keras.tree.map_structure(open_batch_spec, sample)
        for path, out in trace_outputs(model, unknown, specs).items():
            if not isinstance(out, (list, tuple, dict)):
                shapes[path] = static(out.shape)
    return shapes
