"""Tests of tbactviz.stats.arrays: figures against plain numpy, histograms against TensorBoard's bucketing."""

from __future__ import annotations

import math
from collections.abc import Callable

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tensorboard.plugins.histogram import summary_v2 as tb_histogram
from tensorboard.util import tensor_util

from tbactviz.stats.arrays import (
    DEFAULT_BUCKET_COUNT,
    STAT_NAMES,
    finite_mask_or_none,
    histogram_buckets,
    layer_stats,
)

pytestmark = pytest.mark.filterwarnings("error")

RNG_SHAPES = [(7,), (5, 3), (2, 4, 6), (3, 5, 4, 8), (2, 3, 4, 3, 5)]
#: The figures that exist without a finite value (mean, std and max_abs do not).
DEFINED = ("sparsity", "dead_channels", "nonfinite", "dormant_fraction")


# --- independent references ------------------------------------------------------------------------------


def reference_stats(a: np.ndarray, eps: float = 0.0) -> dict[str, float]:
    """The figures the obvious way: everything in float64, full-size temporaries, masks everywhere (float64
    subnormals count as zero, as documented)."""
    a64 = np.asarray(a).astype(np.float64)
    if np.asarray(a).dtype == np.float64:
        a64 = np.where(np.abs(a64) < np.finfo(np.float64).tiny, 0.0, a64)
    if a64.size == 0:
        return dict.fromkeys(DEFINED, 0.0)
    channels = a64.shape[-1] if a64.ndim > 1 else 1
    finite = np.isfinite(a64)
    values = a64[finite]
    small = finite & (np.abs(a64) <= eps)
    with np.errstate(over="ignore", invalid="ignore"):  # huge float64 values: compared elsewhere
        mean = float(values.mean()) if values.size else 0.0
        std = float(values.std()) if values.size else 0.0
    figures = {
        "sparsity": float(small.mean()),
        "dead_channels": float(np.all(small.reshape(-1, channels), axis=0).mean()),
        "mean": mean,
        "std": std,
        "max_abs": float(np.abs(values).max()) if values.size else 0.0,
        "nonfinite": float((~finite).sum()),
        "dormant_fraction": reference_dormant(a64.reshape(-1, channels), finite.reshape(-1, channels)),
    }
    return figures if values.size else {name: figures[name] for name in DEFINED}


def reference_dormant(a64: np.ndarray, finite: np.ndarray, tau: float = 0.1) -> float:
    """ReDo (Sokar et al., ICML 2023), a loop over channels; channels with no finite value are not dormant."""
    scores = []
    for c in range(a64.shape[1]):
        col = a64[finite[:, c], c]
        if col.size:
            with np.errstate(over="ignore"):
                scores.append(float(np.mean(np.abs(col))))
    if not scores:
        return 0.0
    layer = sum(scores) / len(scores)
    dormant = len(scores) if not layer > 0 else sum(1 for score in scores if score / layer <= tau)
    return dormant / a64.shape[1]


def tensorboard_buckets(data: np.ndarray, bucket_count: int) -> np.ndarray:
    """TensorBoard's numpy bucketing (histogram_pb), on the finite values."""
    data = np.asarray(data).astype(np.float64).ravel()
    data = data[np.isfinite(data)]
    with np.errstate(over="ignore"):  # its linspace may overflow on the last edge, which it then sets to max
        proto = tb_histogram.histogram_pb("t", data, buckets=bucket_count)
    return tensor_util.make_ndarray(proto.value[0].tensor)


def assert_stats_close(got: dict[str, float], want: dict[str, float], rtol: float = 1e-9) -> None:
    assert list(got) == list(STAT_NAMES)
    assert all(type(v) is float for v in got.values())
    for name in ("sparsity", "dead_channels", "nonfinite"):
        assert got[name] == want[name], name
    for name in ("mean", "std", "max_abs"):
        assert got[name] == pytest.approx(want[name], rel=rtol, abs=1e-12), name


# --- layer_stats: against the reference --------------------------------------------------------------------


