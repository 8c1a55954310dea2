"""Tests of tbactviz.layers.listing: listing layers and resolving selectors (names, globs, paths, classes)."""

from __future__ import annotations

import itertools
import warnings

import keras
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tbactviz.errors import (
    AmbiguousLayerError,
    LayerNotFoundError,
    NoDrawableLayerError,
    TbactvizError,
    TbactvizWarning,
)
from tbactviz.layers.listing import DEFAULT_MAX_LAYERS, LayerInfo, default_layers, list_layers
from tbactviz.layers.selection import resolve_layers


class MyConv(keras.layers.Conv2D):
    """A user subclass of Conv2D (class selectors match subclasses)."""


class Pair(keras.layers.Layer):
    """A layer with two outputs: never drawable."""

    def call(self, x):
        return x, x * 2.0

    def compute_output_shape(self, input_shape):
        return input_shape, input_shape


def _cnn() -> keras.Model:
    keras.utils.set_random_seed(1)
    inp = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv1")(inp)
    x = MyConv(4, 3, name="conv2")(x)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Dropout(0.1, name="drop")(x)
    a, _ = Pair(name="pair")(x)
    x = keras.layers.Flatten(name="flat")(a)
    out = keras.layers.Dense(3, name="dense")(x)
    return keras.Model(inp, out, name="cnn")


def _backbone(name: str) -> keras.Model:
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(2, 3, name="conv1_conv")(inp)
    x = keras.layers.ReLU(name="conv1_relu")(x)
    x = keras.layers.Conv2D(2, 1, name="block1_out")(x)
    return keras.Model(inp, x, name=name)


def _nested() -> keras.Model:
    keras.utils.set_random_seed(2)
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            _backbone("backbone.v1_0.5"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(2, name="head"),
        ],
        name="transfer",
    )


@pytest.fixture(scope="module")
def cnn() -> keras.Model:
    return _cnn()


@pytest.fixture(scope="module")
def nested() -> keras.Model:
    return _nested()


def paths(infos: list[LayerInfo]) -> list[str]:
    return [info.path for info in infos]


# -------------------------------------------------------------------------------------- list_layers


def test_list_layers_functional(cnn):
    infos = list_layers(cnn)
    assert paths(infos) == ["conv1", "conv2", "pool", "drop", "pair", "flat", "dense"]  # no InputLayer
    by_path = {info.path: info for info in infos}
    assert by_path["conv1"].class_name == "Conv2D"
    assert by_path["conv2"].class_name == "MyConv"
    assert by_path["conv1"].output_shape == (None, 14, 14, 4)
    assert by_path["dense"].output_shape == (None, 3)
    assert by_path["dense"].drawable and by_path["dense"].reason is None
    assert not by_path["pair"].drawable
    assert "2 outputs" in by_path["pair"].reason
    assert all(info.depth == 0 for info in infos)
    assert by_path["conv1"].layer is cnn.get_layer("conv1")


def test_list_layers_nested(nested):
    infos = list_layers(nested)
    assert paths(infos) == [
        "backbone.v1_0.5",
        "backbone.v1_0.5/conv1_conv",
        "backbone.v1_0.5/conv1_relu",
        "backbone.v1_0.5/block1_out",
        "gap",
        "head",
    ]
    assert [info.depth for info in infos] == [0, 1, 1, 1, 0, 0]
    assert infos[1].output_shape == (None, 6, 6, 2)
    assert infos[1].name == "conv1_conv"
    assert paths(list_layers(nested, include_nested=False)) == ["backbone.v1_0.5", "gap", "head"]


def test_list_layers_unbuilt_sequential_then_input_shape():
    model = keras.Sequential([keras.layers.Conv2D(2, 3, name="c"), keras.layers.Flatten(name="f")])
    infos = list_layers(model)
    assert paths(infos) == ["c", "f"]
    assert all(info.output_shape is None and info.drawable for info in infos)
    infos = list_layers(model, input_shape=(None, 6, 6, 1))
    assert [info.output_shape for info in infos] == [(None, 4, 4, 2), (None, 32)]


def test_list_layers_subclassed_with_input_shape():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(2, 3, name="sub_conv")
            self.pair = Pair(name="sub_pair")

        def call(self, x):
            a, b = self.pair(self.conv(x))
            return a + b

    model = Net()
    assert [info.output_shape for info in list_layers(model)] == [None, None]
    infos = list_layers(model, input_shape=(None, 5, 5, 1))
    assert infos[0].output_shape == (None, 3, 3, 2)
    assert not infos[1].drawable and "2 outputs" in infos[1].reason
    assert "call" not in vars(model.conv)  # tracing left no wrapper behind


def test_list_layers_rejects_non_models():
    with pytest.raises(TypeError, match=r"keras\.Model"):
        list_layers(keras.layers.Dense(2))


