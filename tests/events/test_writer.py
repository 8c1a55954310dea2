"""Tests of tbactviz.events.writer: our event file, lazy, flushed, closed idempotently, read back exactly."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from _events import event_files, read_events
from PIL import Image
from tensorboard.backend.event_processing import event_file_loader

from tbactviz.errors import LogdirError, WriterClosedError
from tbactviz.events.writer import EventWriter, check_logdir, histogram_value, image_value, scalar_value
from tbactviz.grids.png import encode_png


def _png(h: int, w: int, c: int = 3, seed: int = 0) -> tuple[np.ndarray, bytes]:
    img = np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)
    return img, encode_png(img)


def test_nothing_is_created_until_the_first_write(tmp_path: Path) -> None:
    logdir = tmp_path / "run"
    writer = EventWriter(logdir)
    writer.flush()
    writer.write(0, [])
    writer.close()
    assert not logdir.exists()
    assert writer.path is None


def test_round_trip_of_every_summary_kind(tmp_path: Path) -> None:
    img0, png0 = _png(5, 7, seed=0)
    img1, png1 = _png(5, 7, seed=1)
    buckets = np.array([[0.0, 1.0, 4.0], [1.0, 2.0, 6.0]])
    with EventWriter(tmp_path) as writer:
        writer.write(
            3,
            [
                image_value("activations/a", [png0, png1], width=7, height=5),
                histogram_value("histograms/a", buckets),
                scalar_value("sparsity/a", 0.25),
            ],
        )
        writer.write(4, [scalar_value("sparsity/a", 0.5)])
    records = read_events(tmp_path)
    assert {(r.tag, r.step, r.plugin) for r in records} == {
        ("activations/a", 3, "images"),
        ("histograms/a", 3, "histograms"),
        ("sparsity/a", 3, "scalars"),
        ("sparsity/a", 4, "scalars"),
    }
    by_key = {(r.tag, r.step): r.value for r in records}
    size, images = by_key[("activations/a", 3)]
    assert size == (7, 5)
    np.testing.assert_array_equal(np.asarray(images[0]), img0)
    np.testing.assert_array_equal(np.asarray(images[1]), img1)
    np.testing.assert_array_equal(by_key[("histograms/a", 3)], buckets)
    assert by_key[("sparsity/a", 3)] == 0.25 and by_key[("sparsity/a", 4)] == 0.5


def test_events_are_readable_after_flush_before_close(tmp_path: Path) -> None:
    writer = EventWriter(tmp_path)
    writer.write(1, [scalar_value("s/a", 1.0)])
    writer.flush()
    assert [(r.tag, r.step) for r in read_events(tmp_path)] == [("s/a", 1)]
    writer.close()


def test_close_is_idempotent_and_write_after_close_raises(tmp_path: Path) -> None:
    writer = EventWriter(tmp_path)
    writer.write(0, [scalar_value("s/a", 1.0)])
    writer.close()
    writer.close()
    assert writer.closed
    with pytest.raises(WriterClosedError, match="after close"):
        writer.write(1, [scalar_value("s/a", 1.0)])
    writer.flush()  # harmless


def test_two_writers_on_one_directory_get_distinct_files(tmp_path: Path) -> None:
    with EventWriter(tmp_path) as a, EventWriter(tmp_path) as b:
        a.write(0, [scalar_value("s/a", 1.0)])
        b.write(0, [scalar_value("s/b", 2.0)])
    assert len(event_files(tmp_path)) == 2
    assert {(r.tag, r.value) for r in read_events(tmp_path)} == {("s/a", 1.0), ("s/b", 2.0)}


def test_file_in_place_of_logdir_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "logs"
    target.write_text("not a directory")
    with pytest.raises(LogdirError, match="exists and is not a directory"):
        EventWriter(target)
    with pytest.raises(LogdirError, match="is a file"):
        check_logdir(target / "sub")


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root bypasses file permissions")
def test_unwritable_logdir_is_a_clear_error(tmp_path: Path) -> None:  # pragma: no cover - CI runs as root
    tmp_path.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(LogdirError, match="not writable"):
            EventWriter(tmp_path / "run")
    finally:
        tmp_path.chmod(stat.S_IRWXU)


def test_logdir_type_and_empty_checked() -> None:
    with pytest.raises(TypeError, match="logdir must be"):
        check_logdir(3)  # type: ignore[arg-type]
    with pytest.raises(LogdirError, match="empty"):
        check_logdir("")


def test_histogram_value_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"expected \(k, 3\)"):
        histogram_value("h/a", np.zeros((3, 2)))


@pytest.mark.parametrize("shape", [(4, 6), (4, 6, 1), (4, 6, 3), (4, 6, 4)])
def test_encode_png_round_trips(shape: tuple[int, ...]) -> None:
    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    back = np.asarray(Image.open(io.BytesIO(encode_png(img))))
    np.testing.assert_array_equal(back, img.reshape(back.shape))


@pytest.mark.parametrize(
    "img", [np.zeros((4, 6), np.float32), np.zeros((4, 6, 2), np.uint8), np.zeros((0, 6, 3), np.uint8)]
)
def test_encode_png_rejects_bad_input(img: np.ndarray) -> None:
    with pytest.raises(ValueError, match="image has"):
        encode_png(img)


LEFT_OPEN = textwrap.dedent(
    """
    import sys
    import keras, numpy as np
    import tbactviz
    from tbactviz.training.background import BackgroundWriter

    x = np.random.default_rng(0).random((2, 12, 12, 3), dtype=np.float32)
    model = keras.Sequential([keras.Input((12, 12, 3)), keras.layers.Conv2D(4, 3, name="c1")])
    kept = tbactviz.ActivationLogger(sys.argv[1] + "/kept", model, "c1")
    loose = tbactviz.ActivationLogger(sys.argv[1] + "/loose", model, "c1")
    queued = tbactviz.ActivationLogger(sys.argv[1] + "/queued", model, "c1")
    background = BackgroundWriter(queued, on_error=lambda step, exc: print(step, exc), max_steps=3)
    for step in range(3):
        kept(x, step=step)
        loose(x, step=step)
        background.submit(step, 2, queued.probe_chunks(x))  # pending at exit: drained, then closed
    sys._tbactviz_kept = kept  # dropped late in shutdown, after the modules' globals (as by JAX's caches)
    print("left open", flush=True)
    """
)


@pytest.mark.slow
def test_writers_left_open_at_exit_are_closed_quietly_and_complete(tmp_path: Path) -> None:
    script = tmp_path / "left_open.py"
    script.write_text(LEFT_OPEN)
    env = {**os.environ, "KERAS_BACKEND": "jax", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0 and proc.stdout == "left open\n", proc.stderr[-4000:]
    assert "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-4000:]
    for run in ("kept", "loose", "queued"):
        (path,) = event_files(tmp_path / run)
        steps = [e.step for e in event_file_loader.EventFileLoader(path).Load()]
        assert steps == [0, 0, 1, 2], run  # the file header, then one event per step: nothing torn or lost
