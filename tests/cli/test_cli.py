"""The ``tbactviz`` command: every subcommand, in process through ``main([...])``, plus the console script.

``tbactviz demo`` is covered in test_demo.py and a running ``tbactviz board`` in test_tensorboard_server.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from _events import read_events, run_tags
from PIL import Image

from tbactviz.cli import PREPROCESS_NAMES, ExitCode, build_parser, main

STATS = ("sparsity", "dead_channels", "mean", "std", "max_abs", "nonfinite", "dormant_fraction")


def _tags(path: str) -> set[str]:
    return {f"activations/{path}", f"histograms/{path}", *(f"{s}/{path}" for s in STATS)}


# -- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Functional model with a nested Sequential block, saved as .keras; input 16x16x3."""
    keras.utils.set_random_seed(0)
    block = keras.Sequential(
        [keras.Input((16, 16, 8)), keras.layers.Conv2D(4, 3, padding="same", name="inner_conv")], name="block"
    )
    inp = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inp)
    x = block(x)
    x = keras.layers.GlobalMaxPooling2D(name="gmp")(x)
    out = keras.layers.Dense(2, name="dense")(x)
    model = keras.Model(inp, out, name="small")
    path = tmp_path_factory.mktemp("model") / "small.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def fcn_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fully convolutional model whose input size is free: (None, None, 3)."""
    inp = keras.Input((None, None, 3))
    out = keras.layers.Conv2D(4, 3, name="conv")(inp)
    path = tmp_path_factory.mktemp("fcn") / "fcn.keras"
    keras.Model(inp, out).save(path)
    return path


