"""The package's exception and warning types.

Every error tbactviz raises derives from :class:`TbactvizError` and from the built-in type a caller would
naturally catch (``ValueError``, ``RuntimeError``, ``OSError``), so ``except ValueError`` keeps working.
Messages name the argument, the value received and what would be valid.

This module imports nothing but the standard library.
"""

from __future__ import annotations

import difflib
import logging
import os
import sys
import threading
import types
import warnings
from collections.abc import Hashable, Iterable

__all__ = [
    "AmbiguousLayerError",
    "LayerNotFoundError",
    "LogdirError",
    "NoDrawableLayerError",
    "ProbeError",
    "TbactvizError",
    "TbactvizWarning",
    "UnsupportedBackendError",
    "WarnOnce",
    "WriterClosedError",
    "close_matches",
    "is_out_of_memory",
    "out_of_memory_hint",
    "user_stacklevel",
]


class TbactvizError(Exception):
    """Base class of every exception raised by tbactviz."""


class TbactvizWarning(UserWarning):
    """Category of every warning emitted by tbactviz (filter it with ``warnings.filterwarnings``)."""


class WarnOnce:
    """Emits a :class:`TbactvizWarning` once per key; repeats go to the DEBUG log.

    What a long training run wants: the first occurrence of a problem is seen, the thousandth does not flood
    the console.

    Args:
        log: Where repeats are logged (DEBUG level).

    Example:
        >>> warn = WarnOnce(logging.getLogger("demo"))
        >>> with warnings.catch_warnings(record=True) as seen:
        ...     warnings.simplefilter("always")
        ...     warn(("conv1", "ValueError"), "conv1 was not logged")
        ...     warn(("conv1", "ValueError"), "conv1 was not logged")
        >>> len(seen)
        1
    """

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._seen: set[Hashable] = set()

    def __call__(self, key: Hashable, message: str, *, stacklevel: int = 3) -> None:
        """Warn with ``message`` unless ``key`` was warned about before (then log it at DEBUG level).

        The warning points at the user's code: the innermost caller outside tbactviz, Keras and TensorFlow
        (e.g. the ``model.fit`` line whose callback failed). Where there is none (on a background writer
        thread), it points ``stacklevel`` frames above the caller of this method.
        """
        if key in self._seen:
            self._log.debug("%s", message)
            return
        self._seen.add(key)
        warnings.warn(message, TbactvizWarning, stacklevel=user_stacklevel() or stacklevel + 1)


def user_stacklevel() -> int | None:
    """The ``stacklevel`` of the innermost frame outside tbactviz, Keras and TensorFlow, for a
    ``warnings.warn`` called by the caller of this function; None when the stack has no such frame (a thread
    that tbactviz started: its bottom frames are the standard library's ``threading``).

    Example:
        >>> def warn_here():
        ...     warnings.warn("from the doctest's own frame", stacklevel=user_stacklevel())
        >>> with warnings.catch_warnings(record=True) as seen:
        ...     warnings.simplefilter("always")
        ...     warn_here()
        >>> "tbactviz" not in seen[0].filename.split(os.sep)
        True
    """
    internal = [os.path.dirname(os.path.abspath(__file__)) + os.sep, os.path.abspath(threading.__file__)]
    for name in ("keras", "tensorflow"):
        path = getattr(sys.modules.get(name), "__file__", None)
        if path:
            internal.append(os.path.dirname(os.path.abspath(path)) + os.sep)
    frame: types.FrameType | None = sys._getframe(1)  # our caller, which calls warnings.warn: level 1
    level = 1
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(tuple(internal)):
            return level
        frame, level = frame.f_back, level + 1
    return None


