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
    assert fast.keys() == masked.keys()
    for key in ("rows", "count", "small", "lo", "hi"):
        np.testing.assert_array_equal(fast[key], masked[key], err_msg=key)
    for key in ("total", "m2", "abs_sum"):
        np.testing.assert_allclose(fast[key], masked[key], rtol=1e-6, atol=1e-6, err_msg=key)
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
    np.testing.assert_allclose(got["total"], want["total"], rtol=1e-6)