@pytest.mark.parametrize("shape", RNG_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int8, np.int32, np.uint8, np.bool_])
@pytest.mark.parametrize("eps", [0.0, 0.3, 2.0])
def test_layer_stats_matches_reference_on_random_data(
    shape: tuple[int, ...], dtype: type, eps: float
) -> None:
    rng = np.random.default_rng(len(shape))
    raw = rng.standard_normal(shape) * 2
    raw[rng.random(shape) < 0.3] = 0.0
    a = (raw > 0) if dtype is np.bool_ else raw.astype(dtype)
    assert_stats_close(layer_stats(a, eps=eps), reference_stats(a, eps), rtol=1e-6)


@pytest.mark.parametrize("eps", [0.0, 0.01])
def test_layer_stats_matches_reference_with_nonfinite(eps: float) -> None:
    rng = np.random.default_rng(1)
    a = np.maximum(rng.standard_normal((3, 9, 7, 5)), 0).astype(np.float32)
    a.flat[rng.choice(a.size, 20, replace=False)] = rng.choice([np.nan, np.inf, -np.inf], 20)
    a[:, 2:4] = np.nan  # whole chunks without a finite value
    assert_stats_close(layer_stats(a, eps=eps), reference_stats(a, eps), rtol=1e-6)


def test_layer_stats_is_unchanged_by_chunking() -> None:
    a = np.random.default_rng(3).standard_normal((4, 64, 64, 16)).astype(np.float32)
    a[..., 3] = 0.0
    a[2, 5, 6, 7] = np.inf
    assert_stats_close(layer_stats(a), reference_stats(a), rtol=1e-9)


def test_non_contiguous_input() -> None:
    a = np.random.default_rng(4).standard_normal((6, 5, 4)).transpose(2, 1, 0)
    assert layer_stats(a) == layer_stats(np.ascontiguousarray(a))


# --- layer_stats: exact values on tiny inputs --------------------------------------------------------------


def test_exact_values_on_a_tiny_input() -> None:
    a = np.array([[1.0, -2.0], [3.0, 0.0], [0.0, 6.0]])  # (N=3, C=2)
    got = layer_stats(a)
    assert got == {
        "sparsity": 2 / 6,
        "dead_channels": 0.0,
        "mean": 8 / 6,
        "std": math.sqrt(np.var([1.0, -2.0, 3.0, 0.0, 0.0, 6.0])),
        "max_abs": 6.0,
        "nonfinite": 0.0,
        "dormant_fraction": 0.0,
    }


def test_one_dead_channel_of_four() -> None:
    a = np.ones((2, 3, 3, 4), np.float32)
    a[..., 2] = 0.0
    got = layer_stats(a)
    assert got["dead_channels"] == 0.25
    assert got["sparsity"] == 0.25
    assert got["mean"] == 0.75
    assert got["std"] == pytest.approx(math.sqrt(0.75 * 0.25))
    assert got["max_abs"] == 1.0


def test_channel_zero_in_one_sample_only_is_not_dead() -> None:
    a = np.zeros((2, 2, 2, 3), np.float32)
    a[0, ..., 0] = 0.0
    a[1, 1, 1, 0] = 5.0  # channel 0: all zero in sample 0, not in sample 1
    a[:, :, :, 1] = -1.0
    assert layer_stats(a)["dead_channels"] == pytest.approx(1 / 3)  # only channel 2


def test_rank_one_is_one_channel() -> None:
    assert layer_stats(np.zeros(5))["dead_channels"] == 1.0
    assert layer_stats(np.array([0.0, 0.0, 1.0]))["dead_channels"] == 0.0
    assert layer_stats(np.array([0.0, 0.0, 1.0]))["sparsity"] == pytest.approx(2 / 3)


