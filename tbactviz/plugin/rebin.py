"""One value axis for a layer's histograms over steps (the Activations tab's histogram over time).

Every logged histogram has its own bucket edges: tbactviz (like ``tf.summary.histogram``) spreads ``k`` equal
buckets between the finite min and max of that step's activations, so the edges move from step to step. To
draw steps side by side on one value axis, :func:`shared_axis` keeps the written buckets when every step has
the same edges, and otherwise re-bins every step onto ``buckets`` equal buckets spanning all steps: a
written bucket's count is split among the shared buckets in proportion to their overlap (the values are
taken as spread evenly inside a bucket, which is all a histogram knows of them). Totals are kept exactly
(up to float rounding). Imports numpy and tbactviz.checks only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tbactviz.checks import check_int

__all__ = ["DEFAULT_BUCKETS", "MAX_BUCKETS", "shared_axis"]

#: Shared buckets when the written edges differ between steps.
DEFAULT_BUCKETS = 64
#: The most shared buckets one may ask for.
MAX_BUCKETS = 512


def _rows(rows: np.ndarray) -> np.ndarray | None:
    """The ``(k, 3)`` rows of one step as float64, or None when the step holds no finite value."""
    arr = np.asarray(rows, np.float64)
    if arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] == 0:
        return None
    if not np.isfinite(arr).all() or arr[:, 2].sum() <= 0:
        return None
    return arr


def _spread(arr: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of one step's buckets on the shared ``edges`` (proportional to overlap)."""
    n = edges.size - 1
    lo, hi, total = arr[0, 0], arr[-1, 1], arr[:, 2].sum()
    if hi <= lo:  # every value equal (zero-width buckets): all of them in the shared bucket holding it
        out = np.zeros(n, np.float64)
        out[int(np.clip(np.searchsorted(edges, lo, side="right") - 1, 0, n - 1))] = total
        return out
    xs = np.concatenate([[lo], arr[:, 1]])
    cdf = np.concatenate([[0.0], np.cumsum(arr[:, 2])])
    at = np.interp(edges, xs, cdf, left=0.0, right=total)
    spread: np.ndarray = np.maximum(np.diff(at), 0.0)
    return spread


def shared_axis(
    histograms: Sequence[np.ndarray], buckets: int = DEFAULT_BUCKETS
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Bucket edges shared by all steps of a layer, and each step's counts on them.

    Args:
        histograms: One ``(k, 3)`` array ``[left_edge, right_edge, count]`` per step, as TensorBoard's
            histogram summaries hold them (contiguous buckets in value order). A step without a finite value
            (all counts 0, or non-finite edges) gets zero counts and does not widen the axis.
        buckets: Shared buckets (2..:data:`MAX_BUCKETS`) used when the written edges differ between steps.

    Returns:
        ``(edges, counts, rebinned)``: ``edges`` float64 ``(n + 1,)`` increasing, ``counts`` float64
        ``(steps, n)``, and whether the counts were re-binned (False: the written buckets, exactly). With no
        finite value at any step, ``edges`` is ``[0, 1]`` and counts are zeros ``(steps, 1)``. When every
        value of every step is the same ``v``, the axis is ``[v - 0.5, v + 0.5]`` split in ``buckets``.

    Raises:
        TypeError: ``buckets`` is not an int.
        ValueError: ``buckets`` is not in 2..:data:`MAX_BUCKETS`.

    Example:
        >>> edges, counts, rebinned = shared_axis(
        ...     [np.array([[0.0, 1, 2], [1, 2, 4]]), np.array([[0.0, 2, 6], [2, 4, 2]])], buckets=4
        ... )
        >>> edges.tolist(), counts.tolist(), rebinned
        ([0.0, 1.0, 2.0, 3.0, 4.0], [[2.0, 4.0, 0.0, 0.0], [3.0, 3.0, 1.0, 1.0]], True)
    """
    buckets = check_int("buckets", buckets, minimum=2, maximum=MAX_BUCKETS)
    steps = [_rows(h) for h in histograms]
    kept = [arr for arr in steps if arr is not None]
    if not kept:
        return np.array([0.0, 1.0]), np.zeros((len(steps), 1)), False
    first = kept[0]
    same = all(arr.shape == first.shape and np.array_equal(arr[:, :2], first[:, :2]) for arr in kept)
    if same and first[-1, 1] > first[0, 0] and np.all(first[:, 1] > first[:, 0]):
        edges = np.concatenate([[first[0, 0]], first[:, 1]])
        counts = np.array([np.zeros(first.shape[0]) if arr is None else arr[:, 2] for arr in steps])
        return edges, counts.reshape(len(steps), first.shape[0]), False
    lo = min(float(arr[0, 0]) for arr in kept)
    hi = max(float(arr[-1, 1]) for arr in kept)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, buckets + 1)
    counts = np.array([np.zeros(buckets) if arr is None else _spread(arr, edges) for arr in steps])
    return edges, counts.reshape(len(steps), buckets), True
