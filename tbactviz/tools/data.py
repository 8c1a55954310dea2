"""Probe data: image and array files for the command line, and the built-in synthetic demo data set.

Two jobs, numpy and Pillow only (no TensorFlow, no Keras):

* **Loading probe inputs from files** (what ``tbactviz log`` feeds the model): JPEG/PNG/... images through
  Pillow, converted to RGB and resized to the model's input size (:func:`load_image`, :func:`load_images`),
  and ``.npy`` arrays (:func:`load_array`). Sizes typed on the command line are parsed by :func:`parse_size`.
* **The demo data set** (:func:`make_shapes`): coloured circles, squares, triangles and crosses at random
  positions, sizes and colours on a random background, with pixel noise. Deterministic by seed, a few thousand
  images in well under a second, and easy enough that a small CNN learns it in seconds, while its first layers
  visibly turn into edge and colour detectors.

Example:
    >>> from tbactviz.tools.data import make_shapes, CLASS_NAMES
    >>> x, y = make_shapes(8, size=32, seed=0)
    >>> x.shape, x.dtype, y.shape, CLASS_NAMES[int(y[0])] in CLASS_NAMES
    ((8, 32, 32, 3), dtype('float32'), (8,), True)
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from tbactviz.checks import check_int, check_number, is_bool, type_error, value_error
from tbactviz.errors import TbactvizError

__all__ = [
    "ARRAY_SUFFIXES",
    "CLASS_NAMES",
    "InputFileError",
    "SizeError",
    "image_array",
    "is_array_file",
    "load_array",
    "load_image",
    "load_images",
    "make_shapes",
    "open_image",
    "parse_size",
]

#: Labels of :func:`make_shapes`, by class index.
CLASS_NAMES: tuple[str, ...] = ("circle", "square", "triangle", "cross")

#: File suffixes read as numpy arrays rather than images.
ARRAY_SUFFIXES: tuple[str, ...] = (".npy",)

_SIZE_RE = re.compile(r"^\s*(\d+)\s*(?:[xX×,]\s*(\d+))?\s*$")


class InputFileError(TbactvizError, OSError):
    """An input file is missing, unreadable, not an image / ``.npy`` array, or has an unusable shape.

    Attributes:
        path: The file as given.
    """

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        self.path = os.fspath(path)
        super().__init__(message)

    def __str__(self) -> str:  # OSError's own __str__ would show the errno form
        return str(self.args[0])


class SizeError(TbactvizError, ValueError):
    """A size such as ``"224x224"`` could not be parsed or is not positive."""


def parse_size(text: str | int | Sequence[int], *, argument: str = "size") -> tuple[int, int]:
    """Parse an image size given as ``"HxW"``, ``"H,W"``, a single ``"N"`` (square), an int or a pair.

    Args:
        text: The size, e.g. ``"224x224"``, ``"48"``, ``(32, 64)``. Height comes first.
        argument: The argument name used in error messages (``"--size"`` on the command line).

    Returns:
        ``(height, width)``, both >= 1.

    Raises:
        SizeError: The text is not of one of these forms, or a side is 0 or above 65536.
        TypeError: ``text`` is neither a str, an int nor a sequence (a bool is not a size).

    Example:
        >>> parse_size("224x160"), parse_size("48"), parse_size((32, 32))
        ((224, 160), (48, 48), (32, 32))
    """
    valid = "expected HxW with positive integers, e.g. 224x224, or a single N for NxN"
    if is_bool(text) or not isinstance(text, (str, int, np.integer, Sequence)):
        raise type_error(argument, text, "a size: 'HxW', an int or a pair (height, width)")
    if isinstance(text, (int, np.integer)):
        dims: tuple[int, ...] = (int(text), int(text))
    elif isinstance(text, str):
        match = _SIZE_RE.match(text)
        if match is None:
            raise SizeError(f"{argument}={text!r} is not a size; {valid}")
        h, w = match.groups()
        dims = (int(h), int(w if w is not None else h))
    else:
        try:
            dims = tuple(int(v) for v in text)  # type: ignore[union-attr]  # a bool: TypeError below
        except (TypeError, ValueError):
            raise SizeError(f"{argument}={text!r} is not a size; {valid}") from None
        if len(dims) != 2:
            raise SizeError(f"{argument}={text!r} is not a size; {valid}")
    if not all(1 <= d <= 65536 for d in dims):
        raise SizeError(f"{argument}={text!r} is not a size; {valid} (each side in 1..65536)")
    return dims[0], dims[1]


def is_array_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a numpy array file (``.npy``) rather than an image.

    Example:
        >>> is_array_file("probe.npy"), is_array_file("cat.jpg")
        (True, False)
    """
    return os.fspath(path).lower().endswith(ARRAY_SUFFIXES)


