"""Per-layer health figures and activation histograms, in pure numpy.

Two functions turn one layer's activations (batch first, channels last) into what the logger writes:

* :func:`layer_stats` -> the scalar figures named in :data:`STAT_NAMES` (sparsity, dead-channel fraction,
  mean, std, max |a|, non-finite count).
* :func:`histogram_buckets` -> a ``(k, 3)`` array ``[left_edge, right_edge, count]``, bucket for bucket the
  format and semantics of TensorBoard's histogram ``summary_v2``, ready to be written as a histogram summary.

Both accept any rank >= 1 (rank 1 ``(N,)`` is one channel) and any bool, integer or floating dtype, including
``float16`` and ``ml_dtypes.bfloat16``. Non-finite values (NaN, +-Inf) never poison a figure: they are counted
once (``nonfinite``) and excluded everywhere else. Empty input gives zeros, never NaN and never a warning.

Designed for big layers (hundreds of MiB per snapshot): the data is read a small, fixed number of times, in
cache-sized chunks, accumulating in float64, with no full-size temporaries when everything is finite.

This module imports numpy and the standard library only.

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
import operator
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from tbactviz.options import STAT_NAMES

DEFAULT_DORMANT_TAU = 0.1
"""ReDo's dormancy threshold tau (Sokar et al., ICML 2023) used by default for ``dormant_fraction``."""

__all__ = [
    "DEFAULT_BUCKET_COUNT",
    "DEFAULT_MAX_HISTOGRAM_VALUES",
    "STAT_NAMES",
    "HistogramAccumulator",
    "StatsAccumulator",
    "dormant_fraction",
    "finite_mask_or_none",
    "histogram_buckets",
    "layer_stats",
]

DEFAULT_BUCKET_COUNT = 30
"""Histogram buckets per layer; TensorBoard's own default."""

DEFAULT_MAX_HISTOGRAM_VALUES = 1 << 20
"""Above this many finite values, :func:`histogram_buckets` buckets an evenly strided sample."""

# Elements per chunk: 64 Ki float64 values = 512 KiB, stays in L2 while several ops run over it.
_CHUNK = 1 << 16
# Beyond this magnitude (float64 input only) squares/sums could overflow float64: compute on scaled values.
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


def _eps_threshold(dtype: np.dtype, eps: float) -> Any:
    """Returns a scalar ``t`` in ``dtype`` (float dtypes) such that ``|x| <= t`` exactly iff ``|x| <= eps``.

    Comparing in the data's own dtype keeps the comparison fast (no float64 upcast) and exact: ``t`` is the
    largest value of the dtype that is <= eps. For bool/int dtypes a float64 scalar is returned (exact too).
    """
    if dtype.kind != "f":
        return np.float64(eps)
    largest = np.finfo(dtype).max  # compare as Python floats: eps cast to float16 could overflow
    if eps >= float(largest):  # also keeps +Inf from counting as <= eps
        return largest
    t = dtype.type(eps)
    if float(t) > eps:
        t = np.nextafter(t, dtype.type(-np.inf))
    return t


def _count_small(block: np.ndarray, eps: float, threshold: Any) -> int:
    """Number of values of ``block`` with ``|x| <= eps`` (NaN and +-Inf never count)."""
    if eps == 0.0:
        return int(np.count_nonzero(block == 0))
    if block.dtype.kind == "f":
        return int(np.count_nonzero(np.abs(block) <= threshold))
    if block.dtype.kind in "bu":
        return int(np.count_nonzero(block <= threshold))
    return int(np.count_nonzero((block >= -threshold) & (block <= threshold)))


def _moments_scaled(finite: np.ndarray, max_abs: float) -> tuple[float, float]:
    """Mean and std of huge float64 values (``max_abs > _BIG``), computed on values scaled into (-1, 1).

    Power-of-two scaling is exact, and no sum or square of scaled values can overflow. Rare path: one copy.
    """
    scale = math.ldexp(1.0, -math.frexp(max_abs)[1])
    scaled = np.multiply(finite, scale, dtype=np.float64)
    return float(scaled.mean()) / scale, float(scaled.std()) / scale


