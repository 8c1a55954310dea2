"""TensorBoard event writing: our own event file, opened lazily, closed idempotently.

tbactviz never writes into TensorFlow's default summary writer (Keras' TensorBoard callback pushes its own
during ``fit``). :class:`EventWriter` serializes each ``Event`` itself (:func:`tbactviz.events.wire.event`,
from summary values given as messages or already serialized) and appends it to its own
``events.out.tfevents.*`` file as one TFRecord (:mod:`tbactviz.events.records`: the framing, with a compiled
CRC-32C), so each log event is one record holding every summary of that step. The summaries use TensorBoard's
own plugin metadata, exactly as ``tf.summary.image`` / ``histogram`` / ``scalar`` would, so TensorBoard,
``EventAccumulator`` and tbparse read them like any other, and the file's bytes are those
``tf.io.TFRecordWriter`` writes.

No TensorFlow for a local log directory: the file is a plain Python file, so a JAX or PyTorch process never
imports TensorFlow to log. A non-local one (``gs://bucket/run``, any ``scheme://``) goes through TensorFlow's
file system layer (``tf.io.gfile``); :func:`check_logdir` says at once, before training starts, when
TensorFlow is not installed.

Lifecycle: nothing touches the file system until the first :meth:`EventWriter.write` (an unused writer leaves
no file); :meth:`EventWriter.flush` pushes records to disk; :meth:`EventWriter.close` flushes and closes and
may be called any number of times; writing after close raises :class:`~tbactviz.errors.WriterClosedError`.
A writer left open is closed at the interpreter's exit (an :mod:`atexit` handler registered when this module
is imported, so it runs after the background writer's own exit handler has written its pending steps), or
when it is garbage-collected (:func:`weakref.finalize`); neither depends on module globals late in shutdown.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import itertools
import os
import socket
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

from tbactviz.errors import LogdirError, WriterClosedError
from tbactviz.events import wire
from tbactviz.events.records import BinaryFile, RecordFile

__all__ = [
    "EventWriter",
    "check_logdir",
    "histogram_value",
    "image_value",
    "scalar_value",
    "tbactviz_tensor_value",
]

_FILE_COUNTER = itertools.count()
_IMAGE_META, _HISTOGRAM_META, _SCALAR_META = wire.IMAGE_META, wire.HISTOGRAM_META, wire.SCALAR_META


def _is_remote(path: str) -> bool:
    return "://" in path


def _remote_file_system() -> Any:
    """TensorFlow's ``tf.io.gfile``, which writes to non-local log directories (``gs://``, ...)."""
    import tensorflow as tf

    return tf.io.gfile


def _check_remote(path: str) -> None:
    try:
        _remote_file_system()
    except ImportError as exc:
        raise LogdirError(
            f"logdir={path!r} is not a local path: tbactviz writes to {path.split('://')[0]}:// through "
            f"TensorFlow's file system (tf.io.gfile), and TensorFlow cannot be imported ({exc}); install it "
            "(pip install tensorflow) or log into a local directory"
        ) from exc


def check_logdir(logdir: str | os.PathLike[str]) -> str:
    """Validate a log directory without creating anything.

    A local path must not be an existing file, and it (or, if it does not exist yet, its nearest existing
    ancestor) must be a writable directory. A URL (``gs://bucket/run``, any ``scheme://``) is written through
    TensorFlow's file system layer: it is only checked that TensorFlow imports.

    Args:
        logdir: The directory the event file will live in.

    Returns:
        ``logdir`` as a string.

    Raises:
        LogdirError: The path is a file, or cannot be created or written; or it is a URL and TensorFlow is not
            installed (the message names the package).
        TypeError: ``logdir`` is not a string or path.

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> check_logdir(d) == d
        True
    """
    if not isinstance(logdir, (str, os.PathLike)):
        raise TypeError(f"logdir must be a str or os.PathLike, got {type(logdir).__name__}: {logdir!r}")
    path = os.fspath(logdir)
    if not path:
        raise LogdirError(f"logdir={path!r} is empty; give a directory such as 'logs/activations'")
    if _is_remote(path):
        _check_remote(path)
        return path
    probe = os.path.abspath(path)
    if os.path.exists(probe) and not os.path.isdir(probe):
        raise LogdirError(f"logdir={path!r} exists and is not a directory; choose another path or remove it")
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise LogdirError(f"logdir={path!r} cannot be created: {probe!r} is a file, not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise LogdirError(f"logdir={path!r} is not writable: no write permission on {probe!r}")
    return path


def _hint(exc: BaseException) -> str:
    """What to do about a failed write, when the cause is recognizable."""
    text = str(exc).lower()
    if getattr(exc, "errno", None) == errno.ENOSPC or "no space left" in text or "resource exhausted" in text:
        return (
            " -- the disk is full: free space (or point logdir elsewhere); logging resumes once it can write"
        )
    if getattr(exc, "errno", None) in (errno.EACCES, errno.EPERM, errno.EROFS) or "permission" in text:
        return " -- no permission to write there: choose a writable logdir"
    return ""


def image_value(tag: str, pngs: Sequence[bytes], width: int, height: int) -> summary_pb2.Summary.Value:
    """A summary value of the images plugin, as ``tf.summary.image`` writes it.

    Args:
        tag: The tag, e.g. ``activations/conv1``.
        pngs: Encoded PNG images, all ``width`` x ``height`` pixels (may be empty).
        width: Image width in pixels.
        height: Image height in pixels.

    Returns:
        A ``Summary.Value`` whose tensor is the string vector ``[width, height, png_0, png_1, ...]``.
    """
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=2 + len(pngs))]
        ),
        string_val=[str(int(width)).encode(), str(int(height)).encode(), *pngs],
    )
    return summary_pb2.Summary.Value(tag=tag, metadata=_IMAGE_META, tensor=tensor)


