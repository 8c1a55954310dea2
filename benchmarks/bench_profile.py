"""Where a snapshot's time goes: the device side (``probe_chunks``) and the host side (``write_chunks``).

ResNet50V2(weights=None), 224x224, all 189 layers with 4-D outputs, 1 image, on the active Keras backend;
medians, each also as a multiple of the compiled forward pass (``predict_on_batch``: the median ratio of 7
pairs, each run right after a forward pass), with and without histograms, grids and figures.

``--pieces`` adds what each piece of the device side costs inside the probe, each layer reduced where the
forward pass produces it (``probe.LayerReduce``), in interleaved rounds: the forward pass with the layers
captured and nothing reduced, one reduction pass per layer (a per-channel sum), the per-channel partial sums
(``reductions.partials``, fast path), partials and histogram counts, and the grids alone
(``quantize.grid_partial``, the default plans).

``--compile`` (JAX: ``KERAS_BACKEND=jax``) prints what XLA's compiles of the logger's reductions cost, one
program per distinct layer shape compiled one after the other (``jax.jit(...).lower(...).compile()``): the
per-channel partial sums, the histogram counts and the grids apart, then the three together as the probe
compiles them (:func:`tbactviz.snapshot.digest.reduce_layer`), next to the model's forward pass.

``--compile-options`` (JAX) compiles and runs the same pieces under XLA options that trade compile time for
run time (per program: ``compile(compiler_options=...)``): the defaults, backend optimization level 0, and
the loop emitters instead of the fusion emitters (CPU); for each, the seconds of compile summed over the
distinct shapes and the milliseconds of one run summed likewise (medians of 5 runs each).

Usage: ``python benchmarks/bench_profile.py [--pieces] [--compile] [--compile-options]`` (one to three
minutes).
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_snapshot import build_model, four_d_layers, images, median_time, paired_ratio

import tbactviz

VARIANTS: dict[str, dict[str, bool]] = {
    "defaults": {},
    "no histograms": {"histograms": False},
    "no grids": {"images": False},
    "nothing": {"images": False, "histograms": False, "stats": False},
}


def main() -> None:
    model = build_model()
    names = four_d_layers(model)
    x = images(1)

    def forward() -> None:
        model.predict_on_batch(x)

    found = {"forward pass": (median_time(forward, 10), 1.0)}
    for label, options in VARIANTS.items():
        log = tbactviz.ActivationLogger(tempfile.mkdtemp(), model, names, **options)
        chunks: list[object] = []

        def probe(log: tbactviz.ActivationLogger = log, chunks: list[object] = chunks) -> None:
            chunks[:] = list(log.probe_chunks(x))

        found[f"{label}: probe_chunks"] = paired_ratio(probe, forward, 7)

        def write(log: tbactviz.ActivationLogger = log, chunks: list[object] = chunks) -> None:
            log.write_chunks(chunks, 1, 0)  # type: ignore[arg-type]

        found[f"{label}: write_chunks"] = paired_ratio(write, forward, 7)
        log.close()
    extractor = tbactviz.ActivationLogger(tempfile.mkdtemp(), model, names).extractor
    found["raw activations (no reduce)"] = paired_ratio(lambda: extractor(x), forward, 7)
    print("medians; each ratio over 7 interleaved pairs (the part right after a forward pass):")
    for name, (seconds, ratio) in found.items():
        print(f"{name:<34}{seconds:8.3f} s{ratio:8.1f}x")


def pieces(model: Any, names: list[str], x: Any, rounds: int = 9) -> None:
    """The device side's pieces inside the probe (see the module docstring), medians of interleaved rounds."""
    from keras import ops

    from tbactviz.grids import quantize
    from tbactviz.model.compiled import LayerReduce
    from tbactviz.probe.extractor import ActivationExtractor
    from tbactviz.stats import reductions

    shapes = {name: tuple(model.get_layer(name).output.shape[1:]) for name in names}
    logger = tbactviz.ActivationLogger(tempfile.mkdtemp(), model, names)
    plans = logger._drawing.plans(shapes, 1)  # exactly the logger's default plans for a 1-image probe
    logger.close()

    def per_layer(fn: Callable[[str, Any], Any]) -> Callable[[], object]:
        extractor = ActivationExtractor(model, names)
        reduce = LayerReduce(lambda path, shape, extra: (path, None), lambda path, a, args: fn(path, a))
        return lambda: list(extractor.iter_batches(x, reduce=reduce))

    def with_histogram(path: str, a: Any) -> Any:
        part = reductions.partials(a, finite=True)
        lo, hi = reductions.device_bounds(part)
        return part, reductions.histogram_counts(a, lo, hi, 30, finite=True)

    def grid(path: str, a: Any) -> Any:
        return quantize.grid_partial(a, dataclasses.replace(plans[path], finite=True))

    runs = {
        "forward pass": lambda: model.predict_on_batch(x),
        "captured, nothing reduced": per_layer(lambda path, a: ops.sum(a[:1, :1])),
        "one sum per channel": per_layer(lambda path, a: ops.sum(ops.reshape(a, (-1, a.shape[-1])), axis=0)),
        "partials": per_layer(lambda path, a: reductions.partials(a, finite=True)),
        "partials + histogram": per_layer(with_histogram),
        "grids": per_layer(grid),
    }
    times: dict[str, list[float]] = {label: [] for label in runs}
    for run in runs.values():
        run()
    for _ in range(rounds):
        for label, run in runs.items():
            t0 = time.perf_counter()
            run()
            times[label].append(time.perf_counter() - t0)
    forward = statistics.median(times["forward pass"])
    print(f"pieces inside the probe, medians of {rounds} interleaved rounds:")
    for label, found in times.items():
        seconds = statistics.median(found)
        print(f"{label:<34}{seconds:8.3f} s{seconds / forward:8.1f}x")


