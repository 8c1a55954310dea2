"""One value axis for a layer's histograms over steps (tbactviz.plugin.rebin)."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tbactviz.plugin import rebin
from tbactviz.stats import fold


def test_doctests() -> None:
    failures, tried = doctest.testmod(rebin)
    assert tried and not failures


def test_same_edges_keep_the_written_buckets() -> None:
    a = fold.histogram_rows(np.array([1.0, 0.0, 3.0]), -1.0, 2.0)
    b = fold.histogram_rows(np.array([0.0, 5.0, 1.0]), -1.0, 2.0)
    empty = np.zeros((3, 3))  # a step without a finite value
    edges, counts, rebinned = rebin.shared_axis([a, empty, b])
    assert edges.tolist() == [-1.0, 0.0, 1.0, 2.0] and not rebinned
    assert counts.tolist() == [[1.0, 0.0, 3.0], [0.0, 0.0, 0.0], [0.0, 5.0, 1.0]]


def test_nothing_finite_and_all_equal() -> None:
    edges, counts, rebinned = rebin.shared_axis([np.zeros((30, 3)), np.zeros((0, 3))])
    assert edges.tolist() == [0.0, 1.0] and counts.tolist() == [[0.0], [0.0]] and not rebinned
    edges, counts, rebinned = rebin.shared_axis([fold.histogram_rows(np.array([0.0, 7.0]), 2.0, 2.0)], 4)
    assert edges.tolist() == [1.5, 1.75, 2.0, 2.25, 2.5] and rebinned
    assert counts.tolist() == [[0.0, 0.0, 7.0, 0.0]]  # 2.0 lies in [2.0, 2.25)
    edges, counts, _ = rebin.shared_axis([], 4)
    assert edges.tolist() == [0.0, 1.0] and counts.shape == (0, 1)


@pytest.mark.parametrize(
    ("bad", "error"),
    [(1, ValueError), (0, ValueError), (513, ValueError), (2.5, TypeError), (True, TypeError)],
)
def test_bad_buckets_name_the_argument(bad: object, error: type[Exception]) -> None:
    with pytest.raises(error, match=r"buckets=.* is not valid; expected an int in 2\.\.512"):
        rebin.shared_axis([], bad)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-1e3, 1e3),
            st.floats(0.0, 1e3),
            st.lists(st.integers(0, 1000), min_size=1, max_size=40),
        ),
        min_size=1,
        max_size=6,
    ),
    st.integers(2, 100),
)
def test_rebinning_keeps_every_count_inside_the_shared_range(steps: list, buckets: int) -> None:
    rows = [fold.histogram_rows(np.array(c, float), lo, lo + width) for lo, width, c in steps]
    edges, counts, _ = rebin.shared_axis(rows, buckets)
    assert np.all(np.diff(edges) > 0) and np.all(counts >= 0)
    for row, got in zip(rows, counts, strict=True):
        assert got.sum() == pytest.approx(row[:, 2].sum(), rel=1e-9, abs=1e-6)
        nonzero = np.flatnonzero(row[:, 2])
        if nonzero.size:  # the counts land where the step's values are (within one shared bucket)
            left, right = row[nonzero[0], 0], row[nonzero[-1], 1]
            width = edges[1] - edges[0]
            filled = np.flatnonzero(got > 1e-9 * got.sum())
            assert edges[filled[0]] >= left - width * (1 + 1e-9) - 1e-9
            assert edges[filled[-1] + 1] <= right + width * (1 + 1e-9) + 1e-9