def dormant_fraction(abs_sum: np.ndarray, count: np.ndarray, tau: float = DEFAULT_DORMANT_TAU) -> float:
    """Fraction of tau-dormant channels, as in ReDo (Sokar et al., ICML 2023, eq. 1).

    A channel's score is its mean ``|a|`` over samples and positions (finite values only), divided by the
    mean score of the layer's channels; the channel is dormant when its score is ``<= tau``. ``tau = 0``
    counts exactly dead channels. When every channel's mean ``|a|`` is 0 the whole layer is dormant. A
    channel without finite values is not dormant (like ``dead_channels``, it is broken, not idle).

    Args:
        abs_sum: float ``(C,)``, per channel the sum of ``|a|`` over the finite values.
        count: ``(C,)``, per channel the number of finite values (channels with none score 0).
        tau: The threshold, >= 0.

    Returns:
        A fraction in [0, 1]; 0.0 for no channel.

    Example:
        >>> dormant_fraction(np.array([0.0, 1.0, 3.0, 4.0]), np.array([2, 2, 2, 2]), tau=0.1)
        0.25
    """
    count = np.asarray(count, np.float64)
    score = (np.asarray(abs_sum, np.float64) / np.maximum(count, 1.0))[count > 0]
    if score.size == 0:
        return 0.0
    layer = float(score.mean())
    dormant = score.size if not layer > 0 else np.count_nonzero(score / layer <= tau)
    return float(dormant) / count.size


def _zero_stats() -> dict[str, float]:
    return dict.fromkeys(STAT_NAMES, 0.0)


def layer_stats(activations: np.ndarray, *, eps: float = 0.0) -> dict[str, float]:
    """Health figures of one layer's activations.

    Args:
        activations: Array of rank >= 1, batch first, channels last: ``(N, ..., C)``; rank 1 ``(N,)`` is a
            single channel. Any bool, integer or floating dtype (incl. float16 and ``ml_dtypes.bfloat16``);
            sums are accumulated in float64, so the mean of 10^8 float32 values is accurate to ~1e-12
            (relative).
        eps: Magnitude at or below which an activation counts as zero (``|a| <= eps``); >= 0. Default 0.0:
            exact zeros (incl. -0.0) only.

    Returns:
        A dict with exactly the keys of :data:`STAT_NAMES`, in that order, all Python floats, never NaN:

        * ``sparsity``: fraction in [0, 1] of ALL values with ``|a| <= eps``; NaN and +-Inf never count as
          zero.
        * ``dead_channels``: fraction in [0, 1] of channels (last axis) with ``|a| <= eps`` at every sample
          and position; a channel holding any NaN/Inf is not dead.
        * ``mean``, ``std`` (population, ddof=0), ``max_abs``: over the finite values only; 0.0 when there is
          no finite value.
        * ``nonfinite``: number of NaN and +-Inf values, as a float.

        Empty input (any dimension 0) gives 0.0 for every figure.

    Raises:
        ValueError: ``activations`` is 0-d, or ``eps`` is negative or NaN.
        TypeError: ``activations`` has a complex, string or object dtype.

    Example:
        >>> a = np.array([[0.0, 2.0], [0.0, -4.0], [0.0, np.nan]])  # (N=3, C=2); channel 0 dead
        >>> {name: round(value, 3) for name, value in layer_stats(a).items()}
        {'sparsity': 0.5, 'dead_channels': 0.5, 'mean': -0.4, 'std': 1.96, 'max_abs': 4.0, 'nonfinite': 1.0}
    """
    acc = StatsAccumulator(eps=eps)
    acc.update(activations)
    return acc.result()


@dataclass(frozen=True)
class _StatsPart:
    """The figures of one update, in a form that merges exactly with others."""

    n: int  # values (finite or not)
    small: int  # values with |a| <= eps
    alive: np.ndarray  # bool per channel: some value is not <= eps (NaN/Inf count as alive)
    n_finite: int
    mean: float  # of the finite values (0.0 when none)
    std: float
    max_abs: float
    lo: float  # smallest finite value (inf when none)
    hi: float  # largest finite value (-inf when none)


