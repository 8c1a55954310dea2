"""Background writing: the queue bounded in bytes and the writer thread (pure Python: no TensorFlow)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pytest

from tbactviz.training.background import BackgroundWriter, ByteBoundedQueue, chunk_nbytes


def test_no_tensorflow_import() -> None:
    assert "tensorflow" not in vars(sys.modules["tbactviz.training.background"])


def test_bytes_count_from_put_until_release() -> None:
    q: ByteBoundedQueue[str] = ByteBoundedQueue(100)
    q.put("a", 30)
    q.put("b", 70)
    assert (len(q), q.held_bytes) == (2, 100)
    assert q.get() == ("a", 30)
    assert q.held_bytes == 100  # the consumer still works on "a"
    q.release(30)
    assert (q.held_bytes, q.peak_bytes) == (70, 100)


def test_an_item_larger_than_the_bound_fits_alone_and_waits_for_an_empty_queue() -> None:
    q: ByteBoundedQueue[str] = ByteBoundedQueue(10)
    q.put("big", 1000)  # empty queue: always fits
    put_done = threading.Event()
    thread = threading.Thread(target=lambda: (q.put("next", 1), put_done.set()))
    thread.start()
    assert not put_done.wait(0.2)  # waits: 1000 + 1 > 10
    assert q.get() == ("big", 1000)
    assert not put_done.wait(0.1)  # still held by the consumer
    q.release(1000)
    assert put_done.wait(5)
    thread.join()
    assert q.get() == ("next", 1)


def test_a_slow_consumer_never_lets_the_held_bytes_exceed_the_bound() -> None:
    q: ByteBoundedQueue[int] = ByteBoundedQueue(100)
    sizes = [40, 10, 60, 30, 30, 90, 5, 5, 5, 100, 20]
    seen: list[int] = []
    held: list[int] = []

    def consume() -> None:
        for _ in sizes:
            item, nbytes = q.get()
            held.append(q.held_bytes)
            time.sleep(0.01)  # folding takes time: the producer waits for room
            seen.append(item)
            q.release(nbytes)

    consumer = threading.Thread(target=consume)
    consumer.start()
    for i, size in enumerate(sizes):
        q.put(i, size)
        held.append(q.held_bytes)
    consumer.join(10)
    assert seen == list(range(len(sizes)))
    assert max(held) <= 100 and q.peak_bytes <= 100 and q.held_bytes == 0


@pytest.mark.parametrize(
    ("bad", "error"),
    [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError), ("10", TypeError)],
)
def test_invalid_bound_names_the_argument(bad: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match=r"max_bytes=.* is not valid; expected an int >= 1"):
        ByteBoundedQueue(bad)


class Recorder:
    """A stand-in for ActivationLogger.write_chunks that records what it folded."""

    def __init__(self, delay: float = 0.0, fail_at: int | None = None) -> None:
        self.written: list[tuple[int, int, list[int]]] = []
        self.delay, self.fail_at = delay, fail_at

    def write_chunks(self, chunks: Iterable[Mapping[str, Any]], n: int, step: int) -> None:
        sizes = []
        for chunk in chunks:
            time.sleep(self.delay)
            sizes.append(len(chunk["x"]))
            if step == self.fail_at:
                raise OSError("disk gone")
        self.written.append((step, n, sizes))


def chunks_of(*sizes: int) -> list[dict[str, np.ndarray]]:
    return [{"x": np.zeros((size, 256), np.float32)} for size in sizes]


def test_writer_writes_every_step_in_order_with_memory_bounded() -> None:
    recorder = Recorder(delay=0.01)
    one = chunk_nbytes(chunks_of(2)[0])
    writer = BackgroundWriter(recorder, on_error=lambda step, exc: None, max_steps=2, max_bytes=2 * one)
    for step in range(4):
        writer.submit(step, 8, iter(chunks_of(2, 2, 2, 2)))
    writer.close()
    writer.close()  # idempotent
    assert recorder.written == [(step, 8, [2, 2, 2, 2]) for step in range(4)]
    assert writer.queue.peak_bytes <= 2 * one and writer.queue.held_bytes == 0
    assert not writer.alive


def test_a_forward_pass_failing_half_way_drops_the_step_and_raises() -> None:
    recorder = Recorder()
    writer = BackgroundWriter(recorder, on_error=lambda step, exc: None, max_steps=1)

    def failing() -> Iterable[dict[str, np.ndarray]]:
        yield from chunks_of(2)
        raise ValueError("probe does not fit")

    with pytest.raises(ValueError, match="does not fit"):
        writer.submit(0, 4, failing())
    writer.submit(1, 2, iter(chunks_of(2)))
    writer.close()
    assert recorder.written == [(1, 2, [2])]  # step 0 is absent, not half-written
    assert writer.queue.held_bytes == 0


def test_a_write_error_is_reported_and_the_rest_of_the_step_released() -> None:
    errors: list[tuple[int, str]] = []
    recorder = Recorder(fail_at=1)
    writer = BackgroundWriter(
        recorder, on_error=lambda step, exc: errors.append((step, str(exc))), max_steps=1
    )
    for step in range(3):
        writer.submit(step, 6, iter(chunks_of(2, 2, 2)))
    writer.close()
    assert errors == [(1, "disk gone")]
    assert [w[0] for w in recorder.written] == [0, 2]
    assert writer.queue.held_bytes == 0


def test_submit_waits_while_max_steps_are_pending() -> None:
    release = threading.Event()

    class Blocked(Recorder):
        def write_chunks(self, chunks: Iterable[Mapping[str, Any]], n: int, step: int) -> None:
            release.wait(10)
            super().write_chunks(chunks, n, step)

    recorder = Blocked()
    writer = BackgroundWriter(recorder, on_error=lambda step, exc: None, max_steps=2)
    writer.submit(0, 2, iter(chunks_of(2)))
    writer.submit(1, 2, iter(chunks_of(2)))
    third = threading.Thread(target=writer.submit, args=(2, 2, iter(chunks_of(2))))
    third.start()
    third.join(0.3)
    assert third.is_alive()  # two steps pending: the third waits
    release.set()
    third.join(10)
    writer.close()
    assert [w[0] for w in recorder.written] == [0, 1, 2]