@pytest.fixture
def pngs(tmp_path: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i, (h, w) in enumerate([(30, 20), (16, 16)]):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


@pytest.fixture
def factory_file(tmp_path: Path) -> Path:
    """A subclassed model (no graph, no Input) behind a factory function."""
    path = tmp_path / "my_models.py"
    path.write_text(
        textwrap.dedent(
            """
            import keras

            class Net(keras.Model):
                def __init__(self):
                    super().__init__(name="net")
                    self.conv = keras.layers.Conv2D(4, 3, name="conv")
                    self.pool = keras.layers.GlobalAveragePooling2D(name="pool")
                    self.head = keras.layers.Dense(2, name="head")

                def call(self, x):
                    return self.head(self.pool(self.conv(x)))

            def build():
                return Net()

            class Split(keras.layers.Layer):
                def call(self, x):
                    return x[..., :2], x[..., 2:]

            def build_split():
                inp = keras.Input((8, 8, 3))
                a, b = Split(name="split")(inp)
                return keras.Model(inp, keras.layers.Concatenate(name="concat")([a, b]))

            def not_a_model():
                return 42
            """
        )
    )
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- top level -----------------------------------------------------------------------------------------------


def test_version_and_help(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.startswith("tbactviz ")
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for command in ("layers", "log", "demo", "board"):
        assert command in out
    assert "exit status" in out and "model file not found" in out


def test_no_command_prints_help(capsys):
    code, out, _ = run([], capsys)
    assert code == 0 and "usage: tbactviz" in out


@pytest.mark.parametrize("command", ["layers", "log", "demo", "board"])
def test_every_subcommand_has_help_with_the_exit_codes(command, capsys):
    code, out, _ = run([command, "--help"], capsys)
    assert code == 0 and f"usage: tbactviz {command}" in out
    assert "3  model file not found" in out and "7  bad size" in out


def test_exit_codes_are_distinct_and_documented():
    codes = [c.value for c in ExitCode]
    assert len(codes) == len(set(codes))
    epilog = build_parser().epilog or ""
    for code in ExitCode:
        if code is not ExitCode.OK:
            assert f"{code.value:>3}  " in epilog or f"\n  {code.value}  " in epilog


def test_unknown_command_and_bad_option_are_usage_errors(capsys):
    code, _, err = run(["paint"], capsys)
    assert code == ExitCode.USAGE and "invalid choice" in err
    code, _, err = run(["log", "m.keras", "x.png", "--colormap", "rainbow"], capsys)
    assert code == ExitCode.USAGE and "viridis" in err  # the valid choices are listed


def test_help_does_not_import_tensorflow():
    code = (
        "import sys; from tbactviz.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "main(['log', 'missing.keras', 'x.png'])\n"
        "print('TF', 'tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "TF False" in out.stdout


def test_console_script_runs_and_reports_errors(tmp_path):
    exe = shutil.which("tbactviz", path=os.path.dirname(sys.executable)) or shutil.which("tbactviz")
    cmd = [exe] if exe else [sys.executable, "-m", "tbactviz"]
    start = time.perf_counter()
    out = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("tbactviz ")
    assert time.perf_counter() - start < 10
    out = subprocess.run(
        [*cmd, "log", str(tmp_path / "missing.keras"), "cat.jpg"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == ExitCode.MODEL_NOT_FOUND == 3
    assert "missing.keras" in out.stderr and "does not exist" in out.stderr and out.stdout == ""
    out = subprocess.run(
        [sys.executable, "-m", "tbactviz", "board", "--dry-run", "--logdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and "--samples_per_plugin" in out.stdout


# -- layers --------------------------------------------------------------------------------------------------


def test_layers_table_lists_nested_paths_shapes_and_what_is_drawn(saved_model, capsys):
    code, out, _ = run(["layers", saved_model], capsys)
    assert code == 0, out
    table = out.split("\n\n")[0].splitlines()[2:]  # after the header and the rule, up to the summary
    rows = {line.lstrip("* ").split()[0]: line for line in table}
    assert list(rows)[:5] == ["conv1", "block", "block/inner_conv", "gmp", "dense"]
    assert "Conv2D" in rows["conv1"] and "(None, 16, 16, 8)" in rows["conv1"]
    assert "8/8 ch in 3x3 tiles" in rows["conv1"] and " px" in rows["conv1"]
    assert "Sequential" in rows["block"] and "4/4 ch in 2x2 tiles" in rows["block/inner_conv"]
    assert "Dense" in rows["dense"] and "2 units" in rows["dense"]
    assert "drawable" in out


def test_layers_channel_cap_changes_what_is_drawn(saved_model, capsys):
    code, out, _ = run(["layers", saved_model, "--max-channels", "4", "--match", "conv1"], capsys)
    assert code == 0 and "4/8 ch in 2x2 tiles" in out


def test_layers_match_filters_by_glob_nested_path_and_class(saved_model, capsys):
    code, out, _ = run(["layers", saved_model, "--match", "*conv*", "--json"], capsys)
    assert code == 0
    assert [row["path"] for row in json.loads(out)] == ["conv1", "block/inner_conv"]
    code, out, _ = run(["layers", saved_model, "--match", "Dense", "--match", "block/*", "--json"], capsys)
    assert [row["path"] for row in json.loads(out)] == ["block/inner_conv", "dense"]


def test_layers_json_fields(saved_model, capsys):
    code, out, _ = run(["layers", saved_model, "--json"], capsys)
    rows = {row["path"]: row for row in json.loads(out)}
    assert code == 0
    assert rows["block/inner_conv"]["depth"] == 1 and rows["block/inner_conv"]["output_shape"] == [
        None,
        16,
        16,
        4,
    ]
    assert rows["conv1"]["drawable"] is True and rows["conv1"]["class"] == "Conv2D"
    assert set(rows["conv1"]) >= {"path", "class", "output_shape", "drawable", "drawn", "reason", "default"}


def test_layers_bad_match_exits_6_with_close_matches(saved_model, capsys):
    code, out, err = run(["layers", saved_model, "--match", "conv2"], capsys)
    assert code == ExitCode.BAD_LAYER == 6 and out == ""
    assert "--match='conv2'" in err and "conv1" in err


def test_layers_subclassed_model_through_a_factory_and_input_shape(factory_file, capsys):
    code, out, _ = run(
        ["layers", "-", "--model-factory", f"{factory_file}:build", "--input-shape", "16x16x3"], capsys
    )
    assert code == 0, out
    assert "conv" in out and "(None, 14, 14, 4)" in out
    code, _, err = run(
        ["layers", "-", "--model-factory", f"{factory_file}:build", "--input-shape", "16xx3"], capsys
    )
    assert code == ExitCode.BAD_SIZE and "--input-shape='16xx3'" in err


def test_layers_shows_why_a_layer_cannot_be_drawn(factory_file, capsys):
    code, out, _ = run(["layers", "-", "--model-factory", f"{factory_file}:build_split"], capsys)
    assert code == 0, out
    split = next(line for line in out.splitlines() if line.lstrip("* ").startswith("split"))
    assert "not drawable" in split and "2 outputs" in split
    assert "1 drawable" in out  # concat only


# -- model loading errors (shared by layers and log) ---------------------------------------------------------


@pytest.mark.parametrize("command", ["layers", "log"])
def test_missing_model_exits_3(command, tmp_path, capsys):
    argv = [command, tmp_path / "nope.keras"] + ([tmp_path / "x.npy"] if command == "log" else [])
    code, out, err = run(argv, capsys)
    assert code == ExitCode.MODEL_NOT_FOUND == 3
    assert "MODEL=" in err and "nope.keras" in err and "does not exist" in err and out == ""


def test_unloadable_model_exits_4(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"not a zip file")
    code, _, err = run(["layers", corrupt], capsys)
    assert code == ExitCode.MODEL_UNLOADABLE == 4 and "cannot be loaded" in err
    savedmodel = tmp_path / "exported"
    savedmodel.mkdir()
    (savedmodel / "saved_model.pb").write_bytes(b"")
    code, _, err = run(["layers", savedmodel], capsys)
    assert code == 4 and "SavedModel" in err and "model.keras" in err
    weights = tmp_path / "w.weights.h5"
    weights.write_bytes(b"")
    code, _, err = run(["layers", weights], capsys)
    assert code == 4 and "--model-factory" in err


def test_bad_model_factories(factory_file, tmp_path, capsys):
    code, _, err = run(["layers", "-", "--model-factory", "no_colon"], capsys)
    assert code == ExitCode.USAGE and "MODULE:FUNCTION" in err
    code, _, err = run(["layers", "-", "--model-factory", "surely_not_a_module_xyz:build"], capsys)
    assert code == ExitCode.MODEL_UNLOADABLE and "surely_not_a_module_xyz" in err
    code, _, err = run(["layers", "-", "--model-factory", f"{factory_file}:missing"], capsys)
    assert code == ExitCode.MODEL_UNLOADABLE and "no function 'missing'" in err
    code, _, err = run(["layers", "-", "--model-factory", f"{factory_file}:not_a_model"], capsys)
    assert code == ExitCode.MODEL_UNLOADABLE and "expected a keras.Model" in err
    code, _, err = run(["layers", "-", "--model-factory", f"{tmp_path / 'gone.py'}:build"], capsys)
    assert code == ExitCode.MODEL_NOT_FOUND


# -- log -----------------------------------------------------------------------------------------------------


def test_log_images_and_arrays_writes_events_and_prints_the_board_command(
    saved_model, pngs, tmp_path, capsys
):
    npy = tmp_path / "batch.npy"
    np.save(npy, np.random.default_rng(1).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32))
    logdir = tmp_path / "logs" / "posthoc"
    argv = ["log", saved_model, *pngs, npy, "--layers", "conv1,block/inner_conv", "--layers", "dense"]
    code, out, _ = run([*argv, "--logdir", logdir, "--step", "7", "-q", "--preprocess", "unit"], capsys)
    assert code == 0, out
    assert f"tbactviz board --logdir {logdir}" in out and "--samples_per_plugin" in out
    assert "Logged 3 layers" in out and "of 4 input(s) at step 7" in out
    root = tmp_path / "logs"
    assert run_tags(root) == {
        ("posthoc", t) for p in ("conv1", "block/inner_conv", "dense") for t in _tags(p)
    }
    records = read_events(root)
    assert {r.step for r in records} == {7}
    image = next(r for r in records if r.tag == "activations/conv1")
    (width, height), pictures = image.value
    assert len(pictures) == 3 and pictures[0].size == (width, height)  # max_images=3 of 4 inputs


def test_log_default_layers_and_no_progress_bar_in_captured_stderr(saved_model, pngs, tmp_path, capsys):
    code, out, err = run(
        ["log", saved_model, *pngs, "--logdir", tmp_path / "run", "--max-images", "1"], capsys
    )
    assert code == 0
    assert "\r" not in err and "it/s" not in err and "sample/s" not in err  # bars only on a terminal
    assert "conv1" in out and "block/inner_conv" in out


def test_log_free_size_model_needs_size_for_images_of_different_sizes(fcn_model, pngs, tmp_path, capsys):
    code, _, err = run(["log", fcn_model, *pngs, "--logdir", tmp_path / "a", "-q"], capsys)
    assert code == ExitCode.BAD_SIZE and "--size" in err and "different sizes" in err
    code, out, _ = run(["log", fcn_model, *pngs, "--logdir", tmp_path / "b", "--size", "24x20", "-q"], capsys)
    assert code == 0 and "(2, 22, 18, 4)" in out


def test_log_preprocess_by_keras_applications_name(saved_model, pngs, tmp_path, capsys):
    """The names are keras.applications' own, as the installed Keras has them: none listed that it lacks."""
    import inspect

    from tbactviz.cli.inputs import keras_preprocess_names

    assert PREPROCESS_NAMES == ("none", "unit", "symmetric")
    names = keras_preprocess_names()
    assert "resnet_v2" in names and "imagenet_utils" not in names
    for name in names:
        assert inspect.ismodule(getattr(keras.applications, name))
    code, _, _ = run(
        ["log", saved_model, pngs[1], "--preprocess", "resnet_v2", "--logdir", tmp_path, "-q"], capsys
    )
    assert code == 0
    code, _, err = run(
        ["log", saved_model, pngs[1], "--preprocess", "resnet_v9", "--logdir", tmp_path], capsys
    )
    assert code == ExitCode.USAGE and "--preprocess='resnet_v9'" in err and "resnet_v2" in err


def test_log_subclassed_model_through_a_factory_with_and_without_weights(factory_file, tmp_path, capsys):
    x = np.random.default_rng(0).random((2, 16, 16, 3)).astype(np.float32)
    npy = tmp_path / "x.npy"
    np.save(npy, x)
    factory = f"{factory_file}:build"
    code, out, _ = run(
        ["log", "-", npy, "--model-factory", factory, "--layers", "conv", "--logdir", tmp_path / "a", "-q"],
        capsys,
    )
    assert code == 0, out
    assert run_tags(tmp_path / "a") == {(".", t) for t in _tags("conv")}
    # weights saved from the same architecture load into the factory's model
    sys.path.insert(0, str(factory_file.parent))
    try:
        import my_models  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(factory_file.parent))
    model = my_models.build()
    model(x)
    weights = tmp_path / "net.weights.h5"
    model.save_weights(weights)
    code, out, _ = run(
        ["log", weights, npy, "--model-factory", factory, "--logdir", tmp_path / "b", "-q"], capsys
    )
    assert code == 0, out
    code, _, err = run(["log", tmp_path / "none.weights.h5", npy, "--model-factory", factory], capsys)
    assert code == ExitCode.MODEL_NOT_FOUND and "none.weights.h5" in err


def test_log_missing_input_exits_5_before_loading_the_model(saved_model, tmp_path, capsys):
    code, out, err = run(["log", saved_model, tmp_path / "nope.png", "--logdir", tmp_path], capsys)
    assert code == ExitCode.BAD_INPUT == 5 and "nope.png" in err and "does not exist" in err and out == ""


def test_log_unreadable_image_exits_5(saved_model, tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    code, _, err = run(["log", saved_model, bad, "--logdir", tmp_path / "logs"], capsys)
    assert code == ExitCode.BAD_INPUT and "broken.jpg" in err and "not a readable image" in err
    assert not (tmp_path / "logs").exists()  # nothing written


def test_log_corrupt_png_fails_by_name_before_keras_or_tensorflow_is_imported(tmp_path):
    """Every input is read and decoded before the model loads: a broken file fails at once."""
    good = tmp_path / "good.png"
    Image.new("RGB", (32, 32), (200, 40, 40)).save(good)
    bad = tmp_path / "cut.png"
    bad.write_bytes(good.read_bytes()[:-40])  # a PNG cut inside its image data
    model = tmp_path / "m.keras"
    model.write_bytes(b"never loaded")
    argv = ["log", str(model), str(good), str(bad), "--logdir", str(tmp_path / "logs")]
    code = (
        "import sys; from tbactviz.cli import main\n"
        f"rc = main({argv!r})\n"
        "print('rc', rc, 'frameworks', sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert f"rc {int(ExitCode.BAD_INPUT)} frameworks []" in out.stdout, out.stdout + out.stderr
    assert "cut.png" in out.stderr and "not a readable image" in out.stderr
    assert not (tmp_path / "logs").exists()


_ABSL = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog|[IWE]\d{4} [\d:.]+ +\d+ \S+:\d+\])", re.M
)


@pytest.mark.slow
def test_tensorflow_start_up_lines_stay_quiet_unless_verbose(saved_model):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    plain = subprocess.run(
        [sys.executable, "-c", "import keras, tensorflow as tf; tf.config.list_physical_devices()"],
        capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip
    noise = _ABSL.findall(plain.stderr)
    if not noise:
        pytest.skip("TensorFlow prints no start-up lines on this machine")
    cmd = [sys.executable, "-m", "tbactviz"]
    quiet = subprocess.run(
        [*cmd, "layers", str(saved_model)], capture_output=True, text=True, timeout=180, env=env
    )
    assert quiet.returncode == 0 and "conv" in quiet.stdout
    assert not _ABSL.findall(quiet.stderr) and "cuInit" not in quiet.stderr, quiet.stderr
    loud = subprocess.run(
        [*cmd, "--verbose", "layers", str(saved_model)], capture_output=True, text=True, timeout=180, env=env
    )
    assert loud.returncode == 0 and _ABSL.findall(loud.stderr), loud.stderr  # let through with --verbose
    assert ("cuInit" in plain.stderr) == ("cuInit" in loud.stderr)


def test_log_bad_layer_exits_6_with_close_matches(saved_model, pngs, tmp_path, capsys):
    code, _, err = run(
        ["log", saved_model, pngs[1], "--layers", "conv_1", "--logdir", tmp_path / "l"], capsys
    )
    assert code == ExitCode.BAD_LAYER == 6
    assert "'conv_1'" in err and "conv1" in err and "tbactviz layers" in err
    assert not (tmp_path / "l").exists() or not os.listdir(tmp_path / "l")


@pytest.mark.parametrize(
    ("size", "message"), [("big", "expected HxW"), ("0x3", "expected HxW"), ("32x32", "whose input is 16x16")]
)
def test_log_bad_size_exits_7(saved_model, pngs, tmp_path, size, message, capsys):
    code, _, err = run(["log", saved_model, pngs[0], "--size", size, "--logdir", tmp_path], capsys)
    assert code == ExitCode.BAD_SIZE == 7
    assert f"--size={size!r}" in err and message in err


def test_log_inputs_that_do_not_fit_exit_8(saved_model, tmp_path, capsys):
    npy = tmp_path / "wrong.npy"
    np.save(npy, np.zeros((2, 8, 8, 3), np.float32))
    code, _, err = run(["log", saved_model, npy, "--logdir", tmp_path], capsys)
    assert code == ExitCode.INPUT_MISMATCH == 8
    assert "wrong.npy" in err and "(2, 8, 8, 3)" in err and "(16, 16, 3)" in err


def test_log_single_sample_npy_gets_a_batch_axis(saved_model, tmp_path, capsys):
    npy = tmp_path / "one.npy"
    np.save(npy, np.zeros((16, 16, 3), np.float32))
    code, out, _ = run(
        ["log", saved_model, npy, "--layers", "conv1", "--logdir", tmp_path / "r", "-q"], capsys
    )
    assert code == 0 and "(1, 16, 16, 8)" in out


def test_log_logdir_that_is_a_file_exits_9(saved_model, pngs, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run(["log", saved_model, pngs[1], "--logdir", blocker], capsys)
    assert code == ExitCode.BAD_LOGDIR == 9 and str(blocker) in err


# -- board ---------------------------------------------------------------------------------------------------


def test_board_dry_run_prints_the_tensorboard_command(tmp_path, capsys):
    code, out, _ = run(["board", "--logdir", tmp_path, "--port", "6123", "--dry-run"], capsys)
    assert code == 0
    assert "tensorboard.main" in out and f"--logdir {tmp_path}" in out and "--port 6123" in out
    assert "--host 127.0.0.1" in out
    assert "images=100000" in out and "histograms=100000" in out


def test_board_errors(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run(["board", "--logdir", blocker, "--dry-run"], capsys)
    assert code == ExitCode.BAD_LOGDIR and "is a file" in err
    code, _, err = run(["board", "--port", "70000", "--dry-run"], capsys)
    assert code == ExitCode.USAGE and "--port=70000" in err
    code, _, err = run(["board", "--samples", "0", "--dry-run"], capsys)
    assert code == ExitCode.USAGE and "--samples=0" in err


def test_board_warns_about_a_missing_logdir(tmp_path, capsys, caplog):
    code, _, _ = run(["board", "--logdir", tmp_path / "later", "--dry-run"], capsys)
    assert code == 0
    assert any("does not exist yet" in r.getMessage() for r in caplog.records)


def test_layers_predicts_the_grid_size_the_logger_writes_under_a_byte_budget(capsys, tmp_path):
    """Without --max-side the DRAWN column uses the logger's own budget rule: the same pixels as written
    (a budget tight enough to shrink the 519-px grid of 64 channels of 64x64)."""
    inp = keras.Input((64, 64, 3))
    model = keras.Model(inp, keras.layers.Conv2D(64, 3, padding="same", name="conv")(inp))
    model.save(tmp_path / "wide.keras")
    images = []
    for i in range(3):  # max_images (3) samples drawn, as the layers command assumes
        images.append(tmp_path / f"img{i}.png")
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (64, 64, 3), np.uint8)).save(images[-1])
    budget = ["--max-bytes-per-step", "29000"]
    code, out, _ = run(["layers", tmp_path / "wide.keras", "--json", "--match", "conv", *budget], capsys)
    assert code == 0
    drawn = {row["path"]: row["drawn"] for row in json.loads(out)}["conv"]
    logdir = tmp_path / "posthoc"
    argv = ["log", tmp_path / "wide.keras", *images, "--layers", "conv", "--logdir", logdir, "-q", *budget]
    code, _, _ = run(argv, capsys)
    assert code == 0
    sizes = [r.value[0] for r in read_events(logdir) if r.tag == "activations/conv"]
    assert len(sizes) == 1
    width, height = sizes[0]
    assert drawn.endswith(f"{height}x{width} px"), (drawn, sizes)
