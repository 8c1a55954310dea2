"""Peak memory of a logging path: peak RSS of a process that logs a 64-image probe on ResNet50V2.

ResNet50V2 (``weights=None``, 224x224x3, 25.6 M parameters) is saved to a temporary ``.keras`` file, and 64
probe images (224x224 PNGs made from scikit-image's sample photographs, resized, shifted and noised so that
no two are alike) are written next to it. Each *path* then logs every layer with a 4-D output (batch, H, W,
C) of the model on the 64 images, in its own fresh process, and the benchmark reads that process's peak
resident set size (``ru_maxrss`` of ``os.wait4`` for exactly that child). A *baseline* process only loads
the model and runs one forward pass on one image: what any process that uses the model pays (Python,
TensorFlow, the weights, one trace). The figure is the growth: peak RSS of the path minus the baseline's.

Paths (one function each, ``PATHS`` maps ``--path`` to them; add a path by adding a function that returns
the command of its child process):

* ``cli``: ``tbactviz log MODEL images/ --layers <every 4-D layer> --logdir ...`` (automatic ~256 MiB
  chunks, or ``--batch-size``).

Run:
    python benchmarks/bench_memory.py [--path cli] [--images 64] [--batch-size N]

Budget (issue 10): the growth must be at most 1 GiB; the script exits with status 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

BUDGET = 1 << 30  #: 1 GiB of growth over the baseline
SIZE = 224


@dataclass
class Setup:
    """What every path works on: the saved model, the probe images and the layers to log."""

    workdir: str
    model_path: str
    image_dir: str
    layers: list[str]
    batch_size: int | None


def make_model(workdir: str) -> tuple[str, list[str]]:
    """Save ResNet50V2 (random weights) as .keras; return its path and the paths of its 4-D layers."""
    import keras

    from tbactviz.layers.listing import list_layers

    model = keras.applications.ResNet50V2(weights=None, input_shape=(SIZE, SIZE, 3))
    path = os.path.join(workdir, "resnet50v2.keras")
    model.save(path)
    layers = [
        info.path
        for info in list_layers(model)
        if info.drawable and info.output_shape is not None and len(info.output_shape) == 4
    ]
    return path, layers


def make_images(image_dir: str, n: int) -> None:
    """Write ``n`` distinct 224x224 RGB PNGs made from scikit-image's sample photographs."""
    from PIL import Image
    from skimage import data

    os.makedirs(image_dir, exist_ok=True)
    sources = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.immunohistochemistry()]
    rng = np.random.default_rng(0)
    for i in range(n):
        src = Image.fromarray(sources[i % len(sources)]).convert("RGB")
        w, h = src.size
        crop = int(min(w, h) * rng.uniform(0.6, 1.0))
        x0, y0 = int(rng.integers(0, w - crop + 1)), int(rng.integers(0, h - crop + 1))
        img = src.crop((x0, y0, x0 + crop, y0 + crop)).resize((SIZE, SIZE), Image.Resampling.BILINEAR)
        arr = np.asarray(img, dtype=np.float32) + rng.normal(0, 8, (SIZE, SIZE, 3))
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(os.path.join(image_dir, f"{i:03d}.png"))


# -- the child processes -------------------------------------------------------------------------------


def baseline_command(setup: Setup) -> list[str]:
    """Load the model and run one forward pass on one image: the floor every path stands on."""
    code = textwrap.dedent(
        """
        import sys, numpy as np, keras
        model = keras.saving.load_model(sys.argv[1], compile=False)
        model(np.zeros((1, 224, 224, 3), np.float32))
        """
    )
    return [sys.executable, "-c", code, setup.model_path]


def cli_command(setup: Setup) -> list[str]:
    """``tbactviz log`` on the image directory, every 4-D layer."""
    cmd = [sys.executable, "-m", "tbactviz", "log", setup.model_path, setup.image_dir]
    cmd += ["--layers", ",".join(setup.layers), "--logdir", os.path.join(setup.workdir, "logs_cli"), "-q"]
    if setup.batch_size is not None:
        cmd += ["--batch-size", str(setup.batch_size)]
    return cmd


#: ``--path`` name -> function returning the child's command line.
PATHS: dict[str, Callable[[Setup], list[str]]] = {"cli": cli_command}


def peak_rss(cmd: list[str]) -> tuple[int, float]:
    """Run ``cmd``; return its peak RSS in bytes (Linux ``ru_maxrss`` is in KiB) and its wall time."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:6]}... failed with status {proc.returncode}:\n{err.decode()[-3000:]}")
    return usage.ru_maxrss * 1024, seconds


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--path", choices=sorted(PATHS), action="append", help="path(s) to measure (all)")
    parser.add_argument("--images", type=int, default=64, help="probe images (default 64)")
    parser.add_argument("--batch-size", type=int, help="samples per forward pass (default: automatic)")
    args = parser.parse_args()
    paths = args.path or sorted(PATHS)
    with tempfile.TemporaryDirectory(prefix="bench_memory_") as workdir:
        model_path, layers = make_model(workdir)
        image_dir = os.path.join(workdir, "images")
        make_images(image_dir, args.images)
        setup = Setup(workdir, model_path, image_dir, layers, args.batch_size)
        print(
            f"machine: {platform.node()} ({platform.machine()}, {os.cpu_count()} cores), "
            f"Python {platform.python_version()}"
        )
        print(f"model: ResNet50V2 (weights=None, {SIZE}x{SIZE}x3), {len(layers)} layers with 4-D outputs")
        print(f"probe: {args.images} images; batch size: {args.batch_size or 'automatic (~256 MiB chunks)'}")
        base, base_s = peak_rss(baseline_command(setup))
        print(f"{'baseline (load + 1 forward pass)':36s} peak RSS {base / 2**20:8.0f} MiB  ({base_s:.0f} s)")
        worst = 0
        for name in paths:
            peak, seconds = peak_rss(PATHS[name](setup))
            growth = peak - base
            worst = max(worst, growth)
            print(
                f"{name:36s} peak RSS {peak / 2**20:8.0f} MiB  ({seconds:.0f} s)  "
                f"growth {growth / 2**20:6.0f} MiB"
                f"  ({'within' if growth <= BUDGET else 'OVER'} the 1 GiB budget)"
            )
    return 0 if worst <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
