"""What leaves the device: per-layer reductions written once with ``keras.ops``.

The probe (:mod:`tbactviz.model.compiled`) runs :func:`partials` and :func:`histogram_counts` inside the
compiled function, so every backend (TensorFlow, JAX, PyTorch) compiles the same code, and only small arrays
reach the host: per channel a few sums, counts and extremes (``O(C)``), the histogram's bucket counts
(``O(k)``) and the drawn samples. Host arrays go through the same two functions, run eagerly
(:func:`tbactviz.stats.arrays.reduce_host`). The host folds them (:mod:`tbactviz.stats.fold`:
:func:`~tbactviz.stats.fold.merge` across chunks, :func:`~tbactviz.stats.fold.finish` into the written
figures, whose definitions are given there).

Numerics, the same for every path: each function has two variants. The exact one (``finite=False``) masks
NaN/Inf and sums values scaled by an exact power of two per channel (``scale``, from the channel's finite
max ``|a|``), so that no sum, square or histogram index overflows or underflows at any finite magnitude
(float32: 1e-38 to 3.4e38). The fast one (``finite=True``, the probe's first try) has no masks and no
scaling; :func:`suspect` tells from its small results whether they may differ from the exact ones (a NaN or
Inf, a sum beyond the dtype's range, magnitudes so small that squares lose precision, a histogram range
that overflows), and the probe then recomputes that chunk with the exact variant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "bounds",
    "device_bounds",
    "histogram_counts",
    "host_dtype",
    "partials",
    "power_of_two_scale",
    "suspect",
]


def _rows(a: Any, dtype: str) -> Any:
    """``(n, ..., C)`` -> ``(rows, C)`` in ``dtype`` (rank 2 stays ``(n, C)``)."""
    from keras import ops

    channels = a.shape[-1]
    return ops.reshape(ops.cast(a, dtype), (-1, channels))


def partials(a: Any, *, eps: float = 0.0, dtype: str = "float32", finite: bool = False) -> dict[str, Any]:
    """Per-channel partial sums of one chunk of one layer's activations (``keras.ops``; runs on the device).

    Args:
        a: Tensor ``(n, ..., C)``, rank >= 2, any real dtype (cast to float32).
        eps: Values with ``|a| <= eps`` count as zero.
        dtype: The floating dtype the sums run in: float32 on the device; the host's eager calls
            (:mod:`tbactviz.stats.arrays`) use float64 where the backend has it.
        finite: Assume every value is finite and of moderate magnitude: no masks, no scaling, about half
            the passes over the data. A caller checks the result with :func:`suspect` and recomputes with
            ``finite=False`` (the exact figures) where it says so.

    Returns:
        ``rows`` (values per channel, an int32 scalar) and tensors of shape ``(C,)``: ``count`` (finite
        values, int32), ``total`` (their sum), ``m2`` (their sum of squares about the channel's mean in this
        chunk), ``abs_sum`` (sum of ``|a|``), ``small`` (values with ``|a| <= eps``, int32), ``lo`` and
        ``hi`` (finite min and max; +inf/-inf when none) and, with ``finite=False``, ``scale``; all in
        ``dtype`` unless said. The sums ``total``, ``m2`` and ``abs_sum`` are those of the values times
        ``scale`` (an exact power of two per channel, :func:`power_of_two_scale` of the channel's finite max
        ``|a|``; no ``scale``, i.e. 1, with ``finite=True``, which leaves fewer bytes to copy to the host):
        divide by ``scale`` (``m2``: by its square) for the sums of the values.

    Example:
        >>> import numpy as np
        >>> p = partials(np.array([[0.0, 1.0], [0.0, 3.0]], "float32"))
        >>> [float(v) for v in np.asarray(p["scale"])]  # channel 1's max 3 scaled into [1, 4)
        [1.0, 0.5]
        >>> [float(v) for v in np.asarray(p["total"] / p["scale"])], [int(v) for v in np.asarray(p["small"])]
        ([0.0, 4.0], [2, 0])
    """
    from keras import ops

    x = _rows(a, dtype)
    if finite:
        rows = ops.shape(x)[0]
        n = ops.cast(rows, dtype)
        total = ops.sum(x, axis=0)
        magnitude = ops.abs(x)
        return {
            "rows": ops.cast(rows, "int32"),
            "count": ops.cast(ops.ones_like(total) * n, "int32"),
            "total": total,
            "m2": ops.sum(_squared_deviation(x, total / ops.maximum(n, 1.0)), axis=0),
            "abs_sum": ops.sum(magnitude, axis=0),
            "small": _count_small(a, magnitude, eps, dtype),
            "lo": ops.min(x, axis=0),
            "hi": ops.max(x, axis=0),
        }
    finite_x = ops.isfinite(x)
    count = ops.sum(ops.cast(finite_x, "int32"), axis=0)
    lo = ops.min(ops.where(finite_x, x, np.inf), axis=0)
    hi = ops.max(ops.where(finite_x, x, -np.inf), axis=0)
    some = count > 0
    scale = power_of_two_scale(ops.maximum(ops.where(some, -lo, 0.0), ops.where(some, hi, 0.0)), dtype)
    xs = ops.where(finite_x, x * scale, 0.0)  # finite values scaled: their max |a| is in [1, 4)
    total = ops.sum(xs, axis=0)
    mean = total / ops.cast(ops.maximum(count, 1), dtype)
    centred = ops.where(finite_x, xs - mean, 0.0)
    small = ops.sum(ops.cast(ops.abs(x) <= eps, "int32"), axis=0)
    return {
        "rows": ops.sum(ops.cast(ops.ones_like(x[:, 0]), "int32")),
        "count": count,
        "total": total,
        "m2": ops.sum(centred * centred, axis=0),
        "abs_sum": ops.sum(ops.abs(xs), axis=0),
        "small": small,
        "lo": lo,
        "hi": hi,
        "scale": scale,
    }


def power_of_two_scale(magnitude: Any, dtype: str = "float32") -> Any:
    """An exact power of two ``s`` per element with ``magnitude * s`` in [1, 4) (``keras.ops``).

    What :func:`partials` and :func:`histogram_counts` multiply values by before they sum or bucket them, so
    that the largest scaled magnitude is near 1 whatever the values' own magnitude (the float32 maximum or a
    few times the smallest normal number). ``s`` stays a normal number of ``dtype`` (float32: ``2**-126`` to
    ``2**126``); 1 where ``magnitude`` is 0 or not finite.

    Args:
        magnitude: Tensor of non-negative values, any shape.
        dtype: ``"float32"`` or ``"float64"``.

    Returns:
        Tensor of ``magnitude``'s shape in ``dtype``.

    Example:
        >>> import numpy as np
        >>> [float(v) for v in np.asarray(power_of_two_scale(np.array([3e38, 1.0, 0.0], "float32")))]
        [1.1754943508222875e-38, 1.0, 1.0]
    """
    from keras import ops

    m = ops.cast(magnitude, dtype)
    usable = ops.logical_and(m > 0, ops.isfinite(m))
    limit = 1022.0 if dtype == "float64" else 126.0
    exponent = ops.floor(ops.log2(ops.where(usable, m, 1.0)))  # may be off by one: [1, 4) has room
    return ops.power(ops.cast(2.0, dtype), ops.clip(-exponent, -limit, limit))


def _squared_deviation(x: Any, mean: Any) -> Any:
    """``(x - mean) ** 2``: one pass over ``x`` where the backend has the fused op (TensorFlow's
    ``squared_difference``, the same arithmetic), else a difference and a product (which XLA fuses under
    JAX; PyTorch runs them eagerly, as two passes)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.math.squared_difference(x, mean)
    centred = x - mean
    return centred * centred


