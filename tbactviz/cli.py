"""The ``tbactviz`` command (also ``python -m tbactviz``).

Subcommands:

* ``tbactviz layers MODEL [--match PATTERN]``: the selectable layers of a saved model, with their class,
  output shape and what would be drawn.
* ``tbactviz log MODEL INPUTS... --layers ... --logdir ...``: post-hoc logging of a saved model on image files
  or ``.npy`` arrays.
* ``tbactviz demo [--logdir logs] [--epochs N]``: trains a small CNN on built-in synthetic shapes with
  :class:`tbactviz.ActivationCallback` next to ``keras.callbacks.TensorBoard``.
* ``tbactviz board [--logdir logs] [--port N]``: TensorBoard with every image step kept.

Only the public API is used here. TensorFlow and Keras are imported by the subcommands that need them, so
``tbactviz --help`` and ``tbactviz --version`` answer at once. Errors go to stderr as one message naming the
argument, the value and what is valid, with a distinct exit status (see :class:`ExitCode`).

Example:
    >>> from tbactviz.cli import main
    >>> main(["log", "missing.keras", "cat.jpg", "--logdir", "logs/x"])  # doctest: +SKIP
    tbactviz log: error: MODEL='missing.keras' does not exist ...
    3
"""

from __future__ import annotations

import argparse
import enum
import fnmatch
import importlib
import importlib.util
import json
import logging
import math
import os
import shlex
import sys
import textwrap
import time
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from tbactviz._version import __version__
from tbactviz.errors import LayerNotFoundError, LogdirError, NoDrawableLayerError, ProbeError, TbactvizError

if TYPE_CHECKING:
    import keras
    import numpy as np

    from tbactviz.layers import LayerInfo

__all__ = ["PREPROCESS_NAMES", "ExitCode", "build_parser", "main"]

_log = logging.getLogger("tbactviz.cli")


class ExitCode(enum.IntEnum):
    """Exit statuses of the ``tbactviz`` command (also listed in ``tbactviz --help``)."""

    OK = 0
    ERROR = 1  #: any other error
    USAGE = 2  #: bad command line (argparse)
    MODEL_NOT_FOUND = 3  #: the model file does not exist
    MODEL_UNLOADABLE = 4  #: the model file (or --model-factory) exists but cannot be loaded
    BAD_INPUT = 5  #: an input file is missing, unreadable, or not an image / .npy array
    BAD_LAYER = 6  #: a --layers / --match selector names no (drawable) layer
    BAD_SIZE = 7  #: --size / --input-shape is malformed or does not fit the model
    INPUT_MISMATCH = 8  #: the inputs do not fit the model (shape, rank, channels)
    BAD_LOGDIR = 9  #: the log directory cannot be created or written
    INTERRUPTED = 130  #: Ctrl-C


_EPILOG = """\
exit status:
  0  success
  1  other error
  2  bad command line
  3  model file not found
  4  model cannot be loaded (format, corrupt file, --model-factory failure)
  5  input file missing or unreadable (not an image Pillow reads, not a .npy array)
  6  bad layer name (--layers / --match match no drawable layer; close matches are listed)
  7  bad size (--size / --input-shape malformed or not the model's input size)
  8  inputs do not fit the model (shape, rank, channels)
  9  log directory cannot be created or written
130  interrupted (Ctrl-C)
"""

#: Names accepted by ``--preprocess``: ``none`` (pixels as read, 0..255), ``unit`` (/255 -> 0..1),
#: ``symmetric`` (/127.5 - 1 -> -1..1) and the keras.applications modules that have a ``preprocess_input``.
PREPROCESS_NAMES: tuple[str, ...] = (
    "none",
    "unit",
    "symmetric",
    "convnext",
    "densenet",
    "efficientnet",
    "efficientnet_v2",
    "inception_resnet_v2",
    "inception_v3",
    "mobilenet",
    "mobilenet_v2",
    "mobilenet_v3",
    "nasnet",
    "regnet",
    "resnet",
    "resnet50",
    "resnet_rs",
    "resnet_v2",
    "vgg16",
    "vgg19",
    "xception",
)


