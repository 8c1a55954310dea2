"""The argument parser of the ``tbactviz`` command, with the logger's flags generated from one table.

Every :data:`tbactviz.options.LOGGER_OPTIONS` entry with ``cli=True`` becomes a flag of ``tbactviz log``
(``Option.flag``: ``--max-images``, ``--no-images`` for a bool that defaults to True, ``--stats NAME[,NAME]``
with ``--no-stats``, ``--value-range LOW HIGH``), with the table's default, help, choices and bounds; the
layout options also become flags of ``tbactviz layers``. :func:`logger_options` turns the parsed flags back
into the logger's keyword options, validated by :func:`tbactviz.options.check_options`. Adding an option to
the table adds its flag: they cannot drift apart.

Standard library and :mod:`tbactviz.options` only: ``tbactviz --help`` imports neither numpy nor TensorFlow.
"""

from __future__ import annotations

import argparse
import os
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

from tbactviz._version import __version__
from tbactviz.cli.exits import EXIT_STATUS_HELP, CliError, ExitCode
from tbactviz.cli.inputs import PREPROCESS_NAMES
from tbactviz.options import LOGGER_OPTIONS, STAT_NAMES, Option, check_options

__all__ = ["COMMANDS", "LAYOUT_OPTIONS", "build_parser", "cli_options", "logger_options", "split_selectors"]

#: The subcommands, each run by ``tbactviz.cli.cmd_<name>.run(args)``.
COMMANDS: tuple[str, ...] = ("layers", "log", "demo", "board")

#: Options that decide the size of a grid: flags of ``tbactviz layers`` too.
LAYOUT_OPTIONS: tuple[str, ...] = ("max_channels", "columns", "max_side", "min_side", "max_bytes_per_step")

_FMT = argparse.RawDescriptionHelpFormatter


def cli_options(names: Sequence[str] | None = None) -> tuple[Option, ...]:
    """The logger options that have a flag (``cli=True``), optionally only those named.

    Example:
        >>> [o.flag for o in cli_options(["max_images", "images"])]
        ['--max-images', '--no-images']
    """
    return tuple(o for o in LOGGER_OPTIONS if o.cli and (names is None or o.name in names))


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=88)


def _converter(option: Option) -> Callable[[str], Any]:
    """An argparse ``type`` that parses and validates one value of ``option``, naming its flag on error."""

    def convert(text: str) -> Any:
        try:
            if option.kind == "int":
                value: Any = int(text)
            elif option.kind == "float":
                value = float(text)
            elif option.kind == "stats":
                value = tuple(part.strip() for part in text.split(",") if part.strip())
            else:
                value = text
        except ValueError:
            valid = option.valid.removesuffix(" or None")  # None is the flag left out
            raise argparse.ArgumentTypeError(
                f"{option.flag}={text!r} is not valid; expected {valid}"
            ) from None
        try:
            return check_options({option.name: value})[option.name]  # deprecated values warned about
        except ValueError as exc:
            message = str(exc).replace(f"{option.name}={value!r}", f"{option.flag}={text!r}", 1)
            raise argparse.ArgumentTypeError(message) from None

    convert.__name__ = option.kind
    return convert


def _default_text(option: Option) -> str:
    if option.kind == "stats":
        return "all"
    if option.default is None:
        return "automatic" if option.name == "batch_size" else "none"
    return str(option.default)


def add_option_flags(parser: argparse.ArgumentParser, options: Sequence[Option]) -> None:
    """Add one flag per option (two for ``stats``) to ``parser``, ``dest`` = the option's name."""
    group = parser.add_argument_group("logger options (as tbactviz.ActivationLogger takes them)")
    for option in options:
        text = option.help.replace("(None: ", "(omitted: ").replace("; None ", "; omitted, ")
        help_text = f"{text} (default: {_default_text(option)})"
        if option.kind == "bool":
            help_text = f"turn off: {text}" if option.default is True else text
            action = "store_false" if option.default is True else "store_true"
            group.add_argument(
                option.flag, dest=option.name, action=action, default=option.default, help=help_text
            )
        elif option.kind == "choice":
            group.add_argument(
                option.flag, dest=option.name, default=option.default, choices=option.choices, help=help_text
            )
        elif option.kind == "stats":
            excl = group.add_mutually_exclusive_group()
            excl.add_argument(
                option.flag,
                dest=option.name,
                action="append",
                type=_converter(option),
                metavar="NAME[,NAME]",
                help=f"write only these scalar figures, of {', '.join(STAT_NAMES)}; repeatable "
                "(default: all)",
            )
            excl.add_argument(
                f"--no-{option.name.replace('_', '-')}",
                dest=option.name,
                action="store_const",
                const=False,
                help="write no scalar figures",
            )
        elif option.kind == "range":
            group.add_argument(
                option.flag,
                dest=option.name,
                nargs=2,
                type=float,
                metavar=("LOW", "HIGH"),
                default=option.default,
                help=help_text,
            )
        else:
            metavar = "N" if option.kind == "int" else "X"
            group.add_argument(
                option.flag,
                dest=option.name,
                type=_converter(option),
                default=option.default,
                metavar=metavar,
                help=help_text,
            )