def compile_pieces(model: Any, names: list[str]) -> None:
    """JAX: seconds of XLA compile of the logger's reductions, one program per distinct layer shape."""
    import jax
    import jax.numpy as jnp

    from tbactviz.grids import quantize
    from tbactviz.snapshot.digest import ReduceSpec, reduce_layer
    from tbactviz.stats import reductions

    shapes = {name: tuple(model.get_layer(name).output.shape[1:]) for name in names}
    logger = tbactviz.ActivationLogger(tempfile.mkdtemp(), model, names)
    plans = logger._drawing.plans(shapes, 1)  # the logger's default plans for a 1-image probe
    logger.close()
    spec = ReduceSpec(eps=0.0, buckets=30, grid_samples=1, finite=True)
    firsts = {shape: name for name, shape in reversed(list(shapes.items()))}

    def compile_s(fn: Callable[[Any], Any], shape: tuple[int, ...]) -> float:
        t0 = time.perf_counter()
        jax.jit(fn).lower(jax.ShapeDtypeStruct((1, *shape), jnp.float32)).compile()
        return time.perf_counter() - t0

    compile_s(lambda a: a.sum(), (1,))  # the compiler's own start-up
    x = jax.ShapeDtypeStruct((1, 224, 224, 3), jnp.float32)
    weights = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables])
    t0 = time.perf_counter()  # the weights as arguments, as predict_on_batch and the probe pass them
    jax.jit(lambda t, n, a: model.stateless_call(t, n, a, training=False)[0]).lower(*weights, x).compile()
    pieces: dict[str, Callable[[Any, str], Any]] = {
        "partial sums": lambda a, name: reductions.partials(a, finite=True),
        "histogram counts": lambda a, name: reductions.histogram_counts(a, 0.0, 1.0, 30, finite=True),
        "grids": lambda a, name: quantize.grid_partial(a, dataclasses.replace(plans[name], finite=True)),
        "all three (reduce_layer)": lambda a, name: reduce_layer(a, spec, None, plans[name]),
    }
    print(f"model forward pass, traced and compiled: {time.perf_counter() - t0:.2f} s")
    print(f"XLA compiles of the reductions, {len(firsts)} distinct shapes, one after the other:")
    for label, piece in pieces.items():
        total = 0.0
        for shape, name in firsts.items():
            total += compile_s(lambda a, piece=piece, name=name: piece(a, name), shape)
        print(f"{label:<34}{total:8.2f} s")


def compile_options(model: Any, names: list[str]) -> None:
    """JAX: compile and run time of the logger's reductions under XLA options, summed over distinct shapes."""
    import jax
    import numpy as np

    from tbactviz.grids import quantize
    from tbactviz.snapshot.digest import ReduceSpec, reduce_layer
    from tbactviz.stats import reductions

    shapes = {name: tuple(model.get_layer(name).output.shape[1:]) for name in names}
    logger = tbactviz.ActivationLogger(tempfile.mkdtemp(), model, names)
    plans = logger._drawing.plans(shapes, 1)
    logger.close()
    spec = ReduceSpec(eps=0.0, buckets=30, grid_samples=1, finite=True)
    firsts = {shape: name for name, shape in reversed(list(shapes.items()))}
    rng = np.random.default_rng(0)
    inputs = {shape: jax.numpy.asarray(rng.normal(size=(1, *shape)).astype("float32")) for shape in firsts}
    pieces: dict[str, Callable[[Any, str], Any]] = {
        "partial sums": lambda a, name: reductions.partials(a, finite=True),
        "histogram counts": lambda a, name: reductions.histogram_counts(a, -4.0, 4.0, 30, finite=True),
        "grids": lambda a, name: quantize.grid_partial(a, dataclasses.replace(plans[name], finite=True)),
        "all three (reduce_layer)": lambda a, name: reduce_layer(a, spec, None, plans[name]),
    }
    options: dict[str, dict[str, Any]] = {
        "XLA defaults": {},
        "backend optimization level 0": {"xla_backend_optimization_level": 0},
        "loop emitters (CPU)": {"xla_cpu_use_fusion_emitters": False},
    }
    print(f"{len(firsts)} distinct shapes; compile s summed, one run ms summed (median of 5):")
    for label, piece in pieces.items():
        for option, flags in options.items():
            compile_total = run_total = 0.0
            for shape, name in firsts.items():
                fn = jax.jit(lambda a, piece=piece, name=name: piece(a, name))
                t0 = time.perf_counter()
                compiled = fn.lower(inputs[shape]).compile(compiler_options=flags)
                compile_total += time.perf_counter() - t0
                jax.block_until_ready(compiled(inputs[shape]))
                runs = []
                for _ in range(5):
                    t0 = time.perf_counter()
                    jax.block_until_ready(compiled(inputs[shape]))
                    runs.append(time.perf_counter() - t0)
                run_total += statistics.median(runs)
            print(f"{label:<26}{option:<30}{compile_total:8.2f} s{1000 * run_total:9.2f} ms")


if __name__ == "__main__":
    if "--compile-options" in sys.argv[1:]:
        model = build_model()
        compile_options(model, four_d_layers(model))
        sys.exit(0)
    if "--compile" in sys.argv[1:]:
        model = build_model()
        compile_pieces(model, four_d_layers(model))
        sys.exit(0)
    main()
    if "--pieces" in sys.argv[1:]:
        model = build_model()
        pieces(model, four_d_layers(model), images(1))