class CliError(TbactvizError):
    """An error the command line reports as one message with its own exit status."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.code = code


# ----------------------------------------------------------------------------------------------------------
# parser


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=88)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tbactviz`` command.

    Returns:
        An :class:`argparse.ArgumentParser` with the subcommands ``layers``, ``log``, ``demo`` and ``board``;
        the handler of each is stored as the ``handler`` default of its subparser.
    """
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="tbactviz",
        description="See in TensorBoard what every chosen layer of a Keras CNN sees.",
        epilog="examples:\n"
        "  tbactviz demo                                  # train a small CNN, log into logs/\n"
        "  tbactviz board --logdir logs                   # open it in TensorBoard\n"
        "  tbactviz layers model.keras --match 'conv*'    # what can be logged\n"
        "  tbactviz log model.keras cat.jpg --layers 'conv*' --logdir logs/posthoc\n\n" + _EPILOG,
        formatter_class=fmt,
    )
    parser.add_argument("--version", action="version", version=f"tbactviz {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def model_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "model",
            metavar="MODEL",
            help="a saved Keras model: .keras (Keras 3) or .h5 (legacy); with --model-factory, a weights "
            "file (.weights.h5) or '-' for the factory's own weights",
        )
        p.add_argument(
            "--model-factory",
            metavar="MODULE:FUNCTION",
            help="build the model by calling FUNCTION() from MODULE (a module name importable from the "
            "current directory, or a path to a .py file): for subclassed models and custom layers",
        )

    # layers ---------------------------------------------------------------------------------------------
    p = sub.add_parser(
        "layers",
        help="list the selectable layers of a model",
        description=_wrap(
            "List the layers of MODEL that can be logged: path (nested models as 'outer/inner'), "
            "class, output shape, what would be drawn (grid of channel tiles after the channel cap, and its "
            "size in pixels) or why the layer cannot be drawn. '*' marks the layers logged when --layers is "
            "omitted."
        ),
        epilog=_EPILOG,
        formatter_class=fmt,
    )
    model_args(p)
    p.add_argument(
        "--match",
        metavar="PATTERN",
        action="append",
        help="keep layers whose path, name or class matches PATTERN (exact or glob, e.g. 'conv*', "
        "'backbone/*', Conv2D); repeatable",
    )
    p.add_argument(
        "--max-channels", type=int, default=64, metavar="N", help="channel cap per grid (default 64)"
    )
    p.add_argument(
        "--input-shape",
        metavar="SHAPE",
        help="input shape without batch, e.g. 32x32x3, for subclassed or unbuilt models whose output shapes "
        "are unknown",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=_cmd_layers)

    # log ------------------------------------------------------------------------------------------------
    p = sub.add_parser(
        "log",
        help="log the activations of a saved model on images or arrays",
        description=_wrap(
            "Run INPUTS through MODEL once and write what the chosen layers see (feature-map grids, "
            "histograms, sparsity and dead-channel scalars) as TensorBoard events into --logdir."
        ),
        epilog="inputs:\n"
        "  Image files (jpg, png, ... anything Pillow reads) are converted to RGB (grey for 1-channel\n"
        "  models) and resized to the model's input size, or to --size.\n"
        "  .npy files hold one sample or a batch.\n"
        "  --preprocess applies to every input; 'none' feeds pixels as 0..255 floats.\n\n" + _EPILOG,
        formatter_class=fmt,
    )
    model_args(p)
    p.add_argument(
        "inputs", nargs="+", metavar="INPUTS", help="image files (jpg, png, ...) and/or .npy arrays"
    )
    p.add_argument(
        "--layers",
        action="append",
        metavar="SELECTOR",
        help="layers to log: exact path, nested path 'outer/inner', glob ('conv*') or class name (Conv2D); "
        "comma-separated and/or repeated. Default: up to 8 layers spread over the model's depth",
    )
    p.add_argument(
        "--logdir", default=os.path.join("logs", "posthoc"), help="run directory (default logs/posthoc)"
    )
    p.add_argument("--step", type=int, default=0, metavar="N", help="step shown in TensorBoard (default 0)")
    p.add_argument("--size", metavar="HxW", help="resize images to HxW (default: the model's size)")
    p.add_argument(
        "--preprocess",
        default="none",
        metavar="NAME",
        help="input preprocessing: " + ", ".join(PREPROCESS_NAMES) + " (default none)",
    )
    p.add_argument(
        "--max-images", type=int, default=3, metavar="N", help="samples drawn per layer (default 3)"
    )
    p.add_argument("--max-channels", type=int, default=64, metavar="N", help="channels per grid (default 64)")
    p.add_argument(
        "--normalize",
        default="standardize",
        choices=("standardize", "minmax", "layer", "fixed"),
        help="how values map to colours (default standardize)",
    )
    p.add_argument(
        "--colormap",
        default="viridis",
        choices=("gray", "viridis", "magma", "inferno", "plasma"),
        help="default viridis",
    )
    p.add_argument(
        "--order", default="index", choices=("index", "activity"), help="channels drawn first (default index)"
    )
    p.add_argument("--batch-size", type=int, metavar="N", help="samples per forward pass (default: all)")
    p.add_argument("--no-histograms", action="store_true", help="do not write histograms")
    p.add_argument("--no-stats", action="store_true", help="do not write the scalar figures")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=_cmd_log)

    # demo -----------------------------------------------------------------------------------------------
    p = sub.add_parser(
        "demo",
        help="train a small CNN on built-in synthetic shapes, logging its activations",
        description=_wrap(
            "Generate coloured circles, squares, triangles and crosses, train a small CNN on them "
            "with tbactviz.ActivationCallback next to keras.callbacks.TensorBoard, and write everything "
            "into LOGDIR/RUN/ (runs activations, train and validation; plus model.keras, probe.npy and "
            "probe/*.png). About 15 s on 2 CPU cores with the defaults. An earlier demo run in LOGDIR/RUN "
            "is replaced."
        ),
        epilog=_EPILOG,
        formatter_class=fmt,
    )
    p.add_argument("--logdir", default="logs", help="log root (default logs)")
    p.add_argument("--run", default="demo", help="subdirectory of the log root (default demo)")
    p.add_argument("--epochs", type=int, default=8, metavar="N", help="training epochs (default 8)")
    p.add_argument("--samples", type=int, default=3000, metavar="N", help="training images (default 3000)")
    p.add_argument(
        "--image-size", type=int, default=32, metavar="N", help="image side in pixels (default 32)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of data and weights (default 0)")
    p.add_argument("-q", "--quiet", action="store_true", help="no Keras progress output")
    p.set_defaults(handler=_cmd_demo)

    # board ----------------------------------------------------------------------------------------------
    p = sub.add_parser(
        "board",
        help="start TensorBoard keeping every logged step",
        description=_wrap(
            "Start TensorBoard over LOGDIR with --samples_per_plugin set so that every image, "
            "histogram and scalar step stays visible (TensorBoard keeps only 10 image steps by default). "
            "Stop it with Ctrl-C."
        ),
        epilog=_EPILOG,
        formatter_class=fmt,
    )
    p.add_argument("--logdir", default="logs", help="log root (default logs)")
    p.add_argument("--port", type=int, help="port (default: 6006 or the next free one)")
    p.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1: this machine only)")
    p.add_argument(
        "--samples", type=int, default=100_000, metavar="N", help="steps kept per tag (default 100000: all)"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print the TensorBoard command instead of running it"
    )
    p.set_defaults(handler=_cmd_board)
    return parser


