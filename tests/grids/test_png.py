"""Tests of tbactviz.grids.png: the palette PNGs we assemble decode exactly, with ISA-L or zlib."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from tbactviz.grids import png as grid_png


def _decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()  # verifies every chunk's CRC and the zlib stream
    return image


@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    colours=st.integers(1, 256),
    level=st.integers(0, 9),
    seed=st.integers(0, 2**32 - 1),
)
def test_indexed_png_round_trips_exactly(
    height: int, width: int, colours: int, level: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, colours, (height, width), dtype=np.uint8)
    palette = rng.integers(0, 256, (colours, 3), dtype=np.uint8)
    image = _decode(grid_png.encode_indexed_png(indices, palette, compress_level=level))
    assert image.format == "PNG" and image.mode == "P" and image.size == (width, height)
    np.testing.assert_array_equal(np.asarray(image), indices)
    np.testing.assert_array_equal(np.asarray(image.convert("RGB")), palette[indices])


def test_zlib_fallback_gives_the_same_picture(monkeypatch: pytest.MonkeyPatch) -> None:
    indices = np.arange(64, dtype=np.uint8).reshape(8, 8)
    palette = np.stack([np.arange(64, dtype=np.uint8)] * 3, axis=1)
    with_isal = grid_png.encode_indexed_png(indices, palette)
    monkeypatch.setattr(grid_png, "isal_zlib", None)
    with_zlib = grid_png.encode_indexed_png(indices, palette)
    for png in (with_isal, with_zlib):
        np.testing.assert_array_equal(np.asarray(_decode(png)), indices)


@pytest.mark.parametrize(
    ("indices", "palette"),
    [
        (np.zeros((2, 2), np.int32), np.zeros((1, 3), np.uint8)),
        (np.zeros((0, 2), np.uint8), np.zeros((1, 3), np.uint8)),
        (np.zeros((2, 2, 1), np.uint8), np.zeros((1, 3), np.uint8)),
        (np.zeros((2, 2), np.uint8), np.zeros((257, 3), np.uint8)),
        (np.zeros((2, 2), np.uint8), np.zeros((4, 4), np.uint8)),
    ],
)
def test_indexed_png_rejects_bad_input(indices: np.ndarray, palette: np.ndarray) -> None:
    with pytest.raises(ValueError, match="expected uint8"):
        grid_png.encode_indexed_png(indices, palette)
