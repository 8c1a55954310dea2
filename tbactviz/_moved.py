"""Import paths of tbactviz 0.1, kept for one release.

tbactviz 0.2 grouped its modules into folders that follow a snapshot's data flow (see
``docs/architecture.md``). The old flat paths (``tbactviz.tiling``, ``tbactviz.data``, ...) still import, as
the same module objects as the new paths, with a :class:`DeprecationWarning` that names the new path. The
public names of the package (``tbactviz.ActivationLogger``, ``tbactviz.tile_activations``, ...) do not move.
``tbactviz.layers`` and ``tbactviz.stats`` are folders now and re-export what those modules exported.

Example:
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     from tbactviz.tiling import tile_activations as old
    >>> from tbactviz.grids.tiling import tile_activations as new
    >>> old is new
    True
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

__all__ = ["MOVED", "install"]

#: Each module path of tbactviz 0.1 that moved, and where it lives now.
MOVED: dict[str, str] = {
    f"tbactviz.{old}": f"tbactviz.{new}"
    for old, new in {
        "capture": "model.capture",
        "shapes": "model.shapes",
        "selection": "layers.selection",
        "overview": "layers.overview",
        "probe_inputs": "probe.inputs",
        "probe_data": "probe.datasets",
        "extract": "probe.extractor",
        "reductions": "stats.reductions",
        "fold": "stats.fold",
        "layout": "grids.plan",
        "budget": "grids.budget",
        "gridreduce": "grids.quantize",
        "arrays": "grids.values",
        "tiling": "grids.tiling",
        "_colormaps": "grids.colormaps",
        "_png": "grids.png",
        "naming": "events.naming",
        "gridlayout": "events.tilemap",
        "wire": "events.wire",
        "writer": "events.writer",
        "digest": "snapshot.digest",
        "drawing": "snapshot.drawing",
        "device_probe": "snapshot.runner",
        "steps": "snapshot.steps",
        "logger": "snapshot.logger",
        "callback": "training.callback",
        "schedule": "training.schedule",
        "background": "training.background",
        "chief": "training.chief",
        "board": "tools.board",
        "demo": "tools.demo",
        "data": "tools.data",
    }.items()
}


def _caller_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside the import machinery and this module.

    ``warnings.warn`` skips the frames of ``importlib._bootstrap`` when it counts, so those are not counted.
    """
    frame = sys._getframe(1)
    level = 1
    while frame is not None and (
        frame.f_code.co_filename == __file__ or _in_importlib(frame.f_code.co_filename)
    ):
        if "_bootstrap" not in frame.f_code.co_filename:
            level += 1
        frame = frame.f_back  # type: ignore[assignment]
    return level


def _in_importlib(filename: str) -> bool:
    """Whether a frame runs in ``importlib`` (its frozen bootstrap, or ``importlib.import_module``)."""
    return filename.startswith("<frozen importlib") or f"importlib{os.sep}" in filename


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old path and loads it as the module that now lives at the new path."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = MOVED[spec.name]
        warnings.warn(
            f"{spec.name} moved to {new}; the old path is kept for one release",
            DeprecationWarning,
            stacklevel=_caller_stacklevel(),
        )
        return importlib.import_module(new)

    def exec_module(self, module: ModuleType) -> None:
        """The module ran when it was imported under its new path: nothing to do."""


def install() -> None:
    """Puts the finder of old paths on ``sys.meta_path`` once (``import tbactviz`` calls it)."""
    if not any(isinstance(finder, _Alias) for finder in sys.meta_path):
        sys.meta_path.append(_Alias())
