"""Forward-pass time of the tbactviz probe vs ``model.predict_on_batch`` alone.

ResNet50V2 (weights=None, 224x224, 1 image), all 4-D layers chosen (189 of them). Each contender is called
once to warm up (that first call includes the one-time trace/compile, reported apart), then the contenders are
timed in interleaved rounds (so that load from other processes hits them alike) and the medians are printed.

Run:
    python benchmarks/bench_extract.py [--repeats 15] [--size 224]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from tbactviz.layers.listing import list_layers
from tbactviz.probe.extractor import ActivationExtractor


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50V2(weights=None, input_shape=(args.size, args.size, 3))
    x = np.random.default_rng(0).random((1, args.size, args.size, 3), dtype=np.float32)
    xt = tf.constant(x)
    chosen = [info for info in list_layers(model) if info.rank == 4]
    print(f"ResNet50V2 weights=None {args.size}x{args.size}, 1 image, {len(chosen)} 4-D layers chosen")

    extractor = ActivationExtractor(model, chosen)
    default = ActivationExtractor(model)
    plain = tf.function(lambda t: model(t, training=False))
    submodel = keras.Model(model.inputs, [info.layer.output for info in chosen])
    sub_fn = tf.function(lambda t: submodel(t, training=False))
    contenders: dict[str, Callable[[], object]] = {
        "model.predict_on_batch(x)": lambda: model.predict_on_batch(x),
        "  model forward alone, tf.function": lambda: plain(xt).numpy(),
        f"probe, {len(chosen)} layers -> numpy": lambda: extractor(x),
        f"probe, default selection ({len(default.paths)} layers)": lambda: default(x),
        "graph sub-model, tf.function (comparison)": lambda: [np.asarray(memoryview(t)) for t in sub_fn(xt)],
        "graph sub-model predict_on_batch (comparison)": lambda: submodel.predict_on_batch(x),
    }
    first = {name: seconds(fn) for name, fn in contenders.items()}
    runs: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.repeats):
        for name, fn in contenders.items():
            runs[name].append(seconds(fn))
    median = {name: statistics.median(times) for name, times in runs.items()}

    print(f"{'':48s} {'first call':>11s} {'median':>9s} {'vs predict':>10s}")
    base = median["model.predict_on_batch(x)"]
    for name in contenders:
        ratio = median[name] / base
        print(f"{name:48s} {first[name] * 1e3:9.0f}ms {median[name] * 1e3:7.1f}ms {ratio:9.2f}x")
    megabytes = sum(a.nbytes for a in extractor(x).values()) / 2**20
    print(f"activations returned: {megabytes:.0f} MiB; probe traces: {extractor.trace_count}")


if __name__ == "__main__":
    main()