class StatsAccumulator:
    """:func:`layer_stats` over data that arrives in chunks (e.g. probe batches), merged exactly.

    ``update`` each chunk (batch first, channels last, the same channel count every time), then ``result``:
    the same figures as :func:`layer_stats` on the concatenated chunks (sparsity, dead channels, max |a| and
    the non-finite count exactly; mean and std merged by the law of total variance, equal up to rounding).
    Memory: one bool per channel and a few numbers per chunk.

    Args:
        eps: As for :func:`layer_stats` (>= 0).

    Example:
        >>> acc = StatsAccumulator()
        >>> acc.update(np.array([[0.0, 1.0]]))
        >>> acc.update(np.array([[0.0, 3.0]]))
        >>> acc.result() == layer_stats(np.array([[0.0, 1.0], [0.0, 3.0]]))
        True
    """

    def __init__(self, *, eps: float = 0.0) -> None:
        try:
            eps = float(eps)
        except (TypeError, ValueError):
            raise ValueError(f"eps must be a number >= 0; got {eps!r}") from None
        if not eps >= 0.0:
            raise ValueError(f"eps must be a number >= 0; got {eps!r}")
        # eps=inf: every finite value is small, but Inf itself is not
        self._eps = min(eps, sys.float_info.max)
        self._parts: list[_StatsPart] = []

    def update(self, activations: np.ndarray) -> None:
        """Add one chunk ``(n, ..., C)`` (rank >= 1; any real dtype). Empty chunks add nothing.

        Raises:
            ValueError: 0-d input, or a channel count different from earlier chunks.
            TypeError: complex, string or object dtype.
        """
        a = _as_real_array(activations)
        if a.ndim == 0:
            raise ValueError(
                f"activations must have rank >= 1 (batch first, channels last); got a 0-d array of {a.dtype}"
            )
        if a.size == 0:
            return
        channels = a.shape[-1] if a.ndim > 1 else 1
        if self._parts and self._parts[0].alive.size != channels:
            raise ValueError(
                f"activations has {channels} channels; earlier chunks had {self._parts[0].alive.size}"
            )
        self._parts.append(self._part(a, channels))

    @property
    def last_bounds(self) -> tuple[float, float, int] | None:
        """``(min, max, count)`` of the finite values of the last non-empty chunk, or None before any.

        :meth:`HistogramAccumulator.update` takes them as ``bounds`` to skip its own min/max pass.
        """
        if not self._parts:
            return None
        part = self._parts[-1]
        return part.lo, part.hi, part.n_finite

    def _part(self, a: np.ndarray, channels: int) -> _StatsPart:
        eps = self._eps
        if a.dtype.kind == "b":
            a = a.view(np.uint8)
        n = a.size
        by_channel = a.reshape(-1, channels)
        n_rows = by_channel.shape[0]
        rows = max(1, _CHUNK // channels)
        n_chunks = -(-n_rows // rows)
        threshold = _eps_threshold(a.dtype, eps)
        eps64 = np.float64(eps)

        # One pass over the data, in chunks of whole rows that stay in cache while every figure is taken from
        # them. Per chunk: per-channel max/min (dead channels; NaN propagates through them and NaN <= eps is
        # False, so a channel holding NaN/Inf is never dead), count of |a| <= eps, and the chunk's float64 sum
        # and centred sum of squares, combined exactly at the end (law of total variance): no E[x^2] - E[x]^2
        # cancellation. A non-finite chunk sum flags NaN/Inf: only then is the chunk masked.
        buf = np.empty(min(rows, n_rows) * channels, dtype=np.float64)
        sizes = np.zeros(n_chunks, dtype=np.float64)
        sums = np.zeros(n_chunks, dtype=np.float64)
        m2s = np.zeros(n_chunks, dtype=np.float64)
        ch_max = by_channel[:1].max(axis=0)
        ch_min = by_channel[:1].min(axis=0)
        hi, lo = -math.inf, math.inf  # extremes of the finite values
        small = 0
        overflow = False
        with np.errstate(over="ignore", invalid="ignore"):
            for j in range(n_chunks):
                block = by_channel[j * rows : (j + 1) * rows]
                block_max = block.max(axis=0)
                block_min = block.min(axis=0)
                np.maximum(ch_max, block_max, out=ch_max)
                np.minimum(ch_min, block_min, out=ch_min)
                small += _count_small(block, eps, threshold)
                work = buf[: block.size]
                np.copyto(work, block.reshape(-1), casting="unsafe")
                total = float(work.sum())
                if math.isfinite(total):
                    hi = max(hi, float(block_max.max()))
                    lo = min(lo, float(block_min.min()))
                else:  # NaN/Inf in the chunk (or float64 values whose sum overflows): keep the finite ones
                    finite = work[np.isfinite(work)]
                    if finite.size == 0:
                        continue
                    work = buf[: finite.size]
                    work[:] = finite
                    total = float(work.sum())
                    overflow = overflow or not math.isfinite(total)
                    hi = max(hi, float(finite.max()))
                    lo = min(lo, float(finite.min()))
                work -= total / work.size
                sizes[j] = work.size
                sums[j] = total
                # einsum, not np.dot: BLAS would spread this over threads that spin and fight the training
                # process for cores (measured: 4 ms -> 65 ms median on a busy 2-core machine).
                m2s[j] = float(np.einsum("i,i->", work, work))

        alive = ~((ch_max <= eps64) & (ch_min >= -eps64))
        n_finite = int(sizes.sum())
        if n_finite == 0:
            mean = std = max_abs = 0.0
        else:
            max_abs = max(hi, -lo, 0.0)
            if overflow or max_abs > _BIG:
                flat = a.reshape(-1)
                mean, std = _moments_scaled(flat[np.isfinite(flat)], max_abs)
            else:
                mean = math.fsum(sums) / n_finite
                used = sizes > 0
                spread = sizes[used] * np.square(sums[used] / sizes[used] - mean)
                std = math.sqrt(max(math.fsum(m2s) + math.fsum(spread), 0.0) / n_finite)
        return _StatsPart(n, small, alive, n_finite, mean, std, max_abs, lo, hi)

    def result(self) -> dict[str, float]:
        """The figures of everything added so far, as :func:`layer_stats` returns them (zeros when empty)."""
        parts = self._parts
        if not parts:
            return _zero_stats()
        n = sum(p.n for p in parts)
        n_finite = sum(p.n_finite for p in parts)
        alive = parts[0].alive
        for p in parts[1:]:
            alive = alive | p.alive
        max_abs = max(p.max_abs for p in parts)
        if len(parts) == 1:
            mean, std = parts[0].mean, parts[0].std
        elif n_finite == 0:
            mean = std = 0.0
        else:
            # Law of total variance on values scaled by an exact power of two into (-1, 1) when they are huge,
            # so that no square overflows: var = sum n_i (std_i^2 + (mean_i - mean)^2) / n.
            scale = math.ldexp(1.0, -math.frexp(max_abs)[1]) if max_abs > _BIG else 1.0
            used = [p for p in parts if p.n_finite]
            mean_s = math.fsum(p.n_finite * (p.mean * scale) for p in used) / n_finite
            var_s = (
                math.fsum(p.n_finite * ((p.std * scale) ** 2 + (p.mean * scale - mean_s) ** 2) for p in used)
                / n_finite
            )
            mean, std = mean_s / scale, math.sqrt(max(var_s, 0.0)) / scale
        return {
            "sparsity": sum(p.small for p in parts) / n,
            "dead_channels": float(np.count_nonzero(~alive)) / alive.size,
            "mean": mean,
            "std": std,
            "max_abs": max_abs,
            "nonfinite": float(n - n_finite),
        }


def _sample_stride(n: int, max_values: int, channels: int) -> int:
    """Smallest stride >= ceil(n / max_values) sharing no factor with ``channels``.

    A stride coprime with the channel count visits every channel equally often; e.g. stride 4 over 256
    channels would sample channels 0, 4, 8, ... only.
    """
    stride = -(-n // max_values)
    while math.gcd(stride, channels) != 1:
        stride += 1
    return stride


def _round_counts(sample_counts: np.ndarray, total: int) -> np.ndarray:
    """Scales integer counts to whole numbers summing exactly to ``total`` (largest-remainder rounding).

    Each count becomes ``floor(c * total / m)`` (``m`` = sum of ``sample_counts``) plus 1 for the buckets with
    the largest fractional parts (ties: lowest index) until the sum is ``total``. Empty buckets stay empty.
    """
    m = int(sample_counts.sum())
    exact = sample_counts.astype(np.float64) * (total / m)
    floors = np.floor(exact)
    missing = total - int(floors.sum())
    if missing > 0:
        order = np.argsort(-(exact - floors), kind="stable")
        floors[order[:missing]] += 1.0
    elif missing < 0:  # float rounding made some floor one too big: take from the largest buckets
        order = np.argsort(-floors, kind="stable")
        floors[order[:-missing]] -= 1.0
    return floors


def histogram_buckets(
    activations: np.ndarray,
    *,
    bucket_count: int = DEFAULT_BUCKET_COUNT,
    max_values: int | None = DEFAULT_MAX_HISTOGRAM_VALUES,
) -> np.ndarray:
    """Histogram buckets of the finite activations, in TensorBoard's histogram ``summary_v2`` format.

    Bucketing is TensorBoard's (``tensorboard.plugins.histogram.summary_v2._buckets``), bit for bit: values
    cast to float64; ``width = (max - min) / k``; a value goes to bucket ``floor((x - min) / width)``, clamped
    to ``k - 1`` (buckets are closed-open, the last closed-closed); edges are ``linspace(min, max, k + 1)``
    with the last edge exactly ``max``.

    Non-finite values (NaN, +-Inf) are excluded (:func:`layer_stats` counts them).

    Huge layers: when there are more than ``max_values`` values (``N``, finite or not), only every ``s``-th
    value (flattened C order, starting at the first) is bucketed, where ``s`` is the smallest integer
    ``>= ceil(N / max_values)`` coprime with the channel count (so that every channel is sampled alike), and
    of those the finite ones. The sample's counts are scaled to the number ``n`` of finite values and rounded
    to whole numbers by largest remainder, so they sum to exactly ``n``; a bucket that is empty in the sample
    stays empty. The edges still come from the true min/max of all ``n`` finite values.
    :class:`HistogramAccumulator` gives the same result for data that arrives in chunks.

    Args:
        activations: Array of any shape (batch first, channels last) and any bool, integer or floating dtype.
        bucket_count: Number of buckets ``k`` >= 0. Default 30, TensorBoard's.
        max_values: Bucket at most this many values (>= 1), see above; None buckets every value.

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
        ValueError: negative ``bucket_count``, or ``max_values`` < 1.
        TypeError: complex, string or object dtype.

    Example:
        >>> histogram_buckets(np.array([0.0, 1.0, 1.0, 4.0]), bucket_count=4).tolist()
        [[0.0, 1.0, 1.0], [1.0, 2.0, 2.0], [2.0, 3.0, 0.0], [3.0, 4.0, 1.0]]
        >>> histogram_buckets(np.full((2, 3), 7.0), bucket_count=2).tolist()
        [[7.0, 7.0, 0.0], [7.0, 7.0, 6.0]]
    """
    k = _bucket_count_arg(bucket_count)
    a = _as_real_array(activations)
    acc = HistogramAccumulator(total=a.size, channels=a.shape[-1] if a.ndim > 1 else 1, max_values=max_values)
    acc.update(a)
    return acc.result(bucket_count=k)


def _bucket_count_arg(bucket_count: int) -> int:
    k = operator.index(bucket_count)
    if k < 0:
        raise ValueError(f"bucket_count must be >= 0; got {bucket_count!r}")
    return k


class HistogramAccumulator:
    """:func:`histogram_buckets` over data that arrives in chunks, with bounded memory.

    Keeps the exact finite min/max and count, and an evenly strided sample: every ``s``-th value of the
    concatenated chunks (the phase carries over from chunk to chunk), ``s`` chosen from ``total`` as in
    :func:`histogram_buckets`, so the result is the same as :func:`histogram_buckets` on the concatenation
    whenever ``total`` is its size. Memory: about ``max_values`` values.

    Args:
        total: How many values (finite or not) all updates together will bring, to choose the stride; None
            keeps every value (unbounded memory).
        channels: The channel count (last axis), so that the stride visits every channel alike.
        max_values: Sample size bound (>= 1); None keeps every value.

    Example:
        >>> a = np.arange(12.0).reshape(4, 3)
        >>> acc = HistogramAccumulator(total=a.size, channels=3, max_values=5)
        >>> acc.update(a[:1]); acc.update(a[1:])
        >>> np.array_equal(acc.result(bucket_count=4), histogram_buckets(a, bucket_count=4, max_values=5))
        True
    """

    def __init__(
        self, *, total: int | None, channels: int = 1, max_values: int | None = DEFAULT_MAX_HISTOGRAM_VALUES
    ) -> None:
        if max_values is not None:
            max_values = operator.index(max_values)
            if max_values < 1:
                raise ValueError(f"max_values must be >= 1 or None; got {max_values!r}")
        channels = max(1, operator.index(channels))
        self._stride = 1
        if total is not None and max_values is not None and total > max_values:
            self._stride = _sample_stride(int(total), max_values, channels)
        self._seen = 0
        self._samples: list[np.ndarray] = []
        self._n_finite = 0
        self._lo, self._hi = math.inf, -math.inf

    def update(self, activations: np.ndarray, *, bounds: tuple[float, float, int] | None = None) -> None:
        """Add one chunk (any shape, real dtype; flattened in C order).

        Args:
            activations: The chunk.
            bounds: Optional ``(min, max, count)`` of the chunk's finite values, already known (e.g.
                :attr:`StatsAccumulator.last_bounds` of the same chunk): saves a pass over the data.
        """
        a = _as_real_array(activations)
        if a.dtype.kind == "b":
            a = a.view(np.uint8)
        flat = a.reshape(-1)
        if flat.size == 0:
            return
        offset = (-self._seen) % self._stride
        self._seen += flat.size
        sample = flat[offset :: self._stride]
        if bounds is not None:
            lo, hi, n_finite = float(bounds[0]), float(bounds[1]), int(bounds[2])
            if n_finite == 0:
                return
            if n_finite < flat.size:
                sample = sample[np.isfinite(sample)]
        else:
            lo, hi = float(flat.min()), float(flat.max())
            n_finite = flat.size
            if not (math.isfinite(lo) and math.isfinite(hi)):  # NaN propagates: this catches any NaN/Inf
                finite = np.isfinite(flat)
                n_finite = int(np.count_nonzero(finite))
                if n_finite == 0:
                    return
                lo, hi = float(flat[finite].min()), float(flat[finite].max())
                sample = sample[np.isfinite(sample)]
        self._n_finite += n_finite
        self._lo, self._hi = min(self._lo, lo), max(self._hi, hi)
        if sample.size:
            # a copy, unless it is already one: the caller's buffers are not held on to
            self._samples.append(sample.copy() if sample.base is not None else sample)

    def result(self, *, bucket_count: int = DEFAULT_BUCKET_COUNT) -> np.ndarray:
        """The ``(k, 3)`` buckets of everything added so far (see :func:`histogram_buckets`)."""
        k = _bucket_count_arg(bucket_count)
        if k == 0:
            return np.zeros((0, 3), dtype=np.float64)
        if self._n_finite == 0:
            return np.zeros((k, 3), dtype=np.float64)
        sample = self._samples[0] if len(self._samples) == 1 else np.concatenate(self._samples)
        return _bucket(sample, self._lo, self._hi, k, self._n_finite)


def _bucket(sample: np.ndarray, lo: float, hi: float, k: int, n: int) -> np.ndarray:
    """TensorBoard's bucketing of the finite ``sample`` within [lo, hi], counts scaled to ``n`` values."""
    if hi == lo:
        out = np.zeros((k, 3), dtype=np.float64)
        out[:, :2] = hi
        out[-1, 2] = n
        return out

    # Scaling by an exact power of two changes no bucket where TensorBoard's arithmetic is well-defined; it
    # only rescues float64 ranges that overflow, or whose bucket width underflows.
    scale = 1.0
    if not math.isfinite(hi - lo):
        scale = 0.5
    lo_s, hi_s = lo * scale, hi * scale
    if (hi_s - lo_s) / k < _TINY:
        # A subnormal range means subnormal values (the range is at least one ulp of them): 2**1000 is safe.
        scale = math.ldexp(scale, min(1000, -math.frexp(hi_s - lo_s)[1]))
        lo_s, hi_s = lo * scale, hi * scale
    width = (hi_s - lo_s) / k

    counts = np.zeros(k + 1, dtype=np.int64)
    size = sample.size
    buf = np.empty(min(_CHUNK, size), dtype=np.float64)
    ibuf = np.empty(min(_CHUNK, size), dtype=np.intp)
    lo64 = np.float64(lo_s)
    for start in range(0, size, _CHUNK):
        block = sample[start : start + _CHUNK]
        work = buf[: block.size]
        idx = ibuf[: block.size]
        if scale == 1.0:
            np.subtract(block, lo64, out=work, dtype=np.float64)
        else:
            np.multiply(block, scale, out=work, dtype=np.float64)
            work -= lo64
        work /= width
        # work >= 0, so truncation == floor. It is <= k (only x == max can reach k); bucket k is folded
        # into k - 1 below instead of clamping every element.
        np.copyto(idx, work, casting="unsafe")
        counts += np.bincount(idx, minlength=k + 1)
    counts[k - 1] += counts[k]
    counts = counts[:k]

    out = np.empty((k, 3), dtype=np.float64)
    with np.errstate(over="ignore"):  # k * (range / k) may round past the float64 max; that edge is hi
        edges = np.linspace(lo_s, hi_s, k + 1)
    if scale != 1.0:
        edges /= scale
    edges[0], edges[-1] = lo, hi
    out[:, 0] = edges[:-1]
    out[:, 1] = edges[1:]
    out[:, 2] = counts if size == n else _round_counts(counts, n)
    return out
