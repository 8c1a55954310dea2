"""One backend's run of the logger, the callback and the CLI, for tests/test_backends.py.

Usage: ``KERAS_BACKEND=<name> python _backend_run.py WORKDIR OUTDIR``. WORKDIR holds ``cnn.keras``,
``nested.keras`` (saved by the test on the TensorFlow backend, so every backend runs the same weights),
``probe.npy``, ``x.npy`` and ``y.npy``. Events go to ``OUTDIR/<model>/<logger|callback|cli>``.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

import tbactviz
from tbactviz import cli

LAYERS = {"cnn": ["c1", "bn", "c2", "dense"], "nested": ["backbone/b1", "backbone/b2", "head"]}


def main(workdir: str, outdir: str) -> None:
    probe = np.load(os.path.join(workdir, "probe.npy"))
    x, y = np.load(os.path.join(workdir, "x.npy")), np.load(os.path.join(workdir, "y.npy"))
    for name, layers in LAYERS.items():
        path = os.path.join(workdir, f"{name}.keras")
        out = os.path.join(outdir, name)
        model = keras.saving.load_model(path)
        with tbactviz.ActivationLogger(os.path.join(out, "logger"), model, layers, batch_size=2) as log:
            log(probe, step=0)
        code = cli.main(
            [
                *("log", path, os.path.join(workdir, "probe.npy"), "--layers", ",".join(layers), "-q"),
                *("--logdir", os.path.join(out, "cli"), "--step", "3"),
            ]
        )
        assert code == 0, code
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        callback = tbactviz.ActivationCallback(
            os.path.join(out, "callback"), probe[:2], layers, every_n_epochs=1, on_error="raise"
        )
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[callback])
        assert callback.logged_steps == [0, 1, 2], callback.logged_steps
    print("backend", keras.backend.backend())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
