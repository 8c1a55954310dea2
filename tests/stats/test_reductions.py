"""The device reductions (keras.ops, run eagerly on the active backend) equal the numpy reference."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from test_fold import reference_dormant, sample_acts

from tbactviz import stats
from tbactviz.stats import fold, reductions


def _numpy(tree: dict) -> dict:
    return {key: keras.ops.convert_to_numpy(value) for key, value in tree.items()}


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("chunks", [1, 3])
def test_figures_equal_layer_stats(seed: int, chunks: int) -> None:
    acts = sample_acts(seed)
    if seed == 2:
        acts[1, 2, 3, 5] = np.nan
        acts[0, 0, 0, 1] = np.inf
    merged = None
    for part in np.array_split(acts, chunks):
        merged = fold.merge(merged, _numpy(reductions.partials(keras.ops.convert_to_tensor(part))))
    figures, channels = fold.finish(merged)
    want = {
        **stats.layer_stats(acts),
        "dormant_fraction": reference_dormant(acts.reshape(-1, 6).astype(np.float64), tau=0.1),
    }
    assert list(figures) == list(want)
    assert figures["dormant_fraction"] == 2 / 6  # the dead and the dormant channel
    for name, value in want.items():
        assert figures[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
    assert channels.shape == (6, 4) and channels.dtype == np.float32
    for c in range(6):
        col = acts[..., c].ravel().astype(np.float64)
        fin = col[np.isfinite(col)]
        want_c = [fin.mean(), fin.std(), np.mean(col == 0), np.abs(fin).max()]
        np.testing.assert_allclose(channels[c], want_c, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_histogram_counts_equal_histogram_buckets(seed: int) -> None:
    acts = np.random.default_rng(seed).integers(-50, 50, (3, 5, 5, 4)).astype(np.float32) / 8  # dyadic
    acts[0, 0, 0, 0] = np.nan
    part = _numpy(reductions.partials(keras.ops.convert_to_tensor(acts)))
    lo, hi = fold.value_bounds(part)
    counts = keras.ops.convert_to_numpy(
        reductions.histogram_counts(keras.ops.convert_to_tensor(acts), np.float32(lo), np.float32(hi), 30)
    )
    got = fold.histogram_rows(counts, lo, hi)
    np.testing.assert_array_equal(got, stats.histogram_buckets(acts, bucket_count=30))


def test_constant_and_empty_histograms_follow_tensorboard() -> None:
    acts = np.full((2, 3, 3, 2), 7.0, np.float32)
    counts = reductions.histogram_counts(keras.ops.convert_to_tensor(acts), np.float32(7), np.float32(7), 4)
    got = fold.histogram_rows(keras.ops.convert_to_numpy(counts), 7.0, 7.0)
    np.testing.assert_array_equal(got, stats.histogram_buckets(acts, bucket_count=4))
    assert not fold.histogram_rows(np.zeros(4), np.inf, -np.inf).any()


@pytest.mark.parametrize("shape", [(7, 5), (3, 6, 4), (2, 5, 6, 3), (2, 2, 3, 4, 3)])
@pytest.mark.parametrize("eps", [0.0, 0.25])
def test_fast_partials_equal_the_masked_ones_on_finite_values(shape: tuple[int, ...], eps: float) -> None:
    """``finite=True`` (no masks; zeros counted by sign, squares by the fused op) gives the same partials."""
    rng = np.random.default_rng(len(shape))
    acts = rng.standard_normal(shape).astype(np.float32)
    acts[acts < 0.3] = 0.0  # many exact zeros
    acts.reshape(-1, shape[-1])[:, 0] = 0.0  # a dead channel
    fast = _numpy(reductions.partials(keras.ops.convert_to_tensor(acts), eps=eps, finite=True))
    masked = _numpy(reductions.partials(keras.ops.convert_to_tensor(acts), eps=eps))
    assert fast.keys() | {"scale"} == masked.keys()  # no scale: 1
    for key in ("rows", "count", "small", "lo", "hi"):
        np.testing.assert_array_equal(fast[key], masked[key], err_msg=key)
    for key, power in (("total", 1), ("m2", 2), ("abs_sum", 1)):  # the masked sums are of scaled values
        unscaled = masked[key] / masked["scale"] ** power
        np.testing.assert_allclose(fast[key], unscaled, rtol=1e-6, atol=1e-6, err_msg=key)
    rows = acts.reshape(-1, shape[-1])
    np.testing.assert_array_equal(fast["small"], (np.abs(rows) <= eps).sum(axis=0))


def test_fast_histogram_counts_equal_the_masked_ones() -> None:
    """The fast index (masked to a power of two; x == hi folded into the last bucket) counts as the masked."""
    rng = np.random.default_rng(3)
    for k in (1, 2, 7, 30, 31, 32):
        for acts in (rng.standard_normal(500), np.array([2.0, 2.0, 2.0]), np.linspace(-1.0, 1.0, k + 1)):
            x = keras.ops.convert_to_tensor(acts.astype(np.float32))
            lo, hi = keras.ops.min(x), keras.ops.max(x)
            fast = keras.ops.convert_to_numpy(reductions.histogram_counts(x, lo, hi, k, finite=True))
            masked = keras.ops.convert_to_numpy(reductions.histogram_counts(x, lo, hi, k))
            np.testing.assert_array_equal(fast, masked, err_msg=f"k={k} {acts[:3]}")
            assert fast.sum() == acts.size and fast[-1] >= 1  # the maximum is in the closed last bucket


def test_fast_partials_with_unknown_positions_in_a_relaxed_trace() -> None:
    """A trace whose spatial dimensions are unknown counts zeros by comparison: the same figures."""
    import tensorflow as tf

    acts = np.maximum(np.random.default_rng(5).standard_normal((2, 6, 5, 3)), 0).astype(np.float32)
    spec = tf.TensorSpec((None, None, None, 3), tf.float32)
    traced = tf.function(lambda a: reductions.partials(a, finite=True), input_signature=[spec])
    got = _numpy(traced(acts))
    want = _numpy(reductions.partials(keras.ops.convert_to_tensor(acts)))
    np.testing.assert_array_equal(got["small"], want["small"])
    np.testing.assert_allclose(got["total"], want["total"] / want["scale"], rtol=1e-6)


def test_power_of_two_scale_brings_any_magnitude_near_one() -> None:
    tiny, big = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)
    m = np.array([tiny, 1e-30, 0.75, 1.0, 3.0, 1e20, big, 0.0, np.inf], np.float32)
    s = keras.ops.convert_to_numpy(reductions.power_of_two_scale(keras.ops.convert_to_tensor(m)))
    assert s.dtype == np.float32
    mantissa, _ = np.frexp(s[:7].astype(np.float64))
    assert (mantissa == 0.5).all()  # exact powers of two
    scaled = m[:7].astype(np.float64) * s[:7]
    assert ((scaled >= 1.0) & (scaled < 4.0)).all(), scaled
    assert s[7:].tolist() == [1.0, 1.0]  # nothing to scale


def test_exact_partials_of_extreme_values_do_not_overflow() -> None:
    """Sums of values near the float32 maximum (and squares of tiny ones) in float32: scaled, exact."""
    rng = np.random.default_rng(7)
    big = rng.uniform(1e38, 3.4e38, (50, 2)).astype(np.float32) * np.float32([1, -1])
    small = (rng.uniform(1.0, 2.0, (50, 1)) * 1e-30).astype(np.float32)
    acts = np.concatenate([big, small], axis=1)
    part = _numpy(reductions.partials(keras.ops.convert_to_tensor(acts)))
    assert all(np.isfinite(part[key]).all() for key in ("total", "m2", "abs_sum"))
    figures, channels = fold.finish(fold.merge(None, part))
    ref = acts.astype(np.float64)
    np.testing.assert_allclose(channels[:, 0], ref.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(channels[:, 1], ref.std(axis=0), rtol=1e-4)
    assert figures["mean"] == pytest.approx(ref.mean(), abs=1e-6 * figures["max_abs"])  # float32 sums
    assert figures["std"] == pytest.approx(ref.std(), rel=1e-6)
    assert reductions.suspect(_numpy(reductions.partials(keras.ops.convert_to_tensor(acts), finite=True)))


def test_suspect_tells_when_the_fast_variant_will_not_do() -> None:
    def fast(a: np.ndarray, lo: float | None = None, hi: float | None = None) -> dict:
        x = keras.ops.convert_to_tensor(np.asarray(a, np.float32))
        out = {"partials": _numpy(reductions.partials(x, finite=True))}
        if lo is not None:
            out["lo"], out["hi"] = np.float32(lo), np.float32(hi)
        return out

    normal = np.random.default_rng(0).standard_normal((20, 3))
    assert not reductions.suspect(fast(normal, normal.min(), normal.max()))
    assert reductions.suspect(fast(np.where(normal > 1, np.nan, normal)))  # NaN
    assert reductions.suspect(fast(normal * 3e37))  # sums beyond float32
    assert reductions.suspect(fast(normal * 1e-13))  # squares of deviations underflow
    assert reductions.suspect(fast(normal, -3e38, 3e38))  # hi - lo overflows
    assert reductions.suspect(fast(normal, 1e-37, 1e-37 + 1e-44))  # the bucket width underflows
    assert not reductions.suspect(fast(np.zeros((4, 2))))  # dead channels are fine
