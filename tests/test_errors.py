"""Tests of tbactviz.errors: types callers can catch and messages that say what to do."""

from __future__ import annotations

import pytest

from tbactviz import errors


def test_layer_not_found_lists_close_matches_and_how_to_list() -> None:
    err = errors.LayerNotFoundError("conv_1", ["conv1", "conv2", "dense", "backbone/conv1_conv"])
    msg = str(err)
    assert "layers='conv_1'" in msg
    assert "'conv1'" in msg
    assert "tbactviz.list_layers(model)" in msg and "tbactviz layers MODEL" in msg
    assert err.suggestions[0] == "conv1"
    assert "dense" not in err.suggestions
    assert isinstance(err, ValueError) and isinstance(err, errors.TbactvizError)


def test_glob_wording_and_no_suggestions() -> None:
    msg = str(errors.LayerNotFoundError("zz*", ["conv1"]))
    assert "matches no layer" in msg and "Close matches" not in msg


def test_close_matches_finds_nested_inner_names() -> None:
    assert errors.close_matches("conv1", ["backbone/conv1_conv", "dense"]) == ["backbone/conv1_conv"]
    assert errors.close_matches("xyz", ["conv1"]) == []


@pytest.mark.parametrize(
    ("cls", "base"),
    [
        (errors.ProbeError, ValueError),
        (errors.LogdirError, OSError),
        (errors.WriterClosedError, RuntimeError),
        (errors.TbactvizWarning, UserWarning),
    ],
)
def test_error_types_derive_from_builtins(cls: type, base: type) -> None:
    assert issubclass(cls, base)
