"""The layout summary tells exactly where each channel lies in the grid PNG (pure numpy, fast)."""

from __future__ import annotations

import numpy as np
import pytest

from tbactviz.events import tilemap
from tbactviz.grids.tiling import tile_activations


def crop(image: np.ndarray, lay: dict, index: int) -> np.ndarray:
    """Tile ``index`` of a grid image, cut out with the layout only."""
    r, c = divmod(index, lay["cols"])
    y = lay["offset_y"] + r * (lay["tile_h"] + lay["pad"])
    x = lay["offset_x"] + c * (lay["tile_w"] + lay["pad"])
    return image[y : y + lay["tile_h"], x : x + lay["tile_w"]]


@pytest.mark.parametrize(
    ("shape", "options", "down", "up"),
    [
        ((2, 12, 10, 7), {"min_side": 0}, 1, 1),  # actual size
        ((1, 12, 10, 7), {"min_side": 100}, 1, 3),  # upscaled
        ((1, 40, 40, 9), {"max_side": 62, "min_side": 0}, 2, 1),  # downscaled by 2
        ((1, 9, 9, 20), {"min_side": 0, "columns": 6, "padding": 3, "max_channels": 11}, 1, 1),
    ],
)
@pytest.mark.parametrize("order", ["index", "activity"])
def test_each_tile_is_that_channels_own_drawn_map(shape, options, down, up, order) -> None:
    acts = np.random.default_rng(1).normal(size=shape).astype(np.float32) * np.arange(1, shape[-1] + 1)
    result = tile_activations(acts, order=order, colormap="gray", **options)
    vector = tilemap.encode(
        result.geometry, result.channels, index=3, count=5, images=len(acts), channels=shape[-1]
    )
    lay = tilemap.decode(vector)
    assert (lay["down"], lay["up"], lay["index"], lay["count"], lay["channels"]) == (
        down,
        up,
        3,
        5,
        shape[-1],
    )
    assert (lay["height"], lay["width"]) == result.images.shape[1:3]
    assert lay["drawn"] == min(shape[-1], options.get("max_channels", 64))
    if order == "activity":
        assert lay["channel_ids"] != sorted(lay["channel_ids"])  # channels with larger scale come first
    for k in range(len(acts)):
        for i, channel in enumerate(lay["channel_ids"]):
            # standardize is per channel: the channel drawn alone at the same scale is the same picture
            alone = tile_activations(
                acts[k : k + 1, ..., channel : channel + 1],
                colormap="gray",
                min_side=0,
                max_side=max(lay["tile_h"], lay["tile_w"]) * down,
            )
            if up > 1:
                alone_img = np.repeat(np.repeat(alone.images[0], up, axis=0), up, axis=1)
            else:
                alone_img = alone.images[0]
            if down > 1:
                alone_img = tile_activations(
                    acts[k : k + 1, ..., channel : channel + 1],
                    colormap="gray",
                    min_side=0,
                    max_side=lay["tile_h"],
                ).images[0]
            np.testing.assert_array_equal(crop(result.images[k], lay, i), alone_img)


def test_separators_lie_between_tiles() -> None:
    result = tile_activations(np.ones((1, 5, 5, 6), np.float32), min_side=0, padding=2)
    lay = tilemap.decode(
        tilemap.encode(result.geometry, result.channels, index=0, count=1, images=1, channels=6)
    )
    image = result.images[0, ..., 0]
    assert (image[:, lay["tile_w"] : lay["tile_w"] + 2] == 255).all()
    assert (image[lay["tile_h"] : lay["tile_h"] + 2, :] == 255).all()


def test_heatmap_and_dense_kinds_and_bad_vectors() -> None:
    seq = tile_activations(np.ones((1, 30, 4), np.float32))
    assert (
        tilemap.decode(tilemap.encode(seq.geometry, seq.channels, index=0, count=1, images=1, channels=4))[
            "kind"
        ]
        == "heatmap"
    )
    dense = tile_activations(np.ones((1, 10), np.float32))
    lay = tilemap.decode(
        tilemap.encode(dense.geometry, dense.channels, index=0, count=1, images=1, channels=10)
    )
    assert (lay["kind"], lay["rows"], lay["cols"]) == ("dense", 3, 4)
    with pytest.raises(ValueError, match="format 2"):
        tilemap.decode([2] + [0] * 20)
    with pytest.raises(ValueError, match="drawn=3 but 1 channel ids"):
        tilemap.decode([1] + [0] * 19 + [3, 7])
