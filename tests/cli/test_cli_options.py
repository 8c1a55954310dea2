"""The logger's flags of ``tbactviz log`` are generated from ``tbactviz.options.LOGGER_OPTIONS``.

Every table entry with ``cli=True`` has its flag, with the table's default, and a value given on the command
line reaches :class:`tbactviz.ActivationLogger` unchanged; the chunked probe serves the command line.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

import tbactviz.probe.extractor
import tbactviz.snapshot.logger
from tbactviz.cli import ExitCode, build_parser, main
from tbactviz.cli.parser import LAYOUT_OPTIONS, cli_options, logger_options
from tbactviz.options import LOGGER_OPTIONS, STAT_NAMES, Option


def _subparser(name: str):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")  # argparse keeps them there
    return sub.choices[name]


def _flags(name: str) -> dict[str, object]:
    return {s: a for a in _subparser(name)._actions for s in a.option_strings}


def _non_default(option: Option) -> tuple[list[str], object]:
    """Command-line words that set ``option`` to something other than its default, and the value expected."""
    if option.kind == "bool":
        return [option.flag], not option.default
    if option.kind == "choice":
        value = next(c for c in option.choices if c != option.default)
        return [option.flag, value], value
    if option.kind == "stats":
        return [option.flag, "sparsity,mean", option.flag, "max_abs"], ("sparsity", "mean", "max_abs")
    if option.kind == "range":
        return [option.flag, "-1", "2.5"], (-1.0, 2.5)
    if option.kind == "float":
        return [option.flag, "0.25"], 0.25
    base = option.default if option.default is not None else int(option.minimum or 1)
    value = base + 1 if option.maximum is None or base + 1 <= option.maximum else base - 1
    return [option.flag, str(value)], value


def test_every_cli_option_has_its_flag_with_the_table_default():
    flags = _flags("log")
    args = build_parser().parse_args(["log", "m.keras", "x.png"])
    parsed = logger_options(args)
    for option in LOGGER_OPTIONS:
        if not option.cli:
            assert option.flag not in flags, option.name
            continue
        assert option.flag in flags, option.name
        expected = STAT_NAMES if option.kind == "stats" else option.default
        assert parsed[option.name] == expected, option.name
        if option.kind == "choice":
            assert tuple(flags[option.flag].choices) == option.choices  # the library's own constants
    assert "--no-stats" in flags and "--no-images" in flags and "--no-histograms" in flags


def test_layers_command_has_the_layout_flags():
    flags = _flags("layers")
    for option in cli_options(LAYOUT_OPTIONS):
        assert option.flag in flags
    assert set(LAYOUT_OPTIONS) == {"max_channels", "columns", "max_side", "min_side", "max_bytes_per_step"}


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["--max-images", "0"], "--max-images='0' is not valid; expected an int >= 1"),
        (["--levels", "999"], "--levels='999' is not valid; expected an int in 2..254"),
        (["--eps", "abc"], "--eps='abc' is not valid; expected a number"),
        (["--stats", "sparsity,bogus"], "--stats='sparsity,bogus' is not valid"),
        (["--colormap", "rainbow"], "viridis"),
        (["--stats", "mean", "--no-stats"], "not allowed with argument"),
    ],
)
def test_bad_flag_values_are_usage_errors_naming_the_flag(words, message, capsys):
    code = main(["log", "m.keras", "x.png", *words])
    assert code == ExitCode.USAGE
    assert message in capsys.readouterr().err


def test_value_range_needs_normalize_fixed(tmp_path, capsys):
    code = main(["log", str(tmp_path / "m.keras"), "x.png", "--value-range", "0", "1"])
    assert code == ExitCode.USAGE
    assert "--value-range=" in capsys.readouterr().err


@pytest.fixture(scope="module")
def model_and_probe(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    keras.utils.set_random_seed(0)
    inp = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv1")(inp)
    out = keras.layers.Dense(2, name="head")(keras.layers.GlobalAveragePooling2D(name="gap")(x))
    root = tmp_path_factory.mktemp("opts")
    keras.Model(inp, out).save(root / "m.keras")
    np.save(root / "x.npy", np.random.default_rng(0).random((8, 12, 12, 3)).astype(np.float32))
    return root / "m.keras", root / "x.npy"


def test_every_flag_value_reaches_the_logger(model_and_probe, tmp_path, monkeypatch, capsys):
    model, probe = model_and_probe
    seen: dict[str, object] = {}
    original = tbactviz.snapshot.logger.ActivationLogger.__init__

    def spy(self, logdir, model, layers=None, **kwargs):
        seen.update(kwargs)
        original(self, logdir, model, layers, **kwargs)

    monkeypatch.setattr(tbactviz.snapshot.logger.ActivationLogger, "__init__", spy)
    words: list[str] = []
    expected: dict[str, object] = {}
    for option in cli_options():
        if option.kind == "stats":
            continue  # --stats and --no-stats exclude each other: checked below
        w, value = _non_default(option)
        words += w
        expected[option.name] = value
    words += ["--normalize", "fixed"]
    expected["normalize"] = "fixed"
    code = main(
        ["log", str(model), str(probe), "--layers", "conv1", "--logdir", str(tmp_path / "a"), "-q", *words]
    )
    assert code == 0, capsys.readouterr().err
    for name, value in expected.items():
        assert seen[name] == value, name
    for words, value in (
        [["--stats", "sparsity,mean", "--stats", "max_abs"], ("sparsity", "mean", "max_abs")],
        [["--no-stats"], ()],
    ):
        seen.clear()
        code = main(["log", str(model), str(probe), "--logdir", str(tmp_path / "b"), "-q", *words])
        assert code == 0
        assert seen["stats"] == value


def test_log_runs_the_probe_in_chunks_of_batch_size(model_and_probe, tmp_path, monkeypatch, capsys):
    model, probe = model_and_probe
    sizes: list[int] = []
    original = tbactviz.probe.extractor.ActivationExtractor._run

    def spy(self, chunk, *args):
        sizes.append(int(chunk.shape[0]))
        return original(self, chunk, *args)

    monkeypatch.setattr(tbactviz.probe.extractor.ActivationExtractor, "_run", spy)
    argv = ["log", str(model), str(probe), "--batch-size", "2", "--logdir", str(tmp_path / "c"), "-q"]
    assert main(argv) == 0
    assert sizes == [2] * 8  # a pass for the histograms' edges, then the reductions
    out = capsys.readouterr().out
    assert "of 8 input(s)" in out and "(8, 10, 10, 4)" in out and "as one event" in out


def test_docs_cli_lists_every_flag_and_exit_status():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    for option in cli_options():
        assert f"`{option.flag}" in doc, option.flag
    assert "`--no-stats`" in doc
    for code in ExitCode:
        assert f"\n| {code.value} | " in doc, code
