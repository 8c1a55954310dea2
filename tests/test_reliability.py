"""Reliability (issue 7): bad input, faults and interruptions lose nothing and explain themselves.

Every test here backs one row of the table in ``docs/reliability.md`` (its only copy): the bad input or
fault, and what the user gets. The SIGKILL test is in ``tests/training/test_callback_kill.py``.
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import subprocess
import sys
import tempfile
import tracemalloc
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf
from _events import event_files, read_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tbactviz import stats
from tbactviz.errors import (
    LayerNotFoundError,
    LogdirError,
    NoDrawableLayerError,
    ProbeError,
    TbactvizWarning,
    WriterClosedError,
)
from tbactviz.events import writer as events_writer
from tbactviz.events.writer import EventWriter, scalar_value
from tbactviz.grids import tiling
from tbactviz.probe.extractor import ActivationExtractor, extract_activations
from tbactviz.snapshot.logger import ActivationLogger
from tbactviz.training.callback import ActivationCallback

STATS = stats.STAT_NAMES
#: The figures a layer with no finite value does not have.
UNDEFINED = ("mean", "std", "max_abs")
MAGENTA = (255, 0, 255)
X = np.random.default_rng(0).random((16, 12, 12, 3), dtype=np.float32)
Y = np.random.default_rng(1).random((16, 2), dtype=np.float32)


def cnn() -> keras.Model:
    """A small compiled Functional CNN: img -> conv1 -> conv2 -> pool -> head."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((12, 12, 3), name="img")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv1")(inp)
    x = keras.layers.Conv2D(6, 3, name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(inp, keras.layers.Dense(2, name="head")(x), name="cnn")
    model.compile("sgd", "mse")
    return model


@pytest.fixture(scope="module")
def model() -> keras.Model:
    return cnn()


def two_inputs() -> keras.Model:
    a = keras.Input((4,), name="a")
    b = keras.Input((3,), name="b")
    merged = keras.layers.Concatenate(name="cat")([a, b])
    return keras.Model([a, b], keras.layers.Dense(2, name="head")(merged), name="two")


def fit(model: keras.Model, callbacks: list[Any], epochs: int = 2) -> keras.callbacks.History:
    return model.fit(X, Y, batch_size=8, epochs=epochs, verbose=0, callbacks=callbacks)


def tags_of(*paths: str) -> set[str]:
    return {f"{kind}/{p}" for p in paths for kind in ("activations", "histograms", *STATS)}


def steps_by_tag(logdir: str | Path) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for record in read_events(logdir):
        out[record.tag].append(record.step)
    return {tag: sorted(steps) for tag, steps in out.items()}


def records(logdir: str | Path, tag: str) -> list[Any]:
    return sorted((r for r in read_events(logdir) if r.tag == tag), key=lambda r: r.step)


def warned(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, TbactvizWarning)]


# ==========================================================================================================
# Layer selection


def test_unknown_layer_name_lists_close_matches(model: keras.Model, tmp_path: Path) -> None:
    with pytest.raises(LayerNotFoundError, match="layers='conv3' is not a layer") as info:
        ActivationLogger(tmp_path, model, "conv3")
    assert info.value.suggestions[:2] == ["conv2", "conv1"]
    assert "tbactviz.list_layers(model)" in str(info.value)
    assert event_files(tmp_path) == []


def test_glob_matching_nothing_is_an_error(model: keras.Model, tmp_path: Path) -> None:
    with pytest.raises(LayerNotFoundError, match=r"layers='dense\*' matches no layer"):
        ActivationLogger(tmp_path, model, ["conv1", "dense*"])
    with pytest.raises(LayerNotFoundError, match="matches no layer"):
        extract_activations(model, X[:1], "block*_out")


class _Pair(keras.layers.Layer):
    """A layer with two tensor outputs."""

    def call(self, x: Any) -> tuple[Any, Any]:
        return x * 2.0, x + 1.0

    def compute_output_shape(self, shape: Any) -> tuple[Any, Any]:
        return shape, shape


def test_layer_with_several_outputs_is_skipped_with_a_warning(tmp_path: Path) -> None:
    inp = keras.Input((6, 6, 2), name="x")
    conv = keras.layers.Conv2D(2, 3, name="conv")(inp)
    first, second = _Pair(name="pair")(conv)
    model = keras.Model(inp, keras.layers.Add(name="add")([first, second]))
    with pytest.warns(
        TbactvizWarning, match=r"skipping layers that cannot be drawn: 'pair' \(_Pair\) returns 2"
    ):
        logger = ActivationLogger(tmp_path, model, ["conv", "pair"])
    with logger:
        logger(np.ones((1, 6, 6, 2), np.float32), step=0)
    assert set(steps_by_tag(tmp_path)) == tags_of("conv")
    with pytest.raises(NoDrawableLayerError, match="selects no drawable layer"), warnings.catch_warnings():
        warnings.simplefilter("ignore", TbactvizWarning)
        ActivationLogger(tmp_path, model, "pair")