def _check_file(path: str | os.PathLike[str]) -> str:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputFileError(path, f"input file {path!r} does not exist")
    if os.path.isdir(path):
        raise InputFileError(path, f"input {path!r} is a directory; give image files (jpg, png, ...) or .npy")
    return path


#: Pillow modes of more than 8 bits per pixel (grey): read by :func:`_deep_to_255`, not ``convert``.
_DEEP_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})


def _deep_to_255(raw: np.ndarray) -> np.ndarray:
    """A 16/32-bit or float grey image as float32 in 0..255, keeping its dynamic range.

    Integer data within 0..65535 (16-bit files) are divided by 257, so 65535 -> 255 as an 8-bit image of the
    same picture would read; float data within 0..1 are multiplied by 255 and float data within 0..255 kept;
    anything else is scaled from its own finite min..max to 0..255. Non-finite pixels become 0.
    """
    arr = raw.astype(np.float64)
    finite = np.isfinite(arr)
    values = arr[finite]
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    is_float = raw.dtype.kind == "f"
    if is_float and low >= 0 and high <= 1:
        out = arr * 255.0
    elif is_float and low >= 0 and high <= 255:
        out = arr
    elif not is_float and low >= 0 and high <= 65535:
        out = arr / 257.0
    else:
        out = (arr - low) * (255.0 / (high - low)) if high > low else np.zeros_like(arr)
    return np.where(finite, out, 0.0).astype(np.float32)


def _check_channels(channels: object) -> int:
    valid = "1 (grey) or 3 (RGB)"
    number = check_int("channels", channels, valid=valid)
    if number not in (1, 3):
        raise value_error("channels", channels, valid)
    return number


def open_image(path: str | os.PathLike[str]) -> Image.Image:
    """Open and decode one image file with Pillow, so that a broken file fails here, with its name.

    The whole file is decoded (``Image.load``): a truncated or corrupt PNG or JPEG fails now, not later.

    Args:
        path: The image file.

    Returns:
        The decoded Pillow image, in the file's own mode and size (GIF: the first frame).

    Raises:
        InputFileError: The file does not exist, is a directory, or is not an image Pillow can read.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "red.png")
        >>> Image.new("RGB", (40, 20), (255, 0, 0)).save(p)
        >>> open_image(p).size
        (40, 20)
    """
    path = _check_file(path)
    try:
        with Image.open(path) as img:
            img.load()  # decoded now: the pixels stay once the file is closed
            return img
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InputFileError(
            path,
            f"input file {path!r} is not a readable image ({type(exc).__name__}: {exc}); expected an image "
            "Pillow can read (jpg, png, bmp, tiff, webp, ...) or a .npy array",
        ) from exc


def image_array(img: Image.Image, size: tuple[int, int] | None = None, *, channels: int = 3) -> np.ndarray:
    """A decoded image (:func:`open_image`) as a float32 array with values in 0..255.

    See :func:`load_image` for the conversions (alpha dropped, more than 8 bits kept in range, bilinear
    resizing to ``size``).

    Args:
        img: A Pillow image.
        size: ``(height, width)`` to resize to, or ``None`` to keep the image's size.
        channels: 3 for RGB (default) or 1 for grey.

    Returns:
        An array of shape ``(height, width, channels)``, dtype float32, values in [0, 255].

    Raises:
        ValueError: ``channels`` is not 1 or 3.
        TypeError: ``channels`` is not an int.

    Example:
        >>> image_array(Image.new("L", (4, 2), 255), (8, 8)).shape
        (8, 8, 3)
    """
    channels = _check_channels(channels)
    if img.mode in _DEEP_MODES:  # 16-bit, 32-bit int and float grey: scaled, never clipped
        img = Image.fromarray(_deep_to_255(np.asarray(img)))
    else:
        img = img.convert("RGB" if channels == 3 else "L")
    if size is not None and (img.height, img.width) != tuple(size):
        img = img.resize((int(size[1]), int(size[0])), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.float32)
    if arr.ndim == 2 and channels == 3:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    return arr[..., None] if arr.ndim == 2 else arr


