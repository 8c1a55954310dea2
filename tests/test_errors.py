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


def _named(name: str, base: type[Exception] = RuntimeError) -> type[Exception]:
    return type(name, (base,), {})


@pytest.mark.parametrize(
    "exc",
    [
        _named("ResourceExhaustedError")("OOM when allocating tensor with shape[64,112,112,64]"),
        _named("XlaRuntimeError")("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.00GiB."),
        _named("JaxRuntimeError")("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.00GiB."),
        _named("OutOfMemoryError")("CUDA out of memory. Tried to allocate 20.00 MiB"),
        _named("CudaOOM", _named("OutOfMemoryError"))(""),  # a subclass, whatever its message
        MemoryError(),
    ],
)
def test_out_of_memory_is_recognized_on_every_backend(exc: Exception) -> None:
    assert errors.is_out_of_memory(exc)
    assert "to run the probe in smaller chunks" in errors.out_of_memory_hint(exc, 4)


def test_tensorflows_own_out_of_memory_error_is_recognized() -> None:
    tf = pytest.importorskip("tensorflow")
    exc = tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
    assert errors.is_out_of_memory(exc)
    assert errors.out_of_memory_hint(exc, 16) == (
        " -- out of memory while running the probe (batch_size=16): pass a smaller batch_size, e.g. "
        "batch_size=8, to run the probe in smaller chunks"
    )
    assert "batch_size=None: automatic chunks" in errors.out_of_memory_hint(exc, None)
    assert "batch_size=1 (one sample per forward pass): choose fewer layers" in errors.out_of_memory_hint(
        exc, 1
    )


@pytest.mark.parametrize("exc", [ValueError("bad shape"), RuntimeError("XLA compilation failed"), OSError()])
def test_other_errors_are_not_out_of_memory(exc: Exception) -> None:
    assert not errors.is_out_of_memory(exc)
    assert errors.out_of_memory_hint(exc, 4) == ""


def test_warn_once_points_at_the_callers_line() -> None:
    """Outside tbactviz, Keras and TensorFlow, the first frame is the user's: the warning names its line."""
    import inspect
    import logging
    import warnings

    from tbactviz.errors import TbactvizWarning, WarnOnce

    warn = WarnOnce(logging.getLogger("test"))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
        warn("key", "something failed")
    assert len(seen) == 1 and seen[0].category is TbactvizWarning
    assert (seen[0].filename, seen[0].lineno) == (__file__, line)
