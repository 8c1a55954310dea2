"""Exit statuses of the ``tbactviz`` command and the error that carries one.

Standard library and :mod:`tbactviz.errors` only, so every other part of the command line can import it.
"""

from __future__ import annotations

import enum

from tbactviz.errors import LayerNotFoundError, LogdirError, NoDrawableLayerError, ProbeError, TbactvizError

__all__ = ["EXIT_STATUS_HELP", "CliError", "ExitCode", "exit_code_for"]


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


#: The exit-status table shown at the end of every ``--help``.
EXIT_STATUS_HELP = """\
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


class CliError(TbactvizError):
    """An error the command line reports as one message with its own exit status.

    Args:
        message: What went wrong: the argument, the value received and what is valid.
        code: The exit status.
    """

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.code = code


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit status of an error raised while a subcommand runs.

    Example:
        >>> exit_code_for(CliError("--size='x' is not a size", ExitCode.BAD_SIZE))
        <ExitCode.BAD_SIZE: 7>
    """
    from tbactviz.tools.data import InputFileError, SizeError

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
