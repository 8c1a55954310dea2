"""Screenshot TensorBoard's images dashboard over tbactviz logs, with headless Chromium.

Starts TensorBoard on 127.0.0.1 (a free port, every image step kept), waits until the activation images
are loaded, points a headless Chromium with a fresh throw-away profile at ``/#images`` and saves a PNG.
TensorBoard and Chromium are always stopped, also on errors and timeouts.

Usage::

    python scripts/screenshot_tensorboard.py --run-demo --logdir /tmp/shot_logs \
        --out docs/tensorboard_images.png

``--run-demo`` first runs ``tbactviz demo`` into ``--logdir`` when it holds no activation events yet.

Chromium: the Debian/Ubuntu package ``chromium`` (``sudo apt-get install -y chromium``); ``--chromium PATH``
points to another Chromium or Chrome binary. It runs with ``--headless --no-sandbox --disable-gpu`` and with
background networking, component updates, sync and QUIC turned off, so it talks to nothing but the local
TensorBoard.

Exit status: 0 screenshot written, 1 failure (TensorBoard or Chromium), 3 Chromium not found.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from _tensorboard import TensorBoardServer

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--disable-default-apps",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
)
INSTALL_HINT = (
    "Chromium was not found (looked for: {names}).\n"
    "Install it, e.g. on Debian/Ubuntu:  sudo apt-get update && sudo apt-get install -y chromium\n"
    "(older Ubuntu: chromium-browser), or pass --chromium /path/to/chromium-or-chrome."
)


def find_chromium(explicit: str | None) -> str | None:
    """The Chromium/Chrome executable: ``explicit`` if given (and executable), else the first on PATH."""
    if explicit:
        return (
            explicit if os.path.isfile(explicit) and os.access(explicit, os.X_OK) else shutil.which(explicit)
        )
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def has_activation_events(logdir: str) -> bool:
    return bool(glob.glob(os.path.join(logdir, "**", "*.tbactviz.v2"), recursive=True)) or bool(
        glob.glob(os.path.join(logdir, "**", "activations", "events.out.tfevents.*"), recursive=True)
    )


def run_chromium(
    chromium: str, url: str, out: str, *, width: int, height: int, budget_ms: int, timeout: float
) -> None:
    """Screenshot ``url`` into ``out`` with headless Chromium; its process group is killed on timeout."""
    with tempfile.TemporaryDirectory(prefix="tbactviz-chromium-") as profile:
        args = [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--virtual-time-budget={budget_ms}",
            f"--screenshot={os.path.abspath(out)}",
            url,
        ]
        proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise RuntimeError(f"Chromium did not finish within {timeout:g} s") from None
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc.returncode != 0 or not os.path.exists(out):
            tail = output.decode("utf-8", "replace")[-2000:]
            raise RuntimeError(f"Chromium exited with status {proc.returncode} without a screenshot:\n{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default="logs", help="log root to serve (default logs)")
    parser.add_argument(
        "--run-demo", action="store_true", help="run `tbactviz demo` first if --logdir is empty"
    )
    parser.add_argument("--out", default=os.path.join("docs", "tensorboard_images.png"), help="PNG to write")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1100)
    parser.add_argument("--dashboard", default="images", help="TensorBoard dashboard (default images)")
    parser.add_argument("--budget-ms", type=int, default=20000, help="virtual time Chromium gives the page")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before Chromium is killed")
    parser.add_argument("--chromium", help="Chromium/Chrome executable (default: found on PATH)")
    args = parser.parse_args(argv)

    chromium = find_chromium(args.chromium)
    if chromium is None:
        names = repr(args.chromium) if args.chromium else ", ".join(CHROMIUM_NAMES)
        print(INSTALL_HINT.format(names=names), file=sys.stderr)
        return 3
    if not has_activation_events(args.logdir):
        if not args.run_demo:
            print(
                f"{args.logdir!r} holds no tbactviz events; run `tbactviz demo --logdir {args.logdir}` or "
                "pass "
                "--run-demo",
                file=sys.stderr,
            )
            return 1
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tbactviz", "demo", "--logdir", args.logdir, "-q"], check=True)
        print(f"demo: {time.perf_counter() - start:.1f} s")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    if os.path.exists(args.out):
        os.remove(args.out)
    try:
        with TensorBoardServer(args.logdir, timeout=90) as tb:
            tb.wait_for("/data/plugin/images/tags", lambda body: any(body.values()), timeout=90)
            run_chromium(
                chromium,
                f"{tb.url}/#{args.dashboard}",
                args.out,
                width=args.width,
                height=args.height,
                budget_ms=args.budget_ms,
                timeout=args.timeout,
            )
    except (RuntimeError, TimeoutError) as exc:
        print(f"screenshot failed: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