def test_eps_counts_small_magnitudes_as_zero() -> None:
    a = np.array([[0.0625, 0.5], [-0.125, -0.25], [0.0, 0.375]], np.float32)
    assert layer_stats(a)["sparsity"] == pytest.approx(1 / 6)
    assert layer_stats(a, eps=0.125)["sparsity"] == pytest.approx(3 / 6)  # |a| <= eps: inclusive
    assert layer_stats(a, eps=0.125)["dead_channels"] == 0.5
    assert layer_stats(a, eps=0.1)["sparsity"] == pytest.approx(2 / 6)
    assert layer_stats(a, eps=0.5)["dead_channels"] == 1.0
    assert layer_stats(a, eps=math.inf)["sparsity"] == 1.0
    with_inf = np.array([[np.inf, 2.0], [-np.inf, 0.0], [np.inf, 0.0]], np.float16)
    for eps in (math.inf, 1e6):  # 1e6: beyond float16's range
        assert layer_stats(with_inf, eps=eps) == {
            "sparsity": 0.5, "dead_channels": 0.5, "mean": 2 / 3, "std": (8 / 9) ** 0.5,
            "max_abs": 2.0, "nonfinite": 3.0, "dormant_fraction": 0.0,
        }  # fmt: skip


def test_eps_is_compared_exactly_in_low_precision_dtypes() -> None:
    # float16(0.10001) rounds up to 0.1000977: a value of 0.1000977 is NOT <= 0.10001.
    a = np.array([np.float16(0.10001), np.float16(0.1)], np.float16)
    assert float(a[0]) > 0.10001
    assert layer_stats(a, eps=0.10001)["sparsity"] == 0.5
    assert layer_stats(a, eps=float(a[0]))["sparsity"] == 1.0


def test_int_extremes_do_not_overflow() -> None:
    a = np.array([[-128, 0], [127, 0]], np.int8)
    got = layer_stats(a, eps=1.0)
    assert got["max_abs"] == 128.0
    assert got["sparsity"] == 0.5
    assert got["dead_channels"] == 0.5
    assert got["mean"] == -0.25


def test_bool_and_bfloat16() -> None:
    b = np.array([[True, False], [True, False]])
    assert layer_stats(b) == {
        "sparsity": 0.5, "dead_channels": 0.5, "mean": 0.5, "std": 0.5, "max_abs": 1.0, "nonfinite": 0.0,
        "dormant_fraction": 0.5,
    }  # fmt: skip
    bf = np.array([[1.5, 0.0], [np.inf, 0.0]], dtype=ml_dtypes.bfloat16)
    assert layer_stats(bf) == {
        "sparsity": 0.5, "dead_channels": 0.5, "mean": 0.5, "std": 0.5**0.5, "max_abs": 1.5, "nonfinite": 1.0,
        "dormant_fraction": 0.5,
    }  # fmt: skip


# --- layer_stats: accuracy ---------------------------------------------------------------------------------


def test_mean_accumulates_in_float64() -> None:
    # 4 Mi values: a float32 sum errs by ~1e-7 (pairwise) to ~2e-4 (per channel first); we want ~1e-16.
    a = np.full((16, 64, 64, 64), 0.1, np.float32)
    a[::2] = 1000.1
    want = (float(np.float32(0.1)) + float(np.float32(1000.1))) / 2
    got = layer_stats(a)
    assert got["mean"] == pytest.approx(want, rel=1e-12)
    assert got["std"] == pytest.approx((float(np.float32(1000.1)) - float(np.float32(0.1))) / 2, rel=1e-12)


def test_std_has_no_cancellation() -> None:
    a = np.full((1000, 3), 1e4, np.float32)
    a[::2] += 1.0
    a[1::2] -= 1.0
    assert layer_stats(a)["std"] == pytest.approx(1.0, rel=1e-12)
    assert layer_stats(np.full((7, 3), 0.1, np.float32))["std"] == 0.0  # constant: exactly 0


def test_huge_float64_magnitudes_stay_finite() -> None:
    a = np.array([1e308, -1e308, 1.5e308, 0.0])
    got = layer_stats(a)
    assert got["mean"] == pytest.approx(0.375e308, rel=1e-12)
    assert got["std"] == pytest.approx(np.std(a / 1e300) * 1e300, rel=1e-12)
    assert got["max_abs"] == 1.5e308


