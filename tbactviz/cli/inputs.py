"""The inputs of ``tbactviz log``: files and directories -> one float32 batch that fits the model.

Images are read by :func:`tbactviz.tools.data.load_image` (0..255, dynamic range kept for 16-bit and float
files), ``.npy`` files by :func:`tbactviz.tools.data.load_array`; a directory stands for its image and
``.npy`` files, sorted by name (not recursive; other files are skipped and counted). numpy, Pillow and tqdm
are
imported on use, so that ``tbactviz --help`` stays instant.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tbactviz.cli.exits import CliError, ExitCode

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "PREPROCESS_NAMES",
    "check_preprocess",
    "expand_inputs",
    "fmt_shape",
    "keras_preprocess_names",
    "preprocess",
    "read_files",
    "read_inputs",
    "show_progress",
]

_log = logging.getLogger("tbactviz.cli")

#: ``--preprocess`` names of tbactviz's own: ``none`` (pixels as read, 0..255), ``unit`` (/255 -> 0..1),
#: ``symmetric`` (/127.5 - 1 -> -1..1). Every other name is a ``keras.applications`` module with a
#: ``preprocess_input`` (:func:`keras_preprocess_names`), as the installed Keras has them.
PREPROCESS_NAMES: tuple[str, ...] = ("none", "unit", "symmetric")


def keras_preprocess_names() -> tuple[str, ...]:
    """The ``keras.applications`` modules that have a ``preprocess_input``, as the installed Keras has them
    (``imagenet_utils`` aside: a helper, not a model family). Imports Keras.

    Example:
        >>> "resnet_v2" in keras_preprocess_names()  # doctest: +SKIP
        True
    """
    import inspect

    import keras

    return tuple(
        sorted(
            name
            for name, module in vars(keras.applications).items()
            if inspect.ismodule(module) and hasattr(module, "preprocess_input") and name != "imagenet_utils"
        )
    )


def show_progress(quiet: bool) -> bool:
    """Progress bars only on a terminal: captured or redirected stderr never holds a half-drawn bar."""
    return not quiet and sys.stderr.isatty()


def _image_suffixes() -> frozenset[str]:
    from PIL import Image

    Image.init()
    return frozenset(ext.lower() for ext in Image.registered_extensions())


def expand_inputs(paths: Sequence[str]) -> list[str]:
    """Input files, with each directory replaced by its image and ``.npy`` files (sorted by name).

    Raises:
        tbactviz.tools.data.InputFileError: (exit 5) a path does not exist, or a directory holds no usable
        file.
    """
    from tbactviz.tools import data

    out: list[str] = []
    suffixes: frozenset[str] | None = None
    for path in paths:
        if not os.path.exists(path):
            raise data.InputFileError(path, f"input file {path!r} does not exist")
        if not os.path.isdir(path):
            out.append(path)
            continue
        suffixes = suffixes if suffixes is not None else _image_suffixes() | frozenset(data.ARRAY_SUFFIXES)
        names = sorted(os.listdir(path))
        files = [
            os.path.join(path, n)
            for n in names
            if os.path.isfile(os.path.join(path, n)) and os.path.splitext(n)[1].lower() in suffixes
        ]
        if not files:
            raise data.InputFileError(
                path, f"input directory {path!r} holds no image (jpg, png, ...) or .npy file"
            )
        skipped = len(names) - len(files)
        _log.info(
            "read %d input file(s) from directory %s%s",
            len(files),
            path,
            f" ({skipped} other entr{'y' if skipped == 1 else 'ies'} skipped)" if skipped else "",
        )
        out.extend(files)
    return out


def _fits(shape: tuple[int, ...], spec: tuple[int | None, ...]) -> bool:
    return len(shape) == len(spec) and all(s is None or s == d for d, s in zip(shape, spec, strict=True))


def fmt_shape(shape: Sequence[int | None] | None) -> str:
    """``(None, 16, 16, 8)`` as Keras prints shapes; ``?`` when unknown."""
    if shape is None:
        return "?"
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner}{',' if len(shape) == 1 else ''})"


def _image_target(
    spec: tuple[int | None, ...] | None, size: tuple[int, int] | None, size_text: str | None, first: str
) -> tuple[tuple[int, int] | None, int]:
    """(size images are resized to, channels they are read with) for a model input ``spec``."""
    if spec is None:
        return size, 3
    if len(spec) != 3:
        raise CliError(
            f"the model takes inputs of shape {fmt_shape(spec)} (without batch), not images; give .npy "
            f"arrays instead of {first!r}",
            ExitCode.INPUT_MISMATCH,
        )
    if spec[2] not in (None, 1, 3):
        raise CliError(
            f"the model takes images with {spec[2]} channels; image files give 1 (grey) or 3 (RGB). "
            "Give .npy arrays instead",
            ExitCode.INPUT_MISMATCH,
        )
    if spec[0] is not None and spec[1] is not None:
        model_hw = (spec[0], spec[1])
        if size is not None and size != model_hw:
            raise CliError(
                f"--size={size_text!r} does not fit the model, whose input is "
                f"{model_hw[0]}x{model_hw[1]} pixels; omit --size to resize images to it",
                ExitCode.BAD_SIZE,
            )
        return model_hw, spec[2] or 3
    return size, spec[2] or 3


def read_files(paths: Sequence[str], *, progress: bool) -> list[tuple[str, Any]]:
    """Read and decode every input file, before the model is loaded: a broken file fails at once, by name.

    Returns:
        ``(path, content)`` per file: the array of a ``.npy`` file, the decoded Pillow image of an image file
        (resized and converted by :func:`read_inputs` once the model's input is known).

    Raises:
        tbactviz.tools.data.InputFileError: A file is missing or unreadable (exit 5).
    """
    from tqdm.auto import tqdm

    from tbactviz.tools import data

    return [
        (path, data.load_array(path) if data.is_array_file(path) else data.open_image(path))
        for path in tqdm(paths, desc="read", unit="file", disable=not progress or len(paths) < 2, leave=False)
    ]


def read_inputs(
    files: Sequence[tuple[str, Any]],
    spec: tuple[int | None, ...] | None,
    size_text: str | None,
) -> np.ndarray:
    """The files read by :func:`read_files` as one float32 batch that fits ``spec``.

    Raises:
        CliError: The inputs do not fit the model (exit 8) or images of different sizes without ``--size``
            for a model of free size (exit 7).
    """
    import numpy as np

    from tbactviz.tools import data

    size = data.parse_size(size_text, argument="--size") if size_text is not None else None
    image_paths = [path for path, content in files if not isinstance(content, np.ndarray)]
    target, channels = _image_target(spec, size, size_text, image_paths[0]) if image_paths else (size, 3)
    batches: list[np.ndarray] = []
    for path, content in files:
        if isinstance(content, np.ndarray):
            arr = content.astype(np.float32, copy=False)
            if spec is not None and _fits(arr.shape, spec):
                arr = arr[None]
            elif spec is not None and not _fits(arr.shape[1:], spec):
                raise CliError(
                    f"input file {path!r} holds shape {arr.shape}; the model takes {fmt_shape(spec)} per "
                    "sample (a .npy file holds one sample or a batch of them)",
                    ExitCode.INPUT_MISMATCH,
                )
            elif spec is None and arr.ndim < 2:
                arr = arr[None]
        else:
            arr = data.image_array(content, target, channels=channels)[None]
        batches.append(arr)
    shapes = sorted({b.shape[1:] for b in batches})
    if len(shapes) > 1:
        if image_paths and target is None:
            raise CliError(
                f"the inputs have different sizes {shapes} and the model does not fix its input size; give "
                "--size HxW to resize the images",
                ExitCode.BAD_SIZE,
            )
        raise CliError(f"the inputs have different per-sample shapes {shapes}", ExitCode.INPUT_MISMATCH)
    return np.concatenate(batches, axis=0)


def check_preprocess(name: str) -> None:
    """CliError (exit 2) unless ``name`` is one of :data:`PREPROCESS_NAMES` or of
    :func:`keras_preprocess_names` (the message lists them). Imports Keras for a name not of tbactviz's.
    """
    if name in PREPROCESS_NAMES:
        return
    names = (*PREPROCESS_NAMES, *keras_preprocess_names())
    if name not in names:
        raise CliError(
            f"--preprocess={name!r} is not valid; expected one of: {', '.join(names)}", ExitCode.USAGE
        )


def preprocess(x: np.ndarray, name: str) -> np.ndarray:
    """Apply ``--preprocess NAME`` to a 0..255 batch: one of :data:`PREPROCESS_NAMES`, or the
    ``preprocess_input`` of the ``keras.applications`` module of that name.

    Raises:
        CliError: (exit 2) an unknown name; the valid ones are listed.
    """
    check_preprocess(name)
    if name == "none":
        return x
    if name == "unit":
        return x / 255.0
    if name == "symmetric":
        return x / 127.5 - 1.0
    import keras
    import numpy as np

    func = getattr(keras.applications, name).preprocess_input
    return np.asarray(func(x.copy()), dtype=np.float32)
