"""The record framing of an event file (TFRecord), written without TensorFlow.

An event file is a sequence of records; each record is

======  ===============================  ==================================================
bytes   field                            value
======  ===============================  ==================================================
8       length                           ``len(data)``, uint64 little-endian
4       length CRC                       :func:`masked_crc32c` of those 8 bytes, uint32 LE
n       data                             one serialized ``Event``
4       data CRC                         :func:`masked_crc32c` of ``data``, uint32 LE
======  ===============================  ==================================================

where the masked CRC is the CRC-32C (Castagnoli) of the bytes, rotated right by 15 bits plus ``0xa282ead8``,
modulo 2**32. The CRC is computed by ``google-crc32c``'s compiled extension (hardware CRC32 instructions where
the CPU has them, some GB/s), so a record costs about what TensorFlow's own ``tf.io.TFRecordWriter`` costs,
and the bytes are the same (``tests/events/test_records.py`` compares the two files byte for byte).

:class:`RecordFile` appends records to any binary file object: a local file opened by Python, or, for a
non-local log directory (``gs://...``), TensorFlow's ``tf.io.gfile.GFile`` (see
:mod:`tbactviz.events.writer`). This module imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

import struct
import warnings
from typing import Protocol

import google_crc32c

from tbactviz.errors import TbactvizWarning

__all__ = ["RecordFile", "frame", "masked_crc32c"]

_MASK_DELTA = 0xA282EAD8
_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")

if google_crc32c.implementation != "c":  # pragma: no cover - every platform with a wheel has the C extension
    warnings.warn(
        "google-crc32c runs without its compiled extension on this platform: writing event files is slow "
        "(about 0.2 s per MiB); reinstall it from a wheel (pip install --force-reinstall google-crc32c)",
        TbactvizWarning,
        stacklevel=2,
    )


def masked_crc32c(data: bytes) -> int:
    """The masked CRC-32C of ``data``, as TFRecord stores it.

    Args:
        data: The bytes (``bytes``, or any contiguous bytes-like object).

    Returns:
        ``((crc >> 15) | (crc << 17)) + 0xa282ead8`` modulo 2**32, where ``crc`` is the CRC-32C of ``data``;
        an int in [0, 2**32).

    Example:
        >>> hex(masked_crc32c(b""))  # the CRC-32C of nothing is 0, so only the mask delta remains
        '0xa282ead8'
    """
    crc: int = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(data: bytes) -> tuple[bytes, bytes, bytes]:
    """The three pieces of one record around ``data``: the header, the data itself, the footer.

    Written one after the other, they make one TFRecord; kept apart so that a large ``data`` is never copied.

    Args:
        data: The record's payload (a serialized ``Event``), any length including 0.

    Returns:
        ``(length + length CRC, data, data CRC)``: 12 bytes, ``data`` unchanged, 4 bytes.

    Example:
        >>> head, data, foot = frame(b"abc")
        >>> len(head), data, len(foot)
        (12, b'abc', 4)
        >>> int.from_bytes(head[:8], "little")
        3
    """
    length = _LENGTH.pack(len(data))
    return length + _CRC.pack(masked_crc32c(length)), data, _CRC.pack(masked_crc32c(data))


class BinaryFile(Protocol):
    """What :class:`RecordFile` needs of a file: ``write``, ``flush`` and ``close`` (a Python binary file,
    ``tf.io.gfile.GFile`` opened ``"wb"``, ``io.BytesIO``)."""

    def write(self, data: bytes, /) -> object: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class RecordFile:
    """Appends TFRecord-framed records to a binary file.

    Not thread-safe by itself (:class:`tbactviz.events.writer.EventWriter` holds a lock around it).

    Args:
        file: An open binary file, positioned where the records go (usually at its start). The record file
            owns it from now on and closes it in :meth:`close`.

    Example:
        >>> import io
        >>> buffer = io.BytesIO()
        >>> records = RecordFile(buffer)
        >>> records.write(b"abc")
        >>> len(buffer.getvalue())  # 12 + 3 + 4
        19
    """

    def __init__(self, file: BinaryFile) -> None:
        self._file = file

    def write(self, data: bytes) -> None:
        """Append one record holding ``data`` (buffered: see :meth:`flush`)."""
        head, body, foot = frame(data)
        self._file.write(head)
        self._file.write(body)
        self._file.write(foot)

    def flush(self) -> None:
        """Hand the buffered records to the operating system (or to the remote file system)."""
        self._file.flush()

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()
