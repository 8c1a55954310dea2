"""grid_partial (keras.ops) on TensorFlow, JAX and PyTorch draws what the numpy path draws, within one level.

The numpy path is :func:`tbactviz.grids.tiling.tile_activations` (itself held to the loop reference in
``tests/test_reference.py``). Each case is drawn twice by the backend under test: eagerly and compiled
(``tf.function``, ``jax.jit``; torch eagerly), with float32 sums as on a device; the palette indices must
equal the numpy path's within one level, markers and separators exactly, and the channels must be the same.
JAX and torch run in their own processes (``KERAS_BACKEND`` is read once, at ``import keras``), like
``tests/test_backends.py``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tbactviz.grids import tiling
from tbactviz.grids.plan import plan_grid
from tbactviz.grids.quantize import grid_partial, partial_to_numpy

HERE = Path(__file__).resolve().parents[1]  # tests/: the helper scripts
MODES = ("standardize", "minmax", "layer", "fixed")


def _acts(shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    acts = (rng.standard_normal(shape) * rng.uniform(0.5, 4, shape[-1])).astype(np.float32)
    acts = np.maximum(acts, -0.5)
    if shape[-1] > 2:
        acts[..., 1] = 0.0  # dead
        acts[..., 2] = 1.5  # constant
    flat = acts.reshape(-1)
    if seed % 2:  # non-finite values
        flat[rng.choice(flat.size, 3, replace=False)] = [np.nan, np.inf, -np.inf]
    return acts


def cases() -> list[dict[str, Any]]:
    """(activations, plan options, range) covering every mode, order, rank 2..5, NaN/Inf, downscaling."""
    shapes = [(3, 10), (2, 12, 5), (2, 9, 11, 7), (2, 3, 6, 5, 4), (1, 30, 30, 6)]
    out = []
    for s, shape in enumerate(shapes):
        for m, mode in enumerate(MODES):
            for order in ("index", "activity"):
                seed = 10 * s + 2 * m + (order == "activity")
                options = {
                    "max_images": 2,
                    "max_channels": 5,
                    "normalize": mode,
                    "order": order,
                    "min_side": 0,
                    "max_side": 32 if s == 4 else 384,  # (30, 30, 6) is block-mean downscaled
                    "levels": 64 if seed % 3 else 256,
                }
                out.append({"acts": _acts(shape, seed), "plan": options, "range": (-0.25, 2.0)})
    return out


def numpy_indices(case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, int]:
    options = dict(case["plan"])
    levels = options.pop("levels")
    vr = case["range"] if options["normalize"] == "fixed" else None
    result = tiling.tile_activations(case["acts"], value_range=vr, colormap="gray", **options)
    indexed = result.indexed(min(levels, tiling.MAX_LEVELS))
    assert indexed is not None
    return indexed[0], result.channels, result.nonfinite


def check(case: dict[str, Any], partial: dict[str, np.ndarray], label: str) -> None:
    acts, options = case["acts"], case["plan"]
    plan = plan_grid(acts.shape[1:], **options)
    got = tiling.assemble(partial, plan, "gray")
    want, channels, nonfinite = numpy_indices(case)
    levels = min(options["levels"], tiling.MAX_LEVELS)
    indices = got.indexed(levels)
    assert indices is not None
    diff = np.abs(indices[0].astype(int) - want.astype(int))
    special = want >= levels
    assert np.array_equal(indices[0] >= levels, special), label
    assert np.array_equal(indices[0][special], want[special]), label
    assert diff.max() <= 1, (label, diff.max())
    assert np.count_nonzero(diff) <= max(2, 0.01 * diff.size), label
    np.testing.assert_array_equal(got.channels, channels, err_msg=label)
    assert got.nonfinite == nonfinite, label
    if options["normalize"] == "fixed" and "range" in partial:
        np.testing.assert_allclose(partial["range"], tiling.value_range(acts[:2]), rtol=1e-6)


def _cases_file(path: Path) -> list[dict[str, Any]]:
    all_cases = cases()
    arrays: dict[str, Any] = {}
    for i, case in enumerate(all_cases):
        arrays[f"acts_{i}"] = case["acts"]
        arrays[f"plan_{i}"] = np.array(json.dumps(case["plan"]))
        if case["plan"]["normalize"] == "fixed" and i % 4 == 0:  # the others measure their range
            arrays[f"range_{i}"] = np.asarray(case["range"], np.float32)
        elif case["plan"]["normalize"] == "fixed":
            case["range"] = tiling.value_range(case["acts"][:2])
    np.savez(path, **arrays)
    return all_cases


def test_tensorflow_eager_and_compiled_equal_the_numpy_path(tmp_path: Path) -> None:
    import tensorflow as tf

    for i, case in enumerate(_cases_file(tmp_path / "c.npz")):
        plan = plan_grid(case["acts"].shape[1:], **case["plan"])
        vr = None
        if case["plan"]["normalize"] == "fixed" and i % 4 == 0:
            vr = np.asarray(case["range"], np.float32)
        eager = partial_to_numpy(grid_partial(case["acts"], plan, vr))
        check(case, eager, f"eager {i}")
        jit = tf.function(lambda a, r, p=plan: grid_partial(a, p, r))
        check(case, partial_to_numpy(jit(case["acts"], vr)), f"tf.function {i}")


def test_compiled_once_per_plan_whatever_the_range() -> None:
    import tensorflow as tf

    plan = plan_grid((6, 6, 3), normalize="fixed", min_side=0, levels=32)
    traces = []

    @tf.function
    def draw(a: Any, r: Any) -> Any:
        traces.append(1)
        return grid_partial(a, plan, r)

    acts = _acts((2, 6, 6, 3), 0)
    for lo in (0.0, -1.0, -2.0):
        draw(acts, np.array([lo, 2.0], np.float32))
    assert len(traces) == 1


def test_unknown_batch_size_in_a_relaxed_trace() -> None:
    import tensorflow as tf

    plans = [
        plan_grid((9, 9, 6), order="activity", max_channels=4, max_side=10, min_side=0, levels=16),
        plan_grid((5, 6), normalize="layer", levels=16),
        plan_grid((7,), normalize="minmax", levels=16),
    ]
    for plan in plans:
        shape = (None, *plan.sample_shape)
        draw = tf.function(lambda a, p=plan: grid_partial(a, p), input_signature=[tf.TensorSpec(shape)])
        for n in (1, 4):
            acts = _acts((n, *plan.sample_shape), n)
            case = {"acts": acts, "plan": {**_options(plan), "max_images": 3}, "range": None}
            check(case, partial_to_numpy(draw(acts)), f"{plan.kind} n={n}")


def _options(plan: Any) -> dict[str, Any]:
    return {
        "max_channels": plan.n if plan.kind != "dense" else 64,
        "normalize": plan.normalize,
        "order": plan.order,
        "min_side": 0 if plan.up == 1 else 128,
        "max_side": 10 if plan.down > 1 else 384,
        "levels": plan.levels,
    }


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_backend_equals_the_numpy_path(backend: str, tmp_path: Path) -> None:
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    all_cases = _cases_file(tmp_path / "cases.npz")
    env = {**os.environ, "KERAS_BACKEND": backend, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [
            sys.executable,
            str(HERE / "_quantize_run.py"),
            str(tmp_path / "cases.npz"),
            str(tmp_path / "o.npz"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f"backend {backend}: {len(all_cases)} cases" in proc.stdout
    out = np.load(tmp_path / "o.npz")  # np.savez appends the suffix
    for i, case in enumerate(all_cases):
        for prefix in ("", "jit_"):
            keys = ("codes", "channels", "nonfinite", "range")
            partial = {k: out[f"{prefix}{k}_{i}"] for k in keys if f"{prefix}{k}_{i}" in out}
            check(case, partial, f"{backend} {prefix}{i}")


def test_indexed_at_other_levels_than_the_devices() -> None:
    acts = _acts((1, 12, 12, 4), 3)
    plan = plan_grid((12, 12, 4), min_side=0, levels=64)
    drawn = tiling.assemble(partial_to_numpy(grid_partial(acts, plan)), plan, "magma")
    reference = tiling.tile_activations(acts, colormap="magma", min_side=0)
    for levels in (16, 64, 254):
        got, palette = drawn.indexed(levels)  # type: ignore[misc]
        want, want_palette = reference.indexed(levels)  # type: ignore[misc]
        np.testing.assert_array_equal(palette, want_palette)
        assert np.abs(got.astype(int) - want.astype(int)).max() <= (1 if levels <= 64 else 5), levels
        assert np.array_equal(got >= levels, want >= levels)
    assert drawn.images.shape == reference.images.shape
