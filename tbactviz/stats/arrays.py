"""Per-layer health figures and activation histograms of numpy arrays: the public functions.

Two functions turn one layer's activations (batch first, channels last) into what the logger writes:

* :func:`layer_stats` -> the scalar figures named in :data:`STAT_NAMES` (sparsity, dead-channel fraction,
  mean, std, max |a|, non-finite count, ReDo's dormant fraction).
* :func:`histogram_buckets` -> a ``(k, 3)`` array ``[left_edge, right_edge, count]``, bucket for bucket the
  format and semantics of TensorBoard's histogram ``summary_v2``, ready to be written as a histogram summary.

There is one implementation of each figure in tbactviz: the ``keras.ops`` reductions of
:mod:`tbactviz.stats.reductions`, which the logger runs inside the compiled probe, on the device. These
functions run the same reductions eagerly on the array they are given, in float64 where the backend has it
(TensorFlow, PyTorch; JAX only with ``jax_enable_x64``, else float32), so they give what the logger writes
for the same activations. The definitions, with their sources, are in :mod:`tbactviz.stats.reductions`; the
tests hold both to plain loop implementations.

Both accept any rank >= 1 (rank 1 ``(N,)`` is one channel) and any bool, integer or floating dtype, including
``float16`` and ``ml_dtypes.bfloat16``. Non-finite values (NaN, +-Inf) never poison a figure: they are counted
once (``nonfinite``) and excluded everywhere else. Empty input gives zeros, never NaN and never a warning.
Float64 magnitudes beyond ``1e100`` are reduced on values scaled by an exact power of two, so no square or
range overflows.

This module imports numpy and, when a function is called, keras (:mod:`tbactviz.stats.reductions`).

Example:
    >>> import numpy as np
    >>> a = np.zeros((2, 3, 3, 4), np.float32)
    >>> a[..., :3] = 1.0  # channel 3 is all zero: dead
    >>> stats = layer_stats(a)
    >>> stats["dead_channels"], stats["sparsity"], stats["mean"]
    (0.25, 0.25, 0.75)
    >>> histogram_buckets(a, bucket_count=2).tolist()
    [[0.0, 0.5, 18.0], [0.5, 1.0, 54.0]]
"""

from __future__ import annotations

import math

import numpy as np

from tbactviz.checks import check_int, check_number
from tbactviz.options import STAT_NAMES
from tbactviz.stats import fold, reductions
from tbactviz.stats.fold import DEFAULT_DORMANT_TAU, dormant_fraction

__all__ = [
    "DEFAULT_BUCKET_COUNT",
    "DEFAULT_DORMANT_TAU",
    "STAT_NAMES",
    "dormant_fraction",
    "finite_mask_or_none",
    "histogram_buckets",
    "layer_stats",
]

DEFAULT_BUCKET_COUNT = 30
"""Histogram buckets per layer; TensorBoard's own default."""

# Beyond this magnitude (float64 input only) squares/sums could overflow float64: reduce scaled values.
_BIG = 1e100
_TINY = float(np.finfo(np.float64).tiny)


def _as_real_array(activations: np.ndarray, name: str = "activations") -> np.ndarray:
    """Returns a C-contiguous real array with a numpy-native bool/int/float dtype.

    ``bfloat16`` (``ml_dtypes``, dtype kind ``'V'``) becomes float32 (exact); ``longdouble`` becomes float64
    (magnitudes beyond float64 become +-Inf, i.e. non-finite). Native dtypes are not copied unless the input
    is not C-contiguous.

    Raises:
        TypeError: complex, string, object or other non-real dtypes.
    """
    a = np.asarray(activations)
    kind = a.dtype.kind
    message = f"{name} must have a real numeric dtype (bool, int, float); got {a.dtype}"
    if kind == "V":
        try:
            a = a.astype(np.float32)
        except (TypeError, ValueError) as exc:
            raise TypeError(message) from exc
    elif kind == "f" and a.dtype.itemsize > 8:
        a = a.astype(np.float64)
    elif kind not in "biuf":
        raise TypeError(message)
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)  # (ascontiguousarray makes 0-d 1-d)


def finite_mask_or_none(a: np.ndarray) -> np.ndarray | None:
    """Returns where ``a`` is finite, or None when every value is finite (so callers can skip masking).

    Args:
        a: Array of any shape with a bool, integer or floating dtype.

    Returns:
        None if ``a`` holds no NaN or +-Inf (always None for bool/int dtypes and for empty arrays);
        otherwise a bool array of ``a``'s shape, True where ``a`` is finite.

    Example:
        >>> finite_mask_or_none(np.array([1.0, 2.0])) is None
        True
        >>> finite_mask_or_none(np.array([1.0, np.nan])).tolist()
        [True, False]
    """
    a = np.asarray(a)
    if a.dtype.kind not in "fcV" or a.size == 0:
        return None
    # One pass, no temporary: a NaN/Inf anywhere makes the float64 sum non-finite. A finite sum therefore
    # proves all values finite; a non-finite sum (possibly an overflow of huge finite values) is re-checked.
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.sum(a, dtype=np.complex128 if a.dtype.kind == "c" else np.float64)
    if np.isfinite(total):
        return None
    mask = np.isfinite(a)
    return None if mask.all() else mask


