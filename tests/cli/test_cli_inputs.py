"""What ``tbactviz log`` and ``tbactviz layers`` read: 16-bit images, directories, factory files, shapes.

In process through ``main([...])``; small models only.
"""

from __future__ import annotations

import json
import logging
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from _events import read_events
from PIL import Image

from tbactviz.cli import ExitCode, main
from tbactviz.layers.selection import resolve_layers


def run(argv: list[object], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def valid_conv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 'valid' 3x3 convolution on 16x16 grey images: a flat input gives flat tiles."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 1))
    out = keras.layers.Conv2D(4, 3, name="conv")(inp)
    path = tmp_path_factory.mktemp("valid") / "valid.keras"
    keras.Model(inp, out).save(path)
    return path


@pytest.fixture(scope="module")
def nested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """conv_top beside a nested 'backbone' holding conv_a, and a Dense head: where selection diverged."""
    keras.utils.set_random_seed(0)
    backbone = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="conv_a"), keras.layers.ReLU(name="act_a")],
        name="backbone",
    )
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(3, 1, name="conv_top")(inp)
    x = backbone(x)
    out = keras.layers.Dense(2, name="head")(keras.layers.Flatten(name="flat")(x))
    path = tmp_path_factory.mktemp("nested") / "nested.keras"
    keras.Model(inp, out, name="outer").save(path)
    return path


def test_16_bit_png_is_not_drawn_flat(valid_conv, tmp_path, capsys):
    grad = np.tile(np.linspace(0, 65535, 16).astype(np.uint16), (16, 1))
    Image.fromarray(grad).save(tmp_path / "g16.png")
    code, out, _ = run(["log", valid_conv, tmp_path / "g16.png", "--logdir", tmp_path / "logs", "-q"], capsys)
    assert code == 0, out
    image = next(r for r in read_events(tmp_path / "logs") if r.tag == "activations/conv")
    _size, pictures = image.value
    pixels = np.asarray(pictures[0].convert("RGB")).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 8  # a flat (clipped white) input gives one colour per tile


def test_directory_inputs_are_its_images_sorted_and_counted(valid_conv, tmp_path, capsys, caplog):
    folder = tmp_path / "probe"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("b.png", "a.jpg", "c.png"):
        Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(folder / name)
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub").mkdir()
    with caplog.at_level(logging.INFO, logger="tbactviz.cli"):
        code, out, err = run(["log", valid_conv, folder, "--logdir", tmp_path / "logs", "-q"], capsys)
    assert code == 0, err
    assert "of 3 input(s)" in out
    messages = [r.getMessage() for r in caplog.records]
    assert any("read 3 input file(s)" in m and "2 other entries skipped" in m for m in messages), messages
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(["log", valid_conv, empty, "--logdir", tmp_path / "logs2"], capsys)
    assert code == ExitCode.BAD_INPUT and "holds no image" in err


def test_directory_order_is_sorted(tmp_path):
    from tbactviz.cli.inputs import expand_inputs

    for name in ("2.png", "10.png", "1.npy", "readme.md"):
        (tmp_path / name).write_bytes(b"")
    assert [Path(p).name for p in expand_inputs([str(tmp_path)])] == ["1.npy", "10.png", "2.png"]


def test_factory_file_named_like_an_installed_module_does_not_shadow_it(tmp_path, capsys):
    factory = tmp_path / "keras.py"
    factory.write_text(
        textwrap.dedent(
            """
            import keras  # the installed Keras, not this file

            def build():
                inp = keras.Input((8, 8, 3))
                return keras.Model(inp, keras.layers.Conv2D(2, 3, name="conv")(inp))
            """
        )
    )
    real = sys.modules["keras"]
    code, out, err = run(["layers", "-", "--model-factory", f"{factory}:build", "--json"], capsys)
    assert code == 0, err
    assert [row["path"] for row in json.loads(out)][-1] == "conv"
    assert sys.modules["keras"] is real and str(tmp_path) not in sys.path[:1]


@pytest.mark.parametrize(
    "selector", ["conv*", "conv_a", "Conv2D", "backbone/*", "*a", "ReLU", "conv_top,head"]
)
def test_match_selects_what_layers_selects(nested, selector, capsys):
    code, out, err = run(["layers", nested, "--match", selector, "--json"], capsys)
    assert code == 0, err
    shown = [row["path"] for row in json.loads(out) if row["drawable"]]
    model = keras.saving.load_model(nested, compile=False)
    assert shown == [info.path for info in resolve_layers(model, selector.split(","))]


def test_match_glob_on_full_paths_first_as_layers_does(nested, capsys):
    # 'conv*' matches the full path conv_top, so (as for --layers) it does not fall back to bare inner names
    code, out, _ = run(["layers", nested, "--match", "conv*", "--json"], capsys)
    assert [row["path"] for row in json.loads(out)] == ["conv_top"]
    code, out, _ = run(["layers", nested, "--match", "*conv_a", "--json"], capsys)
    assert code == 0 and [row["path"] for row in json.loads(out)] == ["backbone/conv_a"]


def test_input_shape_that_contradicts_the_model_exits_7(nested, capsys):
    code, out, err = run(["layers", nested, "--input-shape", "32x32x3"], capsys)
    assert code == ExitCode.BAD_SIZE == 7 and out == ""
    assert "--input-shape='32x32x3'" in err and "(8, 8, 3)" in err
    code, _, _ = run(["layers", nested, "--input-shape", "8x8x3"], capsys)
    assert code == 0


def test_conv3d_row_says_max_projection_over_one_extra_axis(tmp_path, capsys):
    inp = keras.Input((4, 8, 8, 1))
    out = keras.layers.Conv3D(2, 3, padding="same", name="conv3d")(inp)
    keras.Model(inp, out).save(tmp_path / "c3.keras")
    code, out, _ = run(["layers", tmp_path / "c3.keras", "--match", "conv3d"], capsys)
    assert code == 0
    assert "max projection over 1 extra axis" in out and "2/2 ch in 1x2 tiles" in out


def test_unwritable_logdir_fails_before_the_model_is_loaded(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"not a zip file")  # loading it would fail with exit status 4
    blocker = tmp_path / "file"
    blocker.write_text("x")
    npy = tmp_path / "x.npy"
    np.save(npy, np.zeros((1, 8, 8, 3), np.float32))
    code, _, err = run(["log", corrupt, npy, "--logdir", blocker / "run"], capsys)
    assert code == ExitCode.BAD_LOGDIR == 9
    assert "--logdir=" in err and str(blocker) in err


def test_layers_geometry_flags(nested, capsys):
    code, out, _ = run(["layers", nested, "--match", "conv_a", "--columns", "4", "--max-side", "64"], capsys)
    assert code == 0 and "4/4 ch in 1x4 tiles" in out
