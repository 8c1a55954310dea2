"""``tbactviz layers MODEL``: the selectable layers, their output shapes and what would be drawn.

Selection (``--match``) is :func:`tbactviz.layers.selection.match_layers`, the matching of ``--layers``; grid
geometry comes from :mod:`tbactviz.grids.tiling` (:func:`~tbactviz.grids.tiling.grid_shape` for the size in
pixels,
:func:`~tbactviz.grids.tiling.tile_activations` on a one-pixel dummy for the tile rows and columns).
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import TYPE_CHECKING, Any

from tbactviz.cli.exits import CliError, ExitCode
from tbactviz.cli.inputs import fmt_shape
from tbactviz.cli.models import load_model
from tbactviz.cli.parser import LAYOUT_OPTIONS, logger_options, split_selectors

if TYPE_CHECKING:
    import keras

    from tbactviz.layers.listing import LayerInfo

__all__ = ["describe_drawing", "parse_shape", "run"]

_log = logging.getLogger("tbactviz.cli")


def parse_shape(text: str, argument: str) -> tuple[int, ...]:
    """``'32x32x3'`` -> ``(32, 32, 3)``; CliError (exit 7) naming ``argument`` otherwise."""
    parts = text.lower().replace("×", "x").replace(",", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if not dims or any(d < 1 for d in dims):
        raise CliError(
            f"{argument}={text!r} is not a shape; expected positive integers joined by 'x' without the batch "
            "dimension, e.g. 32x32x3",
            ExitCode.BAD_SIZE,
        )
    return dims


def describe_drawing(info: LayerInfo, layout: dict[str, Any]) -> str:
    """What the logger would draw for one sample of this layer, in words (geometry from grids.tiling)."""
    import numpy as np

    from tbactviz.grids.tiling import grid_shape, tile_activations

    if not info.drawable:
        return "-"
    if info.output_shape is None:
        return "? (shape unknown: give --input-shape)"
    shape = info.output_shape[1:]
    try:
        height, width = grid_shape(shape, **layout)
        px = f"{height}x{width} px"
    except (ValueError, TypeError):
        px = "size varies with input"
    if len(shape) <= 1:
        return f"{shape[0] if shape else 1} units as cells, {px}"
    channels = shape[-1]
    if channels is None:
        return f"channels unknown, {px}"
    n = min(channels, layout["max_channels"])
    if len(shape) == 2:
        return f"heatmap of {n}/{channels} ch, {px}"
    dummy = tile_activations(
        np.zeros((1, 1, 1, channels), np.float32),
        max_images=1,
        max_channels=layout["max_channels"],
        columns=layout["columns"],
    )
    extra = len(shape) - 3
    depth = f" (max projection over {extra} extra axis{'' if extra == 1 else 'es'})" if extra else ""
    return f"{n}/{channels} ch in {dummy.rows}x{dummy.cols} tiles, {px}{depth}"


def _check_input_shape(model: keras.Model, input_shape: tuple[int, ...], text: str) -> None:
    """--input-shape must agree with the input the model already declares (exit 7)."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError, RuntimeError):
        return
    if not inputs or len(inputs) != 1:
        return
    known = tuple(None if d is None else int(d) for d in inputs[0].shape[1:])
    fits = len(known) == len(input_shape) and all(
        k is None or k == d for k, d in zip(known, input_shape, strict=True)
    )
    if not fits:
        raise CliError(
            f"--input-shape={text!r} does not fit the model, whose input is {fmt_shape(known)} without "
            "the batch; omit --input-shape (the model's shapes are known) or give a shape that fits",
            ExitCode.BAD_SIZE,
        )


def _print_table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _planned_side(logged: list[LayerInfo], step_bytes: int, layout: dict[str, Any]) -> int:
    """``max_side`` as the logger picks it from ``--max-bytes-per-step`` for these layers (the logger's own
    :meth:`tbactviz.snapshot.drawing.Drawing.side`, with the default options but the layout flags)."""
    from tbactviz.options import DEFAULT_MAX_SIDE, defaults
    from tbactviz.snapshot.drawing import Drawing

    shapes: list[tuple[int, ...]] = []
    for info in logged:
        dims = info.output_shape[1:] if info.output_shape is not None else (None,)
        if all(d is not None for d in dims):
            shapes.append(tuple(int(d or 0) for d in dims))
    if not shapes:
        return DEFAULT_MAX_SIDE
    options = {**defaults(), **layout}
    drawing = Drawing(options, levels=options["levels"], step_bytes=step_bytes)
    return drawing.side(shapes, options["max_images"])


def run(args: argparse.Namespace) -> int:
    """Run ``tbactviz layers``; return the exit status."""
    layout = logger_options(args, LAYOUT_OPTIONS)
    step_bytes = layout.pop("max_bytes_per_step")
    input_shape = None
    if args.input_shape is not None:
        input_shape = parse_shape(args.input_shape, "--input-shape")
    selectors = split_selectors(args.match)
    model = load_model(args.model, args.model_factory, verbose=args.verbose)
    import tbactviz
    from tbactviz.layers.listing import default_layers
    from tbactviz.layers.selection import match_layers

    if input_shape is not None:
        _check_input_shape(model, input_shape, args.input_shape)
    elif not model.built and args.model_factory is not None:
        _log.info("the model is not built; give --input-shape to learn its output shapes")
    try:
        infos = tbactviz.list_layers(model, input_shape=None if input_shape is None else (None, *input_shape))
    except (ValueError, TypeError) as exc:
        if input_shape is None:
            raise
        raise CliError(
            f"--input-shape={args.input_shape!r} does not fit the model ({type(exc).__name__}: {exc})",
            ExitCode.BAD_SIZE,
        ) from exc
    default = {info.path for info in default_layers(infos)}
    shown = infos if selectors is None else match_layers(infos, selectors, argument="--match")
    if layout["max_side"] is None:  # the side the logger would pick for the layers it would log
        layout["max_side"] = _planned_side(
            [
                i
                for i in (shown if selectors is not None else infos)
                if i.drawable and (selectors is not None or i.path in default)
            ],
            step_bytes,
            layout,
        )
    if args.json:
        out = [
            {
                "path": i.path,
                "class": i.class_name,
                "output_shape": None if i.output_shape is None else list(i.output_shape),
                "drawable": i.drawable,
                "drawn": describe_drawing(i, layout) if i.drawable else None,
                "reason": i.reason,
                "depth": i.depth,
                "default": i.path in default,
            }
            for i in shown
        ]
        print(json.dumps(out, indent=2))
        return ExitCode.OK
    rows = [
        [
            ("* " if i.path in default else "  ") + "  " * i.depth + i.path,
            i.class_name,
            fmt_shape(i.output_shape),
            describe_drawing(i, layout) if i.drawable else f"not drawable: {i.reason}",
        ]
        for i in shown
    ]
    max_ch = layout["max_channels"]
    _print_table(rows, ["  PATH", "CLASS", "OUTPUT SHAPE", f"DRAWN PER SAMPLE (max {max_ch} ch)"])
    n_draw = sum(i.drawable for i in shown)
    print(f"\n{len(shown)} layers, {n_draw} drawable; * = logged when --layers is omitted.")
    return ExitCode.OK
