"""Loading the model of ``tbactviz layers`` and ``tbactviz log``: a saved file, or ``--model-factory``.

File checks come first, so that a wrong path fails at once, before TensorFlow is imported. A factory given as
a file (``path/to/models.py:build``) is loaded under a private module name with
:func:`importlib.util.spec_from_file_location`: a file named like an installed module (``keras.py``,
``numpy.py``) never shadows it, and its directory is only appended to ``sys.path`` (for its own sibling
imports), never put first.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tbactviz.cli.exits import CliError, ExitCode

if TYPE_CHECKING:
    import keras
    import numpy as np

__all__ = [
    "check_model_path",
    "import_factory",
    "input_spec",
    "load_factory_weights",
    "load_model",
    "quiet_tensorflow",
]

_PRIVATE_PREFIX = "_tbactviz_model_factory_"


#: The lines TensorFlow's C++ runtime writes while it is imported, before absl's logging is set up (so
#: ``TF_CPP_MIN_LOG_LEVEL`` does not reach them): absl's notice, then ``I0000 00:00:... file.cc:31] ...``.
_ABSL_LINE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\] .*)$"
)


def quiet_tensorflow(verbose: bool = False, *, module: str = "keras") -> None:
    """Import ``module`` (Keras, which imports TensorFlow, or TensorFlow itself) with TensorFlow's C++
    start-up lines kept off the terminal.

    Without ``verbose``: ``TF_CPP_MIN_LOG_LEVEL=3`` unless the user set a level (errors such as "failed call
    to cuInit" on a machine without a GPU stay quiet; Python exceptions still say what failed), and the
    lines TensorFlow's C++ runtime writes to stderr while it is imported, before that setting applies
    (oneDNN, "Could not find cuda drivers"), are dropped; anything else written meanwhile is passed on.
    With ``verbose`` (``tbactviz --verbose``) everything goes through untouched.
    """
    if verbose or module in sys.modules:
        importlib.import_module(module)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            importlib.import_module(module)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            lines = caught.read().decode("utf-8", "replace").splitlines()
            kept = [line for line in lines if not _ABSL_LINE.match(line)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")


def _append_path(directory: str) -> None:
    if directory not in sys.path:
        sys.path.append(directory)  # last: installed modules win over files of the same name


def _load_file(path: str) -> Any:
    """Execute a factory file as a module of a private name (never ``keras`` for ``keras.py``)."""
    stem = os.path.splitext(os.path.basename(path))[0]
    name = _PRIVATE_PREFIX + "".join(ch if ch.isalnum() else "_" for ch in stem)
    mod_spec = importlib.util.spec_from_file_location(name, path)
    if mod_spec is None or mod_spec.loader is None:
        raise CliError(
            f"--model-factory: {path!r} cannot be loaded as a Python file", ExitCode.MODEL_UNLOADABLE
        )
    module = importlib.util.module_from_spec(mod_spec)
    _append_path(os.path.dirname(os.path.abspath(path)))
    sys.modules[name] = module  # registered under its private name (dataclasses, pickling need a module)
    try:
        mod_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def import_factory(spec: str) -> Callable[[], Any]:
    """The function named by ``--model-factory MODULE:FUNCTION`` (MODULE a module name or a ``.py`` path).

    Raises:
        CliError: Malformed spec (exit 2), missing file (3), import failure or no such function (4).
    """
    module_name, sep, func_name = spec.rpartition(":")
    if not sep or not module_name or not func_name:
        raise CliError(
            f"--model-factory={spec!r} is not valid; expected MODULE:FUNCTION, e.g. mymodels:build_model or "
            "path/to/models.py:build_model",
            ExitCode.USAGE,
        )
    if module_name.endswith(".py") and not os.path.isfile(module_name):
        raise CliError(f"--model-factory: file {module_name!r} does not exist", ExitCode.MODEL_NOT_FOUND)
    try:
        if module_name.endswith(".py"):
            module = _load_file(module_name)
        else:
            _append_path(os.getcwd())
            module = importlib.import_module(module_name)
    except Exception as exc:
        raise CliError(
            f"--model-factory={spec!r}: importing {module_name!r} failed ({type(exc).__name__}: {exc})",
            ExitCode.MODEL_UNLOADABLE,
        ) from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        raise CliError(
            f"--model-factory={spec!r}: {module_name!r} has no function {func_name!r}",
            ExitCode.MODEL_UNLOADABLE,
        )
    return func  # type: ignore[no-any-return]


def check_model_path(path: str, factory: str | None) -> None:
    """Fail at once (exit 3) when MODEL does not exist; cheap, no TensorFlow."""
    if factory is not None and path != "-" and not os.path.exists(path):
        raise CliError(
            f"MODEL={path!r} does not exist; with --model-factory, MODEL is a weights file "
            "(.weights.h5) or '-' for the factory's own weights",
            ExitCode.MODEL_NOT_FOUND,
        )
    if factory is None and not os.path.exists(path):
        raise CliError(
            f"MODEL={path!r} does not exist; expected a saved Keras model (.keras, or legacy .h5)",
            ExitCode.MODEL_NOT_FOUND,
        )


def _from_factory(factory: str) -> keras.Model:
    import keras

    func = import_factory(factory)
    try:
        model = func()
    except Exception as exc:
        raise CliError(
            f"--model-factory={factory!r}: calling it failed ({type(exc).__name__}: {exc})",
            ExitCode.MODEL_UNLOADABLE,
        ) from exc
    if not isinstance(model, keras.Model):
        raise CliError(
            f"--model-factory={factory!r} returned {type(model).__name__}; expected a keras.Model",
            ExitCode.MODEL_UNLOADABLE,
        )
    return model


def load_model(path: str, factory: str | None, *, verbose: bool = False) -> keras.Model:
    """Load MODEL, or build it with ``--model-factory`` (its weights are loaded by
    :func:`load_factory_weights` once a sample has built it).

    Args:
        path: MODEL as given.
        factory: ``--model-factory`` or None.
        verbose: ``--verbose``: let TensorFlow's C++ start-up lines through (see :func:`quiet_tensorflow`).

    Raises:
        CliError: MODEL missing (exit 3) or not loadable (exit 4); the message says what would work.
    """
    check_model_path(path, factory)
    quiet_tensorflow(verbose)
    if factory is not None:
        return _from_factory(factory)
    import keras

    if os.path.isdir(path):
        hint = (
            " It looks like a TensorFlow SavedModel: Keras 3 can only wrap those as one opaque layer "
            "(keras.layers.TFSMLayer), whose inner layers cannot be reached. Re-save it with "
            "model.save('model.keras') where it was built, or rebuild it with --model-factory."
            if os.path.exists(os.path.join(path, "saved_model.pb"))
            else ""
        )
        raise CliError(
            f"MODEL={path!r} is a directory; expected a .keras or .h5 file.{hint}", ExitCode.MODEL_UNLOADABLE
        )
    if path.lower().endswith((".weights.h5", ".ckpt")):
        raise CliError(
            f"MODEL={path!r} holds weights only; give the full model (.keras / .h5), or build the "
            "architecture with --model-factory MODULE:FUNCTION and pass this file as MODEL",
            ExitCode.MODEL_UNLOADABLE,
        )
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as exc:
        raise CliError(
            f"MODEL={path!r} cannot be loaded by Keras {keras.__version__} ({type(exc).__name__}: {exc}). "
            "Keras 3 loads .keras files and legacy .h5 files; custom or subclassed models need "
            "--model-factory MODULE:FUNCTION",
            ExitCode.MODEL_UNLOADABLE,
        ) from exc


def load_factory_weights(model: keras.Model, path: str, sample: np.ndarray | None) -> None:
    """Load the weights file MODEL into a ``--model-factory`` model (``'-'``: keep the factory's own)."""
    if path == "-":
        return
    try:
        if not model.built and sample is not None:
            model(sample[:1])
        model.load_weights(path)
    except Exception as exc:
        raise CliError(
            f"MODEL={path!r}: loading the weights into the --model-factory model failed "
            f"({type(exc).__name__}: {exc})",
            ExitCode.MODEL_UNLOADABLE,
        ) from exc


def input_spec(model: keras.Model) -> tuple[int | None, ...] | None:
    """Per-sample input shape of a single-input model, or None when unknown (unbuilt / subclassed).

    Raises:
        CliError: (exit 8) the model has several inputs; the command line feeds single-input models only.
    """
    try:
        inputs = model.inputs
    except (AttributeError, ValueError, RuntimeError):
        return None
    if not inputs:
        return None
    if len(inputs) > 1:
        raise CliError(
            f"the model has {len(inputs)} inputs; the command line feeds single-input models only (use "
            "tbactviz.ActivationLogger in Python for multi-input models)",
            ExitCode.INPUT_MISMATCH,
        )
    return tuple(None if d is None else int(d) for d in inputs[0].shape[1:])
