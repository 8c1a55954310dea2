"""PNG encoding of uint8 grid images: palette PNGs assembled here around ISA-L deflate, RGB via Pillow.

Kept apart from the writer so that encoding can run on worker threads while the writer stays
single-threaded. Imports numpy and Pillow only.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import numpy as np
from PIL import Image

from tbactviz.options import DEFAULT_COMPRESS_LEVEL

isal_zlib: Any
try:  # ISA-L's deflate: zlib-compatible output, several times faster
    from isal import isal_zlib
except ImportError:  # pragma: no cover - isal is a dependency; keep working without it
    isal_zlib = None

__all__ = ["DEFAULT_COMPRESS_LEVEL", "encode_indexed_png", "encode_png"]

# DEFAULT_COMPRESS_LEVEL (options): ISA-L's level 2, as small as zlib's default 6 on feature maps (a little
# smaller than ISA-L's 3) and several times faster.


def encode_png(image: np.ndarray, *, compress_level: int = DEFAULT_COMPRESS_LEVEL) -> bytes:
    """Encode one image as PNG bytes.

    Args:
        image: uint8 array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); H and W >= 1.
        compress_level: zlib level 0 (none, fastest) .. 9 (smallest).

    Returns:
        The PNG file as bytes (8-bit grayscale, RGB or RGBA).

    Raises:
        ValueError: ``image`` is not uint8 or has an unsupported shape.

    Example:
        >>> encode_png(np.zeros((2, 3, 3), np.uint8))[:4]
        b'\\x89PNG'
    """
    if image.dtype != np.uint8:
        raise ValueError(f"image has dtype {image.dtype}; expected uint8")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (3, 4)) or 0 in image.shape:
        raise ValueError(f"image has shape {image.shape}; expected (H, W) or (H, W, C) with C in 1, 3, 4")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def encode_indexed_png(
    indices: np.ndarray, palette: np.ndarray, *, compress_level: int = DEFAULT_COMPRESS_LEVEL
) -> bytes:
    """Encode one palette image as an 8-bit indexed PNG (colour type 3).

    One byte per pixel: a third of the data an RGB PNG deflates, for the same picture. The file is assembled
    here (signature, ``IHDR``, ``PLTE``, ``IDAT``, ``IEND``; PNG spec 1.2) around a deflate stream from ISA-L
    (the ``isal`` package, zlib-compatible and several times faster than zlib at the same ratio on feature
    maps) or, where it is missing, the standard library's zlib. Rows are not filtered (filter type 0), as
    the PNG spec recommends for palette images. Decoders (browsers, Pillow) show ``palette[indices]``.

    Args:
        indices: uint8 array of shape (H, W), H and W >= 1: palette entries.
        palette: uint8 array of shape (n, 3), 1 <= n <= 256: the RGB colour of each entry.
        compress_level: deflate level 0 (none) .. 9 (smallest); ISA-L has levels 0..3, so 4..9 use its 3.

    Returns:
        The PNG file as bytes.

    Raises:
        ValueError: wrong dtypes or shapes.

    Example:
        >>> pal = np.array([[0, 0, 0], [255, 0, 255]], np.uint8)
        >>> png = encode_indexed_png(np.array([[0, 1]], np.uint8), pal)
        >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n", png[-8:-4]
        (True, b'IEND')
    """
    if indices.dtype != np.uint8 or indices.ndim != 2 or 0 in indices.shape:
        raise ValueError(
            f"indices has dtype {indices.dtype} and shape {indices.shape}; expected uint8 (H, W)"
        )
    if (
        palette.dtype != np.uint8
        or palette.ndim != 2
        or palette.shape[1] != 3
        or not 1 <= len(palette) <= 256
    ):
        raise ValueError(
            f"palette has dtype {palette.dtype} and shape {palette.shape}; expected uint8 (n<=256, 3)"
        )
    height, width = indices.shape
    rows = np.empty((height, width + 1), dtype=np.uint8)
    rows[:, 0] = 0  # filter type None
    rows[:, 1:] = indices
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    return b"".join(
        (
            _SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"PLTE", np.ascontiguousarray(palette).tobytes()),
            _chunk(b"IDAT", _deflate(rows.data, compress_level)),  # the rows' own buffer, not a copy
            _IEND,
        )
    )


_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


_IEND = _chunk(b"IEND", b"")


def _deflate(data: bytes | memoryview, level: int) -> bytes:
    if isal_zlib is not None:
        compressed: bytes = isal_zlib.compress(data, min(level, 3))
        return compressed
    return zlib.compress(data, level)