def logger_options(args: argparse.Namespace, names: Sequence[str] | None = None) -> dict[str, Any]:
    """The logger's keyword options from parsed flags, validated by the options table.

    Args:
        args: What :func:`build_parser` parsed.
        names: Only these options (default: every option with a flag).

    Returns:
        ``{option name: value}``, ready for :class:`tbactviz.ActivationLogger`.

    Raises:
        CliError: (exit status 2) a combination the table refuses, e.g. ``--value-range`` without
            ``--normalize fixed``; the message names the flags.
    """
    out: dict[str, Any] = {}
    for option in cli_options(names):
        value = getattr(args, option.name, option.default)
        if option.kind == "stats":
            if value is None:
                value = option.default
            elif isinstance(value, list):
                value = tuple(dict.fromkeys(name for names_ in value for name in names_))
        elif option.kind == "range" and value is not None:
            value = tuple(value)
        out[option.name] = value
    try:
        return check_options(out)
    except ValueError as exc:
        message = str(exc)
        for option in cli_options(names):
            message = message.replace(f"{option.name}=", f"{option.flag}=")
        raise CliError(message.replace("normalize='fixed'", "--normalize fixed"), ExitCode.USAGE) from None


def split_selectors(values: Sequence[str] | None) -> list[str] | None:
    """``['conv1,conv2', 'dense']`` -> ``['conv1', 'conv2', 'dense']``; None when nothing was given."""
    if not values:
        return None
    out = [part.strip() for value in values for part in value.split(",") if part.strip()]
    return out or None


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model",
        metavar="MODEL",
        help="a saved Keras model: .keras (Keras 3) or .h5 (legacy); with --model-factory, a weights "
        "file (.weights.h5) or '-' for the factory's own weights",
    )
    p.add_argument(
        "--model-factory",
        metavar="MODULE:FUNCTION",
        help="build the model by calling FUNCTION() from MODULE (a module importable from the current "
        "directory, or a path to a .py file, loaded under a private name so that it never shadows an "
        "installed module): for subclassed models and custom layers",
    )


def _add_layers(sub: Any) -> None:
    p = sub.add_parser(
        "layers",
        help="list the selectable layers of a model",
        description=_wrap(
            "List the layers of MODEL that can be logged: path (nested models as 'outer/inner'), "
            "class, output shape, what would be drawn (grid of channel tiles after the channel cap, and its "
            "size in pixels) or why the layer cannot be drawn. '*' marks the layers logged when --layers is "
            "omitted."
        ),
        epilog=EXIT_STATUS_HELP,
        formatter_class=_FMT,
    )
    _model_args(p)
    p.add_argument(
        "--match",
        metavar="SELECTOR",
        action="append",
        help="keep the layers that --layers SELECTOR would select (exact path, nested path 'outer/inner', "
        "bare inner name, glob such as 'conv*', class name such as Conv2D), and the matching layers that "
        "cannot be drawn; comma-separated and/or repeated",
    )
    p.add_argument(
        "--input-shape",
        metavar="SHAPE",
        help="input shape without batch, e.g. 32x32x3, for subclassed or unbuilt models whose output shapes "
        "are unknown (must agree with the model's input when the model has one)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_option_flags(p, cli_options(LAYOUT_OPTIONS))


def _add_log(sub: Any) -> None:
    p = sub.add_parser(
        "log",
        help="log the activations of a saved model on images or arrays",
        description=_wrap(
            "Run INPUTS through MODEL and write what the chosen layers see (feature-map grids, "
            "histograms, scalar figures) as one TensorBoard event at --step into --logdir. The probe runs in "
            "chunks (--batch-size), so memory stays bounded whatever the number of inputs."
        ),
        epilog="inputs:\n"
        "  Image files (jpg, png, tiff, ... anything Pillow reads) are converted to RGB (grey for\n"
        "  1-channel models) and resized to the model's input size, or to --size. 16-bit images are\n"
        "  divided by 257 (65535 -> 255) and float images in 0..1 multiplied by 255, other float images\n"
        "  scaled from their own min..max, so every image reaches the model as 0..255 values.\n"
        "  .npy files hold one sample or a batch. A directory stands for its image and .npy files\n"
        "  (sorted by name, not recursive; other files are skipped).\n"
        "  --preprocess applies to every input; 'none' feeds pixels as 0..255 floats.\n\n" + EXIT_STATUS_HELP,
        formatter_class=_FMT,
    )
    _model_args(p)
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUTS",
        help="image files (jpg, png, ...), .npy arrays and/or directories of them",
    )
    p.add_argument(
        "--layers",
        action="append",
        metavar="SELECTOR",
        help="layers to log: exact path, nested path 'outer/inner', bare inner name, glob ('conv*') or class "
        "name (Conv2D); comma-separated and/or repeated. Default: up to 8 layers spread over the model's "
        "depth",
    )
    p.add_argument(
        "--logdir", default=os.path.join("logs", "posthoc"), help="run directory (default: logs/posthoc)"
    )
    p.add_argument("--step", type=int, default=0, metavar="N", help="step shown in TensorBoard (default: 0)")
    p.add_argument("--size", metavar="HxW", help="resize images to HxW (default: the model's size)")
    p.add_argument(
        "--preprocess",
        default="none",
        metavar="NAME",
        help="input preprocessing: " + ", ".join(PREPROCESS_NAMES) + ", or the name of a keras.applications "
        "module with a preprocess_input, e.g. resnet_v2, vgg16, efficientnet (default: none)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars (shown on a terminal only)")
    add_option_flags(p, cli_options())


