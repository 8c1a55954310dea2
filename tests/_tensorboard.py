"""A test harness: TensorBoard in a background process on a free local port, always stopped.

Moved here from ``tbactviz.tools.board``, where it was shipped in the package without being of use to anyone
but the tests and the screenshot scripts. TensorBoard runs as a child (``python -m tensorboard.main``, its own
entry point, with :func:`tbactviz.tools.board.tensorboard_args`' flags) rather than in the test process:
``tensorboard.program.TensorBoard`` has no way to stop its server once started, and a child keeps
TensorFlow's state out of the process under test.

Example:
    >>> with TensorBoardServer("logs") as tb:  # doctest: +SKIP
    ...     runs = tb.get_json("/data/runs")
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from tbactviz.tools.board import DEFAULT_HOST, free_port, tensorboard_args

__all__ = ["TensorBoardServer", "as_from_a_terminal", "free_port"]


def as_from_a_terminal() -> None:
    """``preexec_fn`` for a child whose signal handling is under test: Ctrl-C and hang-up at their default
    dispositions, as a command started from a terminal has them. A test run started in the background
    (``cmd &`` in a script ignores SIGINT) or under ``nohup`` (ignores SIGHUP) passes the ignored signals on
    to its children, and Python installs no KeyboardInterrupt handler for an ignored SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _tensorboard_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


class TensorBoardServer:
    """TensorBoard in a background process on a free local port, always stopped.

    Use it as a context manager: entering starts TensorBoard and waits until its HTTP API answers (at most
    ``timeout`` seconds); leaving stops it (SIGTERM, then SIGKILL after 10 s), even on errors. Its output goes
    to a temporary log file, shown in the error when it does not come up.

    Args:
        logdir: The log root to serve.
        host: Interface to bind (default ``127.0.0.1``).
        port: TCP port; ``None`` picks a free one.
        samples: Samples kept per plugin (see :func:`samples_flag`); ``None`` keeps every step.
        timeout: Seconds to wait for TensorBoard to answer.
        extra: More TensorBoard flags.

    Attributes:
        url: ``http://host:port`` (no trailing slash).

    Raises:
        RuntimeError: TensorBoard exited or did not answer within ``timeout`` seconds (its log is included).

    Example:
        >>> with TensorBoardServer("logs") as tb:  # doctest: +SKIP
        ...     runs = tb.get_json("/data/runs")
    """

    def __init__(
        self,
        logdir: str | os.PathLike[str],
        *,
        host: str = DEFAULT_HOST,
        port: int | None = None,
        samples: Mapping[str, int] | None = None,
        timeout: float = 60.0,
        extra: Sequence[str] = (),
    ) -> None:
        self.logdir = os.fspath(logdir)
        self.host = host
        self.port = free_port(host) if port is None else port
        self.url = f"http://{host}:{self.port}"
        self.timeout = float(timeout)
        self.args = tensorboard_args(self.logdir, host=host, port=self.port, samples=samples, extra=extra)
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def start(self) -> TensorBoardServer:
        """Start TensorBoard and wait until ``/data/runs`` answers."""
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server, closed by stop()
        self._proc = subprocess.Popen(
            self.args,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_tensorboard_env(),
        )
        deadline = time.monotonic() + self.timeout
        while True:
            if self._proc.poll() is not None:
                out = self.output()
                self.stop()
                raise RuntimeError(f"TensorBoard exited with status {self._proc.returncode}:\n{out}")
            try:
                self.get("/data/runs", timeout=2.0)
                return self
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                out = self.output()
                self.stop()
                raise RuntimeError(
                    f"TensorBoard did not answer at {self.url} within {self.timeout:g} s:\n{out}"
                )
            time.sleep(0.2)

    def output(self) -> str:
        """What TensorBoard printed so far (stdout and stderr)."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return bytes(self._log.read()).decode("utf-8", "replace")

    def stop(self) -> None:
        """Stop TensorBoard and discard its output (idempotent)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def get(self, path: str, *, timeout: float = 10.0) -> bytes:
        """GET ``path`` (e.g. ``"/data/runs"``), return the body (``urllib.error.HTTPError`` on 4xx/5xx)."""
        with urllib.request.urlopen(self.url + path, timeout=timeout) as resp:
            return bytes(resp.read())

    def get_json(self, path: str, *, timeout: float = 10.0) -> Any:
        """GET ``path`` and decode the JSON body."""
        return json.loads(self.get(path, timeout=timeout))

    def wait_for(self, path: str, predicate: Any, *, timeout: float = 60.0) -> Any:
        """Poll ``path`` (JSON) until ``predicate(body)`` is true; return the body.

        TensorBoard loads event files in the background, so a fresh server first answers with empty lists.

        Raises:
            TimeoutError: ``predicate`` stayed false for ``timeout`` seconds (the message has the last body).
        """
        deadline = time.monotonic() + timeout
        body: Any = None
        while time.monotonic() < deadline:
            try:
                body = self.get_json(path)
                if predicate(body):
                    return body
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.3)
        raise TimeoutError(
            f"{self.url}{path} did not satisfy the condition within {timeout:g} s; last: {body!r}"
        )

    def __enter__(self) -> TensorBoardServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