def histogram_value(tag: str, buckets: np.ndarray) -> summary_pb2.Summary.Value:
    """A summary value of the histograms plugin, as ``tf.summary.histogram`` writes it.

    Args:
        tag: The tag, e.g. ``histograms/conv1``.
        buckets: float64-castable array of shape (k, 3): ``[left_edge, right_edge, count]`` per bucket
            (see :func:`tbactviz.stats.arrays.histogram_buckets`).

    Returns:
        A ``Summary.Value`` with a float64 tensor of shape (k, 3).
    """
    arr = np.ascontiguousarray(buckets, dtype="<f8")
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"buckets has shape {arr.shape}; expected (k, 3)")
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_DOUBLE,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[
                tensor_shape_pb2.TensorShapeProto.Dim(size=arr.shape[0]),
                tensor_shape_pb2.TensorShapeProto.Dim(size=3),
            ]
        ),
        tensor_content=arr.tobytes(),
    )
    return summary_pb2.Summary.Value(tag=tag, metadata=_HISTOGRAM_META, tensor=tensor)


def scalar_value(tag: str, value: float) -> summary_pb2.Summary.Value:
    """A summary value of the scalars plugin (a float32 scalar tensor), as ``tf.summary.scalar`` writes it."""
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, tensor_shape=tensor_shape_pb2.TensorShapeProto(), float_val=[float(value)]
    )
    return summary_pb2.Summary.Value(tag=tag, metadata=_SCALAR_META, tensor=tensor)


def tbactviz_tensor_value(tag: str, array: np.ndarray, *, kind: str) -> summary_pb2.Summary.Value:
    """A tensor summary of tbactviz's own plugin (read by the Activations tab, ignored by stock dashboards).

    Args:
        tag: The tag, built by :mod:`tbactviz.events.naming` (``layout/<path>``, ``channels/<path>``).
        array: A numeric array of any shape; float arrays are written as float32, integer arrays as int32.
        kind: What the tensor holds (``"layout"``, ``"channels"``), stored as the plugin's content together
            with a format version, so readers can tell the summaries apart and refuse unknown versions.

    Returns:
        A ``Summary.Value`` whose metadata names the plugin ``"tbactviz"`` and whose content is the JSON
        ``{"kind": kind, "version": 1}``.
    """
    import json

    from tbactviz.events.naming import PLUGIN_NAME

    arr = np.asarray(array)
    arr = np.ascontiguousarray(arr, dtype="<i4" if np.issubdtype(arr.dtype, np.integer) else "<f4")
    dtype = types_pb2.DT_INT32 if arr.dtype.kind == "i" else types_pb2.DT_FLOAT
    tensor = tensor_pb2.TensorProto(
        dtype=dtype,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in arr.shape]
        ),
        tensor_content=arr.tobytes(),
    )
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=json.dumps({"kind": kind, "version": 1}).encode()
        ),
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )
    return summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor)