def _add_demo(sub: Any) -> None:
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
        epilog=EXIT_STATUS_HELP,
        formatter_class=_FMT,
    )
    p.add_argument("--logdir", default="logs", help="log root (default: logs)")
    p.add_argument("--run", default="demo", help="subdirectory of the log root (default: demo)")
    p.add_argument("--epochs", type=int, default=8, metavar="N", help="training epochs (default: 8)")
    p.add_argument("--samples", type=int, default=3000, metavar="N", help="training images (default: 3000)")
    p.add_argument(
        "--image-size", type=int, default=32, metavar="N", help="image side in pixels (default: 32)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of data and weights (default: 0)")
    p.add_argument("-q", "--quiet", action="store_true", help="no Keras progress output")


def _add_board(sub: Any) -> None:
    p = sub.add_parser(
        "board",
        help="start TensorBoard keeping every logged step",
        description=_wrap(
            "Start TensorBoard over LOGDIR with --samples_per_plugin set so that every image, "
            "histogram and scalar step stays visible (TensorBoard keeps only 10 image steps by default). "
            "TensorBoard's own program runs in this process, so Ctrl-C, SIGTERM and SIGHUP stop it and "
            "leave nothing behind."
        ),
        epilog=EXIT_STATUS_HELP,
        formatter_class=_FMT,
    )
    p.add_argument("--logdir", default="logs", help="log root (default: logs)")
    p.add_argument("--port", type=int, help="port (default: 6006 or the next free one)")
    p.add_argument("--host", default="127.0.0.1", help="interface (default: 127.0.0.1, this machine only)")
    p.add_argument(
        "--samples", type=int, default=100_000, metavar="N", help="steps kept per tag (default: 100000, all)"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print the TensorBoard command instead of running it"
    )
    p.add_argument(
        "--open",
        action="store_true",
        help="open the Activations tab in a web browser once TensorBoard answers ($BROWSER is honoured)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tbactviz`` command.

    Returns:
        An :class:`argparse.ArgumentParser` with the subcommands of :data:`COMMANDS`; the chosen one is
        ``args.command``.
    """
    parser = argparse.ArgumentParser(
        prog="tbactviz",
        description="See in TensorBoard what every chosen layer of a Keras CNN sees.",
        epilog="examples:\n"
        "  tbactviz demo                                  # train a small CNN, log into logs/\n"
        "  tbactviz board --logdir logs                   # open it in TensorBoard\n"
        "  tbactviz layers model.keras --match 'conv*'    # what can be logged\n"
        "  tbactviz log model.keras cat.jpg --layers 'conv*' --logdir logs/posthoc\n\n" + EXIT_STATUS_HELP,
        formatter_class=_FMT,
    )
    parser.add_argument("--version", action="version", version=f"tbactviz {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_layers(sub)
    _add_log(sub)
    _add_demo(sub)
    _add_board(sub)
    return parser