#: Largest count a float32 sum of ones holds exactly.
_EXACT_F32_COUNT = 1 << 24


def _count_small(a: Any, magnitude: Any, eps: float, dtype: str) -> Any:
    """Per channel, the values with ``|a| <= eps`` (int32 ``(C,)``), from ``magnitude = |a|``, ``(rows, C)``.

    With ``eps = 0`` and finite values this is the number of zeros: ``rows`` minus the sum of
    ``sign(|a|)``, one pass over the data instead of a comparison, a cast and a sum. The float sums run per
    sample over its positions (each exact below 2**24 positions), then over samples in int32.
    """
    from keras import ops

    static = len(a.shape) > 2 and all(d is not None for d in a.shape[1:])
    positions = int(np.prod([int(d) for d in a.shape[1:-1]])) if static else 0
    if eps != 0 or not 0 < positions < _EXACT_F32_COUNT:
        return ops.sum(ops.cast(magnitude <= eps, "int32"), axis=0)
    channels = int(a.shape[-1])
    nonzero = ops.sum(ops.reshape(ops.sign(magnitude), (-1, positions, channels)), axis=1)
    nonzero = ops.sum(ops.cast(nonzero, "int32"), axis=0)
    return ops.cast(ops.shape(magnitude)[0], "int32") - nonzero


