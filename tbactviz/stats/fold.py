"""The host side of the reductions: partials of several chunks folded, then turned into the written figures.

:func:`merge` folds the partials of the probe's chunks (:func:`tbactviz.stats.reductions.partials`, numpy;
sums and counts add, extremes take min/max, centred sums of squares merge by Chan et al.'s pairwise formula in
float64) and :func:`finish` turns them into the written figures; :func:`histogram_rows` puts the bucket counts
in TensorBoard's format.

Definitions (``a`` is one layer's activations over all probe samples, channels last, ``C`` channels;
"finite" excludes NaN and +-Inf, which are counted once, in ``nonfinite``; ``eps`` >= 0):

* ``sparsity``: fraction of all values with ``|a| <= eps`` (NaN/Inf never count as zero).
* ``dead_channels``: fraction of channels whose every value has ``|a| <= eps``.
* ``mean``, ``std`` (population), ``max_abs``: over the finite values; 0 when there is none.
* ``nonfinite``: number of NaN and +-Inf values.
* ``dormant_fraction``: fraction of tau-dormant channels as in ReDo (Sokar, Agarwal, Castro & Evci, "The
  Dormant Neuron Phenomenon in Deep Reinforcement Learning", ICML 2023, eq. 1): a channel's score is its mean
  ``|a|`` over samples and positions (finite values), divided by the mean score of the layer's channels; a
  channel is dormant when its score is ``<= tau``. ``tau = 0`` counts exactly dead channels; when every
  channel's mean ``|a|`` is 0 the layer is all dormant. Default ``tau`` = :data:`DEFAULT_DORMANT_TAU` (0.1),
  a value the ReDo paper uses for convolutional networks.
* per channel, one ``(C, 4)`` float32 array with columns :data:`CHANNEL_COLUMNS`: ``mean`` and ``std`` of
  the channel's finite values, ``zero_fraction`` (values with ``|a| <= eps``, over all of the channel's
  values) and ``max_abs``.
* histogram: TensorBoard's ``summary_v2`` bucketing (``k`` equal buckets between the finite min and max of
  the whole probe, the last closed) of every finite value; the device compares in float32 where TensorBoard
  uses float64, so a value within float32 rounding of a bucket edge may land in the neighbouring bucket.

Sums run in float32 on the device (per channel and chunk, then float64 on the host): figures equal the
float64 reference of :mod:`tbactviz.stats.arrays` to about 1e-6 relative.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from tbactviz.checks import check_number

__all__ = [
    "CHANNEL_COLUMNS",
    "DEFAULT_DORMANT_TAU",
    "dormant_fraction",
    "finish",
    "histogram_rows",
    "merge",
    "value_bounds",
]

#: Columns of the per-channel figures written as ``channels/<path>``.
CHANNEL_COLUMNS: tuple[str, ...] = ("mean", "std", "zero_fraction", "max_abs")

DEFAULT_DORMANT_TAU = 0.1
"""ReDo's dormancy threshold tau (Sokar et al., ICML 2023) used by default for ``dormant_fraction``."""

# Keys of one layer's partials that add across chunks, and those that take extremes.
_SUMS = ("count", "total", "small", "abs_sum")
_FINITE_MAX = 3.4028234663852886e38
_F64_MAX = float(np.finfo(np.float64).max)


