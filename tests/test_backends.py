"""Backend matrix: the logger, the callback and ``tbactviz log`` on JAX and PyTorch write what TF does.

Each backend runs in its own process (``KERAS_BACKEND`` is read once, at ``import keras``) on the same saved
weights (a small CNN and a model with a nested backbone); the events are read back and compared with the
TensorFlow backend's: the same (run, tag, step) set, scalars and histogram edges within float tolerance,
histogram counts and grid colour levels within rounding (a value on a bucket or level boundary may fall
either side). Then, per backend, a property test of the figures at the edges of the float32 range
(``_edges_run.py``).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _events import read_events

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent


def _save_models(workdir: Path) -> None:
    import keras

    keras.utils.set_random_seed(1)
    inp = keras.Input((12, 12, 3))
    h = keras.layers.Conv2D(6, 3, activation="relu", name="c1")(inp)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.Conv2D(5, 3, name="c2")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    out = keras.layers.Dense(2, name="dense")(h)
    keras.Model(inp, out, name="cnn").save(workdir / "cnn.keras")

    b_in = keras.Input((12, 12, 3))
    b = keras.layers.Conv2D(4, 3, activation="relu", name="b1")(b_in)
    b = keras.layers.Conv2D(3, 3, activation="tanh", name="b2")(b)
    backbone = keras.Model(b_in, b, name="backbone")
    inp = keras.Input((12, 12, 3))
    h = backbone(inp)
    h = keras.layers.Conv2D(2, 1, name="head")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    keras.Model(inp, h, name="nested").save(workdir / "nested.keras")

    rng = np.random.default_rng(0)
    np.save(workdir / "probe.npy", rng.random((5, 12, 12, 3), dtype=np.float32))
    np.save(workdir / "x.npy", rng.random((8, 12, 12, 3), dtype=np.float32))
    np.save(workdir / "y.npy", rng.random((8, 2), dtype=np.float32))


def _run(backend: str, workdir: Path, outdir: Path) -> None:
    env = {**os.environ, "KERAS_BACKEND": backend, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [sys.executable, str(HERE / "_backend_run.py"), str(workdir), str(outdir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f"backend {backend}" in proc.stdout


@pytest.fixture(scope="module")
def tensorflow_events(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    workdir = tmp_path_factory.mktemp("work")
    _save_models(workdir)
    outdir = tmp_path_factory.mktemp("tensorflow")
    _run("tensorflow", workdir, outdir)
    return workdir, _by_key(outdir)


def _by_key(outdir: Path) -> dict:
    return {(r.run, r.tag, r.step): (r.plugin, r.value) for r in read_events(outdir)}


def _indices(image: object) -> np.ndarray:
    assert image.mode == "P", image.mode  # type: ignore[attr-defined]
    return np.asarray(image)


def _compare(key: tuple, ours: tuple, theirs: tuple) -> None:
    plugin, value = ours
    assert plugin == theirs[0], key
    tol = 2e-3 if key[0].endswith("callback") else 1e-4  # training adds backend differences
    if plugin == "scalars":
        assert value == pytest.approx(theirs[1], rel=tol, abs=tol), key
    elif plugin == "histograms":
        assert value.shape == theirs[1].shape, key
        np.testing.assert_allclose(value[:, :2], theirs[1][:, :2], rtol=tol, atol=tol, err_msg=str(key))
        moved = np.abs(value[:, 2] - theirs[1][:, 2]).sum()
        assert moved <= max(4, 0.01 * value[:, 2].sum()), key
    elif plugin == "images":
        (size, images), (size_t, images_t) = value, theirs[1]
        assert size == size_t and len(images) == len(images_t), key
        for a, b in zip(images, images_t, strict=True):
            diff = np.abs(_indices(a).astype(int) - _indices(b).astype(int))
            assert diff.max() <= 1 and np.count_nonzero(diff) <= 0.02 * diff.size, key
    else:
        np.testing.assert_allclose(np.asarray(value), np.asarray(theirs[1]), rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_backend_events_equal_tensorflows(backend: str, tensorflow_events: tuple, tmp_path: Path) -> None:
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    workdir, theirs = tensorflow_events
    _run(backend, workdir, tmp_path)
    ours = _by_key(tmp_path)
    assert ours.keys() == theirs.keys()
    assert {k[0] for k in ours} == {
        f"{m}/{w}" for m in ("cnn", "nested") for w in ("logger", "callback", "cli")
    }
    for key in sorted(ours):
        _compare(key, ours[key], theirs[key])


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_device_figures_equal_layer_stats_at_the_edges(backend: str) -> None:
    """Issue 18: hypothesis draws activations (1.2e-38 to 3.4e38, NaN, Inf, layers with no finite value);
    the compiled probe's figures equal ``layer_stats`` of the same array (``tests/_edges_run.py``)."""
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    env = {**os.environ, "KERAS_BACKEND": backend, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [sys.executable, str(HERE / "_edges_run.py"), "25"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert f"edges {backend} 25" in proc.stdout