# --- layer_stats: non-finite values and empty input ---------------------------------------------------------


def test_nan_and_inf_are_counted_and_excluded() -> None:
    a = np.array([[0.0, 1.0, np.nan], [0.0, 3.0, 0.0], [np.inf, -np.inf, 0.0]], np.float32)
    got = layer_stats(a)
    assert got["nonfinite"] == 3.0
    assert got["sparsity"] == pytest.approx(4 / 9)  # non-finite values never count as zero
    assert got["dead_channels"] == 0.0  # channels 0 and 2 are zero but hold Inf / NaN: not dead
    assert got["mean"] == pytest.approx(4 / 6)
    assert got["std"] == pytest.approx(np.std([0.0, 1.0, 0.0, 3.0, 0.0, 0.0]))
    assert got["max_abs"] == 3.0


def test_no_finite_value_gives_no_mean_std_or_max_abs() -> None:
    a = np.array([[np.nan, np.inf], [-np.inf, np.nan]])
    assert layer_stats(a) == {**dict.fromkeys(DEFINED, 0.0), "nonfinite": 4.0}
    assert histogram_buckets(a, bucket_count=3).tolist() == [[0.0, 0.0, 0.0]] * 3


@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0), (2, 3, 0, 4), (0, 5, 5, 8)])
def test_empty_input_gives_zeros(shape: tuple[int, ...]) -> None:
    assert layer_stats(np.zeros(shape, np.float32)) == dict.fromkeys(DEFINED, 0.0)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="rank >= 1"):
        layer_stats(np.float32(1.0))
    with pytest.raises(ValueError, match="eps"):
        layer_stats(np.ones(3), eps=-1.0)
    with pytest.raises(ValueError, match="eps"):
        layer_stats(np.ones(3), eps=math.nan)
    with pytest.raises(TypeError, match="complex128"):
        layer_stats(np.ones(3, complex))
    with pytest.raises(TypeError, match="dtype"):
        layer_stats(np.array(["a"]))


# --- histogram_buckets -------------------------------------------------------------------------------------


@pytest.mark.parametrize("bucket_count", [1, 2, 7, DEFAULT_BUCKET_COUNT])
@pytest.mark.parametrize(
    "make",
    [
        lambda rng: rng.standard_normal(500).astype(np.float32),
        lambda rng: np.maximum(rng.standard_normal((2, 6, 6, 8)), 0),  # ReLU: many ties at the minimum
        lambda rng: rng.integers(-6, 7, (40, 3)).astype(np.float32) * 0.25,  # ties on bucket edges
        lambda rng: rng.integers(0, 31, 300).astype(np.float16),
        lambda rng: rng.integers(-3, 4, 50).astype(np.int8),
        lambda rng: rng.random(20) > 0.5,
        lambda rng: rng.standard_normal(100) * 1e-30,
    ],
)
def test_histogram_equals_tensorboard(
    make: Callable[[np.random.Generator], np.ndarray], bucket_count: int
) -> None:
    data = make(np.random.default_rng(bucket_count))
    got = histogram_buckets(data, bucket_count=bucket_count)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, tensorboard_buckets(data, bucket_count))


@pytest.mark.parametrize("bucket_count", [0, 1, 30])
@pytest.mark.parametrize("data", [np.array([]), np.full((3, 4), 2.5), np.array([np.nan, 1.0, np.inf, 3.0])])
def test_histogram_edge_cases_equal_tensorboard(data: np.ndarray, bucket_count: int) -> None:
    got = histogram_buckets(data, bucket_count=bucket_count)
    np.testing.assert_array_equal(got, tensorboard_buckets(data, bucket_count))
    assert got.shape == (bucket_count, 3)


