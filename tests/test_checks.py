"""Argument checks: one module (:mod:`tbactviz.checks`), one rule everywhere.

A wrong type raises :class:`TypeError`, a wrong value :class:`ValueError`, and the message names the argument,
the value received and what is valid. The table below runs every public entry point (the logger, the callback,
the numpy functions, the layer listing, the extraction, the file loaders) and the command line's flags with a
wrong type and a wrong value of each of its arguments, and asserts the exception type and the message.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from _events import read_events

from tbactviz import checks, stats
from tbactviz.cli import ExitCode, main
from tbactviz.grids import tiling
from tbactviz.layers.listing import list_layers
from tbactviz.layers.selection import resolve_layers
from tbactviz.probe.extractor import ActivationExtractor, extract_activations
from tbactviz.snapshot.logger import ActivationLogger
from tbactviz.stats.fold import dormant_fraction
from tbactviz.tools.data import load_image, load_images, make_shapes, parse_size
from tbactviz.training.callback import ActivationCallback

X = np.random.default_rng(0).random((4, 12, 12, 3), dtype=np.float32)


def cnn() -> keras.Model:
    keras.utils.set_random_seed(0)
    inp = keras.Input((12, 12, 3), name="img")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv1")(inp)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(inp, keras.layers.Dense(2, name="head")(x), name="cnn")
    model.compile("sgd", "mse")
    return model


MODEL = cnn()


# -- the checks themselves ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, True), (np.int64(3), True), (np.uint8(3), True), (np.array(3), True), (True, False),
     (np.bool_(True), False), (3.0, False), (np.float32(3), False), ("3", False), (None, False)],
)  # fmt: skip
def test_bool_is_not_an_int_and_numpy_ints_are(value: Any, expected: bool) -> None:
    assert checks.is_int(value) is expected


def test_check_int_type_then_value() -> None:
    assert (
        checks.check_int("n", np.int32(5), minimum=1) == 5 and type(checks.check_int("n", np.int32(5))) is int
    )
    with pytest.raises(TypeError, match=r"^n=True is not valid; expected an int >= 1, got bool$"):
        checks.check_int("n", True, minimum=1)
    with pytest.raises(TypeError, match=r"^n=2.5 is not valid; expected an int in 1..3, got float$"):
        checks.check_int("n", 2.5, minimum=1, maximum=3)
    with pytest.raises(ValueError, match=r"^n=4 is not valid; expected an int in 1..3$"):
        checks.check_int("n", 4, minimum=1, maximum=3)
    assert checks.check_optional_int("n", None, minimum=1) is None
    with pytest.raises(ValueError, match=r"^n=0 is not valid; expected an int >= 1 or None \(auto\)$"):
        checks.check_optional_int("n", 0, minimum=1, meaning="auto")


def test_check_number_refuses_nan_and_bools() -> None:
    assert checks.check_number("eps", np.float32(0.5), minimum=0.0) == 0.5
    assert checks.check_number("eps", 2, minimum=0.0) == 2.0
    with pytest.raises(ValueError, match=r"^eps=nan is not valid; expected a number >= 0$"):
        checks.check_number("eps", float("nan"), minimum=0.0)
    with pytest.raises(TypeError, match=r"^eps=False is not valid; expected a number >= 0, got bool$"):
        checks.check_number("eps", False, minimum=0.0)
    with pytest.raises(ValueError, match="expected a finite number"):
        checks.check_number("x", float("inf"), finite=True)


def test_check_bool_choice_range_ints() -> None:
    assert checks.check_bool("b", np.bool_(False)) is False
    with pytest.raises(TypeError, match=r"^b=1 is not valid; expected True or False, got int$"):
        checks.check_bool("b", 1)
    with pytest.raises(TypeError, match=r"^c=1 is not valid; expected one of 'x', 'y', got int$"):
        checks.check_choice("c", 1, ("x", "y"))
    with pytest.raises(ValueError, match=r"^c='z' is not valid; expected one of 'x', 'y'$"):
        checks.check_choice("c", "z", ("x", "y"))
    assert checks.check_range("r", (np.int64(0), 1.5)) == (0.0, 1.5)
    with pytest.raises(TypeError, match=r"r=\(0, None\) is not valid; expected a pair"):
        checks.check_range("r", (0, None))
    with pytest.raises(ValueError, match=r"r=\(1, 1\) is not valid; expected a pair .* high > low"):
        checks.check_range("r", (1, 1))
    assert checks.check_ints("s", (3, np.int8(1)), minimum=0) == (3, 1)
    with pytest.raises(TypeError, match=r"s='12' is not valid; expected an iterable of ints >= 0, got str"):
        checks.check_ints("s", "12", minimum=0)


# -- every public entry point -------------------------------------------------------------------------------


def _logger(**kw: Any) -> Any:
    return ActivationLogger(tempfile.mkdtemp(), MODEL, "conv1", **kw)


def _callback(**kw: Any) -> Any:
    return ActivationCallback(tempfile.mkdtemp(), X[:2], "conv1", **kw)


def _tile(**kw: Any) -> Any:
    return tiling.tile_activations(np.zeros((1, 3, 3, 2), np.float32), **kw)


T, V = TypeError, ValueError
_COLORMAPS = r"one of 'gray', 'viridis', 'magma', 'inferno', 'plasma'"
#: The logger's options, passed on by the callback: (name, bad value, exception, message).
_OPTIONS: list[tuple[str, Any, type[Exception], str]] = [
    ("max_images", True, T, r"max_images=True is not valid; expected an int >= 1, got bool"),
    ("max_images", 2.0, T, r"max_images=2.0 is not valid; expected an int >= 1, got float"),
    ("max_images", "3", T, r"max_images='3' is not valid; expected an int >= 1, got str"),
    ("max_images", 0, V, r"max_images=0 is not valid; expected an int >= 1$"),
    ("max_channels", 0, V, r"max_channels=0 is not valid; expected an int >= 1$"),
    ("max_channels", None, T, r"max_channels=None is not valid; expected an int >= 1, got NoneType"),
    ("normalize", "zscore", V, r"normalize='zscore' is not valid; expected one of 'standardize', 'minmax', "),
    ("normalize", 1, T, r"normalize=1 is not valid; expected one of 'standardize'.*, got int"),
    ("colormap", "jet", V, rf"colormap='jet' is not valid; expected {_COLORMAPS}$"),
    ("colormap", None, T, rf"colormap=None is not valid; expected {_COLORMAPS}, got NoneType"),
    ("order", "random", V, r"order='random' is not valid; expected one of 'index', 'activity'$"),
    ("columns", 0, V, r"columns=0 is not valid; expected an int >= 1 or None$"),
    ("columns", 1.5, T, r"columns=1.5 is not valid; expected an int >= 1 or None, got float"),
    ("images", "no", T, r"images='no' is not valid; expected True or False, got str"),
    ("histograms", None, T, r"histograms=None is not valid; expected True or False, got NoneType"),
    ("stats", 3, T, r"stats=3 is not valid; expected True \(all\), False \(none\) or stat names"),
    (
        "stats",
        ["sparsity", "bogus"],
        V,
        r"stats=\['sparsity', 'bogus'\] is not valid: unknown names \['bogus'\]",
    ),
    ("batch_size", 0, V, r"batch_size=0 is not valid; expected an int >= 1 or None$"),
    ("batch_size", 8.0, T, r"batch_size=8.0 is not valid; expected an int >= 1 or None, got float"),
    ("eps", -1.0, V, r"eps=-1.0 is not valid; expected a number >= 0$"),
    ("eps", float("nan"), V, r"eps=nan is not valid; expected a number >= 0$"),
    ("eps", "0", T, r"eps='0' is not valid; expected a number >= 0, got str"),
    ("dormant_tau", True, T, r"dormant_tau=True is not valid; expected a number >= 0, got bool"),
    ("max_side", 0, V, r"max_side=0 is not valid; expected an int >= 1 or None$"),
    ("min_side", -1, V, r"min_side=-1 is not valid; expected an int >= 0$"),
    ("max_bytes_per_step", 0, V, r"max_bytes_per_step=0 is not valid; expected an int >= 1$"),
    ("levels", 1, V, r"levels=1 is not valid; expected an int in 2..254$"),
    ("levels", 64.0, T, r"levels=64.0 is not valid; expected an int in 2..254, got float"),
    ("compress_level", 10, V, r"compress_level=10 is not valid; expected an int in 0..3$"),
    ("compress_level", -1, V, r"compress_level=-1 is not valid; expected an int in 0..3$"),
    ("value_range", (0.0, 1.0), V, r"value_range=\(0.0, 1.0\) is only used with normalize='fixed'"),
]

_CASES: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    *[(f"ActivationLogger-{n}={v!r}", lambda n=n, v=v: _logger(**{n: v}), e, m) for n, v, e, m in _OPTIONS],
    *[
        (f"ActivationCallback-{n}={v!r}", lambda n=n, v=v: _callback(**{n: v}), e, m)
        for n, v, e, m in _OPTIONS
    ],
    (
        "ActivationLogger-value_range-order",
        lambda: _logger(normalize="fixed", value_range=(1, 0)),
        V,
        r"value_range=\(1, 0\) is not valid; expected a pair \(low, high\) of finite numbers with high > low",
    ),
    (
        "ActivationLogger-value_range-str",
        lambda: _logger(normalize="fixed", value_range="ab"),
        T,
        r"value_range='ab' is not valid; expected a pair .*, got str",
    ),
    (
        "ActivationLogger-on_error",
        lambda: _logger(on_error="ignore"),
        V,
        r"on_error='ignore' is not valid; expected one of 'raise', 'warn'$",
    ),
    (
        "ActivationLogger-on_error-None",
        lambda: _logger(on_error=None),
        T,
        r"on_error=None is not valid; expected one of 'raise', 'warn', got NoneType",
    ),
    (
        "ActivationLogger-model",
        lambda: ActivationLogger("x", "model.keras"),
        T,
        r"model='model.keras' is not valid; expected a keras.Model .*, got str",
    ),
    (
        "ActivationLogger-layers",
        lambda: ActivationLogger("x", MODEL, 3),
        T,
        r"layers must be None.*received int: 3",
    ),
    ("ActivationLogger-logdir", lambda: ActivationLogger(5, MODEL), T, r"logdir.*5"),
    ("ActivationLogger-unknown", lambda: _logger(max_image=3), T, r"max_image"),
    (
        "ActivationCallback-value_range-dict",
        lambda: _callback(normalize="fixed", value_range={"conv1": (0, "x")}),
        T,
        r"value_range\['conv1'\]=\(0, 'x'\) is not valid; expected a pair",
    ),
    (
        "ActivationCallback-every_n_epochs-str",
        lambda: _callback(every_n_epochs="1"),
        T,
        r"every_n_epochs='1' is not valid; expected an int >= 0 \(0 turns epoch logging off\), got str",
    ),
    (
        "ActivationCallback-every_n_epochs-bool",
        lambda: _callback(every_n_epochs=True),
        T,
        r"every_n_epochs=True",
    ),
    (
        "ActivationCallback-every_n_batches",
        lambda: _callback(every_n_batches=-1),
        V,
        r"every_n_batches=-1 is not valid; expected an int >= 0 \(0 turns batch logging off\)$",
    ),
    (
        "ActivationCallback-steps",
        lambda: _callback(steps=[1, -2]),
        V,
        r"steps=\[1, -2\] is not valid: -2 is below 0",
    ),
    (
        "ActivationCallback-steps-int",
        lambda: _callback(steps=5),
        T,
        r"steps=5 is not valid; expected None \(off\) or an iterable of ints >= 0.*, got int",
    ),
    (
        "ActivationCallback-steps-float",
        lambda: _callback(steps=[1.0]),
        T,
        r"steps=\[1.0\] is not valid: 1.0 is not",
    ),
    (
        "ActivationCallback-log_at_start",
        lambda: _callback(log_at_start="yes"),
        T,
        r"log_at_start='yes' is not valid; expected True or False, got str",
    ),
    (
        "ActivationCallback-step_unit",
        lambda: _callback(step_unit="epochs"),
        V,
        r"step_unit='epochs' is not valid; expected 'epoch', 'batch' or None",
    ),
    (
        "ActivationCallback-step_unit-int",
        lambda: _callback(step_unit=1),
        T,
        r"step_unit=1 is not valid.*, got int",
    ),
    (
        "ActivationCallback-async_write",
        lambda: _callback(async_write="yes"),
        T,
        r"async_write='yes' is not valid; expected True or False, got str",
    ),
    (
        "ActivationCallback-max_queue",
        lambda: _callback(max_queue=0),
        V,
        r"max_queue=0 is not valid; expected an int >= 1$",
    ),
    (
        "ActivationCallback-probe_samples",
        lambda: _callback(probe_samples=2.5),
        T,
        r"probe_samples=2.5 is not valid; expected an int >= 1, got float",
    ),
    (
        "ActivationCallback-on_error",
        lambda: _callback(on_error=None),
        T,
        r"on_error=None is not valid; expected one of 'raise', 'warn', got NoneType",
    ),
    (
        "ActivationCallback-unknown",
        lambda: _callback(max_image=3),
        T,
        r"unknown keyword argument\(s\) \['max_image'\]",
    ),
    (
        "tile_activations-max_images",
        lambda: _tile(max_images=True),
        T,
        r"max_images=True is not valid; expected an int >= 1, got bool",
    ),
    (
        "tile_activations-padding",
        lambda: _tile(padding=-1),
        V,
        r"padding=-1 is not valid; expected an int >= 0$",
    ),
    (
        "tile_activations-columns",
        lambda: _tile(columns=0),
        V,
        r"columns=0 is not valid; expected an int >= 1 or None",
    ),
    ("tile_activations-max_side", lambda: _tile(max_side="9"), T, r"max_side='9' is not valid; .*, got str"),
    (
        "tile_activations-colormap",
        lambda: _tile(colormap="jet"),
        V,
        rf"colormap='jet' is not valid; expected {_COLORMAPS}",
    ),
    ("tile_activations-order", lambda: _tile(order=0), T, r"order=0 is not valid; expected one of 'index'"),
    (
        "tile_activations-value_range",
        lambda: _tile(normalize="fixed", value_range=(0, np.inf)),
        V,
        r"value_range=\(0, inf\) is not valid; expected a pair",
    ),
    (
        "tile_activations-value_range-None",
        lambda: _tile(normalize="fixed"),
        V,
        r"value_range=None: normalize='fixed' needs",
    ),
    ("tile_activations-activations", lambda: tiling.tile_activations("abc"), T, r"activations has dtype <U3"),
    (
        "TileResult.indexed-levels",
        lambda: _tile().indexed(levels=255),
        V,
        r"levels=255 is not valid; expected an int in 2..254",
    ),
    (
        "layer_stats-eps",
        lambda: stats.layer_stats(np.zeros(3), eps=-1),
        V,
        r"eps=-1 is not valid; expected a number >= 0$",
    ),
    (
        "layer_stats-eps-str",
        lambda: stats.layer_stats(np.zeros(3), eps="x"),
        T,
        r"eps='x' is not valid; expected a number >= 0, got str",
    ),
    ("layer_stats-eps-None", lambda: stats.layer_stats(np.zeros(3), eps=None), T, r"eps=None is not valid"),
    (
        "layer_stats-dormant_tau",
        lambda: stats.layer_stats(np.zeros(3), dormant_tau=True),
        T,
        r"dormant_tau=True is not valid; expected a number >= 0, got bool",
    ),
    (
        "layer_stats-activations",
        lambda: stats.layer_stats(np.float32(1)),
        V,
        r"activations must have rank >= 1",
    ),
    (
        "histogram_buckets-bucket_count",
        lambda: stats.histogram_buckets(np.zeros(3), bucket_count=-1),
        V,
        r"bucket_count=-1 is not valid; expected an int >= 0$",
    ),
    (
        "histogram_buckets-bucket_count-float",
        lambda: stats.histogram_buckets(np.zeros(3), bucket_count=2.5),
        T,
        r"bucket_count=2.5 is not valid; expected an int >= 0, got float",
    ),
    (
        "histogram_buckets-bucket_count-bool",
        lambda: stats.histogram_buckets(np.zeros(3), bucket_count=True),
        T,
        r"bucket_count=True",
    ),
    (
        "histogram_buckets-activations",
        lambda: stats.histogram_buckets(np.array(["a"])),
        T,
        r"real numeric dtype",
    ),
    (
        "dormant_fraction-tau",
        lambda: dormant_fraction(np.ones(2), np.ones(2), tau=-0.1),
        V,
        r"tau=-0.1 is not valid; expected a number >= 0$",
    ),
    (
        "dormant_fraction-tau-str",
        lambda: dormant_fraction(np.ones(2), np.ones(2), tau="0.1"),
        T,
        r"tau='0.1' is not valid; expected a number >= 0, got str",
    ),
    (
        "list_layers-model",
        lambda: list_layers("model.keras"),
        T,
        r"model='model.keras' is not valid; expected a keras.Model",
    ),
    (
        "list_layers-include_nested",
        lambda: list_layers(MODEL, include_nested="no"),
        T,
        r"include_nested='no' is not valid; expected True or False, got str",
    ),
    (
        "resolve_layers-max_layers",
        lambda: resolve_layers(MODEL, None, max_layers="3"),
        T,
        r"max_layers='3' is not valid; expected an int >= 1, got str",
    ),
    (
        "resolve_layers-max_layers-0",
        lambda: resolve_layers(MODEL, None, max_layers=0),
        V,
        r"max_layers=0 is not valid; expected an int >= 1$",
    ),
    ("resolve_layers-layers-empty", lambda: resolve_layers(MODEL, []), V, r"layers=\[\] selects no layer"),
    (
        "extract_activations-batch_size",
        lambda: extract_activations(MODEL, X[:1], "conv1", batch_size="2"),
        T,
        r"batch_size='2' is not valid; expected an int >= 1 or None \(automatic chunks\), got str",
    ),
    (
        "extract_activations-batch_size-0",
        lambda: extract_activations(MODEL, X[:1], "conv1", batch_size=0),
        V,
        r"batch_size=0 is not valid; expected an int >= 1 or None",
    ),
    (
        "extract_activations-model",
        lambda: extract_activations("m", X[:1]),
        T,
        r"model='m' is not valid; expected a keras.Model",
    ),
    (
        "extract_activations-layers",
        lambda: extract_activations(MODEL, X[:1], ["conv1", 2]),
        T,
        r"received int: 2",
    ),
    (
        "extract_activations-layers-empty-name",
        lambda: extract_activations(MODEL, X[:1], ""),
        V,
        r"layers='' is an empty",
    ),
    (
        "ActivationExtractor-input_shape",
        lambda: ActivationExtractor(MODEL, "conv1", input_shape="abc"),
        T,
        r"input_shape='abc' is not valid; expected a shape with the batch dimension first",
    ),
    (
        "ActivationExtractor-input_shape-rank",
        lambda: ActivationExtractor(MODEL, "conv1", input_shape=(3,)),
        V,
        r"input_shape=\(3,\) is not valid; expected a shape with the batch dimension first",
    ),
    ("load_images-paths", lambda: load_images(3), T, r"paths=3 is not valid; expected an image file"),
    (
        "load_images-empty",
        lambda: load_images([]),
        V,
        r"paths=\[\] is not valid; expected at least one image file",
    ),
    (
        "load_image-channels",
        lambda: load_image("x.png", channels=2),
        V,
        r"channels=2 is not valid; expected 1 \(grey\) or 3",
    ),
    (
        "load_image-channels-str",
        lambda: load_image("x.png", channels="3"),
        T,
        r"channels='3' is not valid; .*, got str",
    ),
    ("parse_size-bool", lambda: parse_size(True), T, r"size=True is not valid; expected a size: 'HxW'"),
    ("parse_size-text", lambda: parse_size("abc"), V, r"size='abc' is not a size; expected HxW"),
    ("make_shapes-n", lambda: make_shapes(2.5), T, r"n=2.5 is not valid; expected an int >= 1, got float"),
    ("make_shapes-size", lambda: make_shapes(4, size=4), V, r"size=4 is not valid; expected an int >= 8$"),
    (
        "make_shapes-noise",
        lambda: make_shapes(4, noise=-1),
        V,
        r"noise=-1 is not valid; expected a number >= 0$",
    ),
]


@pytest.mark.parametrize(("make", "error", "message"), [c[1:] for c in _CASES], ids=[c[0] for c in _CASES])
def test_every_public_argument_raises_its_type_and_names_argument_value_and_valid(
    make: Callable[[], Any], error: type[Exception], message: str
) -> None:
    with pytest.raises((TypeError, ValueError)) as info:
        make()
    other = ValueError if error is TypeError else TypeError
    assert isinstance(info.value, error) and not isinstance(info.value, other), repr(info.value)
    assert re.search(message, str(info.value)), str(info.value)


#: The command line: a flag's value is text, so a wrong "type" is a word that does not parse; both are usage
#: errors (exit status 2) naming the flag, the value and what is valid.
_FLAGS = [
    (["--max-images", "0"], "--max-images='0' is not valid; expected an int >= 1"),
    (["--max-images", "two"], "--max-images='two' is not valid; expected an int >= 1"),
    (["--max-channels", "1.5"], "--max-channels='1.5' is not valid; expected an int >= 1"),
    (["--columns", "0"], "--columns='0' is not valid; expected an int >= 1"),
    (["--batch-size", "x"], "--batch-size='x' is not valid; expected an int >= 1"),
    (["--levels", "999"], "--levels='999' is not valid; expected an int in 2..254"),
    (["--compress-level", "10"], "--compress-level='10' is not valid; expected an int in 0..3"),
    (["--eps", "abc"], "--eps='abc' is not valid; expected a number >= 0"),
    (["--eps", "-1"], "--eps='-1' is not valid; expected a number >= 0"),
    (["--dormant-tau", "nan"], "--dormant-tau='nan' is not valid; expected a number >= 0"),
    (["--max-side", "0"], "--max-side='0' is not valid; expected an int >= 1"),
    (["--min-side", "-1"], "--min-side='-1' is not valid; expected an int >= 0"),
    (["--max-bytes-per-step", "0"], "--max-bytes-per-step='0' is not valid; expected an int >= 1"),
    (["--stats", "sparsity,bogus"], "--stats='sparsity,bogus' is not valid: unknown names ['bogus']"),
    (["--colormap", "rainbow"], "argument --colormap: invalid choice: 'rainbow'"),
    (["--normalize", "zscore"], "argument --normalize: invalid choice: 'zscore'"),
    (["--value-range", "0", "x"], "argument --value-range: invalid float value: 'x'"),
    (["--workers", "2"], "unrecognized arguments: --workers 2"),
]


@pytest.mark.parametrize(("words", "message"), _FLAGS, ids=[" ".join(w) for w, _ in _FLAGS])
def test_every_flag_value_is_a_usage_error_naming_flag_value_and_valid(
    words: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["log", "m.keras", "x.png", *words]) == ExitCode.USAGE
    assert message in capsys.readouterr().err


# -- dead weight: workers and compress_level ---------------------------------------------------------------


def test_workers_is_accepted_for_one_release_with_a_deprecation_warning(tmp_path: Path) -> None:
    with pytest.warns(DeprecationWarning, match=r"workers= does nothing") as seen:
        logger = ActivationLogger(tmp_path / "a", MODEL, "conv1", workers=4)
    assert seen[0].filename == __file__  # points at the caller's line
    with logger:
        logger(X, 0)
    assert {r.tag for r in read_events(tmp_path / "a")} >= {"activations/conv1", "histograms/conv1"}
    with pytest.warns(DeprecationWarning, match=r"workers= does nothing"):
        ActivationCallback(tmp_path / "b", X[:2], "conv1", workers=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ActivationLogger(tmp_path / "c", MODEL, "conv1").close()  # not given: no warning


def test_the_logger_finishes_layers_on_the_calling_thread(tmp_path: Path, monkeypatch) -> None:
    import concurrent.futures

    def no_pool(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the logger started a thread pool")

    monkeypatch.setattr(concurrent.futures, "ThreadPoolExecutor", no_pool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with ActivationLogger(tmp_path, MODEL, None, workers=3) as logger:
            logger(X, 0)


def test_compress_levels_above_3_write_what_3_writes_with_a_deprecation_warning(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing import event_accumulator

    def grid_bytes(level: int, run: str) -> bytes:
        with ActivationLogger(tmp_path / run, MODEL, "conv1", compress_level=level, max_images=1) as logger:
            logger(X, 0)
        acc = event_accumulator.EventAccumulator(str(tmp_path / run), size_guidance={"tensors": 0})
        acc.Reload()
        png: bytes = acc.Tensors("activations/conv1")[0].tensor_proto.string_val[2]
        assert png.startswith(b"\x89PNG")
        return png

    three = grid_bytes(3, "three")
    for level in (4, 9):
        with pytest.warns(DeprecationWarning, match=rf"compress_level={level} writes what compress_level=3"):
            assert grid_bytes(level, f"l{level}") == three
    assert grid_bytes(0, "zero") != three  # the levels left differ
