"""Every option of the logger and the callback, described once and validated in one place.

:data:`LOGGER_OPTIONS` is the table of :class:`tbactviz.ActivationLogger`'s keyword options (name, default,
kind, bounds, choices, help): :func:`check_options` validates against it, :class:`tbactviz.ActivationCallback`
passes the same options on, and the ``tbactviz`` command generates its flags from it, so the three cannot
drift apart. :data:`CALLBACK_OPTIONS` describes the callback's own options the same way.

Valid values are stated in every message: ``name=value is not valid; expected ...``. Integers and floats
accept numpy scalars; ``bool`` is never taken for an int.

The checks themselves are :mod:`tbactviz.checks`' (TypeError for a wrong type, ValueError for a wrong value).
This module imports nothing but the standard library and the shared modules ``checks`` and ``errors``.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Any, Literal

from tbactviz.checks import (
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_range,
    int_bounds,
    is_bool,
    is_int,
    type_error,
)
from tbactviz.errors import user_stacklevel

__all__ = [
    "CALLBACK_OPTIONS",
    "CHANNEL_ORDERS",
    "COLORMAPS",
    "DEFAULT_COMPRESS_LEVEL",
    "DEFAULT_LEVELS",
    "DEFAULT_MAX_SIDE",
    "DEFAULT_MIN_SIDE",
    "DEFAULT_STEP_BYTES",
    "DEPRECATED_OPTIONS",
    "LOGGER_OPTIONS",
    "MAX_CHUNK_BYTES",
    "MAX_COMPRESS_LEVEL",
    "MAX_LEVELS",
    "NORMALIZE_MODES",
    "ON_ERROR",
    "STAT_NAMES",
    "Option",
    "check_options",
]

#: Colormaps of the grids (see :mod:`tbactviz.grids.colormaps`).
COLORMAPS: tuple[str, ...] = ("gray", "viridis", "magma", "inferno", "plasma")
#: How activations map to colours.
NORMALIZE_MODES: tuple[str, ...] = ("standardize", "minmax", "layer", "fixed")
#: Which channels are drawn first.
CHANNEL_ORDERS: tuple[str, ...] = ("index", "activity")
#: What a logging error does: propagate, or one warning per layer and cause.
ON_ERROR: tuple[str, ...] = ("raise", "warn")
#: The per-layer scalar figures, in writing order (defined in :mod:`tbactviz.stats.arrays`).
STAT_NAMES: tuple[str, ...] = (
    "sparsity",
    "dead_channels",
    "mean",
    "std",
    "max_abs",
    "nonfinite",
    "dormant_fraction",
)
#: Grids larger than this many pixels on a side are downscaled by an integer factor per tile.
DEFAULT_MAX_SIDE = 384
#: Grids smaller than this many pixels on a side are upscaled (nearest neighbour, integer factor).
DEFAULT_MIN_SIDE = 128
#: Most colour levels a palette PNG grid can use (two palette entries are kept for separators and markers).
MAX_LEVELS = 254
#: Default colour levels of the written PNG grids.
DEFAULT_LEVELS = 64
#: Default PNG deflate level: ISA-L's level 2, on ResNet50V2's feature maps 0.2% smaller than its level 3
#: and about 15% faster to encode (the full-size grids of 189 layers: 29.98 vs 30.04 MB, 167 vs 193 ms).
DEFAULT_COMPRESS_LEVEL = 2
#: Highest PNG deflate level: ISA-L has four (0..3). zlib's 4..9 are still taken, as 3, with a
#: DeprecationWarning.
MAX_COMPRESS_LEVEL = 3
#: With ``max_side=None``: the bytes one logged step may take, every layer together.
DEFAULT_STEP_BYTES = 4 << 20
#: With ``batch_size=None``, probe chunks hold at most about this many bytes of activations (all layers).
MAX_CHUNK_BYTES = 256 << 20

Kind = Literal["int", "float", "bool", "choice", "stats", "range", "path"]


@dataclasses.dataclass(frozen=True)
class Option:
    """One keyword option: what it is, what it takes, and its flag on the command line.

    Attributes:
        name: The keyword, e.g. ``"max_images"``.
        default: The default value.
        kind: ``"int"``, ``"float"``, ``"bool"``, ``"choice"``, ``"stats"`` (True, False or stat names),
            ``"range"`` (a ``(low, high)`` pair or a mapping of them) or ``"path"``.
        help: One sentence for ``--help`` and the docs.
        minimum: Smallest valid number (ints and floats).
        maximum: Largest valid number, or None.
        none_ok: Whether ``None`` is valid (and what it means is in ``help``).
        choices: The valid strings of a ``"choice"`` option.
        cli: Whether the command line has a flag for it (``--max-images``; ``--no-images`` for a bool that
            defaults to True; ``--stats NAME[,NAME]`` and ``--no-stats`` for ``stats``; ``--value-range LOW
            HIGH`` for a range).
    """

    name: str
    default: Any
    kind: Kind
    help: str
    minimum: float | None = None
    maximum: float | None = None
    none_ok: bool = False
    choices: tuple[str, ...] = ()
    cli: bool = True

    @property
    def valid(self) -> str:
        """What is valid, as messages say it: ``"an int >= 1 or None"``, ``"one of 'gray', ..."``."""
        none = " or None" if self.none_ok else ""
        if self.kind == "int":
            return int_bounds(_opt_int(self.minimum), _opt_int(self.maximum)) + none
        if self.kind == "float":
            bounds = [f">= {self.minimum:g}"] if self.minimum is not None else []
            bounds += [f"<= {self.maximum:g}"] if self.maximum is not None else []
            return " ".join(["a number", " and ".join(bounds)]).strip() + none
        if self.kind == "bool":
            return "True or False"
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "stats":
            return f"True (all), False (none) or stat names from {STAT_NAMES}"
        if self.kind == "range":
            return "a pair (low, high) of finite numbers with high > low" + none
        return "a path"

    @property
    def flag(self) -> str:
        """The command-line flag: ``--max-images``, or ``--no-images`` for a bool that defaults to True."""
        dashed = self.name.replace("_", "-")
        return f"--no-{dashed}" if self.kind == "bool" and self.default is True else f"--{dashed}"

    def check(self, value: Any) -> Any:
        """Validate ``value`` for this option; return it normalized (ints as int, floats as float).

        Raises:
            TypeError: ``value`` has the wrong type (a bool or a float for an int, a number for a name).
            ValueError: ``value`` has the right type and a wrong value.
        """
        if value is None and self.none_ok:
            return None
        if self.kind == "int":
            minimum, maximum = _opt_int(self.minimum), _opt_int(self.maximum)
            return check_int(self.name, value, minimum=minimum, maximum=maximum, valid=self.valid)
        if self.kind == "float":
            return check_number(self.name, value, minimum=self.minimum, maximum=self.maximum)
        if self.kind == "bool":
            return check_bool(self.name, value)
        if self.kind == "choice":
            return check_choice(self.name, value, self.choices)
        if self.kind == "stats":
            return _check_stats(value)
        if self.kind == "range":
            if isinstance(value, Mapping):
                return {str(k): check_range(f"{self.name}[{k!r}]", v) for k, v in value.items()}
            return check_range(self.name, value)
        return value


def _opt_int(value: float | None) -> int | None:
    return None if value is None else int(value)


#: The options of :class:`tbactviz.ActivationLogger` (passed on by :class:`tbactviz.ActivationCallback`).
LOGGER_OPTIONS: tuple[Option, ...] = (
    Option("max_images", 3, "int", "probe samples drawn as grids per layer (stats use every sample)", 1),
    Option("max_channels", 64, "int", "channels drawn per grid; the rest are left out (see order)", 1),
    Option(
        "normalize",
        "standardize",
        "choice",
        "how activations map to colours: per channel (standardize, minmax), one scale per layer (layer), or "
        "one range kept across steps (fixed)",
        choices=NORMALIZE_MODES,
    ),
    Option(
        "value_range",
        None,
        "range",
        "with normalize='fixed': (low, high) for every layer or {path: (low, high)} (one pair on the command "
        "line); None measures each layer's range at the first step and keeps it",
        none_ok=True,
    ),
    Option("colormap", "viridis", "choice", "colormap of the grids", choices=COLORMAPS),
    Option("order", "index", "choice", "channels by index, or most active first", choices=CHANNEL_ORDERS),
    Option("columns", None, "int", "grid columns (None: near-square)", 1, none_ok=True),
    Option("images", True, "bool", "write the feature-map grids"),
    Option("histograms", True, "bool", "write the activation histograms"),
    Option(
        "stats",
        True,
        "stats",
        f"write the scalar figures: True (all), False (none) or names from {STAT_NAMES}",
    ),
    Option(
        "batch_size",
        None,
        "int",
        "probe samples per forward pass (None: automatic chunks of at most about 256 MiB of activations)",
        1,
        none_ok=True,
    ),
    Option("eps", 0.0, "float", "values with |a| <= eps count as zero for sparsity and dead channels", 0.0),
    Option(
        "dormant_tau",
        0.1,
        "float",
        "ReDo threshold: a channel whose mean |a| over the layer's mean is <= tau is dormant",
        0.0,
    ),
    Option(
        "max_side",
        None,
        "int",
        "larger grids are downscaled to this side (px); None: the largest side within max_bytes_per_step",
        1,
        none_ok=True,
    ),
    Option(
        "max_bytes_per_step",
        DEFAULT_STEP_BYTES,
        "int",
        "with max_side=None: bytes one logged step may take, every layer together",
        1,
    ),
    Option("min_side", DEFAULT_MIN_SIDE, "int", "smaller grids are upscaled to this side (px)", 0),
    Option("levels", DEFAULT_LEVELS, "int", "colour levels of the PNG grids", 2, MAX_LEVELS),
    Option(
        "compress_level",
        DEFAULT_COMPRESS_LEVEL,
        "int",
        "PNG deflate level: ISA-L's 0 (stored) to 3 (smallest)",
        0,
        MAX_COMPRESS_LEVEL,
    ),
    Option(
        "on_error",
        "raise",
        "choice",
        "raise logging errors, or warn once per layer and cause and go on",
        choices=ON_ERROR,
        cli=False,
    ),
)

#: The callback's own options (besides ``logdir``, ``probe``, ``layers`` and the schedule's).
CALLBACK_OPTIONS: tuple[Option, ...] = (
    Option("async_write", False, "bool", "tile, encode and write on a background thread", cli=False),
    Option("max_queue", 4, "int", "logged steps that may wait for the writer thread", 1, cli=False),
    Option("probe_samples", 8, "int", "samples taken from a Dataset probe", 1, cli=False),
    Option(
        "on_error",
        "warn",
        "choice",
        "warn once per layer and cause and keep training (default), or raise",
        choices=ON_ERROR,
        cli=False,
    ),
)

_BY_NAME = {option.name: option for option in LOGGER_OPTIONS}


def _check_stats(value: Any) -> tuple[str, ...]:
    if value is None or is_bool(value):
        return STAT_NAMES if value else ()
    expected = f"True (all), False (none) or stat names from {STAT_NAMES}"
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple, set, frozenset)) or not all(isinstance(n, str) for n in names):
        raise type_error("stats", value, expected)
    bad = [n for n in names if n not in STAT_NAMES]
    if bad:
        raise ValueError(f"stats={value!r} is not valid: unknown names {bad}; expected {expected}")
    return tuple(dict.fromkeys(names))


def check_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Validate keyword options of :class:`tbactviz.ActivationLogger` without a model; return them normalized.

    The logger runs this on its own arguments, the callback on the options it passes on (at construction,
    long before the model is there) and the command line on its flags. Only the options present are checked.

    Args:
        options: Keyword options by name, as :data:`LOGGER_OPTIONS` lists them.

    Returns:
        A copy with ints as ``int``, ``eps`` as a float, ``stats`` as a tuple of stat names and
        ``value_range`` as a float pair or a dict of float pairs.

    Raises:
        ValueError: An option is invalid; the message names it, the value received and the valid values.
        TypeError: An option that is not one of :data:`LOGGER_OPTIONS`.

    Example:
        >>> check_options({"stats": "sparsity", "eps": 0})
        {'stats': ('sparsity',), 'eps': 0.0}
    """
    options = _without_deprecated(options)
    unknown = sorted(set(options) - set(_BY_NAME))
    if unknown:
        raise TypeError(f"unknown option(s) {unknown}; the options are {list(_BY_NAME)}")
    out = {name: _BY_NAME[name].check(value) for name, value in options.items()}
    normalize = out.get("normalize", "standardize")
    if out.get("value_range") is not None and normalize != "fixed":
        raise ValueError(
            f"value_range={options['value_range']!r} is only used with normalize='fixed' "
            f"(got normalize={normalize!r})"
        )
    return out


