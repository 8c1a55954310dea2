"""Background writing: a queue bounded in bytes, and the writer thread that folds probe chunks into events.

With ``ActivationCallback(async_write=True)`` the training thread only runs the probe's forward passes
(:meth:`tbactviz.ActivationLogger.probe_chunks`, which must run where the model is, and reduces each chunk on
the device to small arrays) and hands each chunk to a :class:`BackgroundWriter`; its thread folds the
chunks of a step into grids, histograms and figures and writes them as one event
(:meth:`tbactviz.ActivationLogger.write_chunks`). Two bounds keep memory
in check whatever the probe's size:

* bytes: a :class:`ByteBoundedQueue` holds at most ``max_bytes`` of activations, counted from the moment a
  chunk is queued until the writer has folded it (one chunk always fits, however large);
* steps: at most ``max_steps`` logged steps are queued or being written at once.

When either bound is reached the training thread waits for the writer (no step is ever dropped). A step is
written complete or not at all: when its forward pass fails half-way, the writer drops the chunks it got.

This module imports nothing but the standard library and :mod:`tbactviz.checks` (and numpy's arrays only
through duck typing).
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from typing import Any, Generic, Protocol, TypeVar

from tbactviz.checks import check_int

__all__ = ["DEFAULT_MAX_BYTES", "BackgroundWriter", "ByteBoundedQueue", "chunk_nbytes"]

_log = logging.getLogger(__name__)

#: Default bound of the queue: 512 MiB, two automatic probe chunks (``tbactviz.options.MAX_CHUNK_BYTES``).
DEFAULT_MAX_BYTES = 512 << 20

T = TypeVar("T")


class ChunkWriter(Protocol):
    """What the writer thread needs of :class:`tbactviz.ActivationLogger`."""

    def write_chunks(self, chunks: Iterable[Mapping[str, Any]], n: int, step: int) -> Any: ...


def chunk_nbytes(chunk: Mapping[str, Any]) -> int:
    """Bytes held by one probe chunk ``{path: part}``: the sum of each part's ``nbytes`` (a numpy array, or
    the logger's :class:`tbactviz.snapshot.digest.LayerPart` of device-reduced arrays).

    Example:
        >>> import numpy as np
        >>> chunk_nbytes({"conv1": np.zeros((2, 4, 4, 8), "float32"), "dense": np.zeros((2, 10), "float32")})
        1104
    """
    return sum(int(getattr(array, "nbytes", 0)) for array in chunk.values())


class ByteBoundedQueue(Generic[T]):
    """A FIFO queue bounded by the bytes its items hold, from :meth:`put` until :meth:`release`.

    :meth:`put` blocks while the bytes held would exceed ``max_bytes``, except that an item always fits in an
    empty queue (so an item larger than the bound still passes, alone). The consumer gets ``(item, nbytes)``
    and calls :meth:`release` with ``nbytes`` once it is done with the item: until then the item's bytes
    count, so the bound covers what waits *and* what is being worked on. One producer and one consumer.

    Args:
        max_bytes: int >= 1. The bound, in bytes.

    Raises:
        ValueError: ``max_bytes`` is not an int >= 1.

    Example:
        >>> q = ByteBoundedQueue(max_bytes=100)
        >>> q.put("a", 60)  # a put("b", 60) now would wait for the consumer
        >>> item, nbytes = q.get()
        >>> q.held_bytes  # still held while the consumer works on it
        60
        >>> q.release(nbytes)
        >>> q.put("big", 500)  # alone in the queue: an item always fits
        >>> q.held_bytes, q.peak_bytes
        (500, 500)
    """

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = check_int("max_bytes", max_bytes, minimum=1)
        self._items: deque[tuple[T, int]] = deque()
        self._held = 0
        self._peak = 0
        self._lock = threading.Condition()

    @property
    def max_bytes(self) -> int:
        """The bound, in bytes."""
        return self._max_bytes

    @property
    def held_bytes(self) -> int:
        """Bytes of the items queued or got but not yet released."""
        return self._held

    @property
    def peak_bytes(self) -> int:
        """The most bytes ever held at once (at most ``max_bytes``, or one item larger than it)."""
        return self._peak

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T, nbytes: int = 0) -> None:
        """Queue ``item`` holding ``nbytes``; wait while that would exceed the bound (an item always fits
        when nothing is held)."""
        nbytes = check_int("nbytes", nbytes, minimum=0)
        with self._lock:
            while self._held > 0 and self._held + nbytes > self._max_bytes:
                self._lock.wait()
            self._held += nbytes
            self._peak = max(self._peak, self._held)
            self._items.append((item, nbytes))
            self._lock.notify_all()

    def get(self) -> tuple[T, int]:
        """Wait for the oldest item; return it with its bytes, which stay held until :meth:`release`."""
        with self._lock:
            while not self._items:
                self._lock.wait()
            return self._items.popleft()

    def release(self, nbytes: int) -> None:
        """Give back the bytes of an item the consumer is done with."""
        if nbytes:
            with self._lock:
                self._held -= nbytes
                self._lock.notify_all()


class _Aborted(Exception):
    """The step's forward pass failed on the training thread: drop what was folded."""


_BEGIN, _CHUNK, _END, _ABORT, _STOP = "begin", "chunk", "end", "abort", "stop"


