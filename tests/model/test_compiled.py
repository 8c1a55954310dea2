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


# -- what leaves the device: one buffer per dtype --------------------------------------------------------


def _dtypes_of(chunk: dict[str, Any]) -> set[str]:
    """The dtypes of the arrays a probe chunk brought to the host (counted from the parts themselves)."""
    found: set[str] = set()
    for part in chunk.values():
        arrays = [*part.partials.values(), part.counts, part.raw, *(part.grid or {}).values()]
        found.update(np.asarray(a).dtype.name for a in arrays if a is not None)
    return found


def test_packing_round_trip_keeps_the_nest_shapes_dtypes_and_constants() -> None:
    nest = {
        "a": keras.ops.reshape(keras.ops.arange(6, dtype="float32"), (2, 3)),
        "b": {"n": keras.ops.convert_to_tensor(np.int32(7)), "c": keras.ops.ones((4,), "int32")},
        "x": keras.ops.convert_to_tensor(np.float32(2.5)),
        "none": None,
    }
    plan = compiled.Packing(nest)
    assert plan.dtypes == ("float32", "int32") and plan.leaves == 4
    buffers = [compiled.to_numpy(b) for b in plan.pack(nest)]
    assert [b.shape for b in buffers] == [(7,), (5,)]
    out = plan.unpack(buffers)
    np.testing.assert_array_equal(out["a"], np.arange(6, dtype=np.float32).reshape(2, 3))
    assert out["b"]["n"].shape == () and int(out["b"]["n"]) == 7 and out["b"]["c"].dtype == np.int32
    assert float(out["x"]) == 2.5 and out["none"] is None
    assert not out["a"].flags.writeable  # views of the copied buffer
    with pytest.raises(ValueError, match="do not match the plan"):
        plan.unpack([buffers[0][:3], buffers[1]])


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="an open batch dimension: TensorFlow")
def test_packing_carries_dimensions_unknown_at_trace_time() -> None:
    import tensorflow as tf

    plans: list[compiled.Packing] = []

    @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.float32)])
    def packed(a: Any) -> Any:
        nest = {"first": a[:2], "sum": tf.reduce_sum(a, axis=0)}
        plans.append(compiled.Packing(nest))
        return plans[-1].pack(nest)

    for n in (1, 5):
        a = np.arange(3 * n, dtype=np.float32).reshape(n, 3)
        buffers = [compiled.to_numpy(b) for b in packed(tf.constant(a))]
        out = plans[0].unpack(buffers)
        np.testing.assert_array_equal(out["first"], a[:2])
        np.testing.assert_array_equal(out["sum"], a.sum(axis=0))
    assert len(plans) == 1 and plans[0].dtypes == ("float32", "int32")  # int32: the unknown dimension


@pytest.mark.parametrize("batch_size", [None, 2])
def test_one_log_copies_one_array_per_dtype_per_chunk(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, batch_size: int | None
) -> None:
    model = _stack(shapes=3, repeats=3)
    names = [f"c{s}_{r}" for s in range(3) for r in range(3)]
    x = np.random.default_rng(2).normal(size=(5, 8, 8, 1)).astype("float32")
    converted: list[str] = []
    real = compiled.to_numpy

    def counted(tensor: Any) -> np.ndarray:
        converted.append(type(tensor).__name__)
        return real(tensor)

    with tbactviz.ActivationLogger(tmp_path, model, names, batch_size=batch_size) as log:
        log(x, step=0)  # traced and compiled: the second call is the one counted
        monkeypatch.setattr(compiled, "to_numpy", counted)
        before = compiled.transfers()
        log(x, step=1)
        counted_here = compiled.transfers() - before
        monkeypatch.setattr(compiled, "to_numpy", real)
        chunks = list(log.probe_chunks(x))
    dtypes = set().union(*(_dtypes_of(c) for c in chunks))
    # one chunk: the histogram's edges come with it; several: a first pass returns each layer's extremes
    passes = len(chunks) if batch_size is None else 2 * len(chunks)
    assert len(converted) == counted_here <= passes * len(dtypes), (converted, dtypes, len(chunks))
    assert len(dtypes) <= 3 < len(names)  # float32, int32, uint8: not one per layer, nor per array
