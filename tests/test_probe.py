"""The probe's backend handling (fast, in-process on the active backend)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import tbactviz
from tbactviz import probe
from tbactviz.errors import UnsupportedBackendError


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
    assert probe.check_backend() in probe.SUPPORTED_BACKENDS


def test_float64_probes_are_cast_to_floatx_on_the_host() -> None:
    prepared = probe.prepare({"a": np.zeros((1, 2)), "b": np.zeros((1, 2), np.uint8)})
    assert keras.backend.standardize_dtype(prepared["a"].dtype) == keras.config.floatx()
    assert keras.backend.standardize_dtype(prepared["b"].dtype) == "uint8"