def test_layer_without_output_in_the_forward_pass_is_skipped() -> None:
    class Net(keras.Model):
        def __init__(self) -> None:
            super().__init__(name="net")
            self.conv = keras.layers.Conv2D(2, 3, name="conv")
            self.unused = keras.layers.Conv2D(2, 3, name="unused")

        def call(self, x: Any) -> Any:
            return self.conv(x)

    net = Net()
    net(np.zeros((1, 6, 6, 1), np.float32))
    with pytest.warns(TbactvizWarning, match="'unused' .* was not called during the model's forward pass"):
        acts = extract_activations(net, np.zeros((1, 6, 6, 1), np.float32), ["conv", "unused"])
    assert list(acts) == ["conv"]


def test_duplicate_selectors_give_one_tag_each(model: keras.Model, tmp_path: Path) -> None:
    conv1 = model.get_layer("conv1")
    selection = ["conv1", "conv1", "conv*", keras.layers.Conv2D, "Conv2D", conv1]
    with ActivationLogger(tmp_path, model, selection) as logger:
        assert logger.layer_paths == ("conv1", "conv2")
        assert len(logger.tags) == len(set(logger.tags)) == 18
        logger(X[:2], step=0)
    assert steps_by_tag(tmp_path) == {tag: [0] for tag in tags_of("conv1", "conv2")}


@pytest.mark.parametrize(
    ("layers", "error", "message"),
    [
        (5, TypeError, r"layers must be None, a layer name.*received int: 5"),
        ([], ValueError, r"layers=\[\] selects no layer"),
        ("", ValueError, r"layers='' is an empty layer name"),
        ([dict], TypeError, "the class dict, which is not a keras.layers.Layer"),
    ],
)
def test_callback_checks_the_form_of_layers_at_construction(
    layers: Any, error: type[Exception], message: str, tmp_path: Path
) -> None:
    with pytest.raises(error, match=message):
        ActivationCallback(tmp_path, X[:2], layers)


# ==========================================================================================================
# Probe data


def test_empty_probe_is_an_error(model: keras.Model, tmp_path: Path) -> None:
    with ActivationLogger(tmp_path, model, "conv1") as logger:
        with pytest.raises(ProbeError, match="0 samples; pass at least one probe sample"):
            logger(X[:0], step=0)
        with pytest.raises(ProbeError, match="is empty"):
            logger([], step=0)
    with pytest.raises(ProbeError, match=r"probe has shapes \[\(0, 12, 12, 3\)\]"):
        ActivationCallback(tmp_path, X[:0])
    assert event_files(tmp_path) == []


@pytest.mark.parametrize(
    ("probe", "message"),
    [
        (np.zeros((2, 10, 12, 3), np.float32), r"shape \(2, 10, 12, 3\).*'img' of shape \(None, 12, 12, 3\)"),
        (np.zeros((2, 12, 12, 1), np.float32), r"Axis 3 differs \(1 instead of 3\)"),
        (np.zeros((12, 12, 3), np.float32), r"one axis fewer than the input.*x\[None\]"),
        (np.zeros((2, 1, 12, 12, 3), np.float32), r"shape \(2, 1, 12, 12, 3\)"),
    ],
    ids=["wrong-size", "wrong-channels", "missing-batch-axis", "extra-axis"],
)
def test_probe_of_the_wrong_shape_or_rank_names_both_shapes(
    model: keras.Model, probe: np.ndarray, message: str
) -> None:
    with pytest.raises(ProbeError, match=message) as info:
        ActivationExtractor(model, "conv1")(probe)
    assert "Traceback" not in str(info.value) and "in user code" not in str(info.value)


def test_integer_images_are_cast_like_predict_and_non_numbers_are_rejected(model: keras.Model) -> None:
    images = (X[:2] * 255).astype(np.uint8)
    got = extract_activations(model, images, "conv1")["conv1"]
    want = extract_activations(model, images.astype(np.float32), "conv1")["conv1"]
    np.testing.assert_array_equal(got, want)  # the documented cast: exactly what model.predict does
    for bad, name in [
        (np.zeros((2, 12, 12, 3), np.complex64), "complex64"),
        (np.full((2, 12, 12, 3), "a"), "<U1"),
        (np.zeros((2, 12, 12, 3), object), "object"),
    ]:
        with pytest.raises(ProbeError, match=f"inputs has dtype {name}; expected real numbers"):
            extract_activations(model, bad, "conv1")


def test_multi_input_probe_with_a_missing_key_or_input(tmp_path: Path) -> None:
    net = two_inputs()
    a, b = np.ones((2, 4), np.float32), np.ones((2, 3), np.float32)
    extractor = ActivationExtractor(net, "head")
    with pytest.raises(
        ProbeError, match=r"has no key 'b': the model's inputs are 'a' \(None, 4\), 'b'"
    ) as info:
        extractor({"a": a, "bb": b})
    assert "Did you mean 'bb' for 'b'?" in str(info.value)
    with pytest.raises(ProbeError, match=r"list of 1 array\(s\), but the model has 2 input\(s\)"):
        extractor([a])
    with pytest.raises(ProbeError, match=r"single array of shape \(2, 4\), but the model has 2 inputs"):
        extractor(a)
    with pytest.raises(ProbeError, match=r"inputs\[1\] has shape \(2, 4\).*'b' of shape \(None, 3\)"):
        extractor([a, a])
    with pytest.warns(TbactvizWarning, match=r"keys the model does not take: \['label'\]; they are ignored"):
        acts = extractor({"a": a, "b": b, "label": a})
    np.testing.assert_array_equal(acts["head"], extractor([a, b])["head"])


