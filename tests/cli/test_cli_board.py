"""``tbactviz board`` leaves no orphan: after SIGTERM or SIGHUP none of its processes lives; the port is free.

The real console script runs as a child on a free port; its process tree is read from ``/proc`` (Linux).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _tensorboard import TensorBoardServer, as_from_a_terminal, free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc"),
]


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out.update(int(c) for c in (task / "children").read_text().split())
    return out


def _tree(pid: int) -> set[int]:
    """``pid`` and all its descendants now."""
    seen, todo = set(), [pid]
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo.extend(_children(p))
    return seen


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as any server (TensorBoard too) binds
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _board_command(tmp_path: Path, port: int) -> list[str]:
    exe = shutil.which("tbactviz", path=os.path.dirname(sys.executable))
    cmd = [exe] if exe else [sys.executable, "-m", "tbactviz"]
    return [*cmd, "board", "--logdir", str(tmp_path), "--port", str(port)]


def _library_command(tmp_path: Path, port: int) -> list[str]:
    """``serve_tensorboard`` called from a program of one's own."""
    code = (
        "import sys; from tbactviz.tools.board import serve_tensorboard; "
        f"sys.exit(serve_tensorboard({str(tmp_path)!r}, port={port}))"
    )
    return [sys.executable, "-c", code]


@pytest.mark.parametrize(
    ("sig", "command"),
    [
        (signal.SIGTERM, _board_command),
        (signal.SIGHUP, _board_command),
        (signal.SIGINT, _board_command),
        (signal.SIGTERM, _library_command),
    ],
    ids=["board-SIGTERM", "board-SIGHUP", "board-SIGINT", "serve_tensorboard-SIGTERM"],
)
def test_board_leaves_no_process_and_frees_the_port(sig, command, tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        command(tmp_path, port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a group of its own, so the cleanup below can reach stragglers
        preexec_fn=as_from_a_terminal,
    )
    try:
        client = TensorBoardServer(tmp_path, port=port)  # only its HTTP helpers; not started
        client.wait_for("/data/runs", lambda body: isinstance(body, list), timeout=120)
        tree = _tree(proc.pid)
        proc.send_signal(sig)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in tree if _alive(p)], "processes of tbactviz board outlived the signal"
        deadline = time.monotonic() + 15
        while not _port_free(port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _port_free(port)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_board_open_opens_the_activations_tab_once_tensorboard_answers(tmp_path):
    """``--open``: the browser ($BROWSER, here a script that records its argument) gets the tab's URL."""
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    port = free_port()
    proc = subprocess.Popen(
        [*_board_command(tmp_path, port), "--open"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "BROWSER": f"{browser} %s"},
        start_new_session=True,
        preexec_fn=as_from_a_terminal,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.strip() == f"The Activations tab: http://127.0.0.1:{port}/#tbactviz"
        deadline = time.monotonic() + 120
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert opened.read_text().strip() == f"http://127.0.0.1:{port}/#tbactviz"
        TensorBoardServer(tmp_path, port=port).get("/data/runs")  # it was TensorBoard answering
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