def test_histogram_edge_cases_explicitly() -> None:
    assert histogram_buckets(np.zeros((0, 4)), bucket_count=3).tolist() == [[0.0] * 3] * 3
    assert histogram_buckets(np.array([np.nan, np.inf]), bucket_count=2).tolist() == [[0.0] * 3] * 2
    assert histogram_buckets(np.ones(5), bucket_count=0).shape == (0, 3)
    assert histogram_buckets(np.full(4, -1.5), bucket_count=3).tolist() == [
        [-1.5, -1.5, 0.0],
        [-1.5, -1.5, 0.0],
        [-1.5, -1.5, 4.0],
    ]


def test_histogram_excludes_nonfinite() -> None:
    data = np.array([0.0, 1.0, np.nan, 2.0, -np.inf, np.inf], np.float32)
    got = histogram_buckets(data, bucket_count=2)
    assert got.tolist() == [[0.0, 1.0, 1.0], [1.0, 2.0, 2.0]]


@pytest.mark.slow
def test_histogram_equals_tensorboard_tf_op() -> None:
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(5)
    for data in (
        rng.standard_normal((3, 5, 5, 7)).astype(np.float32),
        rng.integers(-4, 5, 200).astype(np.float64) * 0.5,
        np.full(9, 3.0),
        np.maximum(rng.standard_normal(1000), 0).astype(np.float16),
    ):
        for k in (1, 3, 30):
            want = tb_histogram._buckets(tf.constant(data), tf.constant(k, tf.int32)).numpy()
            np.testing.assert_array_equal(histogram_buckets(data, bucket_count=k), want)


def test_histogram_extreme_float64_ranges_stay_finite() -> None:
    wide = np.array([-1.7e308, 0.0, 1.7e308])  # max - min overflows float64
    got = histogram_buckets(wide, bucket_count=4)
    assert np.isfinite(got).all()
    assert got[:, 2].tolist() == [1.0, 0.0, 1.0, 1.0]
    assert (got[0, 0], got[-1, 1]) == (-1.7e308, 1.7e308)
    smallest = float(np.finfo(np.float64).tiny)
    tiny = np.array([smallest, 1.5 * smallest, 2 * smallest])  # (max - min) / k underflows
    got = histogram_buckets(tiny, bucket_count=4)
    assert np.isfinite(got).all()
    assert got[:, 2].tolist() == [1.0, 0.0, 1.0, 1.0]
    assert (got[0, 0], got[-1, 1]) == (smallest, 2 * smallest)
    subnormal = histogram_buckets(np.array([0.0, 5e-324, 1e-323]), bucket_count=2)  # zeros, as layer_stats
    assert subnormal.tolist() == [[0.0, 0.0, 0.0], [0.0, 0.0, 3.0]]


def test_histogram_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="bucket_count"):
        histogram_buckets(np.ones(3), bucket_count=-1)
    with pytest.raises(TypeError):
        histogram_buckets(np.ones(3), bucket_count=2.5)  # type: ignore[arg-type]


# --- finite_mask_or_none -----------------------------------------------------------------------------------


def test_finite_mask_or_none() -> None:
    assert finite_mask_or_none(np.ones((2, 3), np.float32)) is None
    assert finite_mask_or_none(np.arange(4)) is None
    assert finite_mask_or_none(np.zeros(0)) is None
    assert finite_mask_or_none(np.array([1e308, 1e308])) is None  # sum overflows, values are finite
    mask = finite_mask_or_none(np.array([[1.0, np.nan], [np.inf, -np.inf]]))
    assert mask is not None
    assert mask.tolist() == [[True, False], [False, False]]


# --- properties --------------------------------------------------------------------------------------------

_DTYPES = [np.float16, np.float32, np.float64, np.int8, np.uint8, np.int64, np.bool_]


@st.composite
def activations(draw: st.DrawFn) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(_DTYPES)))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=5, min_side=0, max_side=4))
    if dtype.kind == "f":
        elements = st.floats(width=8 * dtype.itemsize, allow_nan=True, allow_infinity=True)
        if draw(st.booleans()):  # constant arrays, incl. all-NaN / all-Inf
            return np.full(shape, draw(elements), dtype=dtype)
        return draw(hnp.arrays(dtype, shape, elements=elements))
    return draw(hnp.arrays(dtype, shape))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=activations(), eps=st.sampled_from([0.0, 1e-3, 1.0, 1e6, math.inf]), bucket_count=st.integers(0, 40))
