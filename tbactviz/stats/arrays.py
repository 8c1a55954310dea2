"""Per-layer health figures and activation histograms of numpy arrays: the public functions.

Two functions turn one layer's activations (batch first, channels last) into what the logger writes:

* :func:`layer_stats` -> the scalar figures named in :data:`STAT_NAMES` (sparsity, dead-channel fraction,
  mean, std, max |a|, non-finite count, ReDo's dormant fraction).
* :func:`histogram_buckets` -> a ``(k, 3)`` array ``[left_edge, right_edge, count]``, bucket for bucket the
  format and semantics of TensorBoard's histogram ``summary_v2``, ready to be written as a histogram summary.

There is one implementation of each figure in tbactviz: the ``keras.ops`` reductions of
:mod:`tbactviz.stats.reductions`, which the logger runs inside the compiled probe, on the device, folded by
:mod:`tbactviz.stats.fold`. These functions run the same reductions eagerly (:func:`reduce_host`, which the
logger's :meth:`~tbactviz.ActivationLogger.write` runs too) on the array they are given, in float64 where the
backend has it (TensorFlow, PyTorch; JAX only with ``jax_enable_x64``, else float32), so they give what the
logger writes for the same activations. The definitions, with their sources, are in
:mod:`tbactviz.stats.fold`; the tests hold both to plain loop implementations.

Both accept any rank >= 1 (rank 1 ``(N,)`` is one channel) and any bool, integer or floating dtype, including
``float16`` and ``ml_dtypes.bfloat16``. Non-finite values (NaN, +-Inf) never poison a figure: they are counted
once (``nonfinite``) and excluded everywhere else; a layer with no finite value has no ``mean``, ``std`` or
``max_abs``. Values are summed and bucketed scaled by an exact power of two, so no sum, square or range
overflows or underflows at any finite magnitude.

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

import numpy as np

from tbactviz.checks import check_int, check_number
from tbactviz.options import STAT_NAMES
from tbactviz.stats import fold, reductions
from tbactviz.stats.fold import DEFAULT_DORMANT_TAU, dormant_fraction

__all__ = [
    "DEFAULT_BUCKET_COUNT",
    "DEFAULT_DORMANT_TAU",
    "PIECE_VALUES",
    "STAT_NAMES",
    "dormant_fraction",
    "finite_mask_or_none",
    "histogram_buckets",
    "layer_stats",
    "reduce_host",
]

DEFAULT_BUCKET_COUNT = 30
"""Histogram buckets per layer; TensorBoard's own default."""


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


#: Values per piece when host activations are reduced eagerly (:func:`reduce_host`): 1 MiB of float32.
PIECE_VALUES = 1 << 18


def _prepared(activations: np.ndarray, dtype: str) -> np.ndarray:
    """The array as ``(rows, C)`` (rank 1: one channel), bool as uint8, float64 subnormals as zero (CPU
    kernels read them as zero in some ops and not in others: all of them, the same way); not copied
    otherwise (:func:`_piece` widens each piece)."""
    a = _as_real_array(activations)
    if a.ndim == 0:
        raise ValueError(
            f"activations must have rank >= 1 (batch first, channels last); got a 0-d array of {a.dtype}"
        )
    if a.dtype.kind == "b":
        a = a.view(np.uint8)
    if a.dtype == np.float64 and a.size and _has_subnormals(a):
        a = np.where(np.abs(a) < np.finfo(np.float64).tiny, 0.0, a)
    if a.ndim == 1:
        return a.reshape(-1, 1)
    return a.reshape(int(np.prod(a.shape[:-1])), a.shape[-1])


def _piece(x: np.ndarray, dtype: str) -> object:
    """One piece as a backend tensor, floats widened to ``dtype`` where it is wider (CPU kernels flush
    float32 subnormals to zero, float64 holds them exactly)."""
    from keras import ops

    if x.dtype.kind == "f" and np.dtype(dtype).itemsize > x.dtype.itemsize:
        x = x.astype(dtype)
    return ops.convert_to_tensor(x)


def _has_subnormals(a: np.ndarray) -> bool:
    with np.errstate(invalid="ignore"):
        magnitude = np.abs(a)
        return bool(np.any((magnitude > 0) & (magnitude < np.finfo(np.float64).tiny)))