def _finite_extremes(a: np.ndarray) -> tuple[float, float]:
    """The finite min and max of ``a`` (``(inf, -inf)`` when none)."""
    mask = finite_mask_or_none(a)
    values = a if mask is None else a[mask]
    if values.size == 0:
        return math.inf, -math.inf
    return float(values.min()), float(values.max())


def _widened(x: np.ndarray, dtype: str) -> np.ndarray:
    """``x`` in ``dtype`` when that is a wider float: CPU kernels flush float32 subnormals to zero, float64
    holds them exactly."""
    if x.dtype.kind == "f" and np.dtype(dtype).itemsize > x.dtype.itemsize:
        return x.astype(dtype)
    return x


def _power_of_two_below(x: float) -> float:
    """An exact power of two ``s`` with ``x * s`` in [0.5, 1)."""
    return math.ldexp(1.0, -math.frexp(x)[1])


def _prepared(activations: np.ndarray) -> tuple[np.ndarray, float]:
    """The array as ``(rows, C)`` (bool as uint8) and the exact scale its reductions run at (1.0 mostly)."""
    a = _as_real_array(activations)
    if a.ndim == 0:
        raise ValueError(
            f"activations must have rank >= 1 (batch first, channels last); got a 0-d array of {a.dtype}"
        )
    if a.dtype.kind == "b":
        a = a.view(np.uint8)
    if a.size == 0:
        return a.reshape(0, 0), 1.0
    scale = 1.0
    if a.dtype == np.float64:
        lo, hi = _finite_extremes(a)
        if lo <= hi and max(-lo, hi) > _BIG:
            scale = _power_of_two_below(max(-lo, hi))
        if _has_subnormals(a):  # CPU kernels read them as zero, some ops only: all of them, the same way
            a = np.where(np.abs(a) < np.finfo(np.float64).tiny, 0.0, a)
    return a.reshape(-1, a.shape[-1] if a.ndim > 1 else 1), scale


def _has_subnormals(a: np.ndarray) -> bool:
    magnitude = np.abs(a[np.isfinite(a)])
    return bool(np.any((magnitude > 0) & (magnitude < np.finfo(np.float64).tiny)))


def layer_stats(
    activations: np.ndarray, *, eps: float = 0.0, dormant_tau: float = DEFAULT_DORMANT_TAU
) -> dict[str, float]:
    """Health figures of one layer's activations (the logger's reductions, run eagerly).

    Args:
        activations: Array of rank >= 1, batch first, channels last: ``(N, ..., C)``; rank 1 ``(N,)`` is a
            single channel. Any bool, integer or floating dtype (incl. float16 and ``ml_dtypes.bfloat16``).
        eps: Magnitude at or below which an activation counts as zero (``|a| <= eps``); >= 0. Default 0.0:
            exact zeros (incl. -0.0) only.
        dormant_tau: ReDo's threshold ``tau`` >= 0 for ``dormant_fraction`` (default 0.1).

    Returns:
        A dict with exactly the keys of :data:`STAT_NAMES`, in that order, all Python floats, never NaN:

        * ``sparsity``: fraction in [0, 1] of ALL values with ``|a| <= eps``; NaN and +-Inf never count as
          zero.
        * ``dead_channels``: fraction in [0, 1] of channels (last axis) with ``|a| <= eps`` at every sample
          and position; a channel holding any NaN/Inf is not dead.
        * ``mean``, ``std`` (population, ddof=0), ``max_abs``: over the finite values only; 0.0 when there is
          no finite value.
        * ``nonfinite``: number of NaN and +-Inf values, as a float.
        * ``dormant_fraction``: fraction in [0, 1] of ReDo-dormant channels (see
          :func:`tbactviz.stats.fold.dormant_fraction`).

        Empty input (any dimension 0) gives 0.0 for every figure. float64 subnormals (``|a| < 2.2e-308``)
        count as zero (CPU kernels read them as zero; float32 input is widened, its subnormals are exact).

    Raises:
        ValueError: ``activations`` is 0-d, or ``eps`` or ``dormant_tau`` is negative or NaN.
        TypeError: ``activations`` has a complex, string or object dtype, or ``eps`` or ``dormant_tau`` is
            not a number (a bool is not one).

    Example:
        >>> a = np.array([[0.0, 2.0], [0.0, -4.0], [0.0, np.nan]])  # (N=3, C=2); channel 0 dead
        >>> figures = layer_stats(a)
        >>> {name: round(figures[name], 3) for name in ("sparsity", "dead_channels", "mean", "std")}
        {'sparsity': 0.5, 'dead_channels': 0.5, 'mean': -0.4, 'std': 1.96}
        >>> figures["max_abs"], figures["nonfinite"], figures["dormant_fraction"]
        (4.0, 1.0, 0.5)
    """
    eps = check_number("eps", eps, minimum=0.0)
    dormant_tau = check_number("dormant_tau", dormant_tau, minimum=0.0)
    rows, scale = _prepared(activations)
    if rows.size == 0:
        return dict.fromkeys(STAT_NAMES, 0.0)
    from keras import ops

    dtype = reductions.host_dtype()

    def run(x: np.ndarray, eps: float) -> dict[str, np.ndarray]:
        eps_ = min(float(eps), float(np.finfo(np.float64).max))  # eps=inf: Inf itself is not small
        found = reductions.partials(ops.convert_to_tensor(_widened(x, dtype)), eps=eps_, dtype=dtype)
        return {k: ops.convert_to_numpy(v) for k, v in found.items()}

    partial = run(rows, eps)
    if scale != 1.0:  # sums of huge values: on the values scaled down by an exact power of two
        scaled = run(rows * scale, eps)
        partial.update({key: scaled[key] for key in ("total", "m2", "abs_sum")})
    figures, _ = fold.finish(fold.merge(None, partial), dormant_tau=float(dormant_tau))
    figures["mean"] /= scale
    figures["std"] /= scale
    return {name: float(figures[name]) for name in STAT_NAMES}