class _StepChunks:
    """The chunks of one step, read from the queue until its end marker (iterable once)."""

    def __init__(self, jobs: ByteBoundedQueue[tuple[str, Any]]) -> None:
        self._jobs = jobs
        self._done = False
        self._iterator = self._read()

    def __iter__(self) -> Iterator[Any]:
        return self._iterator

    def _read(self) -> Generator[Any, None, None]:
        while not self._done:
            (kind, payload), nbytes = self._jobs.get()
            if kind != _CHUNK:
                self._done = True
                if kind == _ABORT:
                    raise _Aborted
                return
            try:
                yield payload
            finally:  # the consumer asked for the next chunk (or gave up): this one is folded
                del payload
                self._jobs.release(nbytes)

    def drain(self) -> None:
        """Release whatever is left of the step (after an error in the middle of it)."""
        self._iterator.close()
        while not self._done:
            (kind, _payload), nbytes = self._jobs.get()
            self._jobs.release(nbytes)
            self._done = kind != _CHUNK


class BackgroundWriter:
    """A daemon thread that writes logged steps with ``logger.write_chunks``, fed by :meth:`submit`.

    Args:
        logger: What writes the events (an :class:`tbactviz.ActivationLogger`).
        on_error: Called on the writer thread with ``(step, exception)`` when writing a step fails.
        max_steps: int >= 1. Steps queued or being written at most; :meth:`submit` waits beyond.
        max_bytes: int >= 1, or None for :data:`DEFAULT_MAX_BYTES`. Bytes of activations queued or being
            folded at most (see :class:`ByteBoundedQueue`).
        name: The thread's name.

    Pending steps are written before the thread ends: at :meth:`close`, and at interpreter exit if
    :meth:`close` was never called (e.g. ``fit`` ended with an uncaught exception).

    Example:
        >>> import numpy as np
        >>> class Printer:
        ...     def write_chunks(self, chunks, n, step):
        ...         print(step, n, [len(c["x"]) for c in chunks])
        >>> writer = BackgroundWriter(Printer(), on_error=print, max_steps=2)
        >>> writer.submit(7, 5, iter([{"x": np.zeros(2)}, {"x": np.zeros(3)}]))
        >>> writer.close()
        7 5 [2, 3]
    """

    def __init__(
        self,
        logger: ChunkWriter,
        *,
        on_error: Callable[[int, Exception], None],
        max_steps: int,
        max_bytes: int | None = None,
        name: str = "tbactviz-writer",
    ) -> None:
        check_int("max_steps", max_steps, minimum=1)
        self._logger = logger
        self._on_error = on_error
        self.queue: ByteBoundedQueue[tuple[str, Any]] = ByteBoundedQueue(
            DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
        )
        self._pending = threading.Semaphore(max_steps)
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()
        self._closed = False
        self._atexit = _drain_at_exit(self.queue, self._thread)
        atexit.register(self._atexit)

    @property
    def alive(self) -> bool:
        """Whether the writer thread is running."""
        return self._thread.is_alive()

    def submit(self, step: int, n: int, chunks: Iterable[Mapping[str, Any]]) -> None:
        """On the training thread: run ``chunks`` (the forward passes) and queue them as step ``step``.

        Waits while ``max_steps`` steps are pending or the queue holds ``max_bytes``. If ``chunks`` raises,
        the writer drops the step and the exception propagates.

        Args:
            step: The step of the event.
            n: Number of probe samples in ``chunks``.
            chunks: ``{path: ndarray}`` chunks, e.g. ``logger.probe_chunks(probe)``.
        """
        if self._closed:
            raise RuntimeError(f"step {step}: this BackgroundWriter is closed")
        self._pending.acquire()
        self.queue.put((_BEGIN, (step, n)))
        try:
            for chunk in chunks:
                self.queue.put((_CHUNK, chunk), chunk_nbytes(chunk))
                del chunk
        except BaseException:
            self.queue.put((_ABORT, None))
            raise
        self.queue.put((_END, None))

    def close(self) -> None:
        """Write every pending step, then end the thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._atexit)
        if self._thread.is_alive():
            self.queue.put((_STOP, None))
            self._thread.join()

    def _loop(self) -> None:
        while True:
            (kind, payload), nbytes = self.queue.get()
            self.queue.release(nbytes)
            if kind == _STOP:
                return
            if kind != _BEGIN:  # stray marker (cannot happen with one producer): skip it
                continue
            step, n = payload
            chunks = _StepChunks(self.queue)
            try:
                self._logger.write_chunks(chunks, n, step)
            except _Aborted:
                pass  # the training thread reports why
            except Exception as exc:
                try:
                    self._on_error(step, exc)
                except Exception as report:  # never let the writer thread die
                    _log.warning("tbactviz: step %s: %s (reporting it failed: %s)", step, exc, report)
            finally:
                chunks.drain()
                self._pending.release()


def _drain_at_exit(jobs: ByteBoundedQueue[tuple[str, Any]], worker: threading.Thread) -> Callable[[], None]:
    """An atexit handler that lets the writer thread finish pending steps (``fit`` ended early)."""

    def drain() -> None:
        if worker.is_alive():
            jobs.put((_STOP, None))
            worker.join(timeout=60)

    return drain
