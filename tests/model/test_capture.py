"""Capture with a reduction where each layer returns its output (``on_output``), on the active backend."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest

from tbactviz.layers.listing import list_layers
from tbactviz.model.capture import capturing, forward


def _model() -> keras.Model:
    inputs = keras.Input((6, 6, 2))
    shared = keras.layers.Conv2D(2, 3, padding="same", name="shared")
    x = shared(inputs)
    x = keras.layers.ReLU(name="relu")(x)
    x = shared(x)  # called twice: the first call is the one reduced
    return keras.Model(inputs, keras.layers.Conv2D(3, 3, name="last")(x))


def _chosen(model: keras.Model, *paths: str) -> list[Any]:
    return [info for info in list_layers(model) if info.path in paths]


def test_on_output_reduces_each_layer_once_and_forward_returns_the_results() -> None:
    model = _model()
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 2)).astype("float32")
    seen: list[tuple[str, tuple[int, ...]]] = []

    def total(path: str, out: Any) -> Any:
        seen.append((path, tuple(out.shape)))
        return keras.ops.sum(out)

    results = forward(model, _chosen(model, "shared", "relu", "last"), None, x, on_output=total)
    assert seen == [("shared", (2, 6, 6, 2)), ("relu", (2, 6, 6, 2)), ("last", (2, 4, 4, 3))]
    plain = forward(model, _chosen(model, "shared", "relu", "last"), None, x)
    assert set(results) == {"shared", "relu", "last"}
    for path, value in results.items():
        expected = float(np.sum(keras.ops.convert_to_numpy(plain[path])))
        assert float(keras.ops.convert_to_numpy(value)) == pytest.approx(expected, rel=1e-5)
    # the model's own output is unchanged by the reduction
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(x)), keras.ops.convert_to_numpy(plain["last"]), rtol=1e-6
    )


def test_with_on_output_the_store_keeps_stand_ins_not_activations() -> None:
    """No reference to a layer's output is kept (under eager torch that would keep every activation)."""
    model = _model()
    store: dict[str, list[Any]] = {}
    results: dict[str, Any] = {}
    with capturing(_chosen(model, "shared", "last"), store, lambda p, a: keras.ops.max(a), results):
        model(np.ones((1, 6, 6, 2), "float32"))
    assert [len(store["shared"]), len(store["last"])] == [2, 1]  # calls still counted
    for calls in store.values():
        for stand_in in calls:
            assert isinstance(stand_in, keras.KerasTensor)
    assert tuple(store["last"][0].shape) == (1, 4, 4, 3) and set(results) == {"shared", "last"}


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="graph order is TensorFlow's")
def test_under_tensorflow_the_next_layers_wait_for_the_reduction() -> None:
    import tensorflow as tf

    model = _model()
    infos = _chosen(model, "relu")

    @tf.function(autograph=False)
    def run(x: Any) -> Any:
        return forward(model, infos, None, x, on_output=lambda p, a: keras.ops.sum(a))

    graph = run.get_concrete_function(tf.TensorSpec((None, 6, 6, 2), tf.float32)).graph
    gated = [
        op
        for op in graph.get_operations()
        if op.type == "Identity" and any(c.type == "Sum" for c in op.control_inputs)
    ]
    assert len(gated) == 1
    # what reads the gated output: the next layer (the second call of "shared", a convolution)
    consumers = {consumer.type for consumer in gated[0].outputs[0].consumers()}
    assert consumers & {"Conv2D", "_FusedConv2D"}, consumers
