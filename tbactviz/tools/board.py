"""Starting TensorBoard so that every logged step stays visible.

TensorBoard keeps, by reservoir sampling, only 10 image steps and 500 histogram steps per tag unless
told otherwise; the activations of epoch 0 then vanish from the slider. :func:`tensorboard_args` builds a
TensorBoard command line with ``--samples_per_plugin`` set high enough to keep every step (100000 per tag;
``0`` would keep *none* with TensorBoard's fast data server), bound to ``127.0.0.1`` by default.
:func:`exec_tensorboard` replaces the current process by it (what ``tbactviz board`` does on POSIX:
signals reach TensorBoard itself, nothing is left behind); :func:`run_tensorboard` runs it as a child in the
foreground, forwarding SIGINT, SIGTERM and SIGHUP to it and waiting for it; :class:`TensorBoardServer`
runs it in the background, waits until it answers and always stops it (what the tests and the screenshot
script use).

This module imports only the standard library; TensorBoard runs in a child process
(``python -m tensorboard.main``), so nothing of it is imported here.

Example:
    >>> tensorboard_args("logs", port=6007)[-6:]
    ['--logdir', 'logs', '--host', '127.0.0.1', '--port', '6007']
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_SAMPLES",
    "KEEP_ALL",
    "TensorBoardServer",
    "exec_tensorboard",
    "free_port",
    "run_tensorboard",
    "samples_flag",
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
        ValueError: A count is not an int >= 1, or a plugin name is empty or contains ``,`` or ``=``.

    Example:
        >>> samples_flag({"images": 100})
        'images=100'
    """
    samples = DEFAULT_SAMPLES if samples is None else samples
    parts = []
    for plugin, count in samples.items():
        if not plugin or any(ch in plugin for ch in ",= "):
            raise ValueError(f"samples: plugin name {plugin!r} is not valid")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"samples[{plugin!r}]={count!r} is not valid; expected an int >= 1")
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
        ValueError: ``port`` is not in 1..65535 or ``samples`` is invalid.
    """
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
        raise ValueError(f"port={port!r} is not valid; expected an int in 1..65535 or None")
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


def _tensorboard_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def run_tensorboard(
    logdir: str | os.PathLike[str],
    *,
    host: str = DEFAULT_HOST,
    port: int | None = None,
    samples: Mapping[str, int] | None = None,
    extra: Sequence[str] = (),
) -> int:
    """Run TensorBoard as a child process in the foreground until it exits.

    SIGINT (Ctrl-C), SIGTERM and SIGHUP received meanwhile are forwarded to TensorBoard, which is then waited
    for (SIGKILL after 10 s), so it never outlives this call. Signal handlers are only installed from the
    main thread (elsewhere, Python cannot; Ctrl-C is still forwarded).

    Args:
        logdir, host, port, samples, extra: As in :func:`tensorboard_args`.

    Returns:
        TensorBoard's exit status (0 after Ctrl-C).

    Example:
        >>> run_tensorboard("logs")  # doctest: +SKIP
        TensorBoard 2.21.0 at http://127.0.0.1:6006/ (Press CTRL+C to quit)
    """
    args = tensorboard_args(logdir, host=host, port=port, samples=samples, extra=extra)
    proc = subprocess.Popen(args, env=_tensorboard_env())
    forwarded = [sig for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if sig is not None]
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in forwarded:
            previous[sig] = signal.signal(sig, lambda signum, _frame: proc.send_signal(signum))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        _stop(proc, timeout=10)
        return 0
    finally:
        _stop(proc, timeout=10)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop(proc: subprocess.Popen[Any], timeout: float) -> None:
    """Wait for ``proc`` (after a signal was sent), SIGKILL it after ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def exec_tensorboard(
    logdir: str | os.PathLike[str],
    *,
    host: str = DEFAULT_HOST,
    port: int | None = None,
    samples: Mapping[str, int] | None = None,
    extra: Sequence[str] = (),
) -> int:
    """Replace this process by TensorBoard (POSIX); elsewhere, :func:`run_tensorboard`.

    After ``os.execve`` the process id stays the same and it *is* TensorBoard: Ctrl-C, SIGTERM and SIGHUP
    reach TensorBoard directly and no parent can be left behind, nor can TensorBoard be orphaned. Nothing
    after this call runs (stdout and stderr are flushed first).

    Args:
        logdir, host, port, samples, extra: As in :func:`tensorboard_args`.

    Returns:
        Only where ``os.execve`` does not exist (Windows): TensorBoard's exit status.
    """
    args = tensorboard_args(logdir, host=host, port=port, samples=samples, extra=extra)
    if os.name != "posix":  # pragma: no cover - exec on Windows starts a new process and returns
        return run_tensorboard(logdir, host=host, port=port, samples=samples, extra=extra)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(args[0], args, _tensorboard_env())
    raise AssertionError("unreachable")  # pragma: no cover


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
