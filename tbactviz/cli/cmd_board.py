"""``tbactviz board``: TensorBoard over a log root, every logged step kept.

TensorBoard's own program runs in this process (:func:`tbactviz.tools.board.serve_tensorboard`): SIGTERM,
SIGHUP and Ctrl-C stop it, and nothing is orphaned or left holding the port.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import shlex
import socket
import subprocess
import sys

from tbactviz.cli.exits import CliError, ExitCode
from tbactviz.cli.models import quiet_tensorflow
from tbactviz.errors import LogdirError

__all__ = ["open_when_ready", "port_is_free", "run"]

_log = logging.getLogger("tbactviz.cli")

#: TensorBoard's default port.
DEFAULT_PORT = 6006
#: Where the Activations tab lives in TensorBoard's page.
TAB_FRAGMENT = "#tbactviz"


def port_is_free(host: str, port: int) -> bool:
    """Whether a TCP server could bind ``host:port`` right now.

    Example:
        >>> from tbactviz.tools.board import free_port
        >>> port_is_free("127.0.0.1", free_port())
        True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


_OPENER = """
import sys, time, urllib.request, webbrowser
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        urllib.request.urlopen(url.split("#")[0], timeout=2).close()
    except OSError:
        time.sleep(0.25)
        continue
    webbrowser.open(url)
    break
"""


def open_when_ready(url: str, *, timeout: float = 120.0) -> None:
    """Open ``url`` in a web browser once the server behind it answers, from a detached helper process.

    The helper runs beside TensorBoard, detached, and gives up after ``timeout`` seconds. :mod:`webbrowser`
    picks the browser (``$BROWSER`` first).

    Args:
        url: The page, e.g. ``http://127.0.0.1:6006/#tbactviz``.
        timeout: Seconds to wait for the server.
    """
    subprocess.Popen(
        [sys.executable, "-c", _OPENER, url, str(timeout)],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run(args: argparse.Namespace) -> int:
    """Run ``tbactviz board``; return the exit status once TensorBoard stops."""
    from tbactviz.tools.board import DEFAULT_SAMPLES, free_port, serve_tensorboard, tensorboard_args

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
    samples = dict.fromkeys(DEFAULT_SAMPLES, args.samples)
    port = args.port
    if port is None and args.open:  # the browser needs the port before TensorBoard prints it
        port = DEFAULT_PORT if port_is_free(args.host, DEFAULT_PORT) else free_port(args.host)
    if args.dry_run:
        print(shlex.join(tensorboard_args(args.logdir, host=args.host, port=port, samples=samples)))
        return ExitCode.OK
    where = f"http://{args.host}:{port or DEFAULT_PORT}/{TAB_FRAGMENT}"
    note = "" if port else f" (or the port TensorBoard prints below, if {DEFAULT_PORT} is taken)"
    print(f"The Activations tab: {where}{note}", flush=True)
    if args.open:
        open_when_ready(where)
    if importlib.util.find_spec("tensorflow") is not None:  # TensorBoard imports it when it is installed
        quiet_tensorflow(args.verbose, module="tensorflow")
    return serve_tensorboard(args.logdir, host=args.host, port=port, samples=samples)
