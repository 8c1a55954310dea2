"""The callback's memory is bounded: chunked forward passes, and a queue bounded in bytes with async_write."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import tensorflow as tf
from test_callback import X, assert_logged, fit, small_cnn, steps_by_tag, tags_of

from tbactviz.probe.extractor import ActivationExtractor
from tbactviz.snapshot import digest
from tbactviz.training import background
from tbactviz.training.background import ByteBoundedQueue
from tbactviz.training.callback import ActivationCallback


@pytest.fixture
def forward_pass_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Samples of every forward pass of the probe, in order."""
    sizes: list[int] = []
    original = ActivationExtractor._run

    def spy(self: ActivationExtractor, chunk: Any, *args: Any) -> Any:
        sizes.append(len(tf.nest.flatten(chunk)[0]))
        return original(self, chunk, *args)

    monkeypatch.setattr(ActivationExtractor, "_run", spy)
    return sizes


@pytest.mark.parametrize("async_write", [False, True])
def test_forward_passes_run_in_chunks_of_batch_size(
    tmp_path: Path, forward_pass_sizes: list[int], async_write: bool
) -> None:
    cb = ActivationCallback(tmp_path, X[:8], "conv*", batch_size=2, async_write=async_write)
    fit(small_cnn(), cb, epochs=2)
    assert cb.logged_steps == [0, 1, 2]
    # the check at the start of fit that the probe fits the model traces the forward pass, runs none;
    # per step: a pass for the histograms' edges (the whole probe's extremes), then the reductions
    assert forward_pass_sizes == [2, 2, 2, 2] * 2 * 3
    assert_logged(tmp_path, [0, 1, 2])


def test_async_queue_holds_at_most_its_bound_with_a_slow_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what leaves the device per chunk without grids: per layer 7 partial sums of C channels (conv1: 4,
    # conv2: 6), a row count and 30 histogram counts, 4 bytes each
    chunk = 7 * (4 + 6) * 4 + 2 * 4 + 2 * 30 * 4
    monkeypatch.setattr(background, "DEFAULT_MAX_BYTES", 2 * chunk)
    original_update = digest.LayerDigest.update

    def slow_update(self: Any, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.02)  # the writer thread folds slower than training runs forward passes
        return original_update(self, *args, **kwargs)

    monkeypatch.setattr(digest.LayerDigest, "update", slow_update)
    held: list[int] = []
    waits: list[bool] = []
    original_put = ByteBoundedQueue.put

    def put(self: ByteBoundedQueue[Any], item: Any, nbytes: int = 0) -> None:
        waits.append(self.held_bytes > 0 and self.held_bytes + nbytes > self.max_bytes)
        original_put(self, item, nbytes)
        held.append(self.held_bytes)
        assert self.max_bytes == 2 * chunk

    monkeypatch.setattr(ByteBoundedQueue, "put", put)
    cb = ActivationCallback(
        tmp_path, X[:8], "conv*", batch_size=2, async_write=True, max_queue=4, images=False
    )
    fit(small_cnn(), cb, epochs=2)
    assert max(held) <= 2 * chunk and max(held) >= chunk
    assert any(waits)  # the bound was reached: the training thread waited for the writer
    written = steps_by_tag(tmp_path)
    assert written == {t: [0, 1, 2] for t in tags_of("conv1", "conv2") if not t.startswith("activations/")}