def test_callback_probe_that_does_not_fit_is_raised_at_fit_start(tmp_path: Path) -> None:
    net = cnn()
    weights = [w.copy() for w in net.get_weights()]
    cb = ActivationCallback(tmp_path, np.zeros((2, 10, 10, 3), np.float32), "conv1", log_at_start=False)
    with pytest.raises(
        ProbeError, match=r"ActivationCallback: probe has shape \(2, 10, 10, 3\), which does not fit"
    ) as info:
        fit(net, [cb])
    assert "(1, 10, 10, 3)" not in str(info.value) and "[1, 10, 10, 3]" not in str(
        info.value
    )  # one true thing
    assert all(np.array_equal(w, v) for w, v in zip(weights, net.get_weights(), strict=True))  # no step ran
    assert event_files(tmp_path) == []


def test_dataset_probe_shorter_than_asked_warns_and_uses_what_there_is(tmp_path: Path) -> None:
    dataset = tf.data.Dataset.from_tensor_slices((X[:3], Y[:3])).batch(2)
    cb = ActivationCallback(tmp_path, dataset, "conv1", probe_samples=8, every_n_epochs=0)
    with pytest.warns(TbactvizWarning, match=r"yielded only 3 sample\(s\), fewer than probe_samples=8"):
        fit(cnn(), [cb], epochs=1)
    assert steps_by_tag(tmp_path)["activations/conv1"] == [0]
    (image,) = records(tmp_path, "activations/conv1")
    assert len(image.value[1]) == 3  # max_images=3 grids from the 3 samples there are


# ==========================================================================================================
# Values


def _nan_inf_model() -> keras.Model:
    inp = keras.Input((6, 6, 2), name="x")
    odd = keras.layers.Lambda(
        lambda t: tf.where(t < 0.25, float("nan"), tf.where(t > 0.9, float("inf"), t)), name="odd"
    )(inp)
    return keras.Model(inp, odd)


def test_nonfinite_values_are_counted_drawn_magenta_and_left_out_of_the_histogram(tmp_path: Path) -> None:
    probe = np.random.default_rng(3).random((2, 6, 6, 2), dtype=np.float32)
    n_bad = int(((probe < 0.25) | (probe > 0.9)).sum())
    assert 0 < n_bad < probe.size
    with ActivationLogger(tmp_path, _nan_inf_model(), "odd") as logger:
        figures = logger(probe, step=0)["odd"]
    assert figures["nonfinite"] == n_bad
    assert all(math.isfinite(v) for v in figures.values())
    assert records(tmp_path, "nonfinite/odd")[0].value == n_bad
    histogram = records(tmp_path, "histograms/odd")[0].value
    assert histogram[:, 2].sum() == probe.size - n_bad and np.isfinite(histogram).all()
    _, images = records(tmp_path, "activations/odd")[0].value
    pixels = np.asarray(images[0].convert("RGB")).reshape(-1, 3)
    assert (pixels == MAGENTA).all(axis=1).any()


