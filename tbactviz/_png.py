"""PNG encoding of uint8 grid images (Pillow).

Kept apart from the writer so that encoding can run on worker threads while the writer stays
single-threaded. Imports numpy and Pillow only.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

__all__ = ["DEFAULT_COMPRESS_LEVEL", "encode_indexed_png", "encode_png"]

#: zlib level used for grids: 1-3 are several times faster than Pillow's default 6 on feature maps for a
#: few percent more bytes (see benchmarks/).
DEFAULT_COMPRESS_LEVEL = 6


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
    """Encode one palette image as an 8-bit indexed PNG (mode ``P``).

    One byte per pixel: a third of the data an RGB PNG deflates, for the same picture.

    Args:
        indices: uint8 array of shape (H, W), H and W >= 1: palette entries.
        palette: uint8 array of shape (n, 3), n <= 256: the RGB colour of each entry.
        compress_level: zlib level 0 (none, fastest) .. 9 (smallest).

    Returns:
        The PNG file as bytes; decoders show ``palette[indices]``.

    Raises:
        ValueError: wrong dtypes or shapes.

    Example:
        >>> pal = np.array([[0, 0, 0], [255, 0, 255]], np.uint8)
        >>> encode_indexed_png(np.array([[0, 1]], np.uint8), pal)[:4]
        b'\\x89PNG'
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
    image = Image.fromarray(np.ascontiguousarray(indices))
    image.putpalette(palette.tobytes(), rawmode="RGB")
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()
