"""The ``tbactviz`` command (also ``python -m tbactviz``).

Subcommands:

* ``tbactviz layers MODEL [--match SELECTOR]``: the selectable layers of a saved model, with their class,
  output shape and what would be drawn.
* ``tbactviz log MODEL INPUTS... --layers ... --logdir ...``: post-hoc logging of a saved model on image
  files, ``.npy`` arrays or directories of them.
* ``tbactviz demo [--logdir logs] [--epochs N]``: trains a small CNN on built-in synthetic shapes with
  :class:`tbactviz.ActivationCallback` next to ``keras.callbacks.TensorBoard``.
* ``tbactviz board [--logdir logs] [--port N]``: TensorBoard with every image step kept.

The parts, one concern each: :mod:`~tbactviz.cli.exits` (exit statuses), :mod:`~tbactviz.cli.parser` (the
parser, logger flags generated from :data:`tbactviz.options.LOGGER_OPTIONS`), :mod:`~tbactviz.cli.models`
(loading the model), :mod:`~tbactviz.cli.inputs` (reading the inputs) and one ``cmd_<name>`` module per
subcommand, imported only when it runs. TensorFlow and Keras are imported by the subcommands that need them,
so ``tbactviz --help`` and ``tbactviz --version`` answer at once. Errors go to stderr as one message naming
the argument, the value and what is valid, with a distinct exit status (see :class:`ExitCode`); the full
reference is ``docs/cli.md``.

Example:
    >>> from tbactviz.cli import main
    >>> main(["log", "missing.keras", "cat.jpg", "--logdir", "logs/x"])  # doctest: +SKIP
    tbactviz log: error: MODEL='missing.keras' does not exist ...
    3
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from tbactviz.cli.exits import CliError, ExitCode, exit_code_for
from tbactviz.cli.inputs import PREPROCESS_NAMES
from tbactviz.cli.parser import build_parser
from tbactviz.errors import TbactvizError

__all__ = ["PREPROCESS_NAMES", "CliError", "ExitCode", "build_parser", "main"]

_log = logging.getLogger("tbactviz.cli")


def _show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, *args: Any, **kwargs: Any
) -> None:
    """Warnings raised while a subcommand runs go to the log as one line (no source excerpt)."""
    _log.warning("%s", message)


_BACKENDS = ("tensorflow", "jax", "torch")


def _missing_backend(name: str) -> str:
    """What to do when Keras' backend is not installed (tbactviz installs none by itself)."""
    return (
        f"Keras' backend {name!r} is not installed (Keras reads KERAS_BACKEND, default tensorflow): install "
        f"it with pip install 'tbactviz[{name}]' (or pip install {name}), or set KERAS_BACKEND to an "
        f"installed one of {', '.join(_BACKENDS)}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: The arguments without the program name; ``None`` reads ``sys.argv[1:]``.

    Returns:
        The exit status, one of :class:`ExitCode` (``board`` returns when TensorBoard stops). Usage errors
        (exit status 2) and ``--help`` / ``--version`` (0) are reported by argparse's
        ``SystemExit``, which is caught and turned into the return value too.

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
            command = importlib.import_module(f"tbactviz.cli.cmd_{args.command}")
            return int(command.run(args))
    except KeyboardInterrupt:
        print(f"tbactviz {args.command}: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except ModuleNotFoundError as exc:
        backend = (exc.name or "").split(".")[0]
        if backend not in _BACKENDS or importlib.util.find_spec(backend) is not None:
            raise
        print(f"tbactviz {args.command}: error: {_missing_backend(backend)}", file=sys.stderr)
        return ExitCode.ERROR
    except (TbactvizError, ValueError, OSError) as exc:
        code = exit_code_for(exc)
        if code == ExitCode.ERROR and not isinstance(exc, TbactvizError):
            _log.debug("unexpected error", exc_info=True)
        print(f"tbactviz {args.command}: error: {exc}", file=sys.stderr)
        return code
