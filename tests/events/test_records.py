"""Tests of tbactviz.events.records and of the event file's bytes: the same as TensorFlow's record writer.

The old way (``tf.io.TFRecordWriter``) lives on only here, as the reference the new framing is compared with.
"""

from __future__ import annotations

import io
import os
import struct
import sys
import types
from pathlib import Path

import google_crc32c
import numpy as np
import pytest
import tensorflow as tf
from _events import read_events
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub import pywrap_tensorflow as tensorboard_stub

from tbactviz.errors import LogdirError
from tbactviz.events import wire, writer
from tbactviz.events.records import RecordFile, frame, masked_crc32c
from tbactviz.events.writer import EventWriter, check_logdir, image_value, scalar_value
from tbactviz.grids.png import encode_png

PAYLOADS = [b"", b"a", bytes(range(256)) * 5, np.random.default_rng(0).bytes(3 << 20)]


def test_the_crc_is_the_compiled_one() -> None:
    assert google_crc32c.implementation == "c"


def test_crc32c_check_value_and_the_mask() -> None:
    assert google_crc32c.value(b"123456789") == 0xE3069283  # the CRC-32C check value (RFC 3720)
    crc = 0xE3069283
    assert masked_crc32c(b"123456789") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) % 2**32


@pytest.mark.parametrize("data", PAYLOADS[:3], ids=["empty", "one", "1280"])
def test_masked_crc_equals_tensorboards_pure_python_one(data: bytes) -> None:
    assert masked_crc32c(data) == tensorboard_stub.masked_crc32c(data)


@pytest.mark.parametrize("data", PAYLOADS, ids=["empty", "one", "1280", "3MiB"])
def test_records_are_the_bytes_tf_record_writer_writes(data: bytes, tmp_path: Path) -> None:
    theirs = tmp_path / "tf.tfrecord"
    with tf.io.TFRecordWriter(str(theirs)) as tf_writer:
        tf_writer.write(data)
        tf_writer.write(data[::-1])
    buffer = io.BytesIO()
    records = RecordFile(buffer)
    records.write(data)
    records.write(data[::-1])
    assert buffer.getvalue() == theirs.read_bytes()
    head, body, foot = frame(data)
    assert struct.unpack("<QI", head) == (len(data), masked_crc32c(head[:8])) and body is data
    assert struct.unpack("<I", foot)[0] == masked_crc32c(data)


def _one_step() -> list[bytes]:
    png = encode_png(np.random.default_rng(1).integers(0, 256, (9, 11, 3), dtype=np.uint8))
    return [
        image_value("activations/c1", [png, png], width=11, height=9).SerializeToString(),
        scalar_value("sparsity/c1", 0.25).SerializeToString(),
    ]


def _old_event_file(path: Path, step: int, values: list[bytes], wall_time: float) -> None:
    """What EventWriter wrote before it framed records itself: TensorFlow's record writer."""
    with tf.io.TFRecordWriter(str(path)) as tf_writer:
        header = event_pb2.Event(wall_time=wall_time, step=0, file_version="brain.Event:2")
        tf_writer.write(header.SerializeToString())
        tf_writer.write(wire.event(step, wall_time, values))


def test_event_file_bytes_equal_the_old_tensorflow_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wall_time = 1_700_000_000.25
    monkeypatch.setattr(writer, "time", types.SimpleNamespace(time=lambda: wall_time))
    values = _one_step()
    with EventWriter(tmp_path / "new") as new:
        new.write(7, values)
    assert new.path is not None
    _old_event_file(tmp_path / "old", 7, values, wall_time)
    assert Path(new.path).read_bytes() == (tmp_path / "old").read_bytes()
    assert {(r.tag, r.step) for r in read_events(tmp_path / "new")} == {
        ("activations/c1", 7),
        ("sparsity/c1", 7),
    }


def test_tensorboards_loader_reads_every_record(tmp_path: Path) -> None:
    with EventWriter(tmp_path) as events:
        for step in range(5):
            events.write(step, [scalar_value("s/a", float(step))])
    assert events.path is not None
    loaded = list(event_file_loader.EventFileLoader(events.path).Load())
    assert [e.file_version for e in loaded[:1]] == ["brain.Event:2"]
    assert [(e.step, e.summary.value[0].tag) for e in loaded[1:]] == [(s, "s/a") for s in range(5)]


def test_a_url_logdir_goes_through_tensorflows_file_system(tmp_path: Path) -> None:
    logdir = f"ram://{tmp_path.name}/run"  # TensorFlow's in-memory file system: a non-local path here
    with EventWriter(logdir) as events:
        events.write(3, [scalar_value("s/a", 1.5)])
    assert events.path is not None and events.path.startswith(logdir)
    with tf.io.gfile.GFile(events.path, "rb") as file:
        data = file.read()
    local = tmp_path / "copy.tfevents"
    local.write_bytes(data)
    loaded = list(event_file_loader.EventFileLoader(str(local)).Load())
    assert [(e.step, e.summary.value[0].tag) for e in loaded[1:]] == [(3, "s/a")]


def test_a_url_logdir_without_tensorflow_is_an_early_error_naming_the_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # as if not installed
    with pytest.raises(LogdirError, match=r"logdir='gs://bucket/run'.*pip install tensorflow"):
        check_logdir("gs://bucket/run")
    with pytest.raises(LogdirError, match="pip install tensorflow"):
        EventWriter("gs://bucket/run")
    assert check_logdir(os.fspath(Path.cwd())) == os.fspath(Path.cwd())  # local paths need no TensorFlow
