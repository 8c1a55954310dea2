"""The host side of the reductions: chunks' partials merged and finished into the written figures."""

from __future__ import annotations

import numpy as np

from tbactviz.stats import fold


def reference_dormant(rows: np.ndarray, tau: float) -> float:
    """ReDo (Sokar et al., ICML 2023): channel score = mean |a| / layer mean score; dormant if <= tau.

    A loop over channels; a channel without finite values is not dormant.
    """
    scores = []
    for c in range(rows.shape[1]):
        col = rows[:, c]
        col = col[np.isfinite(col)]
        if col.size:
            scores.append(float(np.mean(np.abs(col))))
    layer = sum(scores) / len(scores)
    return sum(1 for score in scores if score / layer <= tau) / rows.shape[1]


def sample_acts(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    acts = np.maximum(rng.standard_normal((4, 9, 7, 6)), 0).astype(np.float32)
    acts[..., 2] = 0.0  # dead
    acts[..., 4] *= 0.01  # dormant at tau=0.1
    return acts


def test_dormant_fraction_equals_the_loop() -> None:
    acts = sample_acts(0).reshape(-1, 6).astype(np.float64)
    abs_sum, count = np.abs(acts).sum(axis=0), np.full(6, len(acts))
    for tau in (0.0, 0.1, 0.5):
        assert fold.dormant_fraction(abs_sum, count, tau) == reference_dormant(acts, tau)
    assert fold.dormant_fraction(np.zeros(3), np.ones(3)) == 1.0  # all dead: all dormant
    assert fold.dormant_fraction(np.zeros(3), np.zeros(3)) == 0.0  # no finite value: none


def test_finish_clamps_overflow_and_drops_nan() -> None:
    """Sums beyond float64 (device overflow), NaN sums and channels without a finite value: finite figures."""
    f32_max, f64_max = float(np.finfo(np.float32).max), float(np.finfo(np.float64).max)
    part = {
        "rows": np.int64(10),
        "count": np.array([10, 10, 0, 10], np.int64),
        "total": np.array([1e308, 1e308, 0.0, 5.0]),
        "m2": np.array([np.inf, np.nan, 0.0, 2.5]),
        "abs_sum": np.array([1e308, 1e308, 0.0, 5.0]),
        "small": np.array([0, 0, 10, 10], np.int64),
        "lo": np.array([-1e39, 0.0, np.inf, 0.0]),
        "hi": np.array([1e39, 1.0, -np.inf, 1.0]),
    }
    figures, channels = fold.finish(part)
    assert all(type(v) is float for v in figures.values())
    assert figures["mean"] == f64_max and figures["std"] == 0.0  # inf mean; NaN spread -> 0
    assert figures["max_abs"] == 1e39 and figures["nonfinite"] == 10.0
    assert figures["dead_channels"] == 0.5 and figures["sparsity"] == 0.5
    assert figures["dormant_fraction"] == 1 / 4  # the channel without finite values is not dormant
    np.testing.assert_array_equal(
        channels,
        np.array([[1e307, f32_max, 0, f32_max], [1e307, 0, 0, 1], [0, 0, 1, 0], [0.5, 0.5, 1, 1]], np.float64)
        .clip(-f32_max, f32_max)
        .astype(np.float32),
    )


def test_histogram_rows_edges_are_linspace() -> None:
    rng = np.random.default_rng(0)
    bounds = [(0.0, 1.0), (-3.0, 7.5), (1e-310, 2e-310), (-1e300, 1e300), (5.0, 5.0 + 1e-15)]
    bounds += [tuple(sorted(rng.normal(size=2) * 10.0 ** rng.integers(-30, 30))) for _ in range(200)]
    for k in (1, 2, 7, 30):
        for lo, hi in bounds:
            rows = fold.histogram_rows(np.arange(k), float(lo), float(hi))
            edges = np.linspace(lo, hi, k + 1)
            edges[0], edges[-1] = lo, hi
            np.testing.assert_array_equal(rows[:, 0], edges[:-1])
            np.testing.assert_array_equal(rows[:, 1], edges[1:])
            np.testing.assert_array_equal(rows[:, 2], np.arange(k))
