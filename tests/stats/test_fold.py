"""The host side of the reductions: chunks' partials merged and finished into the written figures."""

from __future__ import annotations

import numpy as np
import pytest

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


def test_finish_keeps_scaled_sums_and_leaves_out_what_has_no_value() -> None:
    """Sums kept scaled by a power of two (values near the float64 maximum do not overflow), a channel without
    a finite value (NaN in its columns), and a layer without any (no mean, std or max_abs)."""
    f32_max, f64_max = float(np.finfo(np.float32).max), float(np.finfo(np.float64).max)
    s = 2.0**-1022  # the scale of values near the float64 maximum: scaled, they are about 4
    part = {
        "rows": np.int64(2),
        "count": np.array([2, 2, 0, 2], np.int64),
        "total": np.array([f64_max * s * 2, 0.0, 0.0, 1.0]),  # channel 1: -max and +max
        "m2": np.array([0.0, 2 * (f64_max * s) ** 2, 0.0, 0.5]),
        "abs_sum": np.array([f64_max * s * 2, f64_max * s * 2, 0.0, 1.0]),
        "small": np.array([0, 0, 0, 1], np.int64),
        "lo": np.array([f64_max, -f64_max, np.inf, 0.0]),
        "hi": np.array([f64_max, f64_max, -np.inf, 1.0]),
        "scale": np.array([s, s, 1.0, 1.0]),
    }
    figures, channels = fold.finish(part)
    assert all(type(v) is float and np.isfinite(v) for v in figures.values())
    assert figures["mean"] == pytest.approx(f64_max / 3 + 1 / 6, rel=1e-12)
    values = np.array([f64_max, f64_max, -f64_max, f64_max, 0.0, 1.0])
    assert figures["std"] == pytest.approx(np.std(values * 2.0**-600) * 2.0**600, rel=1e-12)
    assert figures["max_abs"] == f64_max and figures["nonfinite"] == 2.0
    assert figures["dead_channels"] == 0.0 and figures["sparsity"] == 1 / 8
    want = np.array(
        [[f32_max, 0, 0, f32_max], [0, f32_max, 0, f32_max], [np.nan, np.nan, 0, np.nan], [0.5, 0.5, 0.5, 1]],
        np.float32,
    )
    np.testing.assert_array_equal(channels, want)
    none = {**part, "count": np.zeros(4, np.int64), "small": np.zeros(4, np.int64)}
    none["lo"], none["hi"] = np.full(4, np.inf), np.full(4, -np.inf)
    figures, channels = fold.finish(none)
    assert figures == {"sparsity": 0.0, "dead_channels": 0.0, "nonfinite": 8.0, "dormant_fraction": 0.0}
    assert np.isnan(channels[:, [0, 1, 3]]).all() and (channels[:, 2] == 0).all()


def test_merge_brings_chunks_to_one_scale() -> None:
    """Two chunks of one channel at different scales merge to the figures of both together."""
    values = [np.array([3e38, 1e38]), np.array([1.0, -2.0, 0.5])]
    parts = []
    for v in values:
        scale = 2.0 ** -np.floor(np.log2(np.abs(v).max()))
        x = v * scale
        parts.append(
            {
                "rows": np.int64(v.size),
                "count": np.array([v.size]),
                "total": np.array([x.sum()]),
                "m2": np.array([((x - x.mean()) ** 2).sum()]),
                "abs_sum": np.array([np.abs(x).sum()]),
                "small": np.array([0]),
                "lo": np.array([v.min()]),
                "hi": np.array([v.max()]),
                "scale": np.array([scale]),
            }
        )
    figures, _ = fold.finish(fold.merge(fold.merge(None, parts[0]), parts[1]))
    both = np.concatenate(values)
    assert figures["mean"] == pytest.approx(both.mean(), rel=1e-12)
    assert figures["std"] == pytest.approx(both.std(), rel=1e-12)


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
