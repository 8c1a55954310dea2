"""tbactviz: see in TensorBoard what every chosen layer of a Keras CNN sees.

Feature-map grids, activation histograms and health scalars (sparsity, dead channels, ...) are written as
TensorBoard events, during training (:class:`ActivationCallback`) or after it (:class:`ActivationLogger`).

``import tbactviz`` is light: it imports neither TensorFlow nor Keras. The names backed by them are loaded on
first use.

Example:
    >>> import tbactviz
    >>> with tbactviz.ActivationLogger("logs/posthoc", model, layers="conv*") as log:  # doctest: +SKIP
    ...     log(images, step=0)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tbactviz._version import __version__
from tbactviz.errors import (
    AmbiguousLayerError,
    LayerNotFoundError,
    LogdirError,
    NoDrawableLayerError,
    ProbeError,
    TbactvizError,
    TbactvizWarning,
    WriterClosedError,
)

if TYPE_CHECKING:
    from tbactviz.callback import ActivationCallback
    from tbactviz.extract import ActivationExtractor, extract_activations
    from tbactviz.layers import LayerInfo, list_layers
    from tbactviz.logger import ActivationLogger
    from tbactviz.stats import layer_stats
    from tbactviz.tiling import TileResult, tile_activations

__all__ = [
    "ActivationCallback",
    "ActivationExtractor",
    "ActivationLogger",
    "AmbiguousLayerError",
    "LayerInfo",
    "LayerNotFoundError",
    "LogdirError",
    "NoDrawableLayerError",
    "ProbeError",
    "TbactvizError",
    "TbactvizWarning",
    "TileResult",
    "WriterClosedError",
    "__version__",
    "extract_activations",
    "layer_stats",
    "list_layers",
    "tile_activations",
]

_LAZY = {
    "ActivationCallback": "tbactviz.callback",
    "ActivationExtractor": "tbactviz.extract",
    "ActivationLogger": "tbactviz.logger",
    "LayerInfo": "tbactviz.layers",
    "TileResult": "tbactviz.tiling",
    "extract_activations": "tbactviz.extract",
    "layer_stats": "tbactviz.stats",
    "list_layers": "tbactviz.layers",
    "tile_activations": "tbactviz.tiling",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tbactviz' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
