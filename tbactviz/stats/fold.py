"""The host side of the reductions: partials of several chunks folded, then turned into the written figures.

:func:`merge` folds the partials of the probe's chunks (:func:`tbactviz.stats.reductions.partials`, numpy;
sums and counts add, extremes take min/max, centred sums of squares merge by Chan et al.'s pairwise formula in
float64) and :func:`finish` turns them into the written figures; :func:`histogram_rows` puts the bucket counts
in TensorBoard's format.

Definitions (``a`` is one layer's activations over all probe samples, channels last, ``C`` channels;
"finite" excludes NaN and +-Inf, which are counted once, in ``nonfinite``; ``eps`` >= 0):

* ``sparsity``: fraction of all values with ``|a| <= eps`` (NaN/Inf never count as zero).
* ``dead_channels``: fraction of channels whose every value has ``|a| <= eps``.
* ``mean``, ``std`` (population), ``max_abs``: over the finite values; absent (not written, not returned)
  when the layer has no finite value: no number would be true.
* ``nonfinite``: number of NaN and +-Inf values.
* ``dormant_fraction``: fraction of tau-dormant channels as in ReDo (Sokar, Agarwal, Castro & Evci, "The
  Dormant Neuron Phenomenon in Deep Reinforcement Learning", ICML 2023, eq. 1): a channel's score is its mean
  ``|a|`` over samples and positions (finite values), divided by the mean score of the layer's channels; a
  channel is dormant when its score is ``<= tau``. ``tau = 0`` counts exactly dead channels; when every
  channel's mean ``|a|`` is 0 the layer is all dormant. Default ``tau`` = :data:`DEFAULT_DORMANT_TAU` (0.1),
  a value the ReDo paper uses for convolutional networks.
* per channel, one ``(C, 4)`` float32 array with columns :data:`CHANNEL_COLUMNS`: ``mean`` and ``std`` of
  the channel's finite values, ``zero_fraction`` (values with ``|a| <= eps``, over all of the channel's
  values) and ``max_abs``; NaN for the mean, std and max_abs of a channel with no finite value.
* histogram: TensorBoard's ``summary_v2`` bucketing (``k`` equal buckets between the finite min and max of
  the whole probe, the last closed) of every finite value; the device compares in float32 where TensorBoard
  uses float64, so a value within float32 rounding of a bucket edge may land in the neighbouring bucket.

Sums run in float32 on the device (per channel and chunk, then float64 on the host), on values scaled by an
exact power of two per channel (``scale``, :func:`tbactviz.stats.reductions.partials`), so they neither
overflow nor underflow at any finite magnitude; the host keeps them scaled while it merges and finishes. The
figures equal those of :mod:`tbactviz.stats.arrays` (the same reductions, eagerly, in float64 where the
backend has it) to about 1e-5 relative.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from tbactviz.checks import check_number
from tbactviz.options import STAT_NAMES

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

# Integer keys of one layer's partials (the last two add across chunks, with "rows").
_COUNTS = ("rows", "count", "small")
_FINITE_MAX = 3.4028234663852886e38


def histogram_rows(counts: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``(k, 3)`` rows ``[left_edge, right_edge, count]`` in TensorBoard's format from bucket counts.

    Edges are ``linspace(lo, hi, k + 1)`` (the last exactly ``hi``; where ``hi - lo`` overflows float64,
    ``lo * (1 - i / k) + hi * i / k``); all edges are ``hi`` when ``hi == lo``; zeros when there is no finite
    value (``lo > hi``).
    """
    counts = np.asarray(counts, np.float64)
    k = counts.size
    out = np.zeros((k, 3), np.float64)
    if k == 0 or not lo <= hi:
        return out
    if hi == lo:
        out[:, :2] = hi
    else:
        with np.errstate(over="ignore"):
            step = (hi - lo) / k  # np.linspace's own arithmetic on float64 edges, without its overhead
        if not math.isfinite(step):  # hi - lo beyond the float64 range (lo < 0 < hi): weighted means
            t = np.arange(k + 1, dtype=np.float64) / k
            edges = lo * (1.0 - t) + hi * t
        elif step and isinstance(lo, float) and isinstance(hi, float):
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

    The sums stay scaled (``total``, ``m2`` and ``abs_sum`` are those of the values times ``scale``, an exact
    power of two per channel; no ``scale`` key: 1): a channel's two chunks are brought to the smaller of their
    scales (the larger magnitude), so no float64 sum overflows even for float64 values near the float64
    maximum.

    Args:
        a: Partials so far (None for the first chunk).
        b: One chunk's partials, as :func:`tbactviz.stats.reductions.partials` returns them (numpy; without
            ``scale``: 1).

    Returns:
        New float64/int64 arrays; ``m2`` merged by Chan et al.'s pairwise update.
    """
    b64 = {key: np.asarray(value, np.int64 if key in _COUNTS else np.float64) for key, value in b.items()}
    if a is None:
        return b64
    out = {key: a[key] + b64[key] for key in ("rows", *_COUNTS[1:])}
    n_a, n_b = a["count"].astype(np.float64), b64["count"].astype(np.float64)
    n = np.maximum(n_a + n_b, 1.0)
    if "scale" not in a and "scale" not in b64:  # the probe's fast variant: unscaled sums
        total_a, total_b, m2_a, m2_b = a["total"], b64["total"], a["m2"], b64["m2"]
        abs_a, abs_b = a["abs_sum"], b64["abs_sum"]
    else:
        ones = np.ones_like(b64["total"])
        scale_a, scale_b = a.get("scale", ones), b64.get("scale", ones)
        scale = out["scale"] = np.minimum(scale_a, scale_b)
        ra, rb = scale / scale_a, scale / scale_b  # exact powers of two <= 1
        total_a, total_b, m2_a, m2_b = (
            a["total"] * ra,
            b64["total"] * rb,
            a["m2"] * ra * ra,
            b64["m2"] * rb * rb,
        )
        abs_a, abs_b = a["abs_sum"] * ra, b64["abs_sum"] * rb
    mean_a = total_a / np.maximum(n_a, 1.0)
    mean_b = total_b / np.maximum(n_b, 1.0)
    out["total"] = total_a + total_b
    out["abs_sum"] = abs_a + abs_b
    out["m2"] = np.asarray(m2_a + m2_b + np.square(mean_b - mean_a) * n_a * n_b / n, np.float64)
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
        ``(figures, channels)``: ``figures`` has the keys ``sparsity``, ``dead_channels``, ``nonfinite`` and
        ``dormant_fraction``, and ``mean``, ``std`` and ``max_abs`` when the layer has a finite value (Python
        floats, finite); ``channels`` is float32 ``(C, 4)`` with columns :data:`CHANNEL_COLUMNS`, NaN in the
        ``mean``, ``std`` and ``max_abs`` columns of a channel with no finite value.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _finish(part, dormant_tau)


def _finish(part: Mapping[str, np.ndarray], dormant_tau: float) -> tuple[dict[str, float], np.ndarray]:
    # One layer of a step: a few small arrays, so the numpy calls themselves are the cost.
    rows = float(part["rows"])
    count = part["count"].astype(np.float64)
    size = count.size
    scale = part.get("scale")  # None: the probe's fast variant, unscaled (1)
    small = part["small"].astype(np.float64)
    per = np.maximum(count, 1.0)
    some = count > 0
    every = bool(some.all())  # every channel has a finite value (the usual case)
    lo, hi = (
        (part["lo"], part["hi"])
        if every
        else (np.where(some, part["lo"], 0.0), np.where(some, part["hi"], 0.0))
    )
    c_max = np.maximum(np.abs(lo), np.abs(hi))
    n_values, n_finite = rows * size, float(count.sum())  # sums of integers: exact in float64
    figures = {
        "sparsity": float(small.sum()) / n_values if n_values else 0.0,
        "dead_channels": int(np.count_nonzero(small == rows)) / size if size and rows else 0.0,
        "nonfinite": n_values - n_finite,
        "dormant_fraction": 0.0,
    }
    channels = np.empty((size, 4))
    channels[:, 0] = part["total"] / per
    channels[:, 1] = np.sqrt(np.maximum(part["m2"], 0.0) / per)
    if scale is not None:
        channels[:, :2] /= scale[:, None]
    channels[:, 2] = small / max(rows, 1.0)
    channels[:, 3] = c_max
    if n_finite:
        # the layer's figures in the units of its channels' smallest scale (the largest magnitude): the
        # scaled values are at most 4 in magnitude, so no sum overflows whatever the values' magnitude
        c_total, c_m2, c_abs, common = part["total"], part["m2"], part["abs_sum"], 1.0
        if scale is not None:
            common = float(scale[some].min())
            ratio = np.where(some, common / scale, 0.0)
            c_total, c_m2, c_abs = c_total * ratio, c_m2 * ratio * ratio, c_abs * ratio
        mean = float(c_total.sum()) / n_finite
        spread = float(c_m2.sum()) + float((count * (c_total / per - mean) ** 2).sum())
        figures["mean"] = mean / common
        figures["std"] = math.sqrt(max(spread / n_finite, 0.0)) / common
        figures["max_abs"] = float(c_max.max())
        figures["dormant_fraction"] = _dormant(c_abs / per, None if every else some, size, dormant_tau)
    if not every:
        channels[~some, 0] = channels[~some, 1] = channels[~some, 3] = np.nan
    # float64 figures of float64 values beyond the float32 range: the float32 maximum (NaN stays: no value)
    np.minimum(np.maximum(channels, -_FINITE_MAX, out=channels), _FINITE_MAX, out=channels)
    return {name: figures[name] for name in STAT_NAMES if name in figures}, channels.astype(np.float32)


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
