"""Starting TensorBoard so that every logged step stays visible.

TensorBoard keeps, by reservoir sampling, only 10 image steps and 500 histogram steps per tag unless
told otherwise; the activations of epoch 0 then vanish from the slider. :func:`tensorboard_args` builds a
TensorBoard command line with ``--samples_per_plugin`` set high enough to keep every step (100000 per tag;
``0`` would keep *none* with TensorBoard's fast data server), bound to ``127.0.0.1`` by default;
:func:`serve_tensorboard` runs TensorBoard's own program with those flags in this process (what ``tbactviz
board`` does).

This module imports only the standard library at the top; :func:`serve_tensorboard` imports TensorBoard.

Example:
    >>> tensorboard_args("logs", port=6007)[-6:]
    ['--logdir', 'logs', '--host', '127.0.0.1', '--port', '6007']
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping, Sequence

from tbactviz.checks import check_int, check_optional_int

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_SAMPLES",
    "KEEP_ALL",
    "free_port",
    "samples_flag",
    "serve_tensorboard",
    "tensorboard_args",
]

#: Interface TensorBoard binds to unless told otherwise: this machine only.
DEFAULT_HOST = "127.0.0.1"

#: Steps kept per tag by default: far more than any run logs, so in practice every step.
KEEP_ALL = 100_000

#: Samples kept per tag and plugin by :func:`tensorboard_args`.
DEFAULT_SAMPLES: Mapping[str, int] = {
    "images": KEEP_ALL,
    "histograms": KEEP_ALL,
    "scalars": KEEP_ALL,
    "tbactviz": KEEP_ALL,  # the Activations tab's own summaries (grid layouts, per-channel figures)
}


def samples_flag(samples: Mapping[str, int] | None = None) -> str:
    """The value of TensorBoard's ``--samples_per_plugin`` flag.

    Args:
        samples: Steps to keep per tag, by plugin (>= 1). ``None`` uses :data:`DEFAULT_SAMPLES`, which keeps
            every step of images, histograms and scalars.

    Returns:
        e.g. ``"images=100000,histograms=100000,scalars=100000"``.

    Raises:
        TypeError: A count is not an int.
        ValueError: A count is below 1, or a plugin name is empty or contains ``,`` or ``=``.

    Example:
        >>> samples_flag({"images": 100})
        'images=100'
    """
    samples = DEFAULT_SAMPLES if samples is None else samples
    parts = []
    for plugin, count in samples.items():
        if not plugin or any(ch in plugin for ch in ",= "):
            raise ValueError(f"samples: plugin name {plugin!r} is not valid")
        check_int(f"samples[{plugin!r}]", count, minimum=1)
        parts.append(f"{plugin}={count}")
    return ",".join(parts)


def tensorboard_args(
    logdir: str | os.PathLike[str],
    *,
    host: str = DEFAULT_HOST,
    port: int | None = None,
    samples: Mapping[str, int] | None = None,
    extra: Sequence[str] = (),
    executable: str | None = None,
) -> list[str]:
    """The command line that starts TensorBoard over ``logdir``.

    Args:
        logdir: The log root (each subdirectory with event files becomes a run).
        host: Interface to bind; ``"127.0.0.1"`` (default) serves this machine only, ``"0.0.0.0"`` everyone.
        port: TCP port; ``None`` lets TensorBoard take 6006 or the next free one.
        samples: Samples kept per plugin (see :func:`samples_flag`); ``None`` keeps every step.
        extra: More TensorBoard flags, appended as given.
        executable: The Python interpreter to run TensorBoard with; ``None`` is this one (``sys.executable``).

    Returns:
        The argument list, starting with the interpreter (``[python, "-m", "tensorboard.main", ...]``).

    Raises:
        TypeError: ``port`` or a count of ``samples`` is not an int.
        ValueError: ``port`` is not in 1..65535 or ``samples`` is invalid.
    """
    check_optional_int("port", port, minimum=1, maximum=65535, meaning="TensorBoard's choice")
    args = [executable or sys.executable, "-m", "tensorboard.main"]
    args += ["--samples_per_plugin", samples_flag(samples), *extra]
    args += ["--logdir", os.fspath(logdir), "--host", host]
    if port is not None:
        args += ["--port", str(port)]
    return args


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it).

    Example:
        >>> 1024 <= free_port() <= 65535
        True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def serve_tensorboard(
    logdir: str | os.PathLike[str],
    *,
    host: str = DEFAULT_HOST,
    port: int | None = None,
    samples: Mapping[str, int] | None = None,
    extra: Sequence[str] = (),
) -> int:
    """Run TensorBoard in this process until it stops, as the ``tensorboard`` command itself does.

    TensorBoard's own program (``tensorboard.program.TensorBoard`` with ``tensorboard.default``'s plugins,
    which include the Activations tab) with the flags of :func:`tensorboard_args`. It runs in this process:
    Ctrl-C, SIGTERM and SIGHUP stop it, and nothing is left behind or holding the port. TensorFlow's C++ log
    level defaults to 2 (warnings and info off) unless ``TF_CPP_MIN_LOG_LEVEL`` is set.

    Args:
        logdir, host, port, samples, extra: As in :func:`tensorboard_args`.

    Returns:
        TensorBoard's exit status (0 after Ctrl-C).

    Example:
        >>> serve_tensorboard("logs")  # doctest: +SKIP
        TensorBoard 2.21.0 at http://127.0.0.1:6006/ (Press CTRL+C to quit)
    """
    argv = ["tensorboard", *tensorboard_args(logdir, host=host, port=port, samples=samples, extra=extra)[3:]]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tensorboard import default, main_lib, program

    main_lib.global_init()
    board = program.TensorBoard(plugins=default.get_plugins())
    board.configure(argv=argv)
    try:
        return int(board.main() or 0)
    except KeyboardInterrupt:
        return 0