# ----------------------------------------------------------------------------------------------------------
# helpers


def _quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ start-up chatter off the terminal unless the user chose a level."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _split_selectors(values: Sequence[str] | None) -> list[str] | None:
    if not values:
        return None
    out = [part.strip() for value in values for part in value.split(",") if part.strip()]
    return out or None


def _parse_shape(text: str, argument: str) -> tuple[int, ...]:
    parts = text.lower().replace("×", "x").replace(",", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if not dims or any(d < 1 for d in dims):
        raise CliError(
            f"{argument}={text!r} is not a shape; expected positive integers joined by 'x' without the batch "
            "dimension, e.g. 32x32x3",
            ExitCode.BAD_SIZE,
        )
    return dims


def _import_factory(spec: str) -> Callable[[], Any]:
    module_name, sep, func_name = spec.rpartition(":")
    if not sep or not module_name or not func_name:
        raise CliError(
            f"--model-factory={spec!r} is not valid; expected MODULE:FUNCTION, e.g. mymodels:build_model or "
            "path/to/models.py:build_model",
            ExitCode.USAGE,
        )
    try:
        if module_name.endswith(".py"):
            if not os.path.isfile(module_name):
                raise CliError(
                    f"--model-factory: file {module_name!r} does not exist", ExitCode.MODEL_NOT_FOUND
                )
            name = os.path.splitext(os.path.basename(module_name))[0]
            mod_spec = importlib.util.spec_from_file_location(name, module_name)
            assert mod_spec is not None and mod_spec.loader is not None
            module = importlib.util.module_from_spec(mod_spec)
            sys.modules[name] = module
            mod_spec.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path and "" not in sys.path:
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(module_name)
    except CliError:
        raise
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


def _check_model_path(path: str, factory: str | None) -> None:
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


def _load_model(path: str, factory: str | None) -> keras.Model:
    """Load MODEL (or build it with --model-factory); weights for a factory model are loaded later.

    The file checks come first, so a wrong path fails at once, before TensorFlow is imported.
    """
    _check_model_path(path, factory)
    _quiet_tensorflow()
    import keras

    if factory is not None:
        func = _import_factory(factory)
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


def _load_factory_weights(model: keras.Model, path: str, sample: np.ndarray | None) -> None:
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


def _input_spec(model: keras.Model) -> tuple[int | None, ...] | None:
    """Per-sample input shape of a single-input model, or None when unknown (unbuilt / subclassed)."""
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


def _fits(shape: tuple[int, ...], spec: tuple[int | None, ...]) -> bool:
    return len(shape) == len(spec) and all(s is None or s == d for d, s in zip(shape, spec, strict=True))


def _fmt_shape(shape: Sequence[int | None] | None) -> str:
    if shape is None:
        return "?"
    return (
        "("
        + ", ".join("None" if d is None else str(d) for d in shape)
        + ("," if len(shape) == 1 else "")
        + ")"
    )


def _read_inputs(
    paths: Sequence[str],
    spec: tuple[int | None, ...] | None,
    size_text: str | None,
    *,
    progress: bool,
) -> np.ndarray:
    """Read image files and .npy arrays into one float32 batch that fits ``spec``."""
    import numpy as np
    from tqdm.auto import tqdm

    from tbactviz import data

    size = data.parse_size(size_text, argument="--size") if size_text is not None else None
    image_paths = [p for p in paths if not data.is_array_file(p)]
    target: tuple[int, int] | None = size
    channels = 3
    if image_paths:
        if spec is not None and len(spec) != 3:
            raise CliError(
                f"the model takes inputs of shape {_fmt_shape(spec)} (without batch), not images; give .npy "
                f"arrays instead of {image_paths[0]!r}",
                ExitCode.INPUT_MISMATCH,
            )
        if spec is not None:
            if spec[2] not in (None, 1, 3):
                raise CliError(
                    f"the model takes images with {spec[2]} channels; image files give 1 (grey) or 3 (RGB). "
                    "Give .npy arrays instead",
                    ExitCode.INPUT_MISMATCH,
                )
            channels = spec[2] or 3
            if spec[0] is not None and spec[1] is not None:
                model_hw = (spec[0], spec[1])
                if size is not None and size != model_hw:
                    raise CliError(
                        f"--size={size_text!r} does not fit the model, whose input is "
                        f"{model_hw[0]}x{model_hw[1]} pixels; omit --size to resize images to it",
                        ExitCode.BAD_SIZE,
                    )
                target = model_hw
    batches: list[np.ndarray] = []
    for path in tqdm(paths, desc="inputs", unit="file", disable=not progress or len(paths) < 2, leave=False):
        if data.is_array_file(path):
            arr = data.load_array(path).astype(np.float32, copy=False)
            if spec is not None and _fits(arr.shape, spec):
                arr = arr[None]
            elif spec is not None and not _fits(arr.shape[1:], spec):
                raise CliError(
                    f"input file {path!r} holds shape {arr.shape}; the model takes {_fmt_shape(spec)} per "
                    "sample (a .npy file holds one sample or a batch of them)",
                    ExitCode.INPUT_MISMATCH,
                )
            elif spec is None and arr.ndim < 2:
                arr = arr[None]
        else:
            arr = data.load_image(path, target, channels=channels)[None]
        batches.append(arr)
    shapes = sorted({b.shape[1:] for b in batches})
    if len(shapes) > 1:
        if image_paths and target is None:
            raise CliError(
                f"the inputs have different sizes {shapes} and the model does not fix its input size; give "
                "--size HxW to resize the images",
                ExitCode.BAD_SIZE,
            )
        raise CliError(f"the inputs have different per-sample shapes {shapes}", ExitCode.INPUT_MISMATCH)
    return np.concatenate(batches, axis=0)


def _preprocess(x: np.ndarray, name: str) -> np.ndarray:
    if name == "none":
        return x
    if name == "unit":
        return x / 255.0
    if name == "symmetric":
        return x / 127.5 - 1.0
    import keras

    module = getattr(keras.applications, name, None) if name in PREPROCESS_NAMES else None
    func = getattr(module, "preprocess_input", None)
    if func is None:
        raise CliError(
            f"--preprocess={name!r} is not valid; expected one of: {', '.join(PREPROCESS_NAMES)}",
            ExitCode.USAGE,
        )
    import numpy as np

    return np.asarray(func(x.copy()), dtype=np.float32)


def _drawn(info: LayerInfo, max_channels: int) -> str:
    """What ``tile_activations`` would draw for one sample of this layer."""
    from tbactviz.tiling import grid_shape

    if not info.drawable:
        return "-"
    if info.output_shape is None:
        return "? (shape unknown: give --input-shape)"
    shape = info.output_shape[1:]
    height: int | None
    width: int | None
    try:
        height, width = grid_shape(shape, max_channels=max_channels)
    except (ValueError, TypeError):
        height = width = None
    px = f"{height}x{width} px" if height is not None else "size varies with input"
    if len(shape) <= 1:
        units = shape[0] if shape else 1
        return f"{units} units as cells, {px}"
    channels = shape[-1]
    if channels is None:
        return f"channels unknown, {px}"
    n = min(channels, max_channels)
    if len(shape) == 2:
        return f"heatmap of {n}/{channels} ch, {px}"
    cols = math.isqrt(n - 1) + 1 if n else 0  # near-square, as tbactviz.tiling lays tiles out
    rows = -(-n // cols) if cols else 0
    depth = f" (first of {len(shape) - 2} extra axes)" if len(shape) > 3 else ""
    return f"{n}/{channels} ch in {rows}x{cols} tiles, {px}{depth}"


def _matches(info: LayerInfo, pattern: str) -> bool:
    name = info.path.rsplit("/", 1)[-1]
    classes = {cls.__name__ for cls in type(info.layer).__mro__}
    if pattern in (info.path, name) or pattern in classes:
        return True
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(info.path, pattern) or fnmatch.fnmatchcase(name, pattern)
    return False


def _print_table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _board_hint(logdir: str) -> list[str]:
    from tbactviz.board import samples_flag

    q = shlex.quote(logdir)
    return [
        "Open it in TensorBoard with:",
        f"  tbactviz board --logdir {q}",
        f"or: tensorboard --logdir {q} --samples_per_plugin {samples_flag()}",
    ]


# ----------------------------------------------------------------------------------------------------------
# subcommands


def _cmd_layers(args: argparse.Namespace) -> int:
    if args.max_channels < 1:
        raise CliError(
            f"--max-channels={args.max_channels!r} is not valid; expected an int >= 1", ExitCode.USAGE
        )
    input_shape = None
    if args.input_shape is not None:
        input_shape = (None, *_parse_shape(args.input_shape, "--input-shape"))
    model = _load_model(args.model, args.model_factory)
    import tbactviz
    from tbactviz.layers import default_layers

    if input_shape is None and not model.built and args.model_factory is not None:
        _log.info("the model is not built; give --input-shape to learn its output shapes")
    try:
        infos = tbactviz.list_layers(model, input_shape=input_shape)
    except (ValueError, TypeError) as exc:
        if input_shape is None:
            raise
        raise CliError(
            f"--input-shape={args.input_shape!r} does not fit the model ({type(exc).__name__}: {exc})",
            ExitCode.BAD_SIZE,
        ) from exc
    default = {info.path for info in default_layers(infos)}
    if args.match:
        shown = [info for info in infos if any(_matches(info, pat) for pat in args.match)]
        if not shown:
            raise LayerNotFoundError(args.match[0], [i.path for i in infos], argument="--match")
    else:
        shown = infos
    if args.json:
        out = [
            {
                "path": i.path,
                "class": i.class_name,
                "output_shape": None if i.output_shape is None else list(i.output_shape),
                "drawable": i.drawable,
                "drawn": _drawn(i, args.max_channels) if i.drawable else None,
                "reason": i.reason,
                "depth": i.depth,
                "default": i.path in default,
            }
            for i in shown
        ]
        print(json.dumps(out, indent=2))
        return ExitCode.OK
    rows = [
        [
            ("* " if i.path in default else "  ") + "  " * i.depth + i.path,
            i.class_name,
            _fmt_shape(i.output_shape),
            _drawn(i, args.max_channels) if i.drawable else f"not drawable: {i.reason}",
        ]
        for i in shown
    ]
    _print_table(rows, ["  PATH", "CLASS", "OUTPUT SHAPE", f"DRAWN PER SAMPLE (max {args.max_channels} ch)"])
    n_draw = sum(i.drawable for i in shown)
    print(f"\n{len(shown)} layers, {n_draw} drawable; * = logged when --layers is omitted.")
    return ExitCode.OK


def _cmd_log(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    if args.preprocess not in PREPROCESS_NAMES:
        raise CliError(
            f"--preprocess={args.preprocess!r} is not valid; expected one of: {', '.join(PREPROCESS_NAMES)}",
            ExitCode.USAGE,
        )
    if args.step < 0:
        raise CliError(f"--step={args.step!r} is not valid; expected an int >= 0", ExitCode.USAGE)
    # Cheap checks before the (slow) model load: the model and every input file exist; the size parses.
    from tbactviz import data

    _check_model_path(args.model, args.model_factory)
    for path in args.inputs:
        if not os.path.exists(path):
            raise data.InputFileError(path, f"input file {path!r} does not exist")
    if args.size is not None:
        data.parse_size(args.size, argument="--size")
    model = _load_model(args.model, args.model_factory)

    import tbactviz

    spec = _input_spec(model)
    x = _read_inputs(args.inputs, spec, args.size, progress=not args.quiet)
    if args.model_factory is not None:
        _load_factory_weights(model, args.model, x)
    x = _preprocess(x, args.preprocess)
    selectors = _split_selectors(args.layers)
    options: dict[str, Any] = {
        "max_images": args.max_images,
        "max_channels": args.max_channels,
        "normalize": args.normalize,
        "colormap": args.colormap,
        "order": args.order,
        "batch_size": args.batch_size,
        "histograms": not args.no_histograms,
        "stats": not args.no_stats,
    }
    start = time.perf_counter()
    with tbactviz.ActivationLogger(args.logdir, model, selectors, **options) as logger:
        activations = logger.capture(x)
        paths = list(logger.layer_paths)
        for path in tqdm(paths, desc="layers", unit="layer", disable=args.quiet, leave=False):
            logger.write({path: activations[path]}, step=args.step)
        event_file = logger.event_file
        n_tags = len(logger.tags)
    seconds = time.perf_counter() - start
    print(
        f"Logged {len(paths)} layers ({n_tags} tags) of {len(x)} input(s) at step {args.step} "
        f"in {seconds:.1f} s:"
    )
    for path in paths:
        print(f"  {path}  {_fmt_shape(activations[path].shape)}")
    print(f"Events: {event_file}")
    print("\n".join(_board_hint(args.logdir)))
    return ExitCode.OK


def _cmd_demo(args: argparse.Namespace) -> int:
    for name in ("epochs", "samples"):
        if getattr(args, name) < 1:
            raise CliError(
                f"--{name}={getattr(args, name)!r} is not valid; expected an int >= 1", ExitCode.USAGE
            )
    if args.image_size < 16:
        raise CliError(
            f"--image-size={args.image_size!r} is not valid; expected an int >= 16", ExitCode.BAD_SIZE
        )
    _quiet_tensorflow()
    from tbactviz.demo import run_demo

    result = run_demo(
        args.logdir,
        run=args.run,
        epochs=args.epochs,
        samples=args.samples,
        image_size=args.image_size,
        seed=args.seed,
        verbose=0 if args.quiet else 2,
    )
    print(
        f"Trained {result.epochs} epoch(s) in {result.seconds:.1f} s: validation accuracy "
        f"{result.val_accuracy:.2f} ({len(result.layer_paths)} layers logged: "
        f"{', '.join(result.layer_paths)})."
    )
    print(
        f"Runs: {result.activations_dir} (activations), {result.train_dir} (train), {result.validation_dir}"
    )
    print(f"Model: {result.model_path}   probe images: {result.probe_path}")
    print("\n".join(_board_hint(args.logdir)))
    return ExitCode.OK


def _cmd_board(args: argparse.Namespace) -> int:
    from tbactviz.board import run_tensorboard, tensorboard_args

    if args.samples < 1:
        raise CliError(f"--samples={args.samples!r} is not valid; expected an int >= 1", ExitCode.USAGE)
    if args.port is not None and not 1 <= args.port <= 65535:
        raise CliError(f"--port={args.port!r} is not valid; expected 1..65535", ExitCode.USAGE)
    if os.path.exists(args.logdir) and not os.path.isdir(args.logdir):
        raise LogdirError(f"--logdir={args.logdir!r} is a file; expected a directory of runs")
    if not os.path.exists(args.logdir):
        _log.warning(
            "--logdir=%r does not exist yet; TensorBoard will show it once runs are written", args.logdir
        )
    samples = {"images": args.samples, "histograms": args.samples, "scalars": args.samples}
    if args.dry_run:
        print(shlex.join(tensorboard_args(args.logdir, host=args.host, port=args.port, samples=samples)))
        return ExitCode.OK
    return run_tensorboard(args.logdir, host=args.host, port=args.port, samples=samples)


# ----------------------------------------------------------------------------------------------------------
# entry point


def _exit_code(exc: BaseException) -> ExitCode:
    from tbactviz.data import InputFileError, SizeError

    if isinstance(exc, CliError):
        return exc.code
    if isinstance(exc, InputFileError):
        return ExitCode.BAD_INPUT
    if isinstance(exc, SizeError):
        return ExitCode.BAD_SIZE
    if isinstance(exc, (LayerNotFoundError, NoDrawableLayerError)):
        return ExitCode.BAD_LAYER
    if isinstance(exc, ProbeError):
        return ExitCode.INPUT_MISMATCH
    if isinstance(exc, LogdirError):
        return ExitCode.BAD_LOGDIR
    return ExitCode.ERROR


def _show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, *args: Any, **kwargs: Any
) -> None:
    """Warnings raised while a subcommand runs go to the log as one line (no source excerpt)."""
    _log.warning("%s", message)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: The arguments without the program name; ``None`` reads ``sys.argv[1:]``.

    Returns:
        The exit status, one of :class:`ExitCode` (TensorBoard's own status for ``board``). Usage errors
        (exit status 2) and ``--help`` / ``--version`` (0) are reported by argparse's ``SystemExit``, which is
        caught and turned into the return value too.

    Example:
        >>> main(["board", "--logdir", "logs", "--dry-run"])  # doctest: +SKIP
        0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code) if isinstance(exc.code, int) else ExitCode.USAGE
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="tbactviz: %(levelname)s: %(message)s",
    )
    if args.command is None:
        parser.print_help()
        return ExitCode.OK
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return int(args.handler(args))
    except KeyboardInterrupt:
        print(f"tbactviz {args.command}: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except (TbactvizError, ValueError, OSError) as exc:
        code = _exit_code(exc)
        if code == ExitCode.ERROR and not isinstance(exc, TbactvizError):
            _log.debug("unexpected error", exc_info=True)
        print(f"tbactviz {args.command}: error: {exc}", file=sys.stderr)
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
