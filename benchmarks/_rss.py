"""Peak resident memory of the running process, sampled on a thread (Linux ``/proc``), for the benchmarks."""

from __future__ import annotations

import os
import threading


def current_rss_mib() -> float:
    """Resident set size now (Linux /proc; ru_maxrss only ever grows, so it cannot see a later peak)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRss:
    """Samples the RSS every few milliseconds on a thread; ``peak`` is the highest seen (MiB).

    Example:
        >>> with PeakRss() as rss:
        ...     buffer = bytearray(64 << 20)
        >>> rss.peak >= 64
        True
    """

    def __init__(self) -> None:
        self.peak = current_rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, current_rss_mib())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss_mib())
