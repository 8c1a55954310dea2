"""Which layers to look at: a model's selectable layers, what a user typed resolved into them, and the
default overview.

* :mod:`~tbactviz.layers.listing`: :func:`list_layers` and :class:`LayerInfo` (paths such as
  ``outer/inner``, output shapes, whether a layer can be drawn).
* :mod:`~tbactviz.layers.selection`: names, globs, nested paths and classes resolved into layers, with
  close matches in the error when nothing matches.
* :mod:`~tbactviz.layers.overview`: the default selection (``layers=None``), a few layers spread over the
  model's depth.

``from tbactviz.layers import list_layers, LayerInfo`` keeps working (the names of
:mod:`~tbactviz.layers.listing`, loaded on first use so that importing this package stays light).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tbactviz.layers.listing import (
        DEFAULT_MAX_LAYERS,
        LayerInfo,
        LayerSelector,
        default_layers,
        describe_output,
        list_layers,
    )

__all__ = [
    "DEFAULT_MAX_LAYERS",
    "LayerInfo",
    "LayerSelector",
    "default_layers",
    "describe_output",
    "list_layers",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'tbactviz.layers' has no attribute {name!r}")
    value = getattr(importlib.import_module("tbactviz.layers.listing"), name)
    globals()[name] = value
    return value
