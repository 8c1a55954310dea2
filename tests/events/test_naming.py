"""Tests of tbactviz.events.naming: deterministic, sanitized tags, one prefix per plugin."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tbactviz.events import naming
from tbactviz.stats.arrays import STAT_NAMES


def test_tags_for_layer_follow_the_conventions() -> None:
    assert naming.tags_for_layer("conv1", stats=STAT_NAMES) == [
        "activations/conv1",
        "histograms/conv1",
        "sparsity/conv1",
        "dead_channels/conv1",
        "mean/conv1",
        "std/conv1",
        "max_abs/conv1",
        "nonfinite/conv1",
        "dormant_fraction/conv1",
    ]
    assert naming.tags_for_layer("a", images=False, histograms=False) == []
    assert naming.tags_for_layer("a", stats=["mean"], own=True) == [
        "activations/a",
        "layout/a",
        "histograms/a",
        "channels/a",
        "mean/a",
    ]
    assert naming.tags_for_layer("a", stats=(), own=True) == ["activations/a", "layout/a", "histograms/a"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("conv1", "conv1"),
        ("backbone/conv1_conv", "backbone/conv1_conv"),
        ("mobilenetv2_1.00_224/Conv1", "mobilenetv2_1.00_224/Conv1"),
        ("dense:0", "dense_0"),
        ("a b[c]", "a_b_c_"),
        ("/outer//inner/", "outer/inner"),
        ("", "_"),
        ("ünï", "_n_"),
    ],
)
def test_sanitize(path: str, expected: str) -> None:
    assert naming.sanitize(path) == expected
    assert naming.image_tag(path) == f"activations/{expected}"


def test_unique_paths_disambiguates_collisions_in_order() -> None:
    assert naming.unique_paths(["a:b", "a_b", "a?b", "c"]) == ["a_b", "a_b_2", "a_b_3", "c"]


@given(st.lists(st.text(max_size=12), max_size=8))
def test_unique_paths_are_distinct_safe_and_deterministic(paths: list[str]) -> None:
    out = naming.unique_paths(paths)
    assert len(out) == len(paths) == len(set(out))
    assert out == naming.unique_paths(paths)
    for p in out:
        assert p and naming.sanitize(p) == p


@pytest.mark.parametrize("stat", ["", "a/b", "activations", "histograms", "bad name"])
def test_scalar_tag_rejects_names_that_would_collide(stat: str) -> None:
    with pytest.raises(ValueError, match="stat="):
        naming.scalar_tag(stat, "conv1")


def test_every_prefix_is_distinct() -> None:
    prefixes = [naming.IMAGE_PREFIX, naming.HISTOGRAM_PREFIX, *STAT_NAMES]
    assert len(set(prefixes)) == len(prefixes)
