"""``tbactviz log MODEL INPUTS...``: post-hoc logging of a saved model on image files and ``.npy`` arrays.

Everything that can fail cheaply fails before the model is loaded and before Keras or TensorFlow is imported:
the flags (validated by the options table), the model path, ``--size``, ``--logdir`` and every input file,
read and decoded (a corrupt image fails at once, by name). The probe then goes through the
logger's chunked path (:meth:`tbactviz.ActivationLogger.probe_chunks` into
:meth:`~tbactviz.ActivationLogger.write_chunks`): chunks of ``--batch-size`` samples (automatic: about 256 MiB
of activations), each folded and released before the next, all layers written as one event at ``--step``.
"""

from __future__ import annotations

import argparse
import shlex
import time
from collections.abc import Iterator, Mapping
from typing import Any

from tbactviz.cli.exits import CliError, ExitCode
from tbactviz.cli.inputs import (
    check_preprocess,
    expand_inputs,
    fmt_shape,
    preprocess,
    read_files,
    read_inputs,
    show_progress,
)
from tbactviz.cli.models import (
    check_model_path,
    input_spec,
    load_factory_weights,
    load_model,
    quiet_tensorflow,
)
from tbactviz.cli.parser import logger_options, split_selectors

__all__ = ["board_hint", "run"]


def board_hint(logdir: str) -> list[str]:
    """The lines that tell how to open ``logdir`` in TensorBoard."""
    from tbactviz.tools.board import samples_flag

    q = shlex.quote(logdir)
    return [
        "Open it in TensorBoard with:",
        f"  tbactviz board --logdir {q}",
        f"or: tensorboard --logdir {q} --samples_per_plugin {samples_flag()}",
    ]


def _check_logdir(logdir: str) -> None:
    from tbactviz.errors import LogdirError
    from tbactviz.events.writer import check_logdir

    try:
        check_logdir(logdir)
    except LogdirError as exc:
        raise CliError(str(exc).replace("logdir=", "--logdir=", 1), ExitCode.BAD_LOGDIR) from None


def _counted(
    chunks: Iterator[Mapping[str, Any]], n: int, shapes: dict[str, tuple[int, ...]], progress: bool
) -> Iterator[Mapping[str, Any]]:
    """Pass the probe's chunks on, noting each layer's per-sample shape and showing progress in samples."""
    from tqdm.auto import tqdm

    with tqdm(total=n, desc="probe", unit="sample", disable=not progress, leave=False) as bar:
        for chunk in chunks:
            if not shapes:
                shapes.update({path: tuple(a.shape[1:]) for path, a in chunk.items()})
            yield chunk
            bar.update(len(next(iter(chunk.values()))) if chunk else 0)


def run(args: argparse.Namespace) -> int:
    """Run ``tbactviz log``; return the exit status."""
    from tbactviz.tools import data

    options: dict[str, Any] = logger_options(args)
    if args.step < 0:
        raise CliError(f"--step={args.step!r} is not valid; expected an int >= 0", ExitCode.USAGE)
    check_model_path(args.model, args.model_factory)
    paths = expand_inputs(args.inputs)
    if args.size is not None:
        data.parse_size(args.size, argument="--size")
    _check_logdir(args.logdir)
    progress = show_progress(args.quiet)
    files = read_files(paths, progress=progress)  # every file read and decoded before Keras is imported
    quiet_tensorflow(args.verbose)
    check_preprocess(args.preprocess)  # keras.applications' names: checked before the model loads
    model = load_model(args.model, args.model_factory, verbose=args.verbose)

    import tbactviz
    from tbactviz.probe.extractor import num_samples

    x = read_inputs(files, input_spec(model), args.size)
    del files
    if args.model_factory is not None:
        load_factory_weights(model, args.model, x)
    x = preprocess(x, args.preprocess)
    start = time.perf_counter()
    shapes: dict[str, tuple[int, ...]] = {}
    with tbactviz.ActivationLogger(args.logdir, model, split_selectors(args.layers), **options) as logger:
        n = num_samples(x)
        logger.write_chunks(_counted(logger.probe_chunks(x), n, shapes, progress), n, args.step)
        layer_paths = list(logger.layer_paths)
        event_file = logger.event_file
        n_tags = len(logger.written_tags)
    seconds = time.perf_counter() - start
    print(
        f"Logged {len(layer_paths)} layers ({n_tags} tags) of {n} input(s) at step {args.step} "
        f"in {seconds:.1f} s, as one event:"
    )
    for path in layer_paths:
        print(f"  {path}  {fmt_shape((n, *shapes[path])) if path in shapes else '?'}")
    print(f"Events: {event_file}")
    print("\n".join(board_hint(args.logdir)))
    return ExitCode.OK