class EventWriter:
    """Appends summaries to one event file of its own in ``logdir``.

    The file (``events.out.tfevents.<time>.<host>.<pid>.<n>.tbactviz.v2``) is created on the first
    :meth:`write`; two writers on the same directory, in one process or several, always get distinct files.
    Thread-safe: writes, flushes and close are serialized by a lock. A writer never closed is closed at the
    interpreter's exit or when it is garbage-collected.

    Args:
        logdir: The run directory (created on first write). A local path (written without TensorFlow), or any
            URL TensorFlow's file system layer understands (``gs://...``; needs TensorFlow).

    Raises:
        LogdirError: At construction, when ``logdir`` is a file or not writable, or a URL without TensorFlow
            installed; at the first write, when creating the directory or file fails.

    Example:
        >>> import tempfile
        >>> with EventWriter(tempfile.mkdtemp()) as w:
        ...     w.write(0, [scalar_value("loss/x", 1.5)])
    """

    def __init__(self, logdir: str | os.PathLike[str]) -> None:
        self._logdir = check_logdir(logdir)
        self._path: str | None = None
        self._record_writer: RecordFile | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._closed = False
        self._lock = threading.Lock()
        _OPEN_WRITERS.add(self)

    @property
    def logdir(self) -> str:
        """The run directory."""
        return self._logdir

    @property
    def path(self) -> str | None:
        """Path of the event file, or None while nothing has been written."""
        return self._path

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def _open(self) -> None:
        name = (
            f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}"
            f".{next(_FILE_COUNTER)}.tbactviz.v2"
        )
        path = os.path.join(self._logdir, name)
        header = event_pb2.Event(wall_time=time.time(), step=0, file_version="brain.Event:2")
        file: BinaryFile | None = None
        try:
            file = _create(self._logdir, path)
            records = RecordFile(file)
            records.write(header.SerializeToString())
        except Exception as exc:  # OSError; tf.errors.OpError on a remote file system
            if file is not None:
                _close_quietly(file)
            raise LogdirError(f"cannot write events into logdir={self._logdir!r}: {exc}{_hint(exc)}") from exc
        self._record_writer, self._path = records, path
        # Closes the file if this writer is garbage-collected open; never late in shutdown (weakref's rule).
        self._finalizer = weakref.finalize(self, _close_quietly, records)
        self._finalizer.atexit = False  # at exit, _close_open_writers closes it, after pending steps

    def write(
        self,
        step: int,
        values: Sequence[summary_pb2.Summary.Value | bytes],
        *,
        wall_time: float | None = None,
    ) -> None:
        """Append one event holding ``values`` at ``step``.

        Args:
            step: The global step (epoch, batch counter, ...), an integer >= 0.
            values: Summary values built with :func:`image_value`, :func:`histogram_value`,
                :func:`scalar_value`, or already serialized (:mod:`tbactviz.events.wire`). An empty sequence
                writes nothing (and opens nothing).
            wall_time: Seconds since the epoch; default now.

        Raises:
            WriterClosedError: The writer was closed.
            LogdirError: The file could not be created or written.
        """
        if self._closed:
            raise WriterClosedError(
                f"write(step={step}) after close(): this EventWriter for logdir={self._logdir!r} is closed; "
                "create a new one to keep logging"
            )
        if not values:
            return
        data = wire.event(
            step,
            time.time() if wall_time is None else wall_time,
            [v if isinstance(v, bytes) else v.SerializeToString() for v in values],
        )
        with self._lock:
            if self._closed:
                raise WriterClosedError(f"write(step={step}) after close() for logdir={self._logdir!r}")
            if self._record_writer is None:
                self._open()
            assert self._record_writer is not None
            try:
                self._record_writer.write(data)
            except Exception as exc:  # OSError (disk full, ...); tf.errors.OpError on a remote file system
                path = self._discard()
                raise LogdirError(
                    f"writing events to {path!r} failed: {exc}{_hint(exc)} (the events written before are "
                    "kept; the next write starts a new event file)"
                ) from exc

    def flush(self) -> None:
        """Push written events to disk (no-op when nothing was written or the writer is closed)."""
        with self._lock:
            if self._record_writer is not None and not self._closed:
                try:
                    self._record_writer.flush()
                except Exception as exc:
                    path = self._discard()
                    raise LogdirError(
                        f"flushing events to {path!r} failed: {exc}{_hint(exc)} (the events flushed before "
                        "are kept; the next write starts a new event file)"
                    ) from exc

    def _discard(self) -> str | None:
        """Drop a record writer that failed (lock held): its file keeps what reached the disk, and the next
        write opens a new file instead of appending after a possibly torn record."""
        writer, self._record_writer = self._record_writer, None
        if self._finalizer is not None:
            self._finalizer.detach()
        if writer is not None:
            _close_quietly(writer)
        return self._path

    def close(self) -> None:
        """Flush and close the file. Idempotent: closing twice is harmless."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            writer, self._record_writer = self._record_writer, None
            if self._finalizer is not None:
                self._finalizer.detach()
        _OPEN_WRITERS.discard(self)
        if writer is not None:
            writer.close()

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("open" if self._path else "unopened")
        return f"EventWriter(logdir={self._logdir!r}, {state})"


def _create(logdir: str, path: str) -> BinaryFile:
    """Create the directory and open a new event file for writing (TensorFlow's file system for a URL)."""
    if _is_remote(path):
        gfile = _remote_file_system()
        gfile.makedirs(logdir)
        remote: BinaryFile = gfile.GFile(path, "wb")
        return remote
    os.makedirs(logdir, exist_ok=True)
    return open(path, "wb")  # owned by the RecordFile, closed by EventWriter.close


def _close_quietly(file: BinaryFile | RecordFile) -> None:
    """Close, ignoring errors: the file is being dropped (failed, or its writer forgotten)."""
    with contextlib.suppress(Exception):  # a failing disk: what reached it is kept
        file.close()


#: Writers not closed yet (weakly held: a forgotten writer can still be garbage-collected).
_OPEN_WRITERS: weakref.WeakSet[EventWriter] = weakref.WeakSet()


def _close_open_writers() -> None:
    """Close every writer left open (at exit). Registered when this module is imported, so before any
    :class:`tbactviz.training.background.BackgroundWriter` registers its own exit handler: exit handlers run
    last-registered first, so pending background steps are written before their file is closed."""
    for writer in list(_OPEN_WRITERS):
        with contextlib.suppress(Exception):  # a failing disk at exit: nothing left to warn
            writer.close()


atexit.register(_close_open_writers)
