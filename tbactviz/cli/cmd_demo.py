"""``tbactviz demo``: train a small CNN on the built-in shapes with the callback, beside Keras' callback."""

from __future__ import annotations

import argparse

from tbactviz.cli.cmd_log import board_hint
from tbactviz.cli.exits import CliError, ExitCode
from tbactviz.cli.models import quiet_tensorflow

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Run ``tbactviz demo``; return the exit status."""
    for name in ("epochs", "samples"):
        if getattr(args, name) < 1:
            raise CliError(
                f"--{name}={getattr(args, name)!r} is not valid; expected an int >= 1", ExitCode.USAGE
            )
    if args.image_size < 16:
        raise CliError(
            f"--image-size={args.image_size!r} is not valid; expected an int >= 16", ExitCode.BAD_SIZE
        )
    quiet_tensorflow(args.verbose)
    from tbactviz.tools.demo import run_demo

    result = run_demo(
        args.logdir,
        run=args.run,
        epochs=args.epochs,
        samples=args.samples,
        image_size=args.image_size,
        seed=args.seed,
        verbose=0 if args.quiet else 2,
    )
    print(
        f"Trained {result.epochs} epoch(s) in {result.seconds:.1f} s: validation accuracy "
        f"{result.val_accuracy:.2f} ({len(result.layer_paths)} layers logged: "
        f"{', '.join(result.layer_paths)})."
    )
    runs = [f"{result.activations_dir} (activations)"]
    if result.train_dir is not None and result.validation_dir is not None:
        runs += [f"{result.train_dir} (train)", result.validation_dir]
    print(f"Runs: {', '.join(runs)}")
    print(f"Model: {result.model_path}   probe images: {result.probe_path}")
    print("\n".join(board_hint(args.logdir)))
    return ExitCode.OK