@pytest.mark.parametrize("bad", [0, 2])
@pytest.mark.parametrize("batch_size", [None, 1])
def test_nonfinite_values_in_one_chunk_give_the_exact_figures(
    bad: int, batch_size: int | None, tmp_path: Path
) -> None:
    """The probe reduces without NaN/Inf masks first; a chunk holding some is recomputed with masks."""
    probe = np.random.default_rng(4).uniform(0.3, 0.8, (4, 6, 6, 2)).astype(np.float32)
    probe[bad, :2, :3, 1] = 0.1  # NaN
    probe[bad, 4, 4, 0] = 0.95  # +Inf
    model = _nan_inf_model()
    with ActivationLogger(tmp_path, model, "odd", batch_size=batch_size) as logger:
        figures = logger(probe, step=0)["odd"]
    acts = extract_activations(model, probe, "odd")["odd"]
    want = stats.layer_stats(acts)
    assert figures["nonfinite"] == 7.0
    for name, value in want.items():
        assert figures[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
    np.testing.assert_allclose(
        records(tmp_path, "histograms/odd")[0].value, stats.histogram_buckets(acts), rtol=1e-6
    )


# -- the two cases of issue 18: an all-NaN probe through max-pooling, and finite values near the float32 max


def _conv_pool_conv() -> keras.Model:
    """conv_a -> pool_a (max) -> conv_b: max-pooling turns NaN into -3.4e38, which conv_b turns into huge
    finite values (and maybe +-Inf)."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3), name="img")
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv_a")(inp)
    x = keras.layers.MaxPooling2D(2, name="pool_a")(x)
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv_b")(x)
    model = keras.Model(inp, x, name="tiny")
    model.compile(optimizer="sgd", loss="mse")
    return model


def _pass_through() -> keras.Model:
    keras.utils.set_random_seed(0)
    inp = keras.Input((4, 4, 2), name="img")
    x = keras.layers.Identity(name="same")(inp)
    x = keras.layers.Conv2D(3, 1, name="mix")(x)
    model = keras.Model(inp, x, name="through")
    model.compile(optimizer="sgd", loss="mse")
    return model


NAN_PROBE = np.full((2, 8, 8, 3), np.nan, np.float32)
HUGE_PROBE = np.random.default_rng(5).uniform(1e38, 3e38, (3, 4, 4, 2)).astype(np.float32)
HUGE_PROBE[0, 0, 0] = [-3e38, 3.4e38]  # a range beyond the float32 maximum, too


def _layer_names(model: keras.Model) -> list[str]:
    return [layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def _log_through(path: str, model: keras.Model, probe: np.ndarray, logdir: Path, caplog: Any) -> list[str]:
    """Log ``probe`` at steps 0 and 1 through one path; the tbactviz warnings it gave (CLI: its log lines)."""
    layers = _layer_names(model)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        if path == "logger":
            with ActivationLogger(logdir, model, layers=layers, max_images=1) as logger:
                for step in (0, 1):
                    logger(probe, step=step)
        elif path == "write":
            with ActivationLogger(logdir, model, layers=layers, max_images=1) as logger:
                for step in (0, 1):
                    logger.write(logger.capture(probe), step=step)
        elif path == "callback":
            x = np.random.default_rng(6).random((4, *probe.shape[1:]), dtype=np.float32)
            y = np.zeros((4, *model.output_shape[1:]), np.float32)
            model.optimizer.learning_rate = 0.0  # the weights stay those the figures are checked against
            cb = ActivationCallback(logdir, probe, layers=layers, max_images=1, every_n_epochs=1)
            model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])  # steps 0 (start) and 1
        else:
            from tbactviz.cli import main

            saved, npy = logdir.parent / f"{model.name}.keras", logdir.parent / "probe.npy"
            model.save(saved)
            np.save(npy, probe)
            for step in (0, 1):
                argv = [str(saved), str(npy), "--logdir", str(logdir), "--step", str(step), "-q"]
                assert main(["log", *argv, "--layers", ",".join(layers)]) == 0
            return [
                r.getMessage() for r in caplog.records if r.name == "tbactviz.cli" and "NaN" in r.getMessage()
            ]
    return warned(seen)


def _check_against_layer_stats(model: keras.Model, probe: np.ndarray, logdir: Path) -> dict[str, np.ndarray]:
    """Every logged figure is finite and equals ``layer_stats`` of the same activations; the layers with no
    finite value have no mean, std, max_abs or histogram."""
    acts = extract_activations(model, probe, _layer_names(model))
    events = read_events(logdir)
    assert {r.step for r in events} == {0, 1}
    for path, a in acts.items():
        want = stats.layer_stats(a)
        finite = int(np.isfinite(a).sum())
        for step in (0, 1):
            got = {
                r.tag.split("/")[0]: r.value for r in events if r.step == step and r.tag.endswith("/" + path)
            }
            assert got["nonfinite"] == a.size - finite
            absent = {"mean", "std", "max_abs", "histograms"}
            assert absent.isdisjoint(got) if finite == 0 else absent <= set(got), (path, sorted(got))
            for name, value in got.items():
                if name in want:
                    assert math.isfinite(value), (path, name, value)
                    assert value == pytest.approx(want[name], rel=1e-5, abs=1e-30), (path, name)
            if finite:
                histogram = got["histograms"]
                assert np.isfinite(histogram).all() and histogram[:, 2].sum() == finite
    return acts


@pytest.mark.parametrize("path", ["logger", "write", "callback", "cli"])
def test_all_nan_probe_through_max_pooling_gives_true_figures_and_one_warning(
    path: str, tmp_path: Path, caplog: Any
) -> None:
    """Issue 18: the probe is all NaN; max-pooling makes -3.4e38 of it, the next conv huge values."""
    model = _conv_pool_conv()
    messages = _log_through(path, model, NAN_PROBE, tmp_path / "run", caplog)
    acts = _check_against_layer_stats(model, NAN_PROBE, tmp_path / "run")
    assert not np.isfinite(acts["conv_a"]).any() and np.isfinite(acts["pool_a"]).all()
    # once per cause, not once per step (the CLI: once per run of the command, here two)
    assert len(messages) == (2 if path == "cli" else 1), messages
    assert "'conv_a' (512 of 512)" in messages[0] and "NaN" in messages[0]


def test_the_tags_said_to_be_written_are_those_in_the_event(tmp_path: Path, capsys: Any) -> None:
    """A layer with no finite value writes no mean, std, max_abs or histogram: the logger's ``written_tags``
    and the count ``tbactviz log`` prints are those of the event, not of every tag a step may hold."""
    from tbactviz.cli import main

    model = _conv_pool_conv()
    layers = _layer_names(model)
    with ActivationLogger(tmp_path / "run", model, layers=layers, max_images=1) as logger:
        assert logger.written_tags == []
        for step, probe in ((0, NAN_PROBE), (1, np.zeros_like(NAN_PROBE))):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                logger.log(probe, step)
            in_event = [r.tag for r in read_events(tmp_path / "run") if r.step == step]
            assert sorted(logger.written_tags) == sorted(in_event), step
        every = logger.tags
    left_out = {f"{name}/conv_a" for name in ("mean", "std", "max_abs", "histograms")}
    assert logger.written_tags == every  # step 1: all finite
    saved, npy = tmp_path / "tiny.keras", tmp_path / "nan.npy"
    model.save(saved)
    np.save(npy, NAN_PROBE)
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        argv = [str(saved), str(npy), "--logdir", str(tmp_path / "cli"), "--layers", ",".join(layers)]
        assert main(["log", *argv]) == 0
    out = capsys.readouterr().out
    assert f"Logged 3 layers ({len(every) - len(left_out)} tags)" in out, out
    in_cli_event = {r.tag for r in read_events(tmp_path / "cli")}
    assert in_cli_event == set(every) - left_out


@pytest.mark.parametrize("path", ["logger", "write", "callback", "cli"])
def test_finite_values_near_the_float32_maximum_are_logged(path: str, tmp_path: Path, caplog: Any) -> None:
    """Issue 18: finite values of magnitude 1e38 to 3.4e38 through a pass-through layer."""
    model = _pass_through()
    messages = _log_through(path, model, HUGE_PROBE, tmp_path / "run", caplog)
    acts = _check_against_layer_stats(model, HUGE_PROBE, tmp_path / "run")
    assert np.isfinite(acts["same"]).all()
    assert messages == []  # no NaN or Inf: no warning


@pytest.mark.parametrize("normalize", tiling.NORMALIZE_MODES)
def test_all_zero_and_constant_layers_draw_uniform_tiles_and_finite_figures(
    normalize: str, tmp_path: Path
) -> None:
    inp = keras.Input((5, 5, 3))
    zero = keras.layers.Lambda(lambda t: t * 0.0, name="zero")(inp)
    const = keras.layers.Lambda(lambda t: t * 0.0 + 7.0, name="const")(inp)
    net = keras.Model(inp, [zero, const])
    with ActivationLogger(tmp_path, net, ["zero", "const"], normalize=normalize, min_side=0) as logger:
        for step in range(2):
            figures = logger(np.random.default_rng(step).random((2, 5, 5, 3), dtype=np.float32), step)
    assert figures["zero"] == {
        "sparsity": 1.0,
        "dead_channels": 1.0,
        "mean": 0.0,
        "std": 0.0,
        "max_abs": 0.0,
        "nonfinite": 0.0,
        "dormant_fraction": 1.0,
    }
    assert figures["const"]["std"] == 0.0 and figures["const"]["mean"] == 7.0
    for path in ("zero", "const"):
        for record in records(tmp_path, f"activations/{path}"):
            for image in record.value[1]:
                tile = np.asarray(image.convert("RGB"))[:5, :5]  # the first tile, before any separator
                assert (tile == tile[0, 0]).all()


@pytest.mark.parametrize(
    ("layer", "input_shape", "probe_shape"),
    [
        (lambda: keras.layers.Dense(1_000_000, name="big"), (4,), (3, 4)),
        (lambda: keras.layers.Conv2D(4096, 1, name="big"), (16, 16, 3), (3, 16, 16, 3)),
    ],
    ids=["dense-1M-units", "conv-4096-channels"],
)
def test_huge_layers_are_capped_and_downscaled(
    layer: Callable[[], keras.layers.Layer],
    input_shape: tuple[int, ...],
    probe_shape: tuple[int, ...],
    tmp_path: Path,
) -> None:
    keras.utils.set_random_seed(0)
    inp = keras.Input(input_shape)
    net = keras.Model(inp, layer()(inp))
    with ActivationLogger(tmp_path, net, "big", max_side=384) as logger:
        logger(np.random.default_rng(0).random(probe_shape, dtype=np.float32), step=0)
    (image,) = records(tmp_path, "activations/big")
    (width, height), pngs = image.value
    assert max(width, height) <= 384 and len(pngs) == 3
    histogram = records(tmp_path, "histograms/big")[0].value
    assert histogram[:, 2].sum() == np.prod(probe_shape[:1]) * np.prod(net.output.shape[1:])


@pytest.mark.parametrize(
    "shape", [(3, 1_000_000), (4, 32, 32, 4096)], ids=["dense-1M-units", "conv-4096-channels"]
)
def test_memory_of_a_huge_layer_is_bounded_by_a_small_multiple_of_its_size(
    shape: tuple[int, ...], tmp_path: Path
) -> None:
    acts = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    peak = _peak_memory_of_a_write(tmp_path, acts)
    # plus the per-channel figures' state (partial sums merged in float64, the (C, 4) summary): O(C), which
    # for a 1M-unit Dense layer of 3 samples is several times the activations themselves
    bound = 3.5 * acts.nbytes + 300 * shape[-1]
    assert peak < bound, f"peak {peak / 2**20:.1f} MiB for {acts.nbytes / 2**20:.1f} MiB"


def test_memory_of_a_probe_smaller_than_max_images_is_not_copied(tmp_path: Path) -> None:
    acts = np.random.default_rng(0).standard_normal((2, 32, 32, 4096), dtype=np.float32)  # 2 < max_images
    peak = _peak_memory_of_a_write(tmp_path, acts, max_images=3)
    assert peak < 0.5 * acts.nbytes, f"peak {peak / 2**20:.1f} MiB for {acts.nbytes / 2**20:.1f} MiB"


def _peak_memory_of_a_write(tmp_path: Path, acts: np.ndarray, **options: Any) -> int:
    """Peak bytes traced while a logger writes ``acts`` as the layer 'big' (after a warm-up write)."""
    inp = keras.Input((2,))
    net = keras.Model(inp, keras.layers.Dense(2, name="big")(inp))
    with ActivationLogger(tmp_path, net, "big", **options) as logger:
        logger.write({"big": acts}, step=0)  # warm-up (imports, palettes)
        tracemalloc.start()
        try:
            logger.write({"big": acts}, step=1)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


@pytest.fixture
def restore_policy() -> Iterator[None]:
    policy = keras.mixed_precision.global_policy()
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(policy)


@pytest.mark.usefixtures("restore_policy")
@pytest.mark.parametrize(("policy", "dtype"), [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")])
def test_mixed_precision_activations_are_logged(policy: str, dtype: str, tmp_path: Path) -> None:
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(4, 3, name="conv")(inp)
    head = keras.layers.Dense(2, name="head")(keras.layers.GlobalAveragePooling2D()(conv))
    net = keras.Model(inp, head)
    probe = np.random.default_rng(0).random((2, 8, 8, 3)) * 1e4  # float64, large: float16 overflows to Inf
    assert extract_activations(net, probe, "conv")["conv"].dtype.name == dtype
    with ActivationLogger(tmp_path, net, ["conv", "head"]) as logger:
        figures = logger(probe, step=0)
    assert all(math.isfinite(v) for layer in figures.values() for v in layer.values())
    assert set(steps_by_tag(tmp_path)) == tags_of("conv", "head")
    for record in read_events(tmp_path):
        if record.plugin == "images":
            assert all(np.asarray(image).dtype == np.uint8 for image in record.value[1])


# -- property: any array of any real dtype goes through the whole logger -----------------------------------

_PROPERTY_DTYPES = ["float16", "bfloat16", "float32", "float64", "int8", "uint8", "int64", "bool"]


@st.composite
def _any_activations(draw: st.DrawFn) -> np.ndarray:
    rank = draw(st.integers(1, 5))
    shape = (
        draw(st.integers(1, 3)),
        *draw(st.lists(st.integers(1, 5), min_size=rank - 1, max_size=rank - 1)),
    )
    name = draw(st.sampled_from(_PROPERTY_DTYPES))
    if name == "bfloat16":
        import ml_dtypes

        floats = st.floats(width=32) | st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 3e38, -3e38])
        values = draw(hnp.arrays(np.float32, shape, elements=floats))
        return values.astype(ml_dtypes.bfloat16)
    dtype = np.dtype(name)
    if dtype.kind == "f":
        elements = st.floats(width=8 * dtype.itemsize) | st.sampled_from(
            [np.nan, np.inf, -np.inf, 0.0, 1e-30]
        )
    else:
        elements = hnp.from_dtype(dtype)
    if draw(st.booleans()):
        return np.full(shape, draw(elements), dtype=dtype)  # constant, all-NaN, all-Inf, all-zero
    return draw(hnp.arrays(dtype, shape, elements=elements))


def test_property_any_real_activations_go_through_the_whole_logger(tmp_path: Path) -> None:
    inp = keras.Input((2,))
    net = keras.Model(inp, keras.layers.Dense(2, name="layer")(inp))
    loggers = {
        mode: ActivationLogger(tmp_path / mode, net, "layer", normalize=mode, max_side=64, min_side=16)
        for mode in tiling.NORMALIZE_MODES
    }
    steps: dict[str, int] = defaultdict(int)
    without: dict[str, list[bool]] = defaultdict(list)  # per step: no finite value

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(acts=_any_activations(), mode=st.sampled_from(tiling.NORMALIZE_MODES))
    def check(acts: np.ndarray, mode: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TbactvizWarning)  # mostly NaN/Inf: warned once, by design
            figures = loggers[mode].write({"layer": acts}, steps[mode])["layer"]
        some = bool(np.isfinite(acts.astype(np.float64)).any())
        without[mode].append(not some)
        steps[mode] += 1
        assert list(figures) == [name for name in STATS if some or name not in UNDEFINED]
        assert all(type(v) is float and math.isfinite(v) for v in figures.values())
        assert 0.0 <= figures["sparsity"] <= 1.0 and 0.0 <= figures["dead_channels"] <= 1.0
        with np.errstate(invalid="ignore", over="ignore"):
            assert figures["nonfinite"] == float((~np.isfinite(acts.astype(np.float64))).sum())

    try:
        check()
    finally:
        for logger in loggers.values():
            logger.close()
    assert sum(steps.values()) >= 60  # hypothesis ran the examples
    for mode, logger in loggers.items():
        by_step: dict[int, set[str]] = defaultdict(set)
        for record in read_events(logger.logdir):
            by_step[record.step].add(record.tag)
            if record.plugin == "images":
                (width, height), images = record.value
                assert max(width, height) <= 64 and images
                for image in images:
                    arr = np.asarray(image)
                    assert arr.dtype == np.uint8 and arr.shape[:2] == (height, width)
            elif record.plugin == "histograms":
                assert np.isfinite(record.value).all()
        assert sorted(by_step) == list(range(steps[mode])), mode
        for step, tags in by_step.items():  # no finite value: no mean, std, max_abs or histogram
            absent = (
                {f"{name}/layer" for name in (*UNDEFINED, "histograms")} if without[mode][step] else set()
            )
            assert tags == tags_of("layer") - absent, (mode, step)


# ==========================================================================================================
# File system


def test_logdir_that_is_a_file_or_under_a_file_fails_at_construction(
    model: keras.Model, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for make in (
        lambda d: ActivationLogger(d, model, "conv1"),
        lambda d: ActivationCallback(d, X[:2], "conv1"),
        lambda d: EventWriter(d),
    ):
        with pytest.raises(LogdirError, match="exists and is not a directory"):
            make(blocker)
        with pytest.raises(LogdirError, match=r"cannot be created: .*/file' is a file, not a directory"):
            make(blocker / "run")
    assert blocker.read_text() == "x"


_UNWRITABLE_SCRIPT = """
import os, sys
from tbactviz.errors import LogdirError
from tbactviz.events.writer import check_logdir
if os.geteuid() == 0:  # root bypasses file permissions, nobody does not (imports done: /root may be closed)
    os.setgid(65534); os.setuid(65534)
for path in sys.argv[1:]:
    try:
        check_logdir(path)
    except LogdirError as exc:
        print("LogdirError:", exc)
    else:
        print("accepted:", path)
"""


def test_unwritable_logdir_fails_at_construction() -> None:
    """CI runs as root, which bypasses permissions: the check runs in a child process as user nobody."""
    root = Path(tempfile.mkdtemp(prefix="tbactviz-ro-"))
    try:
        root.chmod(0o755)
        locked = root / "locked"
        locked.mkdir(mode=0o555)
        locked.chmod(0o555)
        proc = subprocess.run(
            [sys.executable, "-c", _UNWRITABLE_SCRIPT, str(locked), str(locked / "run" / "sub")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert (
        lines[0]
        == f"LogdirError: logdir={str(locked)!r} is not writable: no write permission on {str(locked)!r}"
    )
    assert lines[1].startswith(f"LogdirError: logdir={str(locked / 'run' / 'sub')!r} is not writable")


def test_logdir_broken_before_fit_warns_and_training_continues(tmp_path: Path) -> None:
    class Sabotage(keras.callbacks.Callback):
        def __init__(self, path: Path) -> None:
            super().__init__()
            self.path = path

        def on_train_begin(self, logs: Any = None) -> None:
            self.path.write_text("someone put a file here")

    cb = ActivationCallback(tmp_path / "acts", X[:2], "conv1")
    with pytest.warns(TbactvizWarning, match="no activations are logged during this fit: LogdirError") as rec:
        history = fit(cnn(), [Sabotage(tmp_path / "acts"), cb], epochs=2)
    assert len(history.history["loss"]) == 2 and len(warned(rec)) == 1
    assert cb.logged_steps == []
    strict = ActivationCallback(tmp_path / "strict", X[:2], "conv1", on_error="raise")
    with pytest.raises(LogdirError, match="exists and is not a directory"):
        fit(cnn(), [Sabotage(tmp_path / "strict"), strict], epochs=1)


@pytest.fixture
def disk_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    """While ``state["full"]``, event files are opened on /dev/full: every flush fails with ENOSPC."""
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    full = tmp_path / "dev-full"
    full.symlink_to("/dev/full")
    state = {"full": True}
    real = events_writer._create
    monkeypatch.setattr(
        events_writer, "_create", lambda logdir, path: real(logdir, str(full) if state["full"] else path)
    )
    return state


@pytest.mark.parametrize("async_write", [False, True], ids=["sync", "async"])
def test_disk_full_warns_once_training_continues_and_logging_resumes(
    async_write: bool, disk_full: dict[str, bool], tmp_path: Path
) -> None:
    logdir = tmp_path / "acts"

    class FreeSpace(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if epoch == 1:
                disk_full["full"] = False  # e.g. the user deleted old checkpoints

    cb = ActivationCallback(logdir, X[:2], "conv1", async_write=async_write)
    with pytest.warns(TbactvizWarning, match="No space left on device -- the disk is full") as rec:
        history = fit(cnn(), [FreeSpace(), cb], epochs=4)
    assert len(history.history["loss"]) == 4
    assert len(warned(rec)) == 1  # one warning per cause, the rest at DEBUG level
    logged = steps_by_tag(logdir)
    assert set(logged) == tags_of("conv1")
    assert logged["activations/conv1"] == [2, 3, 4]  # 0 and 1 were lost to the full disk, then it resumes


def test_disk_full_in_the_writer_keeps_earlier_events_and_explains(tmp_path: Path) -> None:
    writer = EventWriter(tmp_path)
    writer.write(0, [scalar_value("x/y", 1.0)])
    writer.flush()
    first = writer.path

    class Full:
        def write(self, data: bytes) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self) -> None:
            pass

    writer._record_writer = Full()
    with pytest.raises(
        LogdirError, match=r"No space left on device -- the disk is full.*earlier|events written"
    ):
        writer.write(1, [scalar_value("x/y", 2.0)])
    writer.write(2, [scalar_value("x/y", 3.0)])  # space again: a new file
    writer.close()
    assert writer.path != first and len(event_files(tmp_path)) == 2
    assert [(r.step, r.value) for r in records(tmp_path, "x/y")] == [(0, 1.0), (2, 3.0)]


def test_two_loggers_on_one_logdir_write_distinct_files(model: keras.Model, tmp_path: Path) -> None:
    first = ActivationLogger(tmp_path, model, "conv1")
    second = ActivationLogger(tmp_path, model, "conv2")
    for step in range(3):
        first(X[:2], step)
        second(X[2:4], step)
    first.close()
    second.close()
    assert first.event_file != second.event_file
    assert sorted(event_files(tmp_path)) == sorted([first.event_file, second.event_file])
    assert steps_by_tag(tmp_path) == {tag: [0, 1, 2] for tag in tags_of("conv1", "conv2")}
    callbacks = [ActivationCallback(tmp_path / "cb", X[:2], "conv1") for _ in range(2)]
    fit(cnn(), callbacks, epochs=1)
    assert len(event_files(tmp_path / "cb")) == 2
    assert steps_by_tag(tmp_path / "cb") == {tag: [0, 0, 1, 1] for tag in tags_of("conv1")}


# ==========================================================================================================
# Interruption


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, at_epoch: int, exc: BaseException) -> None:
        super().__init__()
        self.at_epoch, self.exc = at_epoch, exc

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if epoch == self.at_epoch:
            raise self.exc


@pytest.mark.parametrize("async_write", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(
    "exc", [KeyboardInterrupt(), RuntimeError("another callback failed")], ids=["ctrl-c", "error"]
)
def test_interrupted_fit_keeps_every_logged_event(
    async_write: bool, exc: BaseException, tmp_path: Path
) -> None:
    cb = ActivationCallback(tmp_path, X[:2], ["conv1", "conv2"], async_write=async_write)
    with pytest.raises(type(exc)):
        fit(cnn(), [cb, _Interrupt(2, exc)], epochs=5)
    cb.close()  # what a script does after catching it (with async_write it waits for the queue to drain)
    cb.close()  # closing twice is harmless
    assert cb.logged_steps == [0, 1, 2, 3]
    assert steps_by_tag(tmp_path) == {tag: [0, 1, 2, 3] for tag in tags_of("conv1", "conv2")}


def test_events_are_readable_while_fit_is_still_interrupted(tmp_path: Path) -> None:
    """Without close(): every event was flushed when it was written."""
    cb = ActivationCallback(tmp_path, X[:2], "conv1")
    with pytest.raises(KeyboardInterrupt):
        fit(cnn(), [cb, _Interrupt(1, KeyboardInterrupt())], epochs=5)
    assert cb.logger is not None and not cb.logger.closed
    assert steps_by_tag(tmp_path) == {tag: [0, 1, 2] for tag in tags_of("conv1")}
    cb.close()


def test_close_twice_is_harmless_and_writing_after_close_is_a_clear_error(
    model: keras.Model, tmp_path: Path
) -> None:
    logger = ActivationLogger(tmp_path, model, "conv1")
    logger(X[:2], 0)
    logger.close()
    logger.close()
    with pytest.raises(WriterClosedError, match=r"logging step=1 after close\(\).*create a new one"):
        logger(X[:2], 1)
    with pytest.raises(WriterClosedError, match=r"step=1 after close\(\)"):
        logger.write({"conv1": np.zeros((1, 4, 4, 2))}, 1)
    with ActivationLogger(tmp_path, model, "conv1") as ctx:
        pass
    ctx.close()
    writer = EventWriter(tmp_path)
    writer.close()
    writer.close()
    with pytest.raises(WriterClosedError, match="after close"):
        writer.write(0, [scalar_value("a/b", 1.0)])
    assert steps_by_tag(tmp_path) == {tag: [0] for tag in tags_of("conv1")}


# ==========================================================================================================
# Arguments: the table of every public parameter's checks is tests/test_checks.py


def _logger(**kw: Any) -> Any:
    return ActivationLogger(tempfile.mkdtemp(), _ARG_MODEL, "conv1", **kw)


_ARG_MODEL = cnn()


def test_numpy_scalars_are_accepted_where_ints_and_floats_are(tmp_path: Path) -> None:
    acts = extract_activations(_ARG_MODEL, X[:3], "conv1", batch_size=np.int64(2))
    assert acts["conv1"].shape == (3, 10, 10, 4)
    cb = ActivationCallback(tmp_path, X[:2], "conv1", max_images=np.int64(2), eps=np.float32(0.5))
    fit(cnn(), [cb], epochs=1)
    assert cb.logged_steps == [0, 1]


def test_logger_accepts_a_numpy_float_eps(tmp_path: Path) -> None:
    ActivationLogger(tmp_path, _ARG_MODEL, "conv1", eps=np.float32(0.5)).close()


def test_logger_on_error_warn_covers_a_full_disk(disk_full: dict[str, bool], tmp_path: Path) -> None:
    logger = ActivationLogger(tmp_path / "acts", _ARG_MODEL, "conv1", on_error="warn")
    with logger, pytest.warns(TbactvizWarning, match="disk is full"):
        logger(X[:2], 0)


# ==========================================================================================================
# The table


def test_every_row_of_the_reliability_table_names_tests_that_exist() -> None:
    import re

    root = Path(__file__).resolve().parent.parent
    text = (root / "docs/reliability.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| **")][1:]
    assert len(rows) >= 30
    for row in rows:
        cited = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", row.rsplit("|", 2)[-2])
        assert cited, f"row names no test: {row}"
        for path, name in cited:
            source = (root / path).read_text()
            assert not name or re.search(rf"^def {name}\(", source, re.M), f"{path}::{name} does not exist"