def close_matches(name: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    """Return up to ``n`` candidates that look like ``name``, best first.

    Matches are found with :func:`difflib.get_close_matches` on the full names and on their last path
    component (so ``conv1`` suggests ``backbone/conv1_conv``); the comparison is case-insensitive.

    Args:
        name: The name that was not found.
        candidates: The valid names.
        n: Maximum number of suggestions (>= 1).

    Returns:
        A list of at most ``n`` distinct candidates; empty when nothing is close.

    Example:
        >>> close_matches("conv2", ["conv1", "conv2d", "dense"])
        ['conv2d', 'conv1']
    """
    pool = list(dict.fromkeys(candidates))
    lowered: dict[str, list[str]] = {}
    for cand in pool:
        lowered.setdefault(cand.lower(), []).append(cand)
        lowered.setdefault(cand.rsplit("/", 1)[-1].lower(), []).append(cand)
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    # Substring hits help with long generated names (``conv2_block1`` -> ``conv2_block1_out``).
    hits += [key for key in lowered if name.lower() in key and key not in hits]
    out: list[str] = []
    for key in hits:
        for cand in lowered[key]:
            if cand not in out:
                out.append(cand)
    return out[:n]


class LayerNotFoundError(TbactvizError, ValueError):
    """A layer selector matched no layer of the model.

    Attributes:
        selector: The selector as given (a name, a path or a glob pattern).
        suggestions: Close matches among the model's layer paths (may be empty).
    """

    def __init__(self, selector: str, candidates: Iterable[str], *, argument: str = "layers") -> None:
        self.selector = selector
        self.suggestions = close_matches(selector, candidates)
        is_glob = any(ch in selector for ch in "*?[")
        what = "matches no layer" if is_glob else "is not a layer of this model"
        msg = f"{argument}={selector!r} {what}."
        if self.suggestions:
            msg += " Close matches: " + ", ".join(repr(s) for s in self.suggestions) + "."
        msg += (
            " List every selectable layer with tbactviz.list_layers(model) in Python or"
            " `tbactviz layers MODEL` in a shell; nested layers are addressed as 'outer/inner'."
        )
        super().__init__(msg)


class ProbeError(TbactvizError, ValueError):
    """The probe inputs do not fit the model (empty, wrong rank or shape, a missing input key)."""


class LogdirError(TbactvizError, OSError):
    """The log directory cannot be created or written (a file in its place, no permission, disk full)."""


class WriterClosedError(TbactvizError, RuntimeError):
    """A write was attempted after the writer or logger was closed."""


class AmbiguousLayerError(LayerNotFoundError):
    """A bare layer name exists in several nested models; the full ``outer/inner`` path is needed.

    Attributes:
        selector: The name as given.
        suggestions: The full paths that have this name as their last component.
    """

    def __init__(self, selector: str, paths: Iterable[str], *, argument: str = "layers") -> None:
        self.selector = selector
        self.suggestions = list(paths)
        msg = (
            f"{argument}={selector!r} is ambiguous: several nested layers have this name: "
            + ", ".join(repr(p) for p in self.suggestions)
            + ". Use the full 'outer/inner' path."
        )
        TbactvizError.__init__(self, msg)


class NoDrawableLayerError(TbactvizError, ValueError):
    """A layer selection left no layer that can be drawn (a single tensor output of rank >= 2)."""


class UnsupportedBackendError(TbactvizError, RuntimeError):
    """The active Keras backend cannot run the probe (tbactviz supports tensorflow, jax and torch)."""


# What each backend raises when a device (or the host) runs out of memory: TensorFlow's
# tf.errors.ResourceExhaustedError ("OOM when allocating tensor ..."), JAX's XlaRuntimeError / JaxRuntimeError
# ("RESOURCE_EXHAUSTED: Out of memory while trying to allocate ..."), torch.OutOfMemoryError ("CUDA out of
# memory. Tried to allocate ..."), and Python's MemoryError on the host.
_OOM_TYPES = frozenset({"ResourceExhaustedError", "OutOfMemoryError", "MemoryError"})
_OOM_TEXT = ("resource_exhausted", "out of memory", "oom when allocating")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says that a device or the host ran out of memory, on any Keras backend.

    Recognized by the name of its type or of a base type (``ResourceExhaustedError``, ``OutOfMemoryError``,
    ``MemoryError``) or by its message (``RESOURCE_EXHAUSTED``, ``out of memory``, ``OOM when allocating``),
    so that no backend library is imported to check.

    Args:
        exc: The exception.

    Returns:
        True for an out-of-memory error.

    Example:
        >>> is_out_of_memory(RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 8 B"))
        True
        >>> is_out_of_memory(ValueError("bad shape"))
        False
    """
    if any(cls.__name__ in _OOM_TYPES for cls in type(exc).__mro__):
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _OOM_TEXT)


def out_of_memory_hint(exc: BaseException, batch_size: int | None) -> str:
    """What to do about an out-of-memory error of the probe, to append to a message; "" for other errors.

    Args:
        exc: The exception the probe raised.
        batch_size: The ``batch_size`` option in force (probe samples per forward pass), None for automatic.

    Returns:
        ``" -- out of memory ...: pass a smaller batch_size ..."`` or ``""``.

    Example:
        >>> out_of_memory_hint(MemoryError(), 16)[:60]
        ' -- out of memory while running the probe (batch_size=16): p'
        >>> out_of_memory_hint(ValueError("bad shape"), 16)
        ''
    """
    if not is_out_of_memory(exc):
        return ""
    if batch_size == 1:
        return (
            " -- out of memory while running the probe with batch_size=1 (one sample per forward pass): "
            "choose fewer layers, or a probe of smaller inputs"
        )
    if batch_size is None:
        now, example = "batch_size=None: automatic chunks", "e.g. batch_size=8 (1 needs the least memory)"
    else:
        now, example = f"batch_size={batch_size}", f"e.g. batch_size={max(1, batch_size // 2)}"
    return (
        f" -- out of memory while running the probe ({now}): pass a smaller batch_size, {example}, "
        "to run the probe in smaller chunks"
    )