def test_properties(a: np.ndarray, eps: float, bucket_count: int) -> None:
    got = layer_stats(a, eps=eps)
    finite = np.isfinite(a.astype(np.float64))
    assert list(got) == list(STAT_NAMES if finite.any() else DEFINED)
    assert all(type(v) is float and math.isfinite(v) for v in got.values())
    assert 0.0 <= got["sparsity"] <= 1.0
    assert 0.0 <= got["dead_channels"] <= 1.0
    assert got["nonfinite"] == float((~finite).sum())
    want = reference_stats(a, eps)
    for name in ("sparsity", "dead_channels", "nonfinite"):
        assert got[name] == want[name], name
    if "mean" not in want:
        return
    assert got["std"] >= 0.0
    assert got["max_abs"] >= abs(got["mean"]) * (1 - 1e-12)
    assert got["max_abs"] == want["max_abs"]
    if want["max_abs"] < 1e150:  # beyond, the reference's own sums overflow
        for name in ("mean", "std"):
            assert got[name] == pytest.approx(want[name], rel=1e-9, abs=1e-9 * want["max_abs"]), name

    hist = histogram_buckets(a, bucket_count=bucket_count)
    assert hist.shape == (bucket_count, 3)
    assert hist.dtype == np.float64
    assert np.isfinite(hist).all()
    if bucket_count and finite.any():
        assert hist[:, 2].sum() == finite.sum()
        assert (np.diff(hist[:, 0]) >= 0).all() and (hist[:, 1] >= hist[:, 0]).all()
        values = a.astype(np.float64)[finite]
        span = float(values.max()) - float(values.min())  # Python floats: overflow to inf, silently
        if math.isfinite(span) and span / bucket_count >= np.finfo(np.float64).tiny:
            np.testing.assert_array_equal(hist, tensorboard_buckets(_flushed(a), bucket_count))


def _flushed(a: np.ndarray) -> np.ndarray:
    """``a`` as the public functions read it: float64 subnormals as zero (documented, see below)."""
    if a.dtype != np.float64:
        return a
    return np.where(np.abs(a) < np.finfo(np.float64).tiny, 0.0, a)


def test_the_histogram_reads_float64_subnormals_as_zero_found_by_hypothesis() -> None:
    a = np.array([2.22507386e-311, 1.0])
    np.testing.assert_array_equal(histogram_buckets(a, bucket_count=1), [[0.0, 1.0, 2.0]])


def test_float32_subnormals_are_not_flushed_to_zero() -> None:
    """CPU kernels flush float32 subnormals to zero; the public functions reduce them in float64 instead."""
    a = np.array([[1.3e-39, 0.0], [2e-39, 0.0]], np.float32)
    got = layer_stats(a)
    assert got["max_abs"] == float(np.float32(2e-39))
    assert got["sparsity"] == 0.5 and got["dead_channels"] == 0.5
    hist = histogram_buckets(a, bucket_count=2)
    assert hist[:, 2].tolist() == [2.0, 2.0] and hist[-1, 1] == float(np.float32(2e-39))


def test_float64_subnormals_count_as_zero() -> None:
    """CPU kernels read float64 subnormals (|a| < 2.2e-308) as zero in some ops and not in others; layer_stats
    reads all of them as zero, so that its figures agree with each other."""
    got = layer_stats(np.array([[5e-324, 0.0], [1e-310, 0.0]]))
    ones = {"sparsity": 1.0, "dead_channels": 1.0, "dormant_fraction": 1.0}
    assert got == {**dict.fromkeys(STAT_NAMES, 0.0), **ones}
    mixed = layer_stats(np.array([1e100, 1.1e-308, 5e-324, 1.0]))  # found by hypothesis
    assert mixed["sparsity"] == 0.5 and mixed["max_abs"] == 1e100
