"""Which layers to look at: listing a model's selectable layers and resolving selectors into layers.

Every layer of a model gets a *path*: its name at the top level (``'conv1'``), ``outer/inner`` inside a nested
model (``'resnet50v2/conv2_block1_out'``), at any depth. ``'/'`` is the separator because Keras model names
contain ``'.'`` (``mobilenetv2_1.00_224``). :func:`list_layers` lists every layer in model order with its
class, output shape and whether it can be drawn; :func:`tbactviz.layers.selection.resolve_layers` turns what a
user typed into a list of them.

Layers are *drawable* when their output is a single tensor of rank >= 2 (batch included). Layers that are not
(several outputs, dicts, scalars) are skipped with a :class:`~tbactviz.errors.TbactvizWarning` when a selector
names them; when nothing drawable remains, :class:`NoDrawableLayerError` is raised.

Output shapes come from the model's graph (Functional models, Sequential models that are built). For
subclassed models, and Sequential models not built yet, they are unknown (``None``) unless ``input_shape`` is
given to :func:`list_layers`, which then traces the model once (no computation) to learn them. Layers whose
shape is unknown are assumed drawable; the extractor checks them when it traces and skips (with a warning)
those that are not.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Union

import keras

from tbactviz.checks import check_bool, type_error
from tbactviz.layers.overview import DEFAULT_MAX_LAYERS, default_layers
from tbactviz.model.capture import describe_output
from tbactviz.model.shapes import infer_outputs

__all__ = [
    "DEFAULT_MAX_LAYERS",
    "LayerInfo",
    "LayerSelector",
    "default_layers",
    "describe_output",
    "list_layers",
]

#: What :func:`tbactviz.layers.selection.resolve_layers` accepts for ``layers``.
LayerSelector = Union[str, type, keras.layers.Layer, "LayerInfo"]


@dataclass(frozen=True)
class LayerInfo:
    """One selectable layer of a model.

    Attributes:
        path: ``'conv1'`` at the top level, ``'backbone/conv1_conv'`` inside a nested model (any depth).
        layer: The layer object itself.
        class_name: Its class name, e.g. ``'Conv2D'``.
        output_shape: Output shape with the batch dimension (``None`` in it for unknown sizes), e.g.
            ``(None, 32, 32, 16)``; ``None`` when unknown (unbuilt model, subclassed model without a graph) or
            when the layer has several outputs.
        drawable: Whether the output is a single tensor of rank >= 2 (batch included). Assumed ``True`` when
            the output is unknown; the extractor checks it when it traces the model.
        reason: Why the layer is not drawable (``None`` when it is).
        depth: Nesting depth, 0 for the model's own layers, 1 inside a nested model, ...
    """

    path: str
    layer: keras.layers.Layer
    class_name: str
    output_shape: tuple[int | None, ...] | None
    drawable: bool
    reason: str | None = None
    depth: int = 0

    @property
    def name(self) -> str:
        """The last component of :attr:`path` (the layer's own name)."""
        return self.path.rsplit("/", 1)[-1]

    @property
    def rank(self) -> int | None:
        """Rank of the output including the batch dimension, ``None`` when unknown."""
        return None if self.output_shape is None else len(self.output_shape)

    def with_output(self, output: Any) -> LayerInfo:
        """Return a copy described from an actual output (a tensor, KerasTensor or a structure of them)."""
        shape, drawable, reason = describe_output(output)
        return dataclasses.replace(self, output_shape=shape, drawable=drawable, reason=reason)


def _describe_layer(layer: keras.layers.Layer) -> tuple[tuple[int | None, ...] | None, bool, str | None]:
    try:
        output = layer.output
    except (AttributeError, ValueError, RuntimeError):
        return None, True, None
    return describe_output(output)


def list_layers(
    model: keras.Model,
    *,
    include_nested: bool = True,
    input_shape: Any = None,
) -> list[LayerInfo]:
    """List every selectable layer of ``model`` in model order.

    Nested models are listed themselves (as a layer, e.g. ``'resnet50v2'``) and then expanded into their
    layers (``'resnet50v2/conv1_conv'``, ...), at any depth. ``InputLayer`` objects are excluded; a layer
    object that appears several times (a shared nested model) is listed once, under its first path.

    Args:
        model: A Keras model: Functional, Sequential (built or not) or subclassed.
        include_nested: ``False`` lists only the top-level layers (nested models are not expanded).
        input_shape: Optional input shape(s) with batch dimension, e.g. ``(None, 32, 32, 3)`` (a list/dict of
            shapes for several inputs), used only when some output shapes are unknown (subclassed models,
            unbuilt Sequential models): the model is then traced once, without computing anything, to learn
            them. An unbuilt model gets built with it.

    Returns:
        A list of :class:`LayerInfo`, possibly empty (a model without layers).

    Example:
        >>> import keras, tbactviz
        >>> model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="c")])
        >>> [(i.path, i.class_name, i.output_shape, i.drawable) for i in tbactviz.list_layers(model)]
        [('c', 'Conv2D', (None, 6, 6, 4), True)]
    """
    if not isinstance(model, keras.Model):
        raise type_error("model", model, "a keras.Model (Functional, Sequential or subclassed)")
    check_bool("include_nested", include_nested)
    infos: list[LayerInfo] = []
    seen: set[int] = set()

    def walk(container: keras.Model, prefix: str, depth: int) -> None:
        for layer in container.layers:
            if isinstance(layer, keras.layers.InputLayer) or id(layer) in seen:
                continue
            seen.add(id(layer))
            path = f"{prefix}{layer.name}"
            shape, drawable, reason = _describe_layer(layer)
            infos.append(LayerInfo(path, layer, type(layer).__name__, shape, drawable, reason, depth))
            if include_nested and isinstance(layer, keras.Model):
                walk(layer, f"{path}/", depth + 1)

    walk(model, "", 0)
    if input_shape is not None and any(info.output_shape is None and info.drawable for info in infos):
        infos = infer_outputs(model, infos, input_shape)
    return infos
