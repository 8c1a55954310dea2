"""Tests of tbactviz.probe.extractor: the probe on every kind of model, against independent computations."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

from tbactviz.errors import NoDrawableLayerError, ProbeError, TbactvizWarning
from tbactviz.layers.listing import list_layers
from tbactviz.probe.extractor import ActivationExtractor, extract_activations

# Graph-mode kernels (oneDNN) may round differently from eager ones by a few ulps.
RTOL, ATOL = 1e-5, 1e-6


def close(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


def rng_images(n: int, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


class Pair(keras.layers.Layer):
    """Two outputs: not drawable."""

    def call(self, x):
        return x, -x


# ------------------------------------------------------------------------------------ 1. Functional


@pytest.fixture(scope="module")
def functional() -> keras.Model:
    keras.utils.set_random_seed(10)
    inp = keras.Input((12, 12, 3), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv1")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(6, 3, name="conv2")(x)
    x = keras.layers.Flatten(name="flat")(x)
    out = keras.layers.Dense(3, activation="softmax", name="dense")(x)
    return keras.Model(inp, out, name="functional")


def test_functional_equals_submodel(functional):
    x = rng_images(5, (12, 12, 3))
    names = ["conv1", "pool", "conv2", "flat", "dense"]
    acts = extract_activations(functional, x, names)
    assert list(acts) == names
    reference = keras.Model(functional.inputs, [functional.get_layer(n).output for n in names])
    for name, expected in zip(names, reference.predict(x, verbose=0), strict=True):
        close(acts[name], expected)
        assert acts[name].dtype == np.float32


def test_functional_uint8_and_float64_inputs_are_cast_like_predict(functional):
    x = (rng_images(3, (12, 12, 3)) * 255).astype(np.uint8)
    extractor = ActivationExtractor(functional, "conv1")
    expected = keras.Model(functional.inputs, functional.get_layer("conv1").output).predict(x, verbose=0)
    close(extractor(x)["conv1"], expected)
    close(extractor(x.astype(np.float64))["conv1"], expected)


def test_multi_input_list_and_dict():
    keras.utils.set_random_seed(11)
    img = keras.Input((8, 8, 3), name="img")
    vec = keras.Input((5,), name="vec")
    c = keras.layers.Conv2D(2, 3, name="c")(img)
    d = keras.layers.Dense(4, name="d")(vec)
    cat = keras.layers.Concatenate(name="cat")([keras.layers.Flatten(name="fl")(c), d])
    model = keras.Model([img, vec], keras.layers.Dense(1, name="out")(cat))
    xa, xb = rng_images(5, (8, 8, 3)), rng_images(5, (5,), seed=1)
    names = ["c", "d", "cat"]
    reference = keras.Model(model.inputs, [model.get_layer(n).output for n in names]).predict(
        [xa, xb], verbose=0
    )
    from_list = extract_activations(model, [xa, xb], names)
    from_dict = extract_activations(model, {"vec": xb, "img": xa}, names, batch_size=2)
    for name, expected in zip(names, reference, strict=True):
        close(from_list[name], expected)
        close(from_dict[name], expected)


# ------------------------------------------------------------------------------------ 2. Sequential


def test_sequential_built():
    keras.utils.set_random_seed(12)
    model = keras.Sequential(
        [
            keras.Input((10, 10, 1)),
            keras.layers.Conv2D(3, 3, name="c1"),
            keras.layers.ReLU(name="r1"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
        ]
    )
    x = rng_images(4, (10, 10, 1))
    acts = extract_activations(model, x, ["c1", "r1", "gap"])
    c1 = model.get_layer("c1")(x)
    close(acts["c1"], keras.ops.convert_to_numpy(c1))
    close(acts["r1"], np.maximum(acts["c1"], 0))
    close(acts["gap"], keras.ops.convert_to_numpy(model(x)))


def test_sequential_without_input_unbuilt_is_built_from_probe():
    keras.utils.set_random_seed(13)
    model = keras.Sequential(
        [
            keras.layers.Conv2D(2, 3, activation="relu", name="c1"),
            keras.layers.AveragePooling2D(2, name="p1"),
            keras.layers.Flatten(name="f"),
            keras.layers.Dense(3, name="d"),
        ]
    )
    assert not model.built
    extractor = ActivationExtractor(model, ["c1", "p1", "d"])  # explicit names: resolved at once
    assert extractor.paths == ("c1", "p1", "d")
    x = (rng_images(3, (9, 9, 1)) * 255).astype(np.uint8)
    acts = extractor(x)
    assert model.built
    assert [info.output_shape for info in extractor.layers] == [(None, 7, 7, 2), (None, 3, 3, 2), (None, 3)]
    h = x.astype(np.float32)
    expected = {}
    for layer in model.layers:
        h = keras.ops.convert_to_numpy(layer(h))
        expected[layer.name] = h
    for name in extractor.paths:
        close(acts[name], expected[name])


def test_unbuilt_default_selection_is_resolved_on_first_call():
    keras.utils.set_random_seed(14)
    model = keras.Sequential([keras.layers.Conv2D(2, 3, name="c1"), keras.layers.Conv2D(2, 3, name="c2")])
    extractor = ActivationExtractor(model)
    acts = extractor(rng_images(2, (7, 7, 1)))
    assert extractor.paths == ("c1", "c2") == tuple(acts)
    assert acts["c2"].shape == (2, 3, 3, 2)
    assert [info.output_shape for info in extractor.layers] == [(None, 5, 5, 2), (None, 3, 3, 2)]


def test_default_selection_without_shapes_by_class_or_input_shape():
    def build() -> keras.Sequential:
        return keras.Sequential(
            [
                keras.layers.Conv2D(2, 3, name="c"),
                keras.layers.Flatten(name="f"),
                keras.layers.Dense(2, name="d"),
            ]
        )

    # read before the first call: chosen from the layer classes, once
    extractor = ActivationExtractor(build())
    assert extractor.paths == ("c",)
    assert extractor(rng_images(1, (5, 5, 1)))["c"].shape == (1, 3, 3, 2)
    # with input_shape: built and resolved at once from real shapes
    model = build()
    extractor = ActivationExtractor(model, input_shape=(None, 5, 5, 1))
    assert model.built
    assert extractor.layers[0].output_shape == (None, 3, 3, 2)


# --------------------------------------------------------------------------------------- 3. nested


def _small_backbone() -> keras.Model:
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv1_conv")(inp)
    x = keras.layers.BatchNormalization(name="conv1_bn")(x)
    x = keras.layers.ReLU(name="conv1_relu")(x)
    y = keras.layers.Conv2D(4, 3, padding="same", name="block1_conv")(x)
    x = keras.layers.Add(name="block1_out")([x, y])
    return keras.Model(inp, x, name="backbone_1.00_16")


def test_nested_in_sequential_head_equals_inner_model_on_what_it_receives():
    keras.utils.set_random_seed(15)
    backbone = _small_backbone()
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Rescaling(2.0, offset=-1.0, name="prep"),
            backbone,
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(2, name="head"),
        ]
    )
    x = rng_images(3, (16, 16, 3))
    inner = ["conv1_conv", "conv1_relu", "block1_out"]
    acts = extract_activations(model, x, [f"{backbone.name}/{n}" for n in inner] + ["gap", "head"])
    received = 2.0 * x - 1.0  # what the backbone receives inside the outer model
    reference = keras.Model(backbone.inputs, [backbone.get_layer(n).output for n in inner])
    for name, expected in zip(inner, reference.predict(received, verbose=0), strict=True):
        close(acts[f"{backbone.name}/{name}"], expected)
    close(acts["head"], model.predict(x, verbose=0))


def test_backbone_called_inside_functional_model():
    keras.utils.set_random_seed(16)
    backbone = _small_backbone()
    inp = keras.Input((16, 16, 3))
    feats = backbone(keras.layers.Rescaling(0.5, name="prep")(inp))
    out = keras.layers.Dense(2, name="head")(keras.layers.GlobalMaxPooling2D(name="gmp")(feats))
    model = keras.Model(inp, out)
    x = rng_images(4, (16, 16, 3))
    # bare inner names and globs reach inside the nested model; the container itself is selectable
    acts = extract_activations(model, x, ["block1_*", backbone.name, "gmp"], batch_size=3)
    expected = keras.Model(backbone.inputs, backbone.get_layer("block1_conv").output).predict(
        0.5 * x, verbose=0
    )
    close(acts[f"{backbone.name}/block1_conv"], expected)
    close(acts[f"{backbone.name}/block1_out"], acts[backbone.name])
    close(acts[backbone.name], backbone.predict(0.5 * x, verbose=0))
    close(acts["gmp"], acts[backbone.name].max(axis=(1, 2)))


@pytest.mark.slow
def test_resnet50v2_nested_in_sequential_head():
    keras.utils.set_random_seed(17)
    backbone = keras.applications.ResNet50V2(include_top=False, weights=None, input_shape=(64, 64, 3))
    model = keras.Sequential(
        [keras.Input((64, 64, 3)), backbone, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)]
    )
    x = rng_images(2, (64, 64, 3))
    extractor = ActivationExtractor(
        model, ["conv2_block*_out", "resnet50v2/conv1_conv", "post_relu"], batch_size=1
    )
    names = ["conv1_conv", "conv2_block1_out", "conv2_block2_out", "conv2_block3_out", "post_relu"]
    assert extractor.paths == tuple(f"resnet50v2/{n}" for n in names)
    acts = extractor(x)
    reference = keras.Model(backbone.inputs, [backbone.get_layer(n).output for n in names])
    for name, expected in zip(names, reference.predict(x, verbose=0), strict=True):
        close(acts[f"resnet50v2/{name}"], expected)
    assert acts["resnet50v2/post_relu"].shape == (2, 2, 2, 2048)
    assert extractor.trace_count == 1
    default = ActivationExtractor(model).paths
    assert (
        len(default) == 8 and default[0] == "resnet50v2/conv1_conv" and default[-1] == "resnet50v2/post_relu"
    )


# ------------------------------------------------------------------------------------ 4. subclassed


class Net(keras.Model):
    """A subclassed model with no graph; its call() takes no `training` argument."""

    def __init__(self):
        super().__init__(name="net")
        self.conv = keras.layers.Conv2D(3, 3, name="sub_conv")
        self.bn = keras.layers.BatchNormalization(name="sub_bn")
        self.act = keras.layers.ReLU(name="sub_relu")
        self.pool = keras.layers.GlobalAveragePooling2D(name="sub_gap")
        self.dense = keras.layers.Dense(2, name="sub_dense")

    def call(self, x):
        return self.dense(self.pool(self.act(self.bn(self.conv(x)))))


def _snapshot(model: keras.Model) -> list[np.ndarray]:
    return [np.array(w) for w in model.get_weights()]


def test_subclassed_capture_equals_manual_forward_and_restores_model():
    keras.utils.set_random_seed(18)
    model = Net()
    x = rng_images(4, (9, 9, 2))
    before_out = keras.ops.convert_to_numpy(model(x))
    before_weights = _snapshot(model)
    own_attrs = {id(layer): dict(vars(layer)) for layer in model.layers}

    extractor = ActivationExtractor(model, ["sub_conv", "sub_relu", "Dense"], batch_size=3)
    acts = extractor(x)

    conv = keras.ops.convert_to_numpy(model.conv(x))
    relu = keras.ops.convert_to_numpy(model.act(model.bn(conv, training=False)))
    close(acts["sub_conv"], conv)
    close(acts["sub_relu"], relu)
    close(acts["sub_dense"], before_out)
    assert [info.output_shape for info in extractor.layers] == [(None, 7, 7, 3), (None, 7, 7, 3), (None, 2)]

    # restored exactly: same outputs and weights, no wrapper, instance dicts unchanged
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(x)), before_out)
    for a, b in zip(_snapshot(model), before_weights, strict=True):
        np.testing.assert_array_equal(a, b)
    for layer in model.layers:
        assert "call" not in vars(layer)
        assert layer.call.__func__ is type(layer).call
        assert vars(layer).keys() == own_attrs[id(layer)].keys()
    assert "call" not in vars(model)
    # the compiled probe is reused: running it again needs no wrapper and gives the same values
    again = extractor(x)
    np.testing.assert_array_equal(again["sub_conv"], acts["sub_conv"])
    assert extractor.trace_count == 1


def test_subclassed_unbuilt_default_and_model_untouched_after_failure():
    keras.utils.set_random_seed(19)
    model = Net()
    acts = extract_activations(model, rng_images(2, (6, 6, 1)))
    assert list(acts) == ["sub_conv", "sub_bn", "sub_relu"]  # spatial layers by default
    extractor = ActivationExtractor(model, "sub_conv")
    with pytest.raises(ProbeError, match=r"do not fit the model 'net': received float32\[2, 6, 6, 5\]"):
        extractor(rng_images(2, (6, 6, 5)))  # wrong channel count
    assert all("call" not in vars(layer) for layer in model.layers)


def test_subclassed_default_with_input_shape_and_multi_layer_default():
    keras.utils.set_random_seed(24)
    model = Net()
    extractor = ActivationExtractor(model, input_shape=(None, 6, 6, 1))
    assert model.built
    assert extractor.paths == ("sub_conv", "sub_bn", "sub_relu")
    assert extractor.layers[0].output_shape == (None, 4, 4, 3)
    assert extractor.trace_count == 0  # shapes were learnt by a separate trace; the probe is built lazily
    extractor(rng_images(1, (6, 6, 1)))
    assert extractor.trace_count == 1


def test_probe_follows_training_and_training_is_unaffected():
    keras.utils.set_random_seed(25)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(2, 3, name="c"),
            keras.layers.Flatten(),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x, y = rng_images(8, (6, 6, 1)), np.ones((8, 1), np.float32)
    probe = x[:2]
    extractor = ActivationExtractor(model, "c")
    first = np.array(extractor(probe)["c"])
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    second = extractor(probe)["c"]
    assert not np.allclose(first, second)  # the compiled probe reads the current weights
    close(second, keras.Model(model.inputs, model.get_layer("c").output).predict(probe, verbose=0))
    assert extractor.trace_count == 1
    # a twin trained without the probe ends with the same weights as one probed after every batch
    keras.utils.set_random_seed(25)
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    twin.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    during = keras.callbacks.LambdaCallback(on_batch_end=lambda batch, logs: extractor(probe))
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False, callbacks=[during])
    twin.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_user_patched_call_is_restored():
    keras.utils.set_random_seed(20)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")])
    layer = model.get_layer("d")
    original = layer.call

    def patched(*args, **kwargs):
        return original(*args, **kwargs)

    layer.call = patched
    extract_activations(model, np.ones((1, 4), np.float32), "d")
    assert vars(layer)["call"] is patched


# -------------------------------------------------------------------------- 5. non-4D, multi-output


def test_non_4d_layers():
    keras.utils.set_random_seed(21)
    seq = keras.Input((20, 2))
    a = keras.layers.Conv1D(3, 5, name="conv1d")(seq)
    a = keras.layers.MaxPooling1D(name="pool1d")(a)
    vol = keras.Input((4, 6, 6, 1))
    b = keras.layers.Conv3D(2, 3, name="conv3d")(vol)
    b = keras.layers.GlobalAveragePooling3D(name="gap3d")(b)
    merged = keras.layers.Concatenate(name="cat")([keras.layers.Flatten(name="flat")(a), b])
    model = keras.Model([seq, vol], keras.layers.Dense(2, name="dense")(merged))
    xs, xv = rng_images(3, (20, 2)), rng_images(3, (4, 6, 6, 1), seed=1)
    names = ["conv1d", "pool1d", "conv3d", "gap3d", "flat", "dense"]
    acts = extract_activations(model, [xs, xv], names)
    shapes = {n: acts[n].shape for n in names}
    assert shapes == {
        "conv1d": (3, 16, 3),
        "pool1d": (3, 8, 3),
        "conv3d": (3, 2, 4, 4, 2),
        "gap3d": (3, 2),
        "flat": (3, 24),
        "dense": (3, 2),
    }
    close(acts["conv1d"], keras.ops.convert_to_numpy(model.get_layer("conv1d")(xs)))
    close(acts["conv3d"], keras.ops.convert_to_numpy(model.get_layer("conv3d")(xv)))
    close(acts["gap3d"], acts["conv3d"].mean(axis=(1, 2, 3)))
    close(acts["dense"], model.predict([xs, xv], verbose=0))


def test_multi_output_layer_is_skipped_with_warning_in_graph_models():
    keras.utils.set_random_seed(22)
    inp = keras.Input((6,))
    a, b = Pair(name="pair")(inp)
    model = keras.Model(inp, keras.layers.Add(name="add")([a, b]))
    with pytest.warns(TbactvizWarning, match=r"'pair' \(Pair\) returns 2 outputs"):
        extractor = ActivationExtractor(model, ["pair", "add"])
    assert extractor.paths == ("add",)


def test_subclassed_multi_output_and_repeated_calls_warn_once():
    class Twice(keras.Model):
        def __init__(self):
            super().__init__()
            self.pair = Pair(name="pair")
            self.relu = keras.layers.ReLU(name="relu")

        def call(self, x):
            a, b = self.pair(x)
            return self.relu(a) + self.relu(b)

    keras.utils.set_random_seed(23)
    model = Twice()
    x = rng_images(2, (3, 3)) - 0.5
    extractor = ActivationExtractor(model, ["pair", "relu"], batch_size=1)
    with pytest.warns(TbactvizWarning) as record:
        acts = extractor(x)
    messages = [str(r.message) for r in record]
    assert any("'pair' (Pair) returns 2 outputs" in m and "skipped" in m for m in messages)
    assert any("'relu' (ReLU) is called 2 times" in m for m in messages)
    assert extractor.paths == ("relu",) == tuple(acts)
    close(acts["relu"], np.maximum(x, 0))  # first call
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        extractor(x)  # warned once only

    only_pair = ActivationExtractor(Twice(), "pair")
    with pytest.warns(TbactvizWarning), pytest.raises(NoDrawableLayerError):
        only_pair(x)


@pytest.mark.filterwarnings("ignore:`build\\(\\)` was called on layer 'unused'")
def test_layer_not_called_in_forward_pass_is_skipped():
    class Unused(keras.Model):
        def __init__(self):
            super().__init__()
            self.used = keras.layers.Dense(2, name="used")
            self.spare = keras.layers.Dense(2, name="spare")

        def call(self, x):
            return self.used(x)

    model = Unused()
    extractor = ActivationExtractor(model, ["used", "spare"])
    with pytest.warns(TbactvizWarning, match="'spare' .* not called"):
        acts = extractor(np.ones((2, 3), np.float32))
    assert list(acts) == ["used"]


# ------------------------------------------------------------------------------ chunking and inputs


def test_chunking_gives_identical_results_with_one_trace(functional):
    x = rng_images(7, (12, 12, 3), seed=3)
    whole = ActivationExtractor(functional, ["conv1", "conv2", "dense"])(x)
    extractor = ActivationExtractor(functional, ["conv1", "conv2", "dense"], batch_size=3)
    chunks = list(extractor.iter_batches(x))
    assert [c["conv1"].shape[0] for c in chunks] == [3, 3, 1]
    assert all(list(c) == ["conv1", "conv2", "dense"] for c in chunks)
    joined = extractor(x)
    for name in whole:
        np.testing.assert_allclose(joined[name], whole[name], rtol=RTOL, atol=ATOL)
    assert extractor.trace_count == 1  # built once, whatever the chunk sizes


def test_extractor_accepts_layer_infos_and_exposes_them(functional):
    infos = [info for info in list_layers(functional) if info.class_name == "Conv2D"]
    extractor = ActivationExtractor(functional, infos)
    assert extractor.layers == tuple(infos)
    assert extractor.paths == ("conv1", "conv2")
    assert extractor.model is functional
    assert "2 layers" in repr(extractor)


def test_probe_errors(functional):
    extractor = ActivationExtractor(functional, "conv1")
    with pytest.raises(ProbeError, match="0 samples"):
        extractor(np.zeros((0, 12, 12, 3), np.float32))
    with pytest.raises(ProbeError, match="leading batch axis"):
        extractor(np.float32(1.0))
    with pytest.raises(ProbeError, match=r"same number of samples; received sizes \[2, 3\]"):
        extractor([np.zeros((2, 1)), np.zeros((3, 1))])
    with pytest.raises(
        ProbeError, match=r"shape \(2, 10, 10, 3\).*input 'image' of shape \(None, 12, 12, 3\)"
    ):
        extractor(np.zeros((2, 10, 10, 3), np.float32))
    with pytest.raises(ProbeError, match="contains an object of type 'object'; pass arrays or tensors"):
        extractor([object()])
    with pytest.raises(ValueError, match=r"batch_size=0 is not valid; expected an int >= 1 or None"):
        ActivationExtractor(functional, "conv1", batch_size=0)
    with pytest.raises(TypeError, match=r"keras\.Model"):
        ActivationExtractor(keras.layers.Dense(2))  # type: ignore[arg-type]


# -- the probe checked once, errors named for what they are ------------------------------------------------


def test_one_log_checks_its_inputs_once(functional, tmp_path, monkeypatch):
    """``num_samples`` and ``conform`` once per ``log()`` (five times each before the checked probe)."""
    from tbactviz.probe import inputs as probe_inputs
    from tbactviz.snapshot.logger import ActivationLogger

    calls = {"count": 0, "conform": 0}
    real_count, real_conform = probe_inputs._num_samples, probe_inputs.conform

    def count(*args, **kwargs):
        calls["count"] += 1
        return real_count(*args, **kwargs)

    def conform(*args, **kwargs):
        calls["conform"] += 1
        return real_conform(*args, **kwargs)

    monkeypatch.setattr(probe_inputs, "_num_samples", count)
    monkeypatch.setattr(probe_inputs, "conform", conform)
    x = rng_images(5, (12, 12, 3))
    with ActivationLogger(tmp_path, functional, ["conv1", "conv2"], batch_size=2) as log:
        for step in range(2):  # the first call traces, the second runs what is compiled
            calls.update(count=0, conform=0)
            log(x, step=step)
            assert calls == {"count": 1, "conform": 1}, (step, calls)
        probe = log.extractor.checked(x)
        calls.update(count=0, conform=0)
        list(log.probe_chunks(probe))
        assert calls == {"count": 0, "conform": 0}  # a checked probe is not checked again


def test_an_error_of_a_reduction_surfaces_as_itself(functional, tmp_path, monkeypatch):
    """A bug in tbactviz's own reductions is not "inputs do not fit the model"."""
    from tbactviz.model.compiled import LayerReduce
    from tbactviz.snapshot import runner
    from tbactviz.snapshot.logger import ActivationLogger

    def broken(*args, **kwargs):
        raise ValueError("a bug in a reduction")

    extractor = ActivationExtractor(functional, ["conv1"])
    reduce = LayerReduce(lambda path, shape, extra: (None, None), lambda static, a, args: broken())
    with pytest.raises(ValueError, match="a bug in a reduction") as info:
        list(extractor.iter_batches(rng_images(2, (12, 12, 3)), reduce=reduce))
    assert not isinstance(info.value, ProbeError)
    monkeypatch.setattr(runner, "reduce_layer", broken)
    with ActivationLogger(tmp_path, functional, ["conv1"]) as log, pytest.raises(ValueError) as info:
        log(rng_images(2, (12, 12, 3)), step=0)
    assert not isinstance(info.value, ProbeError) and "a bug in a reduction" in str(info.value)


def test_a_probe_that_does_not_fit_a_subclassed_model_still_gets_the_mismatch_message():
    model = Net()
    model(rng_images(1, (9, 9, 2)))
    extractor = ActivationExtractor(model, ["sub_conv"])
    extractor(rng_images(1, (9, 9, 2)))
    with pytest.raises(
        ProbeError, match=r"inputs do not fit the model 'net': received float32\[2, 9, 9, 5\]"
    ):
        extractor(rng_images(2, (9, 9, 5)))
    with pytest.raises(
        ProbeError, match=r"inputs do not fit the model 'net': received float32\[3, 9, 9, 5\]"
    ):
        ActivationExtractor(model, ["sub_conv"]).check(rng_images(3, (9, 9, 5)))
