"""benchmarks/bench_gpu.py runs as one command on a CPU too (``--quick``): every line is JSON naming its
backend and device, every figure is there for every installed backend. Copies are counted, never timed."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from bench_gpu import BACKENDS, CopyCounter  # noqa: E402

FIGURES = {
    "forward",
    "first_snapshot",
    "probe_chunks",
    "write_chunks",
    "copies_per_chunk",
    "bytes_copied",
    "fit_share_sync",
    "fit_share_async",
}


def test_torch_conversions_are_counted_and_the_methods_restored() -> None:
    torch = pytest.importorskip("torch")
    before = {name: vars(torch.Tensor).get(name) for name in ("cpu", "numpy", "item")}
    counter = CopyCounter("torch", on_host=True)
    with counter.counting():
        np.asarray(torch.ones(3))  # __array__ -> numpy(): one conversion of 12 bytes
        torch.ones(2, dtype=torch.float64).cpu().numpy()  # .cpu() of a CPU tensor is no copy
        torch.ones(()).item()
    assert (counter.copies, counter.bytes) == (3, 12 + 16 + 4)
    assert {name: vars(torch.Tensor).get(name) for name in before} == before
    torch.ones(1).numpy()  # not counted any more
    assert counter.copies == 3


def test_jax_transfers_are_counted_once_each() -> None:
    jax = pytest.importorskip("jax")
    counter = CopyCounter("jax", on_host=True)
    asarray, device_get = np.asarray, jax.device_get
    with counter.counting():
        tree = {"a": jax.numpy.ones(3), "b": jax.numpy.zeros((2, 2))}
        jax.device_get(tree)  # one batched transfer of both arrays
        one = jax.numpy.arange(5.0)
        np.asarray(one)
        np.asarray(one)  # cached on the host after the first: not a second copy
    # a CPU array is read through the buffer protocol, never cached on the host: its second read counts too
    assert (counter.copies, counter.bytes) == (3, 12 + 16 + 20 + 20)
    assert (np.asarray, jax.device_get) == (asarray, device_get)


@pytest.mark.slow
def test_quick_run_prints_every_figure_of_every_installed_backend_as_json(tmp_path: Path) -> None:
    installed = [b for b in BACKENDS if importlib.util.find_spec(b) is not None]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_gpu.py"), "--quick", "--time-limit", "1500"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines()]  # every line parses
    assert {r["figure"] for r in lines} <= FIGURES, [r for r in lines if r["figure"] not in FIGURES]
    by_backend: dict[str, set[str]] = {}
    for record in lines:
        assert record["backend"] in installed and record["device"] == "cpu", record
        assert isinstance(record["case"], str) and record["unit"], record
        by_backend.setdefault(record["backend"], set()).add(record["figure"])
    assert by_backend == {backend: FIGURES for backend in installed}
    copies = {r["backend"]: r["copies"] for r in lines if r["figure"] == "copies_per_chunk"}
    assert all(copies[b] > 0 for b in ("jax", "torch") if b in copies), copies
    first = {r["backend"]: r for r in lines if r["figure"] == "first_snapshot"}
    if "jax" in first:
        assert first["jax"]["compiles"] >= 1 and first["jax"]["second_compiles"] == 0