#: Below this finite max ``|a|`` a channel's float32 squares of deviations may underflow: :func:`suspect`.
_SMALL_F32 = 2.0**-39
_F32_MAX, _F64_MAX = float(np.finfo(np.float32).max), float(np.finfo(np.float64).max)
#: A histogram range below this (64 times the smallest normal float32) may give a subnormal bucket width.
_NARROW = 64 * float(np.finfo(np.float32).tiny)


def suspect(reduced: Mapping[str, Any]) -> bool:
    """Whether what :func:`partials` (and :func:`histogram_counts`) computed with ``finite=True`` may differ
    from the exact variant's result, so that it must be recomputed with ``finite=False``. Host-side, on numpy.

    Suspect when a sum is not finite (a NaN or +-Inf among the values, or a sum beyond the dtype's range), a
    channel's finite max ``|a|`` is below ``2**-39`` (float32: its squared deviations may underflow), or
    the histogram's range ``hi - lo`` overflows or its bucket width underflows.

    Args:
        reduced: ``{"partials": {...}, "lo", "hi"}`` as :func:`tbactviz.snapshot.digest.reduce_layer`
            returns it (numpy; the edges only with a histogram), or the partials alone.
    """
    # One layer's few small arrays, for every layer and chunk: each numpy call counts. ``abs_sum`` needs no
    # check: where it overflows, so does ``total`` (one sign) or ``m2`` (sum(a^2) >= sum(|a|)^2 / n).
    part = reduced.get("partials", reduced)
    total, m2, abs_sum = np.asarray(part["total"]), np.asarray(part["m2"]), np.asarray(part["abs_sum"])
    with np.errstate(over="ignore", invalid="ignore"):  # float64 sums: no overflow of float32 values
        if not math.isfinite(float(total.sum(dtype=np.float64)) + float(m2.sum(dtype=np.float64))):
            return True
    if abs_sum.dtype == np.float32:
        # a channel's max |a| is at least its mean |a|: only where the mean is tiny can the max be
        threshold = float(np.asarray(part["rows"])) * _SMALL_F32
        if float(abs_sum.min()) < threshold and ((abs_sum > 0) & (abs_sum < threshold)).any():
            magnitude = np.maximum(-np.asarray(part["lo"]), np.asarray(part["hi"]))
            if ((magnitude > 0) & (magnitude < _SMALL_F32)).any():
                return True
    if "partials" in reduced and "lo" in reduced:
        span = float(reduced["hi"]) - float(reduced["lo"])  # in float64: the float32 one may overflow
        f32 = abs_sum.dtype == np.float32
        limit, narrow = (_F32_MAX, _NARROW) if f32 else (_F64_MAX, 64 * float(np.finfo(np.float64).tiny))
        if not span <= limit or 0 < span < narrow:
            return True
    return False