def load_image(
    path: str | os.PathLike[str],
    size: tuple[int, int] | None = None,
    *,
    channels: int = 3,
) -> np.ndarray:
    """Read one image file as a float32 array with values in 0..255.

    Any format Pillow reads (JPEG, PNG, BMP, GIF's first frame, TIFF, WebP, ...). Palette, grey and RGBA
    images are converted (alpha is dropped). Images of more than 8 bits keep their dynamic range: 16-bit grey
    (PNG, TIFF) is divided by 257 (65535 -> 255), float images (TIFF) within 0..1 are multiplied by 255, other
    float or 32-bit images are scaled from their own min..max; 16-bit RGB is reduced to 8 bits by Pillow
    itself (high byte). The result is resized with bilinear filtering when ``size`` differs from the file's
    own size (the aspect ratio is not kept, as ``keras.utils.load_img`` does). Values are in 0..255, which is
    what ``keras.applications`` preprocess functions (and ``tbactviz log --preprocess``) expect.

    Pillow reads the file, not ``keras.utils.load_img``: that one converts 16-bit and float images to 8 bits
    by clipping (a 16-bit PNG reads as white) and needs Keras, which this module, numpy-only, does not import.

    Args:
        path: The image file.
        size: ``(height, width)`` to resize to, or ``None`` to keep the file's size.
        channels: 3 for RGB (default) or 1 for grey.

    Returns:
        An array of shape ``(height, width, channels)``, dtype float32, values in [0, 255].

    Raises:
        InputFileError: The file does not exist, is a directory, or is not an image Pillow can read.
        ValueError: ``channels`` is not 1 or 3.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "red.png")
        >>> Image.new("RGB", (40, 20), (255, 0, 0)).save(p)
        >>> load_image(p, (8, 8)).shape, float(load_image(p)[0, 0, 0])
        ((8, 8, 3), 255.0)
    """
    _check_channels(channels)
    return image_array(open_image(path), size, channels=channels)


