"""Writing event records: tbactviz's own framing vs TensorFlow's ``tf.io.TFRecordWriter``, side by side.

The three writers get the same records and write them to a file of their own in the same temporary
directory, then flush and close it:

* ``tbactviz``: :class:`tbactviz.events.records.RecordFile` on a Python file (``google-crc32c``'s compiled
  CRC-32C; what :class:`tbactviz.events.writer.EventWriter` does for a local log directory);
* ``tf.io.TFRecordWriter``: TensorFlow's C++ record writer (what the event writer used before);
* ``tensorboard (pure Python)``: TensorBoard's own ``RecordWriter``, whose CRC-32C is pure Python when
  TensorFlow is absent (for reference; run with ``--pure-mib 0`` to leave it out).

Two shapes of work, a few MiB each: one large record (a snapshot of ResNet50V2 with the logger's defaults is
one record of 3.5-4.8 MiB) and many small ones (4 KiB, the size of a step with a few layers). The figure is
the median of ``--repeats`` interleaved rounds, in MiB per second and milliseconds per MiB; the files are
checked to hold the same bytes.

Usage: ``python benchmarks/bench_records.py [--mib 4] [--repeats 15]``. Numbers depend on the machine and
its load; never asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import google_crc32c
import numpy as np

from tbactviz.events.records import RecordFile

Writer = Callable[[str, list[bytes]], None]


def write_tbactviz(path: str, records: list[bytes]) -> None:
    out = RecordFile(open(path, "wb"))  # noqa: SIM115 - closed below
    for record in records:
        out.write(record)
    out.flush()
    out.close()


def write_tensorflow(path: str, records: list[bytes]) -> None:
    import tensorflow as tf

    with tf.io.TFRecordWriter(path) as out:
        for record in records:
            out.write(record)
        out.flush()


def write_tensorboard(path: str, records: list[bytes]) -> None:
    from tensorboard.summary.writer.record_writer import RecordWriter

    with open(path, "wb") as file:
        out = RecordWriter(file)
        for record in records:
            out.write(record)
        out.flush()


def _file_name(writer: str) -> str:
    return writer.split()[0].replace(".", "_")


def median_rates(
    writers: dict[str, Writer], records: list[bytes], repeats: int, root: str
) -> dict[str, float]:
    """Median seconds of each writer over ``repeats`` interleaved rounds (after one warm-up round)."""
    times: dict[str, list[float]] = {name: [] for name in writers}
    for round_ in range(repeats + 1):
        for name, write in writers.items():
            path = os.path.join(root, f"{_file_name(name)}.tfrecord")
            t0 = time.perf_counter()
            write(path, records)
            elapsed = time.perf_counter() - t0
            if round_:
                times[name].append(elapsed)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=float, default=4.0, help="MiB of records per shape (default 4)")
    parser.add_argument("--repeats", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument(
        "--pure-mib", type=float, default=1.0, help="MiB for TensorBoard's pure-Python writer (0: skip it)"
    )
    args = parser.parse_args(argv)
    import tensorflow as tf

    rng = np.random.default_rng(0)
    size = int(args.mib * 2**20)
    shapes = {
        "one large record": [rng.bytes(size)],
        "4 KiB records": [rng.bytes(4096) for _ in range(size // 4096)],
    }
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, TensorFlow {tf.__version__}, google-crc32c "
        f"({google_crc32c.implementation} implementation)"
    )
    print(f"{'records':<18}{'writer':<28}{'MiB/s':>9}{'ms/MiB':>9}")
    with tempfile.TemporaryDirectory() as root:
        for shape, records in shapes.items():
            writers: dict[str, Writer] = {
                "tbactviz": write_tbactviz,
                "tf.io.TFRecordWriter": write_tensorflow,
            }
            seconds = median_rates(writers, records, args.repeats, root)
            mib = sum(map(len, records)) / 2**20
            ours = Path(root, "tbactviz.tfrecord").read_bytes()
            theirs = Path(root, f"{_file_name('tf.io.TFRecordWriter')}.tfrecord").read_bytes()
            assert ours == theirs, "the files differ"
            for name, s in seconds.items():
                print(f"{shape:<18}{name:<28}{mib / s:>9.0f}{s / mib * 1e3:>9.2f}")
            if args.pure_mib > 0:
                n = max(1, int(len(records) * args.pure_mib / args.mib))
                part = records[:n] if len(records) > 1 else [records[0][: int(args.pure_mib * 2**20)]]
                s = median_rates({"tensorboard": write_tensorboard}, part, 1, root)["tensorboard"]
                pure_mib = sum(map(len, part)) / 2**20
                label = "tensorboard (pure Python)"
                print(f"{shape:<18}{label:<28}{pure_mib / s:>9.1f}{s / pure_mib * 1e3:>9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