def histogram_counts(
    a: Any, lo: Any, hi: Any, bucket_count: int, *, dtype: str = "float32", finite: bool = False
) -> Any:
    """Bucket counts of the finite values of ``a`` between ``lo`` and ``hi`` (``keras.ops``; on the device).

    TensorBoard's rule: bucket ``floor((x - lo) / width)`` with ``width = (hi - lo) / k``, clamped to
    ``k - 1``; when ``hi == lo`` every value goes to the last bucket. Values outside ``[lo, hi]`` are clamped
    into the first/last bucket (``lo``/``hi`` are the whole probe's extremes, so none are).

    Args:
        a: Tensor of any shape and real dtype.
        lo, hi: float32 scalars, the finite min and max of the whole probe's values of this layer.
        bucket_count: ``k`` >= 1.
        dtype: The floating dtype of the arithmetic (as :func:`partials`).
        finite: Assume every value is finite and ``hi - lo`` neither overflows nor is so small that the
            bucket width underflows (no masks, no scaling; :func:`suspect` checks the edges). Else the
            values and edges are scaled by an exact power of two (:func:`power_of_two_scale`) first.

    Returns:
        int32 tensor ``(k,)``.
    """
    import keras
    from keras import ops

    x = ops.reshape(ops.cast(a, dtype), (-1,))
    spare = 1 << int(bucket_count).bit_length()  # a power of two > k: index & (spare - 1) is in range
    if finite:  # one index pass; span == 0 (every value is lo) is moved to the last bucket below
        span = hi - lo
        width = ops.where(span > 0, span / bucket_count, 1.0)
        # lo <= x <= hi, so the cast's truncation is the floor and the index is at most k (x == hi, folded
        # into the last bucket below); the mask keeps a NaN's index (the result is then recomputed with
        # masks) a valid one, in one pass where a clip takes two
        index = ops.bitwise_and(ops.cast((x - lo) / width, "int32"), spare - 1)
    else:  # values and edges scaled by a power of two: no difference overflows, no width underflows
        scale = power_of_two_scale(ops.maximum(ops.abs(lo), ops.abs(hi)), dtype)
        lo_s, hi_s = lo * scale, hi * scale
        span = hi_s - lo_s
        width = ops.where(span > 0, span / bucket_count, 1.0)
        mask = ops.isfinite(x)
        index = ops.floor((ops.where(mask, x, lo) * scale - lo_s) / width)
        index = ops.where(span > 0, ops.clip(index, 0, bucket_count - 1), bucket_count - 1)
        index = ops.where(
            mask, ops.cast(index, "int32"), bucket_count
        )  # non-finite: an extra, dropped bucket
    if keras.backend.backend() == "jax":  # jnp.bincount needs a static length under jit: scatter-add
        ones = ops.cast(ops.ones_like(index), "int32")
        counts = ops.segment_sum(ones, index, num_segments=spare)
    else:  # a counting kernel, several times faster than TensorFlow's unsorted segment sum on CPU
        counts = ops.cast(ops.bincount(index, minlength=spare), "int32")
    if not finite:
        return counts[:bucket_count]
    last = ops.cast(ops.arange(bucket_count) == bucket_count - 1, "int32")
    counts = counts[:bucket_count] + last * counts[bucket_count]  # x == hi: the last bucket is closed
    return ops.where(span > 0, counts, last * ops.sum(counts))


def host_dtype() -> str:
    """The dtype eager reductions of host arrays run in: float64 where the active backend computes in it
    (TensorFlow, PyTorch; JAX with ``jax_enable_x64``), else float32."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        if not getattr(jax.config, "jax_enable_x64", False):
            return "float32"
    return "float64"


def bounds(a: Any, *, dtype: str = "float32", finite: bool = False) -> tuple[Any, Any]:
    """The finite ``(min, max)`` of all values of ``a`` as float32 device scalars; ``(inf, -inf)`` when none.

    What a first pass over a probe of several chunks computes (folded across chunks on the host), so that
    the histogram's edges come from the whole probe (TensorBoard's rule) before any chunk is bucketed.
    With ``finite=True`` (no masks), a NaN or +-Inf may make either bound non-finite or wrong: a caller
    that sees a non-finite bound recomputes with ``finite=False``.
    """
    from keras import ops

    x = ops.reshape(ops.cast(a, dtype), (-1,))
    if finite:
        return ops.min(x), ops.max(x)
    finite = ops.isfinite(x)
    return ops.min(ops.where(finite, x, np.inf)), ops.max(ops.where(finite, x, -np.inf))


def device_bounds(part: Mapping[str, Any]) -> tuple[Any, Any]:
    """The finite ``(min, max)`` of one chunk's partials, as device scalars; ``(0, 0)`` when none."""
    from keras import ops

    lo, hi = ops.min(part["lo"]), ops.max(part["hi"])
    some = lo <= hi
    return ops.where(some, lo, 0.0), ops.where(some, hi, 0.0)
