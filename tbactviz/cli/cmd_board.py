"""``tbactviz board``: TensorBoard over a log root, every logged step kept.

On POSIX the command becomes TensorBoard (:func:`tbactviz.board.exec_tensorboard`): same process id, so
SIGTERM, SIGHUP and Ctrl-C reach TensorBoard itself and nothing is orphaned or left holding the port.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex

from tbactviz.cli.exits import CliError, ExitCode
from tbactviz.errors import LogdirError

__all__ = ["run"]

_log = logging.getLogger("tbactviz.cli")


def run(args: argparse.Namespace) -> int:
    """Run ``tbactviz board``; return the exit status (on POSIX it does not return unless ``--dry-run``)."""
    from tbactviz.board import exec_tensorboard, tensorboard_args

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
    samples = {name: args.samples for name in ("images", "histograms", "scalars", "tbactviz")}
    if args.dry_run:
        print(shlex.join(tensorboard_args(args.logdir, host=args.host, port=args.port, samples=samples)))
        return ExitCode.OK
    return exec_tensorboard(args.logdir, host=args.host, port=args.port, samples=samples)
