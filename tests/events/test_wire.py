"""Tests of tbactviz.events.wire: serialized summary values equal the writer's messages, byte for byte."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2, summary_pb2

from tbactviz.events import naming, wire
from tbactviz.events.writer import histogram_value, image_value, scalar_value, tbactviz_tensor_value

TAGS = ["sparsity/conv1", "a", "activations/" + "x" * 200, "ü/ß"]


@pytest.mark.parametrize("tag", TAGS)
@pytest.mark.parametrize(
    "value",
    [0.0, -0.0, 0.25, -1.5, 1e-50, 3.4028235e38, 3.40282356e38, 3.5e38, -1e300, math.inf, -math.inf, 1 / 3],
)
def test_scalar(tag: str, value: float) -> None:
    assert wire.scalar(wire.tag_field(tag), value) == scalar_value(tag, value).SerializeToString()


def test_scalar_nan_reads_back_as_nan() -> None:
    value = summary_pb2.Summary.Value.FromString(wire.scalar(wire.tag_field("s/a"), math.nan))
    assert math.isnan(value.tensor.float_val[0])


@pytest.mark.parametrize("k", [0, 1, 3, 30, 200])
def test_histogram(k: int) -> None:
    rows = np.random.default_rng(k).normal(size=(k, 3))
    expected = histogram_value("histograms/a", rows).SerializeToString()
    assert wire.histogram(wire.tag_field("histograms/a"), rows) == expected
    with pytest.raises(ValueError, match="expected"):
        wire.histogram(b"", np.zeros((3, 2)))


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((0, 4), np.float32),
        np.zeros((2, 0), np.float32),
        np.arange(12.0).reshape(3, 4),
        np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32),
        np.arange(40, dtype=np.int64) - 5,
        np.array([1, 2**20], np.int32),
        np.float32(2.5),
    ],
)
@pytest.mark.parametrize("kind", ["layout", "channels"])
def test_tensor(array: np.ndarray, kind: str) -> None:
    expected = tbactviz_tensor_value("layout/a", array, kind=kind).SerializeToString()
    assert wire.tensor(wire.tag_field("layout/a"), array, kind=kind) == expected


@pytest.mark.parametrize("sizes", [[], [0], [5], [200, 3, 70_000]])
def test_image(sizes: list[int]) -> None:
    pngs = [bytes(range(256)) * (n // 256) + b"x" * (n % 256) for n in sizes]
    for width, height in [(0, 0), (7, 5), (4096, 300)]:
        expected = image_value("activations/a", pngs, width, height).SerializeToString()
        assert wire.image(wire.tag_field("activations/a"), pngs, width, height) == expected


def test_layer_tag_is_the_naming_tag() -> None:
    path = naming.unique_paths(["block 1:conv"])[0]
    assert wire.layer_tag(naming.IMAGE_PREFIX, path) == wire.tag_field(naming.image_tag(path))
    assert wire.layer_tag(naming.LAYOUT_PREFIX, path) == wire.tag_field(naming.layout_tag(path))
    assert wire.layer_tag(naming.HISTOGRAM_PREFIX, path) == wire.tag_field(naming.histogram_tag(path))
    assert wire.layer_tag(naming.CHANNELS_PREFIX, path) == wire.tag_field(naming.channels_tag(path))
    assert wire.layer_tag("sparsity", path) == wire.tag_field(naming.scalar_tag("sparsity", path))
    with pytest.raises(ValueError, match="not a valid scalar name"):
        wire.layer_tag("a/b", path)


@pytest.mark.parametrize("step", [0, 1, 127, 128, 2**40])
@pytest.mark.parametrize("wall_time", [0.0, 1.5, 1_700_000_000.123456])
def test_event(step: int, wall_time: float) -> None:
    values = [
        scalar_value("s/a", 0.5),
        histogram_value("h/a", np.ones((2, 3))),
        image_value("activations/a", [b"png"] * 3, 2, 1),
    ]
    expected = event_pb2.Event(
        wall_time=wall_time, step=step, summary=summary_pb2.Summary(value=values)
    ).SerializeToString()
    assert wire.event(step, wall_time, [v.SerializeToString() for v in values]) == expected