# ----------------------------------------------------------------------------------- resolve_layers


def test_exact_names_glob_and_order(cnn):
    assert paths(resolve_layers(cnn, "conv2")) == ["conv2"]
    assert paths(resolve_layers(cnn, "conv*")) == ["conv1", "conv2"]
    # model order and no duplicates whatever the selector order
    assert paths(resolve_layers(cnn, ["dense", "conv?", "conv1", "pool"])) == [
        "conv1",
        "conv2",
        "pool",
        "dense",
    ]
    assert paths(resolve_layers(cnn, ("pool",))) == ["pool"]


def test_class_selectors(cnn):
    # a class matches its subclasses (MyConv is a Conv2D)
    assert paths(resolve_layers(cnn, keras.layers.Conv2D)) == ["conv1", "conv2"]
    assert paths(resolve_layers(cnn, MyConv)) == ["conv2"]
    # class names match the class or any base class name
    assert paths(resolve_layers(cnn, "Conv2D")) == ["conv1", "conv2"]
    assert paths(resolve_layers(cnn, "MaxPooling2D")) == ["pool"]
    assert paths(resolve_layers(cnn, ["Dense", keras.layers.MaxPooling2D])) == ["pool", "dense"]


def test_layer_objects_and_infos(cnn):
    layer = cnn.get_layer("pool")
    assert paths(resolve_layers(cnn, layer)) == ["pool"]
    info = list_layers(cnn)[0]
    assert paths(resolve_layers(cnn, [info, "dense"])) == ["conv1", "dense"]
    with pytest.raises(LayerNotFoundError, match="'stranger'"):
        resolve_layers(cnn, keras.layers.Dense(1, name="stranger"))


def test_layer_name_wins_over_class_name():
    keras.utils.set_random_seed(3)
    inp = keras.Input((4,))
    x = keras.layers.Dense(3, name="Dense")(inp)
    x = keras.layers.Dense(2, name="other")(x)
    model = keras.Model(inp, x)
    assert paths(resolve_layers(model, "Dense")) == ["Dense"]
    assert paths(resolve_layers(model, keras.layers.Dense)) == ["Dense", "other"]


def test_nested_paths_bare_names_and_globs(nested):
    assert paths(resolve_layers(nested, "backbone.v1_0.5/conv1_conv")) == ["backbone.v1_0.5/conv1_conv"]
    # a bare inner name reachable only inside the nested model
    assert paths(resolve_layers(nested, "block1_out")) == ["backbone.v1_0.5/block1_out"]
    # globs on full paths ('*' crosses '/'), then on bare names when no full path matches
    assert paths(resolve_layers(nested, "backbone.v1_0.5/conv1_*")) == [
        "backbone.v1_0.5/conv1_conv",
        "backbone.v1_0.5/conv1_relu",
    ]
    assert paths(resolve_layers(nested, "conv1_*")) == [
        "backbone.v1_0.5/conv1_conv",
        "backbone.v1_0.5/conv1_relu",
    ]
    # the container itself is a layer too (names contain '.', globs treat it literally)
    assert paths(resolve_layers(nested, "backbone.v1_0.5")) == ["backbone.v1_0.5"]
    assert paths(resolve_layers(nested, ["head", "*/block1_out"])) == ["backbone.v1_0.5/block1_out", "head"]


def test_ambiguous_bare_name():
    keras.utils.set_random_seed(4)
    inp = keras.Input((8, 8, 3))
    a = _backbone("left")(inp)
    b = _backbone("right")(inp)
    model = keras.Model(inp, keras.layers.Add(name="add")([a, b]))
    with pytest.raises(AmbiguousLayerError) as info:
        resolve_layers(model, "conv1_conv")
    message = str(info.value)
    assert "'left/conv1_conv'" in message and "'right/conv1_conv'" in message
    assert isinstance(info.value, LayerNotFoundError)
    assert paths(resolve_layers(model, "right/conv1_conv")) == ["right/conv1_conv"]


# ------------------------------------------------------------------------------------------- errors


def test_unknown_name_lists_close_matches(cnn):
    with pytest.raises(LayerNotFoundError) as info:
        resolve_layers(cnn, ["conv1", "conv3"])
    message = str(info.value)
    assert "layers='conv3'" in message
    assert "'conv1'" in message and "'conv2'" in message  # close matches
    assert "tbactviz.list_layers(model)" in message and "tbactviz layers MODEL" in message
    assert info.value.selector == "conv3"
    assert "conv1" in info.value.suggestions
    assert isinstance(info.value, (TbactvizError, ValueError))


def test_unknown_nested_name_suggests_path(nested):
    with pytest.raises(LayerNotFoundError) as info:
        resolve_layers(nested, "conv1_cnv")
    assert "backbone.v1_0.5/conv1_conv" in info.value.suggestions


