"""numpy input of the drawing functions: checking and converting array-likes, value ranges, colormap lookup.

numpy and the standard library only; :mod:`tbactviz.grids.tiling` re-exports the public names.
"""

from __future__ import annotations

import math

import numpy as np

from tbactviz.checks import check_choice, check_range
from tbactviz.grids.colormaps import LUTS
from tbactviz.options import COLORMAPS

__all__ = ["apply_colormap", "as_array", "finite_count", "to_float", "value_range", "value_range_arg"]


def value_range_arg(normalize: str, value: object) -> tuple[float, float] | None:
    if normalize != "fixed":
        if value is not None:
            raise ValueError(
                f"value_range={value!r} is only used with normalize='fixed' (got normalize={normalize!r})"
            )
        return None
    if value is None:
        raise ValueError(
            "value_range=None: normalize='fixed' needs value_range=(lo, hi) with finite lo < hi "
            "(e.g. tbactviz.grids.tiling.value_range(activations) measured once)"
        )
    return check_range("value_range", value)


def as_array(activations: object) -> np.ndarray:
    """The input as an ndarray of float32/float64 (other dtypes are converted to float32) or of int/bool."""
    try:
        arr = np.asarray(activations)
    except Exception as exc:  # an array-like that cannot become an ndarray
        raise TypeError(
            f"activations of type {type(activations).__name__} is not array-like: {exc}"
        ) from None
    if arr.dtype.kind in "cUSMma":
        raise TypeError(
            f"activations has dtype {arr.dtype}; expected a real numeric (float, int or bool) array"
        )
    if arr.ndim == 0:
        raise ValueError("activations is a scalar; expected a batch, shape (N, ...) with the batch first")
    return arr


def to_float(arr: np.ndarray) -> np.ndarray:
    """``arr`` itself if float32/float64, else as float32 (float16, bfloat16-like, int, bool, object)."""
    if arr.dtype in (np.float32, np.float64):
        return arr
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 8:  # longdouble
        return np.asarray(arr, dtype=np.float64)
    try:
        return np.asarray(arr, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"activations of dtype {arr.dtype} cannot be converted to float32: {exc}") from None


def finite_count(arr: np.ndarray) -> int:
    """Number of NaN/Inf entries; a min/max check first, so all-finite data costs no mask."""
    if arr.dtype.kind not in "fc" or arr.size == 0:
        return 0
    if np.isfinite(arr.min()) and np.isfinite(arr.max()):  # NaN propagates through min/max
        return 0
    return int(arr.size - np.count_nonzero(np.isfinite(arr)))


def value_range(activations: np.ndarray) -> tuple[float, float]:
    """Minimum and maximum over the finite values of ``activations``, e.g. for ``normalize="fixed"``.

    Typical use: measure it once (at the first logged step) and pass it as ``value_range`` later, so that the
    colours of every step share one scale.

    Args:
        activations: array-like of any shape and real dtype (NaN and +-Inf are ignored).

    Returns:
        ``(lo, hi)`` as Python floats with ``lo < hi``. Edge cases: empty or all-non-finite input gives
        ``(0.0, 1.0)``; constant input ``c`` gives ``(c, c + 1.0)`` (or, when ``c`` is so large that
        ``c + 1.0 == c``, the nearest wider pair of floats around ``c``).

    Example:
        >>> value_range(np.array([[1.0, np.nan, 3.0, -np.inf]]))
        (1.0, 3.0)
    """
    arr = as_array(activations)
    if arr.size == 0:
        return (0.0, 1.0)
    arr = to_float(arr) if arr.dtype.kind not in "biu" else arr
    with np.errstate(all="ignore"):
        if finite_count(arr) == 0:
            lo, hi = float(arr.min()), float(arr.max())
        else:
            mask = np.isfinite(arr)
            if not mask.any():
                return (0.0, 1.0)
            lo = float(np.min(arr, where=mask, initial=np.inf))
            hi = float(np.max(arr, where=mask, initial=-np.inf))
    if lo == hi:
        hi = lo + 1.0
        if not (hi > lo and math.isfinite(hi)):
            lo, hi = math.nextafter(lo, -math.inf), math.nextafter(lo, math.inf)
            if not math.isfinite(hi):  # lo is the largest float
                hi = lo = math.nextafter(lo, -math.inf)
                lo = math.nextafter(lo, -math.inf)
    return (lo, hi)


def apply_colormap(values: np.ndarray, name: str) -> np.ndarray:
    """Colour uint8 levels through a 256-entry lookup table.

    Args:
        values: uint8 array of any shape (0 = lowest colour, 255 = highest).
        name: one of :data:`COLORMAPS`.

    Returns:
        uint8 array of shape ``(*values.shape, 3)`` (RGB; ``gray`` gives three equal components).

    Raises:
        TypeError: ``values`` is not uint8, or ``name`` is not a str.
        ValueError: ``name`` is not a known colormap.

    Example:
        >>> apply_colormap(np.array([0, 255], dtype=np.uint8), "gray").tolist()
        [[0, 0, 0], [255, 255, 255]]
    """
    name = check_choice("name", name, COLORMAPS)
    values = np.asarray(values)
    if values.dtype != np.uint8:
        raise TypeError(f"values has dtype {values.dtype}; apply_colormap expects uint8 levels (0..255)")
    colored: np.ndarray = LUTS[name][values]
    return colored
