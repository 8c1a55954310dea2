"""Peak memory of ActivationCallback during ``fit``, sync and async, vs the same ``fit`` without it.

Reference case: ``keras.applications.ResNet50V2(weights=None)`` at 224x224, a 64-image probe, every layer
with a 4-D output (189 layers, about 119 MiB of float32 activations per image, 7.4 GiB for the whole probe
at once), default drawing options (automatic probe chunks of at most about 256 MiB of activations). Each
contender runs in a fresh process:

* ``baseline``: the model is built and compiled, one warm-up ``fit`` epoch traces the train step, then the
  measured ``fit`` (2 epochs of one batch of 2 images) runs without the callback;
* ``sync`` / ``async``: the same, the measured ``fit`` with ``ActivationCallback(async_write=False/True)``
  logging the probe after every epoch (2 logged steps; step 0 is not logged: the warm-up epoch trained).

The figure is the peak RSS growth during the measured ``fit``: the highest resident set size (sampled every
2 ms on a thread) minus the RSS just before it. The probe itself (38 MiB of float32 images) exists before.
The callback's own share is its figure minus the baseline's.

Run:
    python benchmarks/bench_memory_callback.py [--probe 64]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

from _rss import PeakRss, current_rss_mib

TARGET_MIB = 1024


def child(which: str, n_probe: int) -> None:
    import keras
    import numpy as np

    import tbactviz

    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50V2(weights=None, input_shape=(224, 224, 3))
    model.compile("sgd", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.random((2, 224, 224, 3), dtype=np.float32), np.array([1, 2])
    probe = rng.random((n_probe, 224, 224, 3), dtype=np.float32)
    layers = [info.path for info in tbactviz.list_layers(model) if info.rank == 4]
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)  # warm-up: the train step is traced, slots allocated
    logdir = tempfile.mkdtemp()
    callbacks = []
    cb = None
    if which != "baseline":
        cb = tbactviz.ActivationCallback(logdir, probe, layers, async_write=which == "async")
        callbacks.append(cb)
    before = current_rss_mib()
    start = time.perf_counter()
    with PeakRss() as rss:
        model.fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=callbacks)
    seconds = time.perf_counter() - start
    result = {
        "which": which,
        "growth_mib": rss.peak - before,
        "before_mib": before,
        "seconds": seconds,
        "layers": len(layers),
        "logged_steps": cb.logged_steps if cb is not None else [],
    }
    print(json.dumps(result))
    shutil.rmtree(logdir, ignore_errors=True)


def run(which: str, n_probe: int) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", which, "--probe", str(n_probe)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--probe", type=int, default=64, help="probe images (default 64)")
    parser.add_argument("--child", choices=["baseline", "sync", "async"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.probe)
        return
    import keras
    import numpy as np
    import tensorflow as tf

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, numpy {np.__version__}"
    )
    print(f"ResNet50V2 (weights=None, 224x224), {args.probe}-image probe, all 4-D layers, default options")
    results = {which: run(which, args.probe) for which in ("baseline", "sync", "async")}
    base = float(results["baseline"]["growth_mib"])  # type: ignore[arg-type]
    print(f"{'fit':<10} {'peak RSS growth':>16} {'minus baseline':>15} {'fit time':>9}  logged steps")
    for which, r in results.items():
        growth = float(r["growth_mib"])  # type: ignore[arg-type]
        extra = "" if which == "baseline" else f"{growth - base:>11.0f} MiB"
        print(
            f"{which:<10} {growth:>12.0f} MiB {extra:>15} {float(r['seconds']):>8.1f}s  "  # type: ignore[arg-type]
            f"{r['logged_steps']} ({r['layers']} layers)"
        )
    worst = max(float(results[w]["growth_mib"]) for w in ("sync", "async"))  # type: ignore[arg-type]
    print(f"target: <= {TARGET_MIB} MiB each: {'met' if worst <= TARGET_MIB else 'NOT met'}")


if __name__ == "__main__":
    main()
