"""Which layers to look at: listing a model's selectable layers and resolving selectors into layers.

Every layer of a model gets a *path*: its name at the top level (``'conv1'``), ``outer/inner`` inside a nested
model (``'resnet50v2/conv2_block1_out'``), at any depth. ``'/'`` is the separator because Keras model names
contain ``'.'`` (``mobilenetv2_1.00_224``). :func:`list_layers` lists every layer in model order with its
class, output shape and whether it can be drawn; :func:`resolve_layers` turns what a user typed into a list of
them.

Selector rules (applied to each item of ``layers``, in this order):

1. **Exact path** (``'conv1'``, ``'backbone/conv1_conv'``): that layer.
2. **Glob** (the string contains ``*``, ``?`` or ``[``): matched with :func:`fnmatch.fnmatchcase` against the
   full paths (``*`` also crosses ``'/'``, so ``'backbone/*'`` takes everything inside ``backbone``). When it
   matches no full path, it is matched against the last path component (the bare layer name) of every layer,
   so ``'conv*_out'`` reaches ``backbone/conv2_block1_out`` & co. in a transfer-learning model.
3. **Bare inner name** (``'conv1_conv'`` for ``backbone/conv1_conv``): the layer whose last path component is
   that name, if exactly one layer has it; if several nested models have it, an :class:`AmbiguousLayerError`
   lists the full paths to choose from.
4. **Class name** (``'Conv2D'``, ``'Add'``): every layer whose class or one of its base classes has that name
   (so ``'Conv'`` takes all convolutions). Layer names win over class names: a string is only read as a class
   name when no layer has it as name or path (Keras' generated names are lowercase, class names CamelCase).
5. Nothing matched: :class:`~tbactviz.errors.LayerNotFoundError`, listing the closest paths.

A layer class (``keras.layers.Conv2D``) selects every instance of it or of its subclasses; a layer object
selects itself. The result is in model order and without duplicates, whatever the order of the selectors.

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
import fnmatch
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

import keras

from tbactviz.capture import infer_outputs
from tbactviz.errors import (
    AmbiguousLayerError,
    LayerNotFoundError,
    NoDrawableLayerError,
    TbactvizWarning,
)
from tbactviz.overview import DEFAULT_MAX_LAYERS, check_max_layers, default_layers, mro_names

__all__ = [
    "DEFAULT_MAX_LAYERS",
    "LayerInfo",
    "LayerSelector",
    "check_selection",
    "default_layers",
    "list_layers",
    "resolve_layers",
]

#: What :func:`resolve_layers` accepts for ``layers``.
LayerSelector = Union[str, type, keras.layers.Layer, "LayerInfo"]

_GLOB_CHARS = frozenset("*?[")


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
        raise TypeError(
            "model must be a keras.Model (Functional, Sequential or subclassed); "
            f"received {type(model).__name__}."
        )
    if not isinstance(include_nested, bool):
        raise TypeError(f"include_nested={include_nested!r} is not valid; expected True or False")
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


def _is_glob(text: str) -> bool:
    return any(ch in _GLOB_CHARS for ch in text)


def _match_string(selector: str, infos: Sequence[LayerInfo], argument: str) -> list[LayerInfo]:
    paths = [info.path for info in infos]
    exact = [info for info in infos if info.path == selector]
    if exact:
        return exact
    if _is_glob(selector):
        hits = [info for info in infos if fnmatch.fnmatchcase(info.path, selector)]
        if not hits:
            hits = [info for info in infos if fnmatch.fnmatchcase(info.name, selector)]
        if not hits:
            raise LayerNotFoundError(selector, paths, argument=argument)
        return hits
    bare = [info for info in infos if info.name == selector]
    if len(bare) == 1:
        return bare
    if len(bare) > 1:
        raise AmbiguousLayerError(selector, [info.path for info in bare], argument=argument)
    by_class = [info for info in infos if selector in mro_names(info.layer)]
    if by_class:
        return by_class
    raise LayerNotFoundError(selector, paths, argument=argument)


def _match_one(selector: object, infos: Sequence[LayerInfo], argument: str) -> list[LayerInfo]:
    if isinstance(selector, LayerInfo):
        selector = selector.layer
    if isinstance(selector, str):
        if not selector:
            raise ValueError(f"{argument}='' is an empty layer name; pass a name, path, glob or layer class.")
        return _match_string(selector, infos, argument)
    if isinstance(selector, type):
        if not issubclass(selector, keras.layers.Layer):
            raise TypeError(
                f"{argument} contains the class {selector.__name__}, "
                "which is not a keras.layers.Layer subclass."
            )
        hits = [info for info in infos if isinstance(info.layer, selector)]
        if not hits:
            raise LayerNotFoundError(
                selector.__name__, [info.class_name for info in infos], argument=argument
            )
        return hits
    if isinstance(selector, keras.layers.Layer):
        hits = [info for info in infos if info.layer is selector]
        if not hits:
            raise LayerNotFoundError(selector.name, [info.path for info in infos], argument=argument)
        return hits
    raise TypeError(
        f"{argument} must be None, a layer name, path or glob (str), a layer class, a layer object, or a "
        f"list/tuple of these; received {type(selector).__name__}: {selector!r}."
    )


def check_selection(layers: object, argument: str = "layers") -> None:
    """Check the form of a layer selection without a model: what can be checked before the model is known.

    :class:`tbactviz.ActivationCallback` calls it at construction, so that a selection that could never work
    (a number, an empty list, an empty name, a class that is not a layer) fails at once rather than at the
    start of ``fit``. Whether the names exist is checked later, by :func:`resolve_layers`.

    Args:
        layers: What :func:`resolve_layers` takes: None, a selector or a list/tuple of selectors.
        argument: Name of the argument in error messages.

    Raises:
        TypeError: A selector of an unsupported type, or a class that is not a ``keras.layers.Layer``.
        ValueError: An empty list/tuple or an empty name.

    Example:
        >>> check_selection(["conv*", "backbone/conv1_conv"])
        >>> check_selection(3)
        Traceback (most recent call last):
        ...
        TypeError: layers must be None, a layer name, path or glob (str), ... received int: 3.
    """
    if layers is None:
        return
    if isinstance(layers, (list, tuple)):
        if not layers:
            raise ValueError(
                f"{argument}={layers!r} selects no layer. Pass None for the default overview, or names, "
                "paths, globs or layer classes, e.g. layers=['conv*', 'backbone/conv1_conv']."
            )
        items: Sequence[object] = layers
    else:
        items = [layers]
    for item in items:
        if isinstance(item, (LayerInfo, keras.layers.Layer)):
            continue
        if isinstance(item, str):
            if not item:
                raise ValueError(
                    f"{argument}='' is an empty layer name; pass a name, path, glob or layer class."
                )
            continue
        if isinstance(item, type):
            if not issubclass(item, keras.layers.Layer):
                raise TypeError(
                    f"{argument} contains the class {item.__name__}, which is not a keras.layers.Layer "
                    "subclass."
                )
            continue
        raise TypeError(
            f"{argument} must be None, a layer name, path or glob (str), a layer class, a layer object, or "
            f"a list/tuple of these; received {type(item).__name__}: {item!r}."
        )


def resolve_layers(
    model: keras.Model,
    layers: LayerSelector | Sequence[LayerSelector] | None = None,
    *,
    infos: Sequence[LayerInfo] | None = None,
    argument: str = "layers",
    max_layers: int = DEFAULT_MAX_LAYERS,
) -> list[LayerInfo]:
    """Resolve ``layers`` into the drawable layers of ``model``, in model order, without duplicates.

    See the module docstring for the selector rules (exact path, glob, bare inner name, class name).

    Args:
        model: The model.
        layers: ``None`` for the default overview (see :func:`default_layers`), a selector (name, path, glob,
            class name, layer class, layer object, :class:`LayerInfo`) or a list/tuple mixing them.
        infos: The model's :func:`list_layers` result, if already computed (e.g. with inferred shapes).
        argument: Name of the argument in error messages (callers pass their own parameter name).
        max_layers: Budget of the default overview.

    Returns:
        A non-empty list of drawable :class:`LayerInfo` (unknown-shape layers are kept, see module docstring).

    Raises:
        LayerNotFoundError: A name, path, glob, class or layer object matched no layer; the message lists the
            closest paths and how to list them all.
        AmbiguousLayerError: A bare inner name exists in several nested models.
        ValueError: ``layers`` is an empty list/tuple.
        TypeError: A selector of an unsupported type.
        NoDrawableLayerError: Nothing drawable remains (non-drawable matches are skipped with a warning).

    Example:
        >>> import keras
        >>> from tbactviz.layers import resolve_layers
        >>> inp = keras.Input((16, 16, 3))
        >>> x = keras.layers.Conv2D(4, 3, name="conv_a")(inp)
        >>> x = keras.layers.Conv2D(4, 3, name="conv_b")(x)
        >>> out = keras.layers.Dense(2, name="head")(keras.layers.Flatten()(x))
        >>> model = keras.Model(inp, out)
        >>> [i.path for i in resolve_layers(model, ["head", "conv*"])]
        ['conv_a', 'conv_b', 'head']
    """
    check_max_layers(max_layers)
    check_selection(layers, argument)
    all_infos = list(infos) if infos is not None else list_layers(model)
    if layers is None:
        chosen = default_layers(all_infos, max_layers)
        if not chosen:
            raise NoDrawableLayerError(
                f"{argument}=None: the model {model.name!r} has no drawable layer to show by default "
                "(a single tensor output of rank >= 2). List its layers with tbactviz.list_layers(model)."
            )
        return chosen
    selectors: Sequence[object]
    if isinstance(layers, (list, tuple)):
        if not layers:
            raise ValueError(
                f"{argument}={layers!r} selects no layer. Pass None for the default overview, or names, "
                "paths, globs or layer classes, e.g. layers=['conv*', 'backbone/conv1_conv']."
            )
        selectors = layers
    else:
        selectors = [layers]

    picked: set[int] = set()
    for selector in selectors:
        picked.update(id(info.layer) for info in _match_one(selector, all_infos, argument))
    ordered = [info for info in all_infos if id(info.layer) in picked]
    skipped = [info for info in ordered if not info.drawable]
    if skipped:
        details = "; ".join(f"{info.path!r} ({info.class_name}) {info.reason}" for info in skipped)
        warnings.warn(
            f"{argument}: skipping layers that cannot be drawn: {details}.", TbactvizWarning, stacklevel=3
        )
    chosen = [info for info in ordered if info.drawable]
    if not chosen:
        raise NoDrawableLayerError(
            f"{argument}={layers!r} selects no drawable layer (a single tensor output of rank >= 2): "
            + ", ".join(f"{info.path!r} {info.reason}" for info in skipped)
            + ". List the layers and whether they can be drawn with tbactviz.list_layers(model)."
        )
    return chosen
