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

from tbactviz import _moved
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

_moved.install()

if TYPE_CHECKING:
    from tbactviz.grids.tiling import TileResult, tile_activations
    from tbactviz.layers.listing import LayerInfo, list_layers
    from tbactviz.probe.extractor import ActivationExtractor, extract_activations
    from tbactviz.snapshot.logger import ActivationLogger
    from tbactviz.stats.arrays import layer_stats
    from tbactviz.training.callback import ActivationCallback

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
    "ActivationCallback": "tbactviz.training.callback",
    "ActivationExtractor": "tbactviz.probe.extractor",
    "ActivationLogger": "tbactviz.snapshot.logger",
    "LayerInfo": "tbactviz.layers.listing",
    "TileResult": "tbactviz.grids.tiling",
    "extract_activations": "tbactviz.probe.extractor",
    "layer_stats": "tbactviz.stats.arrays",
    "list_layers": "tbactviz.layers.listing",
    "tile_activations": "tbactviz.grids.tiling",
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
