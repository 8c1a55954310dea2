"""The probe's backend handling (fast, in-process on the active backend)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest

import tbactviz
from tbactviz.errors import UnsupportedBackendError
from tbactviz.model import compiled


@pytest.mark.parametrize("name", ["numpy", "openvino"])
def test_an_unsupported_backend_is_one_clear_error_at_construction(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3, name="c")])
    monkeypatch.setattr(keras.backend, "backend", lambda: name)
    with pytest.raises(UnsupportedBackendError, match=rf"backend '{name}' is not supported.*'jax', 'torch'"):
        tbactviz.ActivationLogger(str(tmp_path), model, "c")
    with pytest.raises(UnsupportedBackendError, match=name):
        tbactviz.ActivationExtractor(model, "c")


def test_results_are_read_only_numpy() -> None:
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3, name="c")])
    acts = tbactviz.extract_activations(model, np.ones((2, 6, 6, 1), "float32"), "c")
    assert isinstance(acts["c"], np.ndarray) and not acts["c"].flags.writeable
    assert compiled.check_backend() in compiled.SUPPORTED_BACKENDS


def test_float64_probes_are_cast_to_floatx_on_the_host() -> None:
    prepared = compiled.prepare({"a": np.zeros((1, 2)), "b": np.zeros((1, 2), np.uint8)})
    assert keras.backend.standardize_dtype(prepared["a"].dtype) == keras.config.floatx()
    assert keras.backend.standardize_dtype(prepared["b"].dtype) == "uint8"


def _stack(shapes: int, repeats: int) -> keras.Model:
    """``shapes`` groups of ``repeats`` same-shape convolutions (channels 2, 3, ...)."""
    x = inputs = keras.Input((8, 8, 1))
    for s in range(shapes):
        for r in range(repeats):
            x = keras.layers.Conv2D(2 + s, 3, padding="same", name=f"c{s}_{r}")(x)
    return keras.Model(inputs, x)


def test_a_layer_reduce_compiles_once_per_layer_shape_under_tensorflow() -> None:
    """Many layers of a few shapes keep the compiled probe small (189 layers of ResNet50V2: 21 shapes)."""
    model = _stack(shapes=2, repeats=4)
    traced: list[tuple[Any, tuple[int | None, ...]]] = []

    def fn(static: Any, a: Any, args: Any) -> Any:
        traced.append((static, tuple(a.shape)))
        return keras.ops.sum(a, axis=(0, 1, 2)) * args

    reduce = compiled.LayerReduce(lambda path, shape, extra: ("sum", extra), fn)
    extractor = tbactviz.ActivationExtractor(model, [f"c{s}_{r}" for s in range(2) for r in range(4)])
    x = np.random.default_rng(1).normal(size=(3, 8, 8, 1)).astype("float32")
    (out,) = extractor.iter_batches(x, reduce=reduce, extra=np.float32(2.0))
    plain = extractor(x)
    for path, value in out.items():
        np.testing.assert_allclose(value, 2.0 * plain[path].sum(axis=(0, 1, 2)), rtol=1e-5)
    expected = 2 if keras.backend.backend() == "tensorflow" else 8  # one trace per shape; else per layer
    assert len(traced) == expected