#: Options accepted for one more release, with a DeprecationWarning: they do nothing.
DEPRECATED_OPTIONS: dict[str, str] = {
    "workers": (
        "workers= does nothing and will be removed in the next release: a thread pool finishing layers was "
        "no faster than the calling thread (the host work holds the GIL); remove the argument"
    ),
}


def _without_deprecated(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` without the deprecated ones (each warned about) and with old values mapped (warned)."""
    out = dict(options)
    for name, message in DEPRECATED_OPTIONS.items():
        if out.pop(name, None) is not None:
            warnings.warn(message, DeprecationWarning, stacklevel=user_stacklevel() or 3)
    level = out.get("compress_level")
    if level is not None and is_int(level) and MAX_COMPRESS_LEVEL < int(level) <= 9:
        warnings.warn(
            f"compress_level={level!r} writes what compress_level={MAX_COMPRESS_LEVEL} writes (ISA-L has "
            f"levels 0..{MAX_COMPRESS_LEVEL}); levels above {MAX_COMPRESS_LEVEL} will be refused in the "
            "next release",
            DeprecationWarning,
            stacklevel=user_stacklevel() or 3,
        )
        out["compress_level"] = MAX_COMPRESS_LEVEL
    return out


def defaults() -> dict[str, Any]:
    """The default of every logger option, by name.

    Example:
        >>> defaults()["max_images"]
        3
    """
    return {option.name: option.default for option in LOGGER_OPTIONS}
