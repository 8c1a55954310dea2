"""Tests of tbactviz.ActivationLogger: events read back exactly, values equal to independent numpy."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from _events import event_files, read_events, run_tags

import tbactviz
from tbactviz.errors import LayerNotFoundError, WriterClosedError
from tbactviz.grids import tiling
from tbactviz.grids.colormaps import LUTS

STATS = ("sparsity", "dead_channels", "mean", "std", "max_abs", "nonfinite", "dormant_fraction")


def three_conv_cnn() -> keras.Model:
    """A small Functional CNN: 3 convs (one of them dead), pooling, a Dense head."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((24, 24, 3), name="image")
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.Conv2D(
        4,
        3,
        padding="same",
        activation="relu",
        name="conv3_dead",
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant(-1.0),
    )(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(3, name="head")(x)
    return keras.Model(inputs, outputs, name="three_conv")


@pytest.fixture(scope="module")
def model() -> keras.Model:
    return three_conv_cnn()


@pytest.fixture(scope="module")
def probe() -> np.ndarray:
    return np.random.default_rng(1).random((4, 24, 24, 3), dtype=np.float32)


def reference(model: keras.Model, name: str, probe: np.ndarray) -> np.ndarray:
    """The layer's activations computed independently of tbactviz."""
    return np.asarray(keras.Model(model.input, model.get_layer(name).output)(probe))


def test_exact_tags_images_histograms_and_scalars(
    tmp_path: Path, model: keras.Model, probe: np.ndarray
) -> None:
    layers = ["conv1", "conv2", "conv3_dead"]
    with tbactviz.ActivationLogger(tmp_path, model, layers=layers, max_images=2) as log:
        figures = log(probe, step=5)
        assert log.layer_paths == tuple(layers)
    expected = {
        (".", f"{prefix}/{name}") for name in layers for prefix in ("activations", "histograms", *STATS)
    }
    assert run_tags(tmp_path) == expected
    assert len(event_files(tmp_path)) == 1
    records = {r.tag: r for r in read_events(tmp_path)}
    assert {r.step for r in records.values()} == {5}
    for name in layers:
        acts = reference(model, name, probe)
        # images: 2 PNG grids of the size tiling predicts, decoding to what tiling draws
        (width, height), images = records[f"activations/{name}"].value
        assert len(images) == 2
        assert (height, width) == tiling.grid_shape(acts.shape[1:])
        drawn = tiling.tile_activations(acts, max_images=2)
        indices, palette = drawn.indexed(64)  # the logger's default levels
        for img, want, rgb in zip(images, indices, drawn.images, strict=True):
            assert img.format == "PNG" and img.size == (width, height)
            got = np.asarray(img.convert("RGB"))
            np.testing.assert_array_equal(got, palette[want])
            # 64 levels of the colormap: within two of its 256 steps of the exact RGB rendering
            assert (
                np.abs(got.astype(int) - rgb).max()
                <= 2 * np.abs(np.diff(LUTS["viridis"].astype(int), axis=0)).max()
            )
        # histogram over all 4 samples, TensorBoard's bucketing, computed here with numpy
        hist = records[f"histograms/{name}"].value
        flat = acts.ravel().astype(np.float64)
        assert hist.shape == (30, 3)
        assert hist[:, 2].sum() == flat.size
        assert hist[0, 0] == pytest.approx(flat.min()) and hist[-1, 1] == pytest.approx(flat.max())
        # scalars equal plain numpy on the same activations
        per_channel_zero = np.all(acts == 0, axis=(0, 1, 2))
        want = {
            "sparsity": np.mean(acts == 0),
            "dead_channels": np.mean(per_channel_zero),
            "mean": flat.mean(),
            "std": flat.std(),
            "max_abs": np.abs(flat).max(),
            "nonfinite": 0.0,
        }
        for stat, value in want.items():
            assert records[f"{stat}/{name}"].value == pytest.approx(value, rel=1e-5, abs=1e-6), stat
            assert figures[name][stat] == pytest.approx(value, rel=1e-5, abs=1e-6), stat
    assert records["dead_channels/conv3_dead"].value == 1.0
    assert records["sparsity/conv3_dead"].value == 1.0


def test_dead_layer_grid_is_uniform_tiles(tmp_path: Path, model: keras.Model, probe: np.ndarray) -> None:
    with tbactviz.ActivationLogger(
        tmp_path, model, layers="conv3_dead", histograms=False, stats=False
    ) as log:
        log(probe, step=0)
    (record,) = read_events(tmp_path)
    _, images = record.value
    pixels = np.asarray(images[0].convert("RGB")).reshape(-1, 3)
    # only two colours: the white separator and the one uniform colour every dead tile gets
    colours = {tuple(c) for c in np.unique(pixels, axis=0).tolist()}
    assert len(colours) == 2 and (255, 255, 255) in colours


def test_glob_selection_and_step_series(tmp_path: Path, model: keras.Model, probe: np.ndarray) -> None:
    with tbactviz.ActivationLogger(
        tmp_path, model, layers="conv*", stats=["sparsity"], histograms=False
    ) as log:
        for step in (0, 1, 7):
            log(probe, step)
        assert log.tags == [
            "activations/conv1",
            "sparsity/conv1",
            "activations/conv2",
            "sparsity/conv2",
            "activations/conv3_dead",
            "sparsity/conv3_dead",
        ]
    records = read_events(tmp_path)
    assert {(r.tag, r.step) for r in records} == {(t, s) for t in log.tags for s in (0, 1, 7)}


def test_nothing_logged_writes_no_file(tmp_path: Path, model: keras.Model) -> None:
    logdir = tmp_path / "run"
    with tbactviz.ActivationLogger(logdir, model, layers="conv1"):
        pass
    assert not logdir.exists()
    assert event_files(tmp_path) == []


def test_default_selection_is_bounded_and_covers_the_depth(tmp_path: Path, model: keras.Model) -> None:
    log = tbactviz.ActivationLogger(tmp_path, model)
    paths = log.layer_paths
    assert 1 <= len(paths) <= 8
    assert paths[0] == "conv1"
    assert "head" not in paths
    log.close()


def test_close_is_idempotent_and_log_after_close_raises(
    tmp_path: Path, model: keras.Model, probe: np.ndarray
) -> None:
    log = tbactviz.ActivationLogger(tmp_path, model, layers="conv1")
    log(probe, 0)
    log.close()
    log.close()
    assert log.closed
    with pytest.raises(WriterClosedError, match="closed"):
        log(probe, 1)
    assert {r.step for r in read_events(tmp_path)} == {0}


def test_fixed_scale_is_measured_once_and_kept(tmp_path: Path, model: keras.Model, probe: np.ndarray) -> None:
    with tbactviz.ActivationLogger(
        tmp_path, model, layers="conv1", normalize="fixed", histograms=False, stats=False, colormap="gray"
    ) as log:
        log(probe, 0)
        first = log.value_ranges["conv1"]
        acts = reference(model, "conv1", probe)[:3]  # the drawn samples (max_images=3)
        assert first == pytest.approx((float(acts.min()), float(acts.max())))
        log(probe * 2.0, 1)  # twice the input: brighter grid, same scale
        assert log.value_ranges["conv1"] == first
    recs = sorted(read_events(tmp_path), key=lambda r: r.step)
    step0 = np.asarray(recs[0].value[1][0].convert("L"), dtype=np.float64)
    step1 = np.asarray(recs[1].value[1][0].convert("L"), dtype=np.float64)
    assert step1.mean() > step0.mean()


def test_fixed_range_given_per_layer(tmp_path: Path, model: keras.Model, probe: np.ndarray) -> None:
    with tbactviz.ActivationLogger(
        tmp_path, model, layers=["conv1", "conv2"], normalize="fixed", value_range={"conv1": (0, 1)}
    ) as log:
        log(probe, 0)
        assert log.value_ranges["conv1"] == (0.0, 1.0)
        assert set(log.value_ranges) == {"conv1", "conv2"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_images": 0}, "max_images=0"),
        ({"batch_size": -1}, "batch_size=-1"),
        ({"normalize": "zscore"}, "normalize='zscore'"),
        ({"colormap": "jet"}, "colormap='jet'"),
        ({"order": "random"}, "order='random'"),
        ({"max_channels": 0}, "max_channels=0"),
        ({"stats": ["sparsity", "kurtosis"]}, "kurtosis"),
        ({"value_range": (0, 1)}, "only used with normalize='fixed'"),
        ({"normalize": "fixed", "value_range": (1, 1)}, "high > low"),
        ({"normalize": "fixed", "value_range": {"nope": (0, 1)}}, "not logged"),
        ({"eps": -1.0}, "eps=-1.0"),
        ({"compress_level": 10}, "compress_level=10"),
        ({"on_error": "ignore"}, "on_error='ignore'"),
        ({"levels": 1}, "levels=1"),
        ({"levels": 255}, "levels=255"),
    ],
)
def test_invalid_arguments_name_argument_and_value(
    tmp_path: Path, model: keras.Model, kwargs: dict, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        tbactviz.ActivationLogger(tmp_path, model, layers="conv1", **kwargs)


def test_unknown_layer_lists_close_matches(tmp_path: Path, model: keras.Model) -> None:
    with pytest.raises(LayerNotFoundError, match="conv1"):
        tbactviz.ActivationLogger(tmp_path, model, layers="conv_1")


def test_invalid_step(tmp_path: Path, model: keras.Model, probe: np.ndarray) -> None:
    with (
        tbactviz.ActivationLogger(tmp_path, model, layers="conv1") as log,
        pytest.raises(ValueError, match="step=-1"),
    ):
        log(probe, -1)


def test_on_error_warn_keeps_the_other_layers(
    tmp_path: Path, model: keras.Model, probe: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tiling.assemble

    def flaky(partial: Any, plan: Any, *args: Any) -> tiling.TileResult:
        if plan.sample_shape[-1] == 8:  # conv2
            raise RuntimeError("boom")
        return real(partial, plan, *args)

    log = tbactviz.ActivationLogger(tmp_path, model, layers=["conv1", "conv2"], on_error="warn")
    monkeypatch.setattr(tiling, "assemble", flaky)
    with pytest.warns(tbactviz.TbactvizWarning, match="conv2.*boom"):
        figures = log(probe, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log(probe, 1)  # warned once per layer only
    log.close()
    assert set(figures) == {"conv1"}
    assert {r.tag.split("/")[1] for r in read_events(tmp_path)} == {"conv1"}


def test_on_error_warn_gives_the_out_of_memory_hint(
    tmp_path: Path, model: keras.Model, probe: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tbactviz.snapshot import runner

    def reduce_layer(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError("out of memory while packing")

    log = tbactviz.ActivationLogger(tmp_path, model, layers="conv1", on_error="warn", batch_size=4)
    monkeypatch.setattr(runner, "reduce_layer", reduce_layer)
    with pytest.warns(tbactviz.TbactvizWarning, match="extracting activations failed: MemoryError") as record:
        assert log(probe, 0) == {}
    log.close()
    message = str(record[0].message)
    assert "out of memory while running the probe (batch_size=4): pass a smaller batch_size" in message


def test_capture_then_write_equals_log(tmp_path: Path, model: keras.Model, probe: np.ndarray) -> None:
    with tbactviz.ActivationLogger(tmp_path / "a", model, layers="conv2") as a:
        a.log(probe, 3)
    with tbactviz.ActivationLogger(tmp_path / "b", model, layers="conv2") as b:
        acts = b.capture(probe)
        np.testing.assert_allclose(acts["conv2"], reference(model, "conv2", probe), rtol=1e-5, atol=1e-6)
        b.write(acts, 3)
    ra = {(r.tag, r.step): r.value for r in read_events(tmp_path / "a")}
    rb = {(r.tag, r.step): r.value for r in read_events(tmp_path / "b")}
    assert ra.keys() == rb.keys()
    for key in ra:
        if key[0].startswith("activations/"):
            assert [np.asarray(i).tolist() for i in ra[key][1]] == [
                np.asarray(i).tolist() for i in rb[key][1]
            ]
        else:
            np.testing.assert_array_equal(ra[key], rb[key])


def _records_by_key(logdir: Path) -> dict[tuple[str, int], object]:
    return {(r.tag, r.step): r.value for r in read_events(logdir)}


@pytest.mark.parametrize("batch_size", [1, 3])
def test_chunked_probe_gives_the_same_event(
    tmp_path: Path, model: keras.Model, probe: np.ndarray, batch_size: int
) -> None:
    layers = ["conv1", "conv3_dead"]
    with tbactviz.ActivationLogger(tmp_path / "whole", model, layers=layers, max_images=2) as log:
        whole_figures = log(probe, 0)
    with tbactviz.ActivationLogger(
        tmp_path / "chunks", model, layers=layers, max_images=2, batch_size=batch_size
    ) as log:
        chunk_figures = log(probe, 0)
    whole, chunks = _records_by_key(tmp_path / "whole"), _records_by_key(tmp_path / "chunks")
    assert whole.keys() == chunks.keys()
    for key, value in whole.items():
        if key[0].startswith("activations/"):
            assert [i.tobytes() for i in value[1]] == [i.tobytes() for i in chunks[key][1]]
        elif key[0].startswith("histograms/"):
            np.testing.assert_array_equal(value, chunks[key])
        else:
            assert value == pytest.approx(chunks[key], rel=1e-6, abs=1e-7), key
    for path in layers:
        assert whole_figures[path] == pytest.approx(chunk_figures[path], rel=1e-5, abs=1e-7)  # float32


def test_auto_chunks_bound_the_activations_held_at_once(
    tmp_path: Path, model: keras.Model, probe: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tbactviz.probe import extractor

    per_sample = 24 * 24 * 6 * 4  # conv1's float32 activations of one sample
    monkeypatch.setattr(extractor, "MAX_CHUNK_BYTES", 2 * per_sample)
    log = tbactviz.ActivationLogger(tmp_path, model, layers="conv1", max_images=1)
    sizes: list[int] = []
    real = extractor.ActivationExtractor._run

    def spy(self: extractor.ActivationExtractor, chunk: np.ndarray, *args: object) -> dict[str, np.ndarray]:
        sizes.append(len(chunk))
        return real(self, chunk, *args)

    monkeypatch.setattr(extractor.ActivationExtractor, "_run", spy)
    probe8 = np.concatenate([probe, probe[::-1]])
    figures = log(probe8, 0)  # the output shapes are known once traced: chunks of 2 from the start
    log(probe8, 1)
    log.close()
    assert sizes == [2] * 16  # per step: a pass for the histogram's edges, then the reductions
    want = reference(model, "conv1", probe8)
    assert figures["conv1"]["mean"] == pytest.approx(float(want.astype(np.float64).mean()), rel=1e-6)
    assert figures["conv1"]["sparsity"] == pytest.approx(float(np.mean(want == 0)))


def test_the_deprecated_workers_option_changes_nothing_in_the_event(
    tmp_path: Path, model: keras.Model, probe: np.ndarray
) -> None:
    layers = ["conv1", "conv2", "conv3_dead"]
    with tbactviz.ActivationLogger(tmp_path / "1", model, layers=layers) as log:
        log(probe, 0)
    with pytest.warns(DeprecationWarning, match="workers= does nothing"):
        log = tbactviz.ActivationLogger(tmp_path / "3", model, layers=layers, workers=3)
    with log:
        log(probe, 0)
    one, three = _records_by_key(tmp_path / "1"), _records_by_key(tmp_path / "3")
    assert one.keys() == three.keys() and len(one) == 3 * 9
    for key, value in one.items():
        if key[0].startswith("activations/"):
            assert [i.tobytes() for i in value[1]] == [i.tobytes() for i in three[key][1]]
        else:
            np.testing.assert_array_equal(value, three[key])


@pytest.mark.parametrize("images", [False, True])
def test_only_small_arrays_leave_the_device(tmp_path: Path, images: bool) -> None:
    from tbactviz.training.background import chunk_nbytes

    inp = keras.Input((64, 64, 3))
    model = keras.Model(inp, keras.layers.Conv2D(64, 3, padding="same", name="c")(inp))
    probe = np.random.default_rng(0).random((16, 64, 64, 3), dtype=np.float32)
    acts_bytes = 16 * 64 * 64 * 64 * 4  # the layer's float32 activations of the whole probe: 16 MiB
    with tbactviz.ActivationLogger(tmp_path, model, "c", max_images=1, images=images, batch_size=8) as log:
        chunks = list(log.probe_chunks(probe))
        figures = log.write_chunks(chunks, 16, 0)
    assert [part.shape for chunk in chunks for part in chunk.values()] == [(8, 64, 64, 64)] * 2
    sizes = [chunk_nbytes(chunk) for chunk in chunks]
    # per chunk: per-channel partial sums (7 x 64 x 4 bytes), 30 histogram counts, and with grids the one
    # drawn sample's maps (the device-side grid reduction will shrink those to the grid's pixels)
    assert sizes[1] <= 7 * 64 * 4 + 4 + 30 * 4 and sizes[1] < acts_bytes / 1000
    assert sizes[0] <= sizes[1] + (64 * 64 * 64 * 4 if images else 0)
    assert sum(sizes) < acts_bytes / (10 if images else 1000)
    assert 0.0 <= figures["c"]["dormant_fraction"] <= 1.0


def test_own_tags_are_listed_by_naming(tmp_path: Path, model: keras.Model, probe: np.ndarray) -> None:
    from tbactviz.events import naming

    with tbactviz.ActivationLogger(tmp_path, model, layers=["conv1", "conv2"], stats=["mean"]) as log:
        log(probe, step=0)
    written = [r.tag for r in read_events(tmp_path, own=True)]
    listed = [t for p in ("conv1", "conv2") for t in naming.tags_for_layer(p, stats=["mean"], own=True)]
    assert sorted(written) == sorted(listed)


def test_written_tags_follow_the_last_step(tmp_path: Path) -> None:
    """``written_tags``: empty before a step, the event's stock tags after one, empty after a failed one."""
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3, name="c")])
    with tbactviz.ActivationLogger(tmp_path, model, "c", stats=["mean"], on_error="warn") as logger:
        assert logger.written_tags == []
        logger.log(np.ones((1, 8, 8, 3), "float32"), 0)
        assert logger.written_tags == logger.tags == ["activations/c", "histograms/c", "mean/c"]
        assert sorted(logger.written_tags) == sorted(r.tag for r in read_events(tmp_path) if r.step == 0)
        with pytest.warns(tbactviz.TbactvizWarning, match="extracting activations failed"):
            logger.log(np.ones((1, 9, 9, 3), "float32"), 1)  # does not fit the model: nothing written
        assert logger.written_tags == []