def histogram_buckets(activations: np.ndarray, *, bucket_count: int = DEFAULT_BUCKET_COUNT) -> np.ndarray:
    """Histogram buckets of the finite activations, in TensorBoard's histogram ``summary_v2`` format.

    Bucketing is TensorBoard's (``tensorboard.plugins.histogram.summary_v2._buckets``): ``width = (max -
    min) / k``; a value goes to bucket ``floor((x - min) / width)``, clamped to ``k - 1`` (buckets are
    closed-open, the last closed-closed); edges are ``linspace(min, max, k + 1)`` with the last edge exactly
    ``max``. Every finite value is counted (no sampling). It is the logger's reduction
    (:func:`tbactviz.stats.reductions.histogram_counts`) run eagerly, in float64 where the backend has it, so
    it equals TensorBoard's float64 arithmetic bucket for bucket.

    Non-finite values (NaN, +-Inf) are excluded (:func:`layer_stats` counts them).

    Args:
        activations: Array of any shape (batch first, channels last) and any bool, integer or floating dtype.
        bucket_count: Number of buckets ``k`` >= 0. Default 30, TensorBoard's.

    Returns:
        float64 array of shape ``(k, 3)``, rows ``[left_edge, right_edge, count]``, edges ascending, counts
        summing to the number of finite values. Edge cases, as TensorBoard:

        * ``k == 0``: shape ``(0, 3)``.
        * no finite value (incl. empty input): ``(k, 3)`` zeros.
        * a single distinct finite value ``v``: every edge is ``v``; all counts 0 but the last (``n``).

        Float64 input with a range beyond the float64 range (``max - min`` overflows) or so small that
        ``(max - min) / k`` underflows, where TensorBoard's arithmetic breaks down, is bucketed on values
        scaled by an exact power of two, so edges and counts stay finite and consistent.

    Raises:
        ValueError: negative ``bucket_count``.
        TypeError: complex, string or object dtype, or ``bucket_count`` is not an int.

    Example:
        >>> histogram_buckets(np.array([0.0, 1.0, 1.0, 4.0]), bucket_count=4).tolist()
        [[0.0, 1.0, 1.0], [1.0, 2.0, 2.0], [2.0, 3.0, 0.0], [3.0, 4.0, 1.0]]
        >>> histogram_buckets(np.full((2, 3), 7.0), bucket_count=2).tolist()
        [[7.0, 7.0, 0.0], [7.0, 7.0, 6.0]]
    """
    k = check_int("bucket_count", bucket_count, minimum=0)
    a = _as_real_array(activations)
    if a.dtype.kind == "b":
        a = a.view(np.uint8)
    if k == 0:
        return np.zeros((0, 3), np.float64)
    lo, hi = _finite_extremes(a) if a.size else (math.inf, -math.inf)
    if not lo <= hi:
        return np.zeros((k, 3), np.float64)
    from keras import ops

    scale = 1.0
    if not math.isfinite(hi - lo):
        scale = 0.5
    elif hi > lo and (hi - lo) / k < _TINY:  # a subnormal range means subnormal values: 2**1000 is safe
        scale = math.ldexp(1.0, min(1000, -math.frexp(hi - lo)[1]))
    x = a if scale == 1.0 else a.astype(np.float64) * scale
    dtype = reductions.host_dtype()
    x = _widened(x, dtype)
    counts = reductions.histogram_counts(
        ops.convert_to_tensor(x),
        np.dtype(dtype).type(lo * scale),
        np.dtype(dtype).type(hi * scale),
        k,
        dtype=dtype,
    )
    rows = fold.histogram_rows(ops.convert_to_numpy(counts), lo * scale, hi * scale)
    if scale != 1.0:
        rows[:, :2] /= scale
        rows[0, 0], rows[-1, 1] = lo, hi
    return rows