def reduce_host(
    activations: np.ndarray, *, eps: float = 0.0, buckets: int = 0
) -> tuple[dict[str, np.ndarray], np.ndarray | None, tuple[float, float]]:
    """The device reductions run eagerly on a host array taken as one whole probe: what the logger's
    :meth:`~tbactviz.ActivationLogger.write`, :func:`layer_stats` and :func:`histogram_buckets` share.

    The array is reduced in pieces of at most :data:`PIECE_VALUES` values (whole rows of at most that many
    channels), as the probe reduces chunks: a first pass for the finite extremes (the histogram's edges),
    then :func:`tbactviz.stats.reductions.partials` and :func:`~tbactviz.stats.reductions.histogram_counts`
    (their exact variant, ``finite=False``) per piece, merged by :func:`tbactviz.stats.fold.merge`. So the
    temporaries of the backend's eager ops stay small whatever the layer's size. The arithmetic runs in
    :func:`~tbactviz.stats.reductions.host_dtype` (float64 where the backend has it).

    Args:
        activations: Array ``(n, ..., C)`` of any real dtype (rank 1 ``(n,)`` is one channel).
        eps: Values with ``|a| <= eps`` count as zero (>= 0).
        buckets: Histogram buckets ``k`` (0: none).

    Returns:
        ``(partials, counts, (lo, hi))``: the merged partials (:func:`tbactviz.stats.fold.merge`), the
        bucket counts (int64 ``(k,)``, or None when ``buckets`` is 0) and the edges they were taken with (the
        finite min and max; ``(0.0, 0.0)`` when there is no finite value or no histogram).

    Example:
        >>> part, counts, edges = reduce_host(np.array([[1.0, 0.0], [3.0, 0.0]]), buckets=2)
        >>> part["count"].tolist(), counts.tolist(), edges
        ([2, 2], [3, 1], (0.0, 3.0))
    """
    from keras import ops

    dtype = reductions.host_dtype()
    rows = _prepared(activations, dtype)
    n_rows, channels = rows.shape
    step_c = max(1, min(channels, PIECE_VALUES))
    step_r = max(1, PIECE_VALUES // step_c)
    real = np.dtype(dtype).type
    eps_ = real(min(float(eps), float(np.finfo(dtype).max)))  # eps=inf: Inf itself is not small
    counts = np.zeros(buckets, np.int64) if buckets else None
    if rows.size == 0:
        empty = {
            "rows": np.int64(n_rows),
            "count": np.zeros(channels, np.int64),
            "small": np.zeros(channels, np.int64),
            "lo": np.full(channels, np.inf),
            "hi": np.full(channels, -np.inf),
        }
        zeros = {key: np.zeros(channels) for key in ("total", "m2", "abs_sum")}
        return fold.merge(None, {**empty, **zeros, "scale": np.ones(channels)}), counts, (0.0, 0.0)
    lo, hi = np.inf, -np.inf
    if buckets:
        for r in range(0, n_rows, step_r):
            for c in range(0, channels, step_c):
                low, high = reductions.bounds(
                    _piece(rows[r : r + step_r, c : c + step_c], dtype), dtype=dtype
                )
                lo, hi = min(lo, float(low)), max(hi, float(high))
    edges = (lo, hi) if lo <= hi else (0.0, 0.0)
    merged: dict[str, np.ndarray] = {}
    for c in range(0, channels, step_c):  # channel blocks: the merge's temporaries stay block-sized
        block: dict[str, np.ndarray] | None = None
        for r in range(0, n_rows, step_r):
            piece = _piece(rows[r : r + step_r, c : c + step_c], dtype)
            part = reductions.partials(piece, eps=eps_, dtype=dtype)
            block = fold.merge(block, {k: ops.convert_to_numpy(v) for k, v in part.items()})
            if counts is not None:
                bucketed = reductions.histogram_counts(
                    piece, real(edges[0]), real(edges[1]), buckets, dtype=dtype
                )
                counts += ops.convert_to_numpy(bucketed).astype(np.int64)
        assert block is not None
        if not merged:
            merged = {k: v if k == "rows" else np.empty(channels, v.dtype) for k, v in block.items()}
        for key, value in block.items():
            if key != "rows":
                merged[key][c : c + step_c] = value
    return merged, counts, edges


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
        A dict with the keys of :data:`STAT_NAMES`, in that order, all Python floats, never NaN or +-Inf
        (``mean``, ``std`` and ``max_abs`` only when there is a finite value):

        * ``sparsity``: fraction in [0, 1] of ALL values with ``|a| <= eps``; NaN and +-Inf never count as
          zero.
        * ``dead_channels``: fraction in [0, 1] of channels (last axis) with ``|a| <= eps`` at every sample
          and position; a channel holding any NaN/Inf is not dead.
        * ``mean``, ``std`` (population, ddof=0), ``max_abs``: over the finite values only; absent when there
          is no finite value (all NaN/Inf, or empty input).
        * ``nonfinite``: number of NaN and +-Inf values, as a float.
        * ``dormant_fraction``: fraction in [0, 1] of ReDo-dormant channels (see
          :func:`tbactviz.stats.fold.dormant_fraction`).

        Empty input (any dimension 0) gives 0.0 for the other figures. float64 subnormals (``|a| < 2.2e-308``)
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
    part, _, _ = reduce_host(activations, eps=eps)
    figures, _ = fold.finish(part, dormant_tau=float(dormant_tau))
    return figures


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
        * no finite value (incl. empty input): ``(k, 3)`` zeros (the logger writes no histogram then).
        * a single distinct finite value ``v``: every edge is ``v``; all counts 0 but the last (``n``).

        Values are bucketed scaled by an exact power of two, so a range beyond the dtype's range
        (``max - min`` overflows) or so small that ``(max - min) / k`` underflows, where TensorBoard's
        arithmetic breaks down, still gives finite, consistent edges and counts.

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
    if k == 0:
        _as_real_array(activations)  # the dtype is checked all the same
        return np.zeros((0, 3), np.float64)
    part, counts, (lo, hi) = reduce_host(activations, buckets=k)
    assert counts is not None
    if not bool(part["count"].sum()):
        return np.zeros((k, 3), np.float64)
    return fold.histogram_rows(counts, lo, hi)
