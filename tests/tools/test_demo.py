"""``tbactviz demo``: a short run (1 epoch, few images) and what it leaves for TensorBoard."""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import pytest
from _events import event_files, read_events

from tbactviz.cli import ExitCode, main
from tbactviz.tools.demo import DEMO_LAYERS, build_model, probe_images, run_demo

STATS = ("sparsity", "dead_channels", "mean", "std", "max_abs", "nonfinite", "dormant_fraction")


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "logs"
    code = main(["demo", "--logdir", str(root), "--epochs", "2", "--samples", "128", "-q"])
    assert code == 0
    return root


def test_demo_writes_its_own_run_next_to_keras_runs(demo_root):
    runs = {os.path.relpath(os.path.dirname(f), demo_root) for f in event_files(demo_root)}
    assert runs == {"demo/activations", "demo/train", "demo/validation"}
    # one event file each: the callback never writes into Keras' runs, Keras never into ours
    assert len(event_files(demo_root / "demo" / "activations")) == 1


def test_demo_activation_events_per_layer_and_step(demo_root):
    records = [r for r in read_events(demo_root) if r.run == "demo/activations"]
    expected = {f"activations/{p}" for p in DEMO_LAYERS} | {f"histograms/{p}" for p in DEMO_LAYERS}
    expected |= {f"{s}/{p}" for s in STATS for p in DEMO_LAYERS}
    assert {r.tag for r in records} == expected
    for tag in expected:
        assert sorted(r.step for r in records if r.tag == tag) == [0, 1, 2]  # untrained, then each epoch
    conv1 = [r for r in records if r.tag == "activations/conv1"]
    (width, height), images = conv1[-1].value
    assert len(images) == 4  # one grid per probe image, one probe image per class
    assert images[0].size == (width, height) and min(width, height) >= 128  # 16 tiles, upscaled
    # the feature maps change with training
    first, last = (np.asarray(r.value[1][0]) for r in (conv1[0], conv1[-1]))
    assert not np.array_equal(first, last)


def test_demo_keras_scalars_are_in_keras_runs(demo_root):
    tags = {(r.run, r.tag) for r in read_events(demo_root) if r.run != "demo/activations"}
    assert ("demo/train", "epoch_loss") in tags and ("demo/validation", "epoch_accuracy") in tags


def test_demo_saves_model_and_probe_usable_by_tbactviz_log(demo_root, capsys):
    run = demo_root / "demo"
    model = keras.saving.load_model(run / "model.keras")
    probe = np.load(run / "probe.npy")
    assert probe.shape == (4, 32, 32, 3) and probe.dtype == np.float32 and probe.max() > 1.0  # raw pixels
    assert model.predict(probe, verbose=0).shape == (4, 4)
    assert sorted(p.name for p in (run / "probe").iterdir()) == [
        "0_circle.png",
        "1_square.png",
        "2_triangle.png",
        "3_cross.png",
    ]
    pngs = sorted(str(p) for p in (run / "probe").iterdir())
    code = main(
        [
            "log",
            str(run / "model.keras"),
            *pngs,
            "--layers",
            "conv*",
            "--logdir",
            str(demo_root / "posthoc"),
            "-q",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "tbactviz board --logdir" in out


def test_demo_rerun_replaces_the_previous_run_and_prints_how_to_open_tensorboard(tmp_path, capsys):
    first = run_demo(tmp_path, epochs=1, samples=32, verbose=0)
    assert first.logged_steps == (0, 1) and first.layer_paths == DEMO_LAYERS
    assert main(["demo", "--logdir", str(tmp_path), "--epochs", "1", "--samples", "32", "-q"]) == 0
    out = capsys.readouterr().out
    assert f"tbactviz board --logdir {tmp_path}" in out and "validation accuracy" in out
    assert len(event_files(tmp_path / "demo")) == 3  # the first run's event files were replaced


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--epochs", "0"], ExitCode.USAGE),
        (["--samples", "0"], ExitCode.USAGE),
        (["--image-size", "8"], ExitCode.BAD_SIZE),
    ],
)
def test_demo_rejects_bad_arguments(argv, code, tmp_path, capsys):
    assert main(["demo", "--logdir", str(tmp_path), *argv]) == code
    assert argv[0] in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_run_demo_validates_arguments(tmp_path):
    with pytest.raises(ValueError, match="epochs"):
        run_demo(tmp_path, epochs=0)
    with pytest.raises(ValueError, match="run="):
        run_demo(tmp_path, run="a/b")


def test_build_model_layers_and_shapes():
    model = build_model(48)
    assert [layer.name for layer in model.layers][1:] == [
        "rescale",
        "conv1",
        "pool1",
        "conv2",
        "pool2",
        "conv3",
        "gmp",
        "scores",
    ]
    assert model.output.shape == (None, 4)
    assert model.get_layer("conv3").output.shape == (None, 12, 12, 48)


def test_probe_images_one_per_class_in_class_order():
    x = np.arange(8, dtype=np.float32)[:, None, None, None]
    y = np.array([3, 1, 0, 2, 1, 0, 3, 2])
    assert probe_images(x, y)[:, 0, 0, 0].tolist() == [2, 1, 3, 0]
