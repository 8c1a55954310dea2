"""Run :func:`tbactviz.grids.quantize.grid_partial` on the cases of a .npz file, eagerly and compiled.

Usage: ``KERAS_BACKEND=<name> python _quantize_run.py CASES.npz OUT.npz`` (``tests/grids/test_quantize.py``
writes the cases: ``acts_<i>`` arrays and ``plan_<i>`` JSON options of :func:`tbactviz.grids.plan.plan_grid`,
``range_<i>`` for ``fixed``). Writes ``<key>_<i>`` (eager) and ``jit_<key>_<i>`` (compiled: ``tf.function``,
``jax.jit``; torch runs eagerly only) for each output of ``grid_partial``, and prints the backend.
"""

from __future__ import annotations

import json
import sys

import keras
import numpy as np

from tbactviz.grids.plan import plan_grid
from tbactviz.grids.quantize import grid_partial, partial_to_numpy


def compiled(function):  # type: ignore[no-untyped-def]
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function)
    if backend == "jax":
        import jax

        return jax.jit(function)
    return function


def main(cases_path: str, out_path: str) -> None:
    cases = np.load(cases_path)
    out: dict[str, np.ndarray] = {}
    i = 0
    while f"acts_{i}" in cases:
        acts = cases[f"acts_{i}"]
        plan = plan_grid(acts.shape[1:], **json.loads(str(cases[f"plan_{i}"])))
        vr = cases.get(f"range_{i}", None)
        eager = grid_partial(acts, plan, vr)
        if vr is None:
            jit = compiled(lambda a, p=plan: grid_partial(a, p))(acts)
        else:
            jit = compiled(lambda a, r, p=plan: grid_partial(a, p, r))(acts, vr)
        for prefix, part in (("", eager), ("jit_", jit)):
            for key, value in partial_to_numpy(part).items():
                out[f"{prefix}{key}_{i}"] = value
        i += 1
    np.savez(out_path, **out)
    print(f"backend {keras.backend.backend()}: {i} cases")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