def histogram_rows(counts: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``(k, 3)`` rows ``[left_edge, right_edge, count]`` in TensorBoard's format from bucket counts.

    Edges are ``linspace(lo, hi, k + 1)`` (the last exactly ``hi``); all edges are ``hi`` when ``hi == lo``;
    zeros when there is no finite value (``lo > hi``).
    """
    counts = np.asarray(counts, np.float64)
    k = counts.size
    out = np.zeros((k, 3), np.float64)
    if k == 0 or not lo <= hi:
        return out
    if hi == lo:
        out[:, :2] = hi
    else:
        step = (hi - lo) / k  # np.linspace's own arithmetic on float64 edges, without its overhead
        if step and isinstance(lo, float) and isinstance(hi, float):
            edges = np.arange(k + 1, dtype=np.float64) * step + lo
        else:
            edges = np.linspace(lo, hi, k + 1)
        edges[0], edges[-1] = lo, hi
        out[:, 0], out[:, 1] = edges[:-1], edges[1:]
    out[:, 2] = counts
    return out


def value_bounds(part: Mapping[str, np.ndarray]) -> tuple[float, float]:
    """The finite ``(min, max)`` of a layer from its (merged) partials; ``(inf, -inf)`` when none."""
    return float(np.asarray(part["lo"]).min()), float(np.asarray(part["hi"]).max())


def merge(a: Mapping[str, np.ndarray] | None, b: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fold the partials ``b`` of one chunk into ``a`` (host, float64): the partials of both chunks together.

    Args:
        a: Partials so far (None for the first chunk).
        b: One chunk's partials, as :func:`tbactviz.stats.reductions.partials` returns them (numpy).

    Returns:
        New float64/int64 arrays; ``m2`` merged by Chan et al.'s pairwise update.
    """
    b64 = {
        key: np.asarray(value, np.int64 if key in ("rows", "count", "small") else np.float64)
        for key, value in b.items()
    }
    if a is None:
        return b64
    out = {key: a[key] + b64[key] for key in ("rows", *_SUMS)}
    n_a, n_b = a["count"].astype(np.float64), b64["count"].astype(np.float64)
    n = np.maximum(n_a + n_b, 1.0)
    mean_a = a["total"] / np.maximum(n_a, 1.0)
    mean_b = b64["total"] / np.maximum(n_b, 1.0)
    out["m2"] = np.asarray(a["m2"] + b64["m2"] + np.square(mean_b - mean_a) * n_a * n_b / n, np.float64)
    out["lo"] = np.minimum(a["lo"], b64["lo"])
    out["hi"] = np.maximum(a["hi"], b64["hi"])
    return out


def finish(
    part: Mapping[str, np.ndarray], *, dormant_tau: float = DEFAULT_DORMANT_TAU
) -> tuple[dict[str, float], np.ndarray]:
    """The layer's figures and the per-channel ``(C, 4)`` array from its merged partials.

    Args:
        part: Partials of all chunks (:func:`merge`).
        dormant_tau: ReDo's threshold ``tau`` >= 0 for ``dormant_fraction``.

    Returns:
        ``(figures, channels)``: ``figures`` has the keys ``sparsity``, ``dead_channels``, ``mean``, ``std``,
        ``max_abs``, ``nonfinite`` and ``dormant_fraction`` (Python floats, never NaN); ``channels`` is
        float32 ``(C, 4)`` with columns :data:`CHANNEL_COLUMNS`.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        figures, channels = _finish(part, dormant_tau)
    for name in ("mean", "std", "max_abs"):  # float64 sums of magnitudes beyond ~1e154 overflow: clamp
        figures[name] = _clamp(figures[name])
    return figures, channels


def _clamp(x: float) -> float:
    """``np.nan_to_num`` of one float: NaN -> 0, +-Inf -> +-the float64 maximum."""
    return 0.0 if x != x else min(max(x, -_F64_MAX), _F64_MAX)


def _finish(part: Mapping[str, np.ndarray], dormant_tau: float) -> tuple[dict[str, float], np.ndarray]:
    # One layer of a step: a few small arrays, so the numpy calls themselves are the cost; each figure is
    # still computed by the same operations on the same values (the written figures do not change).
    rows = float(part["rows"])
    count = part["count"].astype(np.float64)
    size = count.size
    total, m2 = part["total"], part["m2"]
    small = part["small"].astype(np.float64)
    per = np.maximum(count, 1.0)
    some = bool((count > 0).all())  # every channel has a finite value (the usual case)
    c_mean = total / per
    lo, hi = (
        (part["lo"], part["hi"])
        if some
        else (np.where(count > 0, part["lo"], 0.0), np.where(count > 0, part["hi"], 0.0))
    )
    c_max = np.maximum(np.abs(lo), np.abs(hi))
    n_values, n_finite = rows * size, float(count.sum())  # sums of integers: exact in float64
    if n_finite:
        mean = float(total.sum()) / n_finite
        var = (float(m2.sum()) + float((count * (c_mean - mean) ** 2).sum())) / n_finite
        std, max_abs = math.sqrt(max(var, 0.0)), float(c_max.max())
    else:
        mean = std = max_abs = 0.0
    channels = np.empty((size, 4))
    channels[:, 0] = c_mean
    channels[:, 1] = np.sqrt(np.maximum(m2, 0.0) / per)
    channels[:, 2] = small / max(rows, 1.0)
    channels[:, 3] = c_max
    figures = {
        "sparsity": float(small.sum()) / n_values if n_values else 0.0,
        "dead_channels": int(np.count_nonzero(small == rows)) / size if size else 0.0,
        "mean": mean,
        "std": std,
        "max_abs": max_abs,
        "nonfinite": n_values - n_finite,
        "dormant_fraction": _dormant(
            part["abs_sum"] / per, count > 0 if not some else None, size, dormant_tau
        ),
    }
    # clip: +-Inf -> +-the float32 maximum; then NaN is the only non-finite value left (no sum overflows)
    np.minimum(np.maximum(channels, -_FINITE_MAX, out=channels), _FINITE_MAX, out=channels)
    if math.isnan(channels.sum()):
        channels[np.isnan(channels)] = 0.0
    return figures, channels.astype(np.float32)


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

    Raises:
        TypeError: ``tau`` is not a number.
        ValueError: ``tau`` is negative or NaN.

    Example:
        >>> dormant_fraction(np.array([0.0, 1.0, 3.0, 4.0]), np.array([2, 2, 2, 2]), tau=0.1)
        0.25
    """
    tau = check_number("tau", tau, minimum=0.0)
    count = np.asarray(count, np.float64)
    score = np.asarray(abs_sum, np.float64) / np.maximum(count, 1.0)
    return _dormant(score, count > 0, count.size, tau)


def _dormant(score: np.ndarray, finite: np.ndarray | None, size: int, tau: float) -> float:
    """:func:`dormant_fraction` from every channel's mean ``|a|`` (``finite``: the channels with a finite
    value; None: all of them)."""
    if finite is not None:
        score = score[finite]
    if score.size == 0:
        return 0.0
    layer = float(score.sum()) / score.size  # score.mean()
    dormant = score.size if not layer > 0 else np.count_nonzero(score / layer <= tau)
    return float(dormant) / size