def load_images(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    size: tuple[int, int] | None = None,
    *,
    channels: int = 3,
) -> np.ndarray:
    """Read one or several image files into one batch.

    Args:
        paths: Image files (at least one), or a single file (a batch of one).
        size: ``(height, width)`` every image is resized to. ``None`` keeps the files' own size, which then
            must be the same for all of them.
        channels: 3 (RGB) or 1 (grey).

    Returns:
        An array of shape ``(len(paths), height, width, channels)``, float32, values in [0, 255].

    Raises:
        InputFileError: A file is missing or unreadable, or sizes differ while ``size`` is ``None``.
        ValueError: ``paths`` is empty.
        TypeError: ``paths`` is neither a path nor a sequence of paths.

    Example:
        >>> load_images([p, p], (4, 6)).shape  # doctest: +SKIP
        (2, 4, 6, 3)
        >>> load_images(p).shape  # one path: a batch of one  # doctest: +SKIP
        (1, 20, 40, 3)
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not isinstance(paths, Sequence) or not all(isinstance(p, (str, os.PathLike)) for p in paths):
        raise type_error("paths", paths, "an image file (str or os.PathLike) or a sequence of them")
    if len(paths) == 0:
        raise value_error("paths", paths, "at least one image file")
    _check_channels(channels)
    images = [load_image(p, size, channels=channels) for p in paths]
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise InputFileError(
            paths[0], f"the images have different sizes {sorted(shapes)}; give a size to resize them to"
        )
    return np.stack(images)


def load_array(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a ``.npy`` file (no pickled objects).

    Args:
        path: The ``.npy`` file.

    Returns:
        The array as stored (any dtype and shape; callers decide whether it is one sample or a batch).

    Raises:
        InputFileError: The file is missing, not a valid ``.npy`` file, holds objects, or is not numeric.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "x.npy")
        >>> np.save(p, np.zeros((2, 8, 8, 3)))
        >>> load_array(p).shape
        (2, 8, 8, 3)
    """
    path = _check_file(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputFileError(
            path, f"input file {path!r} is not a readable .npy array ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(arr, np.ndarray) or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InputFileError(path, f"input file {path!r} holds dtype {arr.dtype}; expected a numeric array")
    if arr.size == 0:
        raise InputFileError(path, f"input file {path!r} holds an empty array of shape {arr.shape}")
    return arr


# -- the synthetic demo data set -----------------------------------------------------------------------------


def _shape_masks(
    kind: np.ndarray, cy: np.ndarray, cx: np.ndarray, r: np.ndarray, size: int, angle: np.ndarray
) -> np.ndarray:
    """Boolean masks (n, size, size) of the shapes, vectorised over the images of each kind."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + np.float32(0.5)
    masks = np.zeros((len(kind), size, size), dtype=bool)
    for k in range(len(CLASS_NAMES)):
        sel = np.flatnonzero(kind == k)
        if sel.size == 0:
            continue
        dy = yy[None] - cy[sel, None, None]
        dx = xx[None] - cx[sel, None, None]
        rr = r[sel, None, None]
        if k == 0:  # circle
            masks[sel] = dx * dx + dy * dy <= rr * rr
            continue
        # A small random rotation keeps the classes about shape, not about exact pixel patterns.
        cos, sin = np.cos(angle[sel])[:, None, None], np.sin(angle[sel])[:, None, None]
        u, v = np.abs(cos * dx + sin * dy), -sin * dx + cos * dy
        if k == 1:  # square
            masks[sel] = np.maximum(u, np.abs(v)) <= 0.8 * rr
        elif k == 2:  # upright triangle, apex at v = -r, base at v = +0.6 r
            t = (v + rr) / (1.6 * rr)
            masks[sel] = (t >= 0) & (t <= 1) & (u <= t * 0.95 * rr)
        else:  # cross
            v = np.abs(v)
            arm = 0.28 * rr
            masks[sel] = ((u <= arm) & (v <= rr)) | ((v <= arm) & (u <= rr))
    return masks


def make_shapes(
    n: int = 3000,
    *,
    size: int = 32,
    seed: int = 0,
    noise: float = 0.06,
    classes: Sequence[str] = CLASS_NAMES,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate the synthetic demo data set: coloured shapes on coloured backgrounds.

    Each image holds one shape (circle, square, triangle or cross) with a random centre, radius (between 0.2
    and 0.4 of the side), small rotation and colour, on a background of another random colour, plus Gaussian
    pixel noise. Foreground and background colours are drawn at least 0.35 apart (Euclidean, RGB in [0, 1])
    so every shape is visible; the label is the shape, never the colour, so a network has to learn edges and
    corners. Classes are balanced (round robin, then shuffled).

    Args:
        n: Number of images (>= 1). 3000 images of 32x32 take about 0.1 s.
        size: Side of the square images in pixels (>= 8), e.g. 32 or 48.
        seed: Seed of the random generator: the same seed gives the same images, on every platform.
        noise: Standard deviation of the Gaussian pixel noise (>= 0), in units of the [0, 1] range.
        classes: Which shapes, by name, a subset of :data:`CLASS_NAMES` in any order; labels index this
            sequence.

    Returns:
        ``(x, y)``: ``x`` of shape ``(n, size, size, 3)``, float32 in [0, 1]; ``y`` of shape ``(n,)``, int64
        labels in ``0..len(classes) - 1``.

    Raises:
        TypeError: ``n``, ``size`` or ``noise`` has the wrong type.
        ValueError: An argument is out of range or names an unknown shape.

    Example:
        >>> x, y = make_shapes(100, size=48, seed=1)
        >>> x.shape, float(x.min()) >= 0.0, float(x.max()) <= 1.0, sorted(set(y.tolist()))
        ((100, 48, 48, 3), True, True, [0, 1, 2, 3])
    """
    n = check_int("n", n, minimum=1)
    size = check_int("size", size, minimum=8)
    noise = check_number("noise", noise, minimum=0.0)
    classes = tuple(classes)
    unknown = [c for c in classes if c not in CLASS_NAMES]
    if not classes or unknown or len(set(classes)) != len(classes):
        raise ValueError(
            f"classes={classes!r} is not valid; expected distinct names among {CLASS_NAMES} (at least one)"
        )
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(classes)
    rng.shuffle(labels)
    kind = np.array([CLASS_NAMES.index(classes[i]) for i in range(len(classes))])[labels]

    r = rng.uniform(0.2, 0.4, n).astype(np.float32) * size
    margin = r * 0.95
    cy = rng.uniform(0, 1, n).astype(np.float32) * (size - 2 * margin) + margin
    cx = rng.uniform(0, 1, n).astype(np.float32) * (size - 2 * margin) + margin
    angle = rng.uniform(-0.35, 0.35, n).astype(np.float32)

    # Colours: draw background and foreground, redraw foregrounds that are too close (few rounds suffice).
    bg = rng.uniform(0, 1, (n, 3)).astype(np.float32)
    fg = rng.uniform(0, 1, (n, 3)).astype(np.float32)
    for _ in range(20):
        close = np.linalg.norm(fg - bg, axis=1) < 0.35
        if not close.any():
            break
        fg[close] = rng.uniform(0, 1, (int(close.sum()), 3))
    close = np.linalg.norm(fg - bg, axis=1) < 0.35
    fg[close] = 1.0 - bg[close].round()  # the opposite corner of the colour cube is always far enough

    masks = _shape_masks(kind, cy, cx, r, size, angle)
    x = np.where(masks[..., None], fg[:, None, None, :], bg[:, None, None, :])
    if noise > 0:
        x += rng.standard_normal(x.shape, dtype=np.float32) * np.float32(noise)
    np.clip(x, 0.0, 1.0, out=x)
    return x, labels.astype(np.int64)
