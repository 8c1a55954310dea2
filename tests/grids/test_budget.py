"""Grid sizes from a byte budget per step: few layers at full size, many at card size."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from _events import read_events

import tbactviz
from tbactviz.grids import budget
from tbactviz.grids.tiling import grid_shape


def test_few_layers_get_full_size_and_many_get_less() -> None:
    few = [(224, 224, 64), (112, 112, 64), (56, 56, 256)]
    assert budget.plan_max_side(few, images=1) == budget.MAX_SIDE_CEILING
    full = [grid_shape(s, max_side=budget.MAX_SIDE_CEILING) for s in few]
    assert full[0] == (8 * 224 + 7, 8 * 224 + 7)  # every map at its own size
    many = few * 40
    side = budget.plan_max_side(many, images=1)
    assert budget.MIN_SIDE_FLOOR < side < budget.MAX_SIDE_CEILING
    assert budget.estimate_step_bytes(many, side) <= budget.DEFAULT_STEP_BYTES
    assert budget.estimate_step_bytes(many, side + 1) > budget.DEFAULT_STEP_BYTES


def test_side_shrinks_as_layers_images_and_levels_grow() -> None:
    shapes = [(112, 112, 64)] * 20
    sides = [budget.plan_max_side(shapes * k) for k in (1, 2, 4, 8)]
    assert sides == sorted(sides, reverse=True) and sides[0] > sides[-1]
    assert budget.plan_max_side(shapes, images=3) < budget.plan_max_side(shapes, images=1)
    assert budget.plan_max_side(shapes, levels=254) <= budget.plan_max_side(shapes, levels=64)
    assert budget.plan_max_side(shapes * 1000, budget=1000) == budget.MIN_SIDE_FLOOR  # cannot fit: the floor


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("budget", 0, ValueError),
        ("images", -1, ValueError),
        ("budget", 1.5, TypeError),
        ("images", True, TypeError),
    ],
)
def test_bad_arguments_name_themselves(name: str, value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match=f"{name}={value!r} is not valid"):
        budget.plan_max_side([(4, 4, 1)], **{name: value})


def test_logger_option_is_validated() -> None:
    from tbactviz.snapshot.logger import check_options

    with pytest.raises(ValueError, match="max_bytes_per_step=0 is not valid"):
        check_options({"max_bytes_per_step": 0})
    assert check_options({"max_side": None, "max_bytes_per_step": 1 << 20})["max_side"] is None


def test_logger_draws_three_large_layers_at_full_size_by_default(tmp_path) -> None:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((96, 96, 3))
    a = keras.layers.Conv2D(16, 3, padding="same", name="a")(inputs)
    b = keras.layers.Conv2D(16, 3, padding="same", name="b")(a)
    c = keras.layers.Conv2D(16, 3, padding="same", name="c")(b)
    model = keras.Model(inputs, c)
    x = np.random.default_rng(0).random((1, 96, 96, 3)).astype("float32")
    with tbactviz.ActivationLogger(tmp_path / "full", model, ["a", "b", "c"]) as log:
        log(x, 0)
    with tbactviz.ActivationLogger(
        tmp_path / "tight", model, ["a", "b", "c"], max_bytes_per_step=60_000
    ) as log:
        log(x, 0)
    with tbactviz.ActivationLogger(tmp_path / "fixed", model, ["a", "b", "c"], max_side=384) as log:
        log(x, 0)
    size = {run: r.value[0] for r in read_events(tmp_path) if r.tag == "activations/a" for run in [r.run]}
    assert size["full"] == (4 * 96 + 3, 4 * 96 + 3) > size["fixed"]  # 387 px: no downscale
    assert max(size["tight"]) < max(size["fixed"])
