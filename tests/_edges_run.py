"""One backend's property test of the figures at the edges, for tests/test_backends.py.

Usage: ``KERAS_BACKEND=<name> python _edges_run.py EXAMPLES``. A model whose layer passes its input through
(so the probe's inputs are the layer's activations) is logged by the compiled probe, on activations drawn by
hypothesis: finite float32 magnitudes from the smallest normal number (1.2e-38) to the largest (3.4e38), both
signs and zeros, NaN and +-Inf among them, channels and whole layers with no finite value, and narrow bands of
values at one extreme scale. The figures the probe returns (and writes) must equal
:func:`tbactviz.layer_stats` of the same array (the same reductions run eagerly, in float64 where the
backend has it): the counts exactly, mean and std within float32 rounding of the largest magnitude, the
histogram's total. Prints ``edges <backend> <examples>`` when every example passed.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tbactviz
from tbactviz.stats import histogram_buckets

SHAPE = (3, 4, 4, 5)
TINY, BIG = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)
MAGNITUDES = st.floats(min_value=TINY, max_value=BIG, width=32)
ELEMENTS = st.one_of(
    MAGNITUDES,
    MAGNITUDES.map(lambda v: -v),
    st.sampled_from([0.0, math.nan, math.inf, -math.inf]),
)


@st.composite
def activations(draw: st.DrawFn) -> np.ndarray:
    kind = draw(st.sampled_from(["mixed", "band", "broken channels", "no finite value"]))
    if kind == "band":  # one extreme scale: values in [2**e, 2**(e + 1)), maybe with both signs
        e = draw(st.integers(-126, 127))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        a = np.ldexp(rng.uniform(1.0, 2.0, SHAPE), e)
        if draw(st.booleans()):
            a *= rng.choice([-1.0, 1.0], SHAPE)
        return np.clip(a, -BIG, BIG).astype(np.float32)
    a = draw(hnp.arrays(np.float32, SHAPE, elements=ELEMENTS))
    if kind == "broken channels":
        bad = draw(st.lists(st.integers(0, SHAPE[-1] - 1), min_size=1, max_size=SHAPE[-1] - 1))
        a[..., bad] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    elif kind == "no finite value":
        a = np.where(draw(hnp.arrays(bool, SHAPE)), np.float32(math.nan), np.float32(math.inf))
    return a


def main(examples: int) -> None:
    keras.utils.set_random_seed(0)
    inp = keras.Input(SHAPE[1:])
    model = keras.Model(inp, keras.layers.Identity(name="same")(inp))
    logdir = tempfile.mkdtemp()
    logger = tbactviz.ActivationLogger(logdir, model, "same", images=False)
    steps = iter(range(10**6))

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(a=activations())
    def check(a: np.ndarray) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", tbactviz.TbactvizWarning)  # mostly NaN: warned once, by design
            got = logger(a, step=next(steps))["same"]
        want = tbactviz.layer_stats(a)
        assert got.keys() == want.keys(), (sorted(got), sorted(want))
        assert all(math.isfinite(v) for v in got.values()), got
        for name in ("sparsity", "dead_channels", "nonfinite", "dormant_fraction", "max_abs"):
            if name in want:
                assert got[name] == want[name], (name, got[name], want[name])
        if "mean" in want:
            spread = 1e-5 * want["max_abs"]  # float32 sums: rounding relative to the largest magnitude
            for name in ("mean", "std"):
                assert got[name] == pytest_approx(want[name], spread), (name, got[name], want[name])
        part = next(iter(logger.probe_chunks(a)))["same"]
        finite = int(np.isfinite(a).sum())
        assert part.counts is not None and int(part.counts.sum()) == finite
        if finite:
            edges = histogram_buckets(a)
            assert part.bounds == (edges[0, 0], edges[-1, 1])
            moved = np.abs(part.counts - edges[:, 2]).sum()  # a value on a bucket edge may go either side
            assert moved <= max(2, 0.05 * finite), (part.counts, edges[:, 2])

    check()
    logger.close()
    print("edges", keras.backend.backend(), examples)


def pytest_approx(want: float, spread: float) -> object:
    """``want`` within ``1e-5`` relative or ``spread`` absolute (no pytest import in the child)."""

    class Near:
        def __eq__(self, got: object) -> bool:
            return isinstance(got, float) and abs(got - want) <= max(1e-5 * abs(want), spread)

        def __repr__(self) -> str:
            return f"{want} +- {max(1e-5 * abs(want), spread)}"

    return Near()


if __name__ == "__main__":
    main(int(sys.argv[1]))
