"""TensorBoard really shows it: the real ``tensorboard`` server over events tbactviz wrote, read over HTTP.

TensorBoard runs on 127.0.0.1 on a free port, in a child process that is always stopped, and every wait is
bounded. The endpoints are the ones TensorBoard's own frontend calls.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import urllib.parse
from pathlib import Path

import keras
import numpy as np
import pytest
from _tensorboard import TensorBoardServer, as_from_a_terminal, free_port
from PIL import Image

import tbactviz
from tbactviz.grids.tiling import grid_shape

pytestmark = pytest.mark.slow

STEPS = 12  # more than the 10 image steps TensorBoard keeps by default
RUN = "posthoc"


@pytest.fixture(scope="module")
def logdir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, dict[str, dict[str, float]]]]:
    """A log root with one run: a conv layer and a layer inside a nested model, logged at STEPS steps."""
    keras.utils.set_random_seed(0)
    block = keras.Sequential(
        [keras.Input((16, 16, 8)), keras.layers.Conv2D(4, 3, name="inner")], name="block"
    )
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inp)
    model = keras.Model(inp, block(x))
    root = tmp_path_factory.mktemp("tb") / "logs"
    probe = np.random.default_rng(0).random((2, 16, 16, 3)).astype(np.float32)
    figures = {}
    with tbactviz.ActivationLogger(root / RUN, model, ["conv1", "block/inner"], max_images=2) as log:
        for step in range(STEPS):
            figures[step] = log(probe * (1 + step / 4), step=step)
    return root, figures


@pytest.fixture(scope="module")
def server(logdir):
    root, _ = logdir
    with TensorBoardServer(root, timeout=90) as tb:
        # TensorBoard loads event files in the background: wait until our run's image tags are in.
        tb.wait_for("/data/plugin/images/tags", lambda body: len(body.get(RUN, {})) == 2, timeout=90)
        yield tb


def _q(**params: object) -> str:
    return urllib.parse.urlencode(params)


def test_server_is_bound_to_localhost(server):
    assert server.url.startswith("http://127.0.0.1:")
    assert "--host" in server.args and server.args[server.args.index("--host") + 1] == "127.0.0.1"


def test_runs(server):
    assert server.get_json("/data/runs") == [RUN]


def test_image_tags_include_nested_layer_paths(server):
    tags = server.get_json("/data/plugin/images/tags")
    assert set(tags[RUN]) == {"activations/conv1", "activations/block/inner"}
    assert tags[RUN]["activations/conv1"]["samples"] == 2  # max_images grids per step


def test_every_image_step_is_kept(server):
    entries = server.get_json("/data/plugin/images/images?" + _q(run=RUN, tag="activations/conv1", sample=0))
    assert [e["step"] for e in entries] == list(range(STEPS))  # step 0 included: not sampled away


def test_one_image_is_a_png_of_the_expected_size(server):
    entries = server.get_json("/data/plugin/images/images?" + _q(run=RUN, tag="activations/conv1", sample=1))
    last = entries[-1]
    blob = server.get("/data/plugin/images/individualImage?" + last["query"])
    image = Image.open(io.BytesIO(blob))
    assert image.format == "PNG"
    height, width = grid_shape((16, 16, 8))
    assert image.size == (width, height)
    pixels = np.asarray(image)
    assert pixels.std() > 0  # a picture, not a blank


def test_histogram_tags_and_series(server):
    tags = server.get_json("/data/plugin/histograms/tags")
    assert set(tags[RUN]) == {"histograms/conv1", "histograms/block/inner"}
    series = server.get_json(
        "/data/plugin/histograms/histograms?" + _q(run=RUN, tag="histograms/block/inner")
    )
    assert [step for _wall, step, _buckets in series] == list(range(STEPS))
    buckets = series[-1][2]
    assert len(buckets) > 1 and all(len(b) == 3 for b in buckets)  # [left, right, count]


def test_scalar_series_matches_what_was_logged(server, logdir):
    _, figures = logdir
    tags = server.get_json("/data/plugin/scalars/tags")
    assert {"sparsity/conv1", "dead_channels/conv1", "sparsity/block/inner"} <= set(tags[RUN])
    series = server.get_json("/data/plugin/scalars/scalars?" + _q(run=RUN, tag="sparsity/conv1"))
    assert [step for _wall, step, _value in series] == list(range(STEPS))
    for _wall, step, value in series:
        assert value == pytest.approx(figures[step]["conv1"]["sparsity"], abs=1e-6)


def test_tbactviz_board_console_script_serves_the_logs(logdir):
    """``tbactviz board`` (the installed console script) starts TensorBoard; Ctrl-C stops it cleanly."""
    root, _ = logdir
    exe = shutil.which("tbactviz", path=os.path.dirname(sys.executable))
    cmd = [exe] if exe else [sys.executable, "-m", "tbactviz"]
    port = free_port()
    proc = subprocess.Popen(
        [*cmd, "board", "--logdir", str(root), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=as_from_a_terminal,
    )
    try:
        probe = TensorBoardServer(root, port=port)  # used only for its HTTP helpers; not started
        runs = probe.wait_for("/data/runs", lambda body: body == [RUN], timeout=90)
        assert runs == [RUN]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
