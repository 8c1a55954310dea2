"""Resolving what a user typed (names, paths, globs, classes) into the layers of a model.

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

This module builds on :mod:`tbactviz.layers.listing` (which lists a model's layers) and imports nothing else
of tbactviz but errors and the default overview.
"""

from __future__ import annotations

import fnmatch
import warnings
from collections.abc import Sequence

import keras

from tbactviz.errors import (
    AmbiguousLayerError,
    LayerNotFoundError,
    NoDrawableLayerError,
    TbactvizWarning,
)
from tbactviz.layers.listing import LayerInfo, LayerSelector, list_layers
from tbactviz.layers.overview import DEFAULT_MAX_LAYERS, check_max_layers, default_layers, mro_names

__all__ = ["check_selection", "match_layers", "resolve_layers"]

_GLOB_CHARS = frozenset("*?[")


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


def match_layers(
    infos: Sequence[LayerInfo], selectors: Sequence[LayerSelector], *, argument: str = "layers"
) -> list[LayerInfo]:
    """Every layer of ``infos`` that one of ``selectors`` selects, drawable or not, in model order.

    The matching of :func:`resolve_layers` (same rules, same errors), without the drawability filter: what
    ``tbactviz layers --match`` shows is what ``--layers`` with the same selectors would log (plus the layers
    that cannot be drawn).

    Args:
        infos: What :func:`list_layers` returned.
        selectors: Names, paths, globs, class names, layer classes or layer objects (at least one).
        argument: Name of the argument in error messages.

    Returns:
        The matched layers in model order, without duplicates.

    Raises:
        LayerNotFoundError: A selector matched no layer (the message lists the closest paths).
        AmbiguousLayerError: A bare inner name exists in several nested models.
    """
    picked: set[int] = set()
    for selector in selectors:
        picked.update(id(info.layer) for info in _match_one(selector, infos, argument))
    return [info for info in infos if id(info.layer) in picked]


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
        >>> from tbactviz.layers.selection import resolve_layers
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

    ordered = match_layers(all_infos, selectors, argument=argument)
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