def test_glob_matching_nothing(cnn):
    with pytest.raises(LayerNotFoundError, match=r"layers='block\*_out' matches no layer"):
        resolve_layers(cnn, "block*_out")


def test_unknown_class(cnn):
    with pytest.raises(LayerNotFoundError, match="Conv3D"):
        resolve_layers(cnn, keras.layers.Conv3D)


def test_empty_selection(cnn):
    with pytest.raises(ValueError, match=r"layers=\[\] selects no layer"):
        resolve_layers(cnn, [])
    with pytest.raises(ValueError, match=r"probe_layers=\(\)"):
        resolve_layers(cnn, (), argument="probe_layers")
    with pytest.raises(ValueError, match="empty layer name"):
        resolve_layers(cnn, "")


def test_bad_selector_type(cnn):
    with pytest.raises(TypeError, match="received int: 3"):
        resolve_layers(cnn, ["conv1", 3])
    with pytest.raises(TypeError, match=r"not a keras\.layers\.Layer subclass"):
        resolve_layers(cnn, int)


def test_non_drawable_named_is_skipped_with_warning(cnn):
    with pytest.warns(TbactvizWarning, match=r"'pair' \(Pair\) returns 2 outputs"):
        chosen = resolve_layers(cnn, ["pair", "conv1"])
    assert paths(chosen) == ["conv1"]
    with pytest.warns(TbactvizWarning), pytest.raises(NoDrawableLayerError, match="no drawable layer"):
        resolve_layers(cnn, "pair")


def test_no_warning_for_drawable_selection(cnn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolve_layers(cnn, "conv*")


# ----------------------------------------------------------------------------------- default choice


def test_default_small_model(cnn):
    # spatial (rank >= 3), drawable, not Dropout/containers/shape-only
    assert paths(resolve_layers(cnn)) == ["conv1", "conv2", "pool"]
    with pytest.raises(NoDrawableLayerError):
        resolve_layers(keras.Sequential([keras.Input((3,)), Pair()]))


def test_default_nested_skips_container(nested):
    assert paths(resolve_layers(nested)) == [
        "backbone.v1_0.5/conv1_conv",
        "backbone.v1_0.5/conv1_relu",
        "backbone.v1_0.5/block1_out",
    ]


def test_default_is_bounded_and_spread():
    keras.utils.set_random_seed(5)
    layers: list[keras.layers.Layer] = [keras.Input((32, 32, 1))]
    for i in range(30):
        layers.append(keras.layers.Conv2D(1, 1, name=f"conv_{i:02d}"))
        layers.append(keras.layers.BatchNormalization(name=f"bn_{i:02d}"))
    layers += [keras.layers.Flatten(name="flat"), keras.layers.Dense(2, name="out")]
    model = keras.Sequential(layers)
    chosen = paths(resolve_layers(model))
    assert len(chosen) == DEFAULT_MAX_LAYERS
    # convolutions are preferred over BatchNormalization; first and last included, evenly spaced
    assert chosen[0] == "conv_00" and chosen[-1] == "conv_29"
    indices = [int(p.split("_")[1]) for p in chosen]
    gaps = {b - a for a, b in itertools.pairwise(indices)}
    assert max(gaps) - min(gaps) <= 1
    assert len(resolve_layers(model, max_layers=3)) == 3


def test_default_falls_back_to_dense():
    keras.utils.set_random_seed(6)
    model = keras.Sequential(
        [
            keras.Input((10,)),
            keras.layers.Dense(8, name="h1"),
            keras.layers.Dropout(0.5, name="d"),
            keras.layers.Dense(4, name="h2"),
            keras.layers.Activation("relu", name="act"),
            keras.layers.Dense(2, name="out"),
        ]
    )
    assert paths(resolve_layers(model)) == ["h1", "h2", "out"]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(min_value=0, max_value=40), budget=st.integers(min_value=1, max_value=12))
def test_default_layers_property(n, budget):
    infos = [LayerInfo(f"c{i}", _CONVS[i], "Conv2D", (None, 4, 4, 1), True, None, 0) for i in range(n)]
    chosen = default_layers(infos, budget)
    assert len(chosen) == min(n, budget)
    assert chosen == sorted(chosen, key=infos.index)  # model order, no duplicates
    if n and budget > 1:
        assert chosen[0] is infos[0] and chosen[-1] is infos[-1]
    if n and budget == 1:
        assert chosen == [infos[-1]]


_CONVS = [keras.layers.Conv2D(1, 1) for _ in range(40)]


def test_default_layers_budget_validation():
    with pytest.raises(ValueError, match="max_layers=0 is not valid; expected an int >= 1"):
        default_layers([], 0)
    with pytest.raises(TypeError, match=r"max_layers=2\.0 is not valid; expected an int >= 1, got float"):
        default_layers([], 2.0)
