"""Tests of tbactviz.grids.colormaps: the 256 x 3 lookup tables."""

from __future__ import annotations

import numpy as np
import pytest

from tbactviz.grids.colormaps import LUTS
from tbactviz.grids.tiling import COLORMAPS

pytestmark = pytest.mark.filterwarnings("error")

# Reference rows (rounded matplotlib values) at 0, 128 and 255.
REFERENCE = {
    "viridis": [(68, 1, 84), (33, 145, 140), (253, 231, 37)],
    "magma": [(0, 0, 4), (183, 55, 121), (252, 253, 191)],
    "inferno": [(0, 0, 4), (188, 55, 84), (252, 255, 164)],
    "plasma": [(13, 8, 135), (204, 71, 120), (240, 249, 33)],
}


def test_every_colormap_has_a_table() -> None:
    assert set(LUTS) == set(COLORMAPS)


@pytest.mark.parametrize("name", COLORMAPS)
def test_table_shape_dtype_and_read_only(name: str) -> None:
    lut = LUTS[name]
    assert lut.shape == (256, 3)
    assert lut.dtype == np.uint8
    assert not lut.flags.writeable
    assert len({tuple(row) for row in lut}) > 200  # a real ramp, no long runs of one colour


def test_gray_is_the_identity_ramp() -> None:
    np.testing.assert_array_equal(LUTS["gray"], np.repeat(np.arange(256)[:, None], 3, axis=1))


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reference_rows(name: str) -> None:
    got = [tuple(int(c) for c in LUTS[name][i]) for i in (0, 128, 255)]
    assert got == REFERENCE[name]


@pytest.mark.parametrize("name", COLORMAPS)
def test_luminance_increases(name: str) -> None:
    # The perceptually uniform maps (and gray) run from dark to light.
    luminance = LUTS[name].astype(float) @ np.array([0.2126, 0.7152, 0.0722])
    assert np.all(np.diff(luminance) > -1.0)
    assert luminance[-1] - luminance[0] > 150
