"""The Activations tab's HTTP routes on real event files, through TensorBoard's own WSGI application.

TensorBoard's application (``tensorboard.backend.application.TensorBoardWSGI``) serves the plugin exactly as
the ``tensorboard`` command does, with its Python data provider over the log directory; payloads are compared
exactly with what the event files hold (read back independently with ``EventAccumulator``).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _events import read_events
from _plugin_logs import FIXED_COUNTS, FIXED_EDGES, LAYERS, MOVING, build, histogram_run
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_provider, event_accumulator
from tensorboard.backend.event_processing import plugin_event_multiplexer as multiplexer
from tensorboard.plugins import base_plugin
from werkzeug import test, wrappers

from tbactviz.events import tilemap
from tbactviz.plugin import loader, reading, rebin
from tbactviz.plugin.routes import STATIC_DIR, ActivationsPlugin

PREFIX = "/data/plugin/tbactviz"


def client(logdir: str | Path, images_kept: int | None = None, flags: Any = None) -> test.Client:
    """TensorBoard's application with only the Activations plugin, over ``logdir`` (``flags``: TensorBoard's
    parsed command line, as the plugin's context gets it)."""
    guidance = {"images": images_kept} if images_kept else None
    mux = multiplexer.EventMultiplexer(tensor_size_guidance=guidance)
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, str(logdir))
    hints = {"images": images_kept} if images_kept else {}
    context = base_plugin.TBContext(
        logdir=str(logdir), data_provider=provider, sampling_hints=hints, flags=flags
    )
    plugin = loader.ActivationsLoader().load(context)
    assert isinstance(plugin, ActivationsPlugin)
    return test.Client(application.TensorBoardWSGI([plugin], data_provider=provider), wrappers.Response)


def get(c: test.Client, path: str, **params: Any) -> Any:
    response = c.get(PREFIX + path, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.get_data())


def failure(c: test.Client, path: str, **params: Any) -> tuple[int, Any]:
    """Status and JSON body of a request that fails."""
    response = c.get(PREFIX + path, query_string=params)
    assert response.status_code >= 400 and response.headers["Content-Type"].startswith("application/json")
    return response.status_code, json.loads(response.get_data())


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = Path(build(str(tmp_path_factory.getbasetemp() / "plugin_logs")))
    if not (base / "histo").exists():
        histogram_run(base)
    return base


@pytest.fixture(scope="module")
def app(root: Path) -> test.Client:
    return client(root)


def test_plugin_listed_active_with_its_es_module(app: test.Client) -> None:
    listing = json.loads(app.get("/data/plugins_listing").get_data())
    assert listing["tbactviz"] == {
        "disable_reload": False,
        "enabled": True,
        "remove_dom": False,
        "tab_name": "Activations",
        "loading_mechanism": {"type": "IFRAME", "module_path": f"{PREFIX}/static/index.js"},
    }


def test_inactive_without_tbactviz_data(root: Path) -> None:
    keras_only = client(root / "demo" / "train")  # Keras' own run: no tbactviz summaries
    assert json.loads(keras_only.get("/data/plugins_listing").get_data())["tbactviz"]["enabled"] is False
    assert get(keras_only, "/runs")["runs"] == []


def test_runs_lists_only_runs_with_tbactviz_data(app: test.Client, root: Path) -> None:
    assert get(app, "/runs") == {
        "runs": ["demo/activations", "histo", "nested", "posthoc"],
        "sampling": {"images": None, "scalars": None, "tbactviz": None},
        "logdir": str(root),
        "reload_interval": None,
    }


def test_runs_gives_tensorboards_reload_interval(root: Path) -> None:
    flags = argparse.Namespace(reload_interval=1.0)
    assert get(client(root / "nested", flags=flags), "/runs")["reload_interval"] == 1.0


def _newest(root: Path, run: str) -> tuple[int, float, int]:
    """(newest step, its wall time, number of layout tags) of a run, read with TensorBoard's accumulator."""
    acc = event_accumulator.EventAccumulator(str(root / run), size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    layouts = [t for t in acc.Tags()["tensors"] if t.startswith("layout/")]
    events = [e for t in layouts for e in acc.Tensors(t)]
    return max(e.step for e in events), max(e.wall_time for e in events), len(layouts)


def test_latest_is_the_newest_step_of_every_run(app: test.Client, root: Path) -> None:
    runs = ["demo/activations", "histo", "nested", "posthoc"]
    expected = {}
    for run in runs:
        step, wall_time, layers = _newest(root, run)
        expected[run] = {"step": step, "wall_time": wall_time, "layers": layers}
    body = get(app, "/latest")
    assert body == {"runs": expected}
    assert {r: v["step"] for r, v in body["runs"].items()} == {
        "demo/activations": 2,
        "histo": 5,
        "nested": 3,
        "posthoc": 0,
    }


def _figures(root: Path, run: str, paths: list[str], steps: list[int]) -> dict[str, list[list[float]]]:
    """The health-map matrices as the event files hold them (independent reader)."""
    values: dict[str, dict[tuple[str, int], float]] = {}
    for r in read_events(root):
        if r.run == run and r.plugin == "scalars":
            figure, _, path = r.tag.partition("/")
            values.setdefault(figure, {})[(path, r.step)] = r.value
    return {f: [[v[(p, s)] for s in steps] for p in paths] for f, v in sorted(values.items())}


def test_run_is_the_health_map_in_model_order(app: test.Client, root: Path) -> None:
    body = get(app, "/run", run="nested")
    assert body == {
        "run": "nested",
        "layers": [
            {
                "path": "conv1",
                "index": 0,
                "depth": 0,
                "kind": "grid",
                "channels": 4,
                "source": [14, 14],
                "drawn": 4,
                "images": 2,
            },
            {
                "path": "block/inner_conv",
                "index": 1,
                "depth": 1,
                "kind": "grid",
                "channels": 6,
                "source": [8, 8],
                "drawn": 6,
                "images": 2,
            },
            {
                "path": "conv2",
                "index": 2,
                "depth": 0,
                "kind": "grid",
                "channels": 5,
                "source": [6, 6],
                "drawn": 5,
                "images": 2,
            },
        ],
        "steps": [0, 1, 2, 3],
        "figures": _figures(root, "nested", LAYERS, [0, 1, 2, 3]),
        "no_finite": [[], [], []],
        "image_steps": [0, 1, 2, 3],
        "dropped": {"images": 0},
    }
    assert sorted(body["figures"]) == [
        "dead_channels",
        "dormant_fraction",
        "max_abs",
        "mean",
        "nonfinite",
        "sparsity",
        "std",
    ]


def test_run_tells_a_layer_with_no_finite_value_from_a_figure_not_logged(tmp_path: Path) -> None:
    """Issue 18: an all-NaN probe at step 1 (between finite ones): conv_a has no finite value there, so its
    mean, std and max_abs are absent at that step, and ``no_finite`` says so; max-pooling made pool_a
    finite."""
    import keras

    import tbactviz

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv_a")(inp)
    x = keras.layers.MaxPooling2D(2, name="pool_a")(x)
    model = keras.Model(inp, keras.layers.Conv2D(2, 1, name="conv_b")(x))
    finite = np.random.default_rng(0).random((2, 8, 8, 3), dtype=np.float32)
    with (
        tbactviz.ActivationLogger(tmp_path / "nan", model, ["conv_a", "pool_a"]) as log,
        pytest.warns(tbactviz.TbactvizWarning, match="NaN"),
    ):
        for step, probe in enumerate([finite, np.full_like(finite, np.nan), finite]):
            log(probe, step)
    with tbactviz.ActivationLogger(tmp_path / "counts", model, ["conv_a"], stats=["nonfinite"]) as log:
        log(np.full_like(finite, np.nan), 0)
    body = get(client(tmp_path), "/run", run="nan")
    assert [layer["path"] for layer in body["layers"]] == ["conv_a", "pool_a"]
    assert body["no_finite"] == [[1], []]
    for name in ("mean", "std", "max_abs"):
        conv_a, pool_a = body["figures"][name]
        assert conv_a[1] is None and None not in (conv_a[0], conv_a[2]) and None not in pool_a, name
    assert body["figures"]["nonfinite"][0] == [0.0, 512.0, 0.0]
    # a run that logs no mean, std or max_abs: nothing is missing that no_finite would explain
    assert get(client(tmp_path), "/run", run="counts")["no_finite"] == [[]]


def test_posthoc_run_has_one_step(app: test.Client, root: Path) -> None:
    body = get(app, "/run", run="posthoc")
    assert body["steps"] == [0] and [layer["path"] for layer in body["layers"]] == LAYERS
    assert body["figures"] == _figures(root, "posthoc", LAYERS, [0])


def test_demo_run_layers_and_steps(app: test.Client, root: Path) -> None:
    body = get(app, "/run", run="demo/activations")
    assert [layer["path"] for layer in body["layers"]] == ["conv1", "conv2", "conv3", "scores"]
    assert [layer["kind"] for layer in body["layers"]] == ["grid", "grid", "grid", "dense"]
    assert body["steps"] == body["image_steps"] == [0, 1, 2]
    assert body["figures"] == _figures(
        root, "demo/activations", ["conv1", "conv2", "conv3", "scores"], [0, 1, 2]
    )


def test_layer_gives_every_step_with_its_layout_and_pngs(app: test.Client, root: Path) -> None:
    body = get(app, "/layer", run="nested", layer="block/inner_conv")
    assert [s["step"] for s in body["steps"]] == [0, 1, 2, 3]
    assert [s["layout_step"] for s in body["steps"]] == [0, 1, 2, 3]
    assert body["steps"][0]["layout"] == {
        "format": 1,
        "index": 1,
        "count": 3,
        "kind": "grid",
        "images": 2,
        "height": 97,
        "width": 146,
        "rows": 2,
        "cols": 3,
        "tile_h": 48,
        "tile_w": 48,
        "pad": 1,
        "offset_y": 0,
        "offset_x": 0,
        "source_h": 8,
        "source_w": 8,
        "down": 1,
        "up": 6,
        "final_down": 1,
        "channels": 6,
        "drawn": 6,
        "channel_ids": [0, 1, 2, 3, 4, 5],
    }
    pngs = {
        r.step: r.value
        for r in read_events(root)
        if r.run == "nested" and r.tag == "activations/block/inner_conv"
    }
    for entry in body["steps"]:
        (width, height), pictures = pngs[entry["step"]]
        assert (entry["layout"]["width"], entry["layout"]["height"]) == (width, height)
        assert len(entry["blobs"]) == len(pictures) == 2
        for key, picture in zip(entry["blobs"], pictures, strict=True):
            response = app.get(f"{PREFIX}/blob", query_string={"key": key})
            assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
            import io

            from PIL import Image

            got = Image.open(io.BytesIO(response.get_data()))
            assert got.size == (width, height)
            assert np.array_equal(np.asarray(got.convert("RGB")), np.asarray(picture.convert("RGB")))


def test_layout_summaries_are_tbactviz_tensors(root: Path) -> None:
    own = [r for r in read_events(root, own=True) if r.run == "nested" and r.plugin == "tbactviz"]
    assert {r.tag for r in own} == {
        "layout/conv1",
        "layout/block/inner_conv",
        "layout/conv2",
        "channels/conv1",
        "channels/block/inner_conv",
        "channels/conv2",
    }
    layouts = [tilemap.decode(r.value) for r in own if r.tag.startswith("layout/")]
    assert len(layouts) == 12 and {lay["count"] for lay in layouts} == {3}


def test_channel_figures_over_steps(app: test.Client, root: Path) -> None:
    written = {  # step -> (C, 4) [mean, std, zero_fraction, max_abs], as the logger wrote them
        r.step: np.asarray(r.value)
        for r in read_events(root, own=True)
        if r.run == "nested" and r.tag == "channels/conv1"
    }
    assert sorted(written) == [0, 1, 2, 3] and written[0].shape[1] == 4
    assert get(app, "/channel", run="nested", layer="conv1", channel=2) == {
        "run": "nested",
        "layer": "conv1",
        "channel": 2,
        "steps": [0, 1, 2, 3],
        "figures": {
            name: [float(written[s][2, j]) for s in range(4)]
            for j, name in enumerate(["mean", "std", "zero_fraction", "max_abs"])
        },
    }
    # a layer without per-channel figures, and a channel out of range
    empty = {"steps": [], "figures": {}}
    assert get(app, "/channel", run="nested", layer="nope", channel=0) | empty == {
        "run": "nested",
        "layer": "nope",
        "channel": 0,
        **empty,
    }
    assert get(app, "/channel", run="nested", layer="conv1", channel=99)["steps"] == []


def test_sampling_that_dropped_steps_is_reported(root: Path) -> None:
    sampled = client(root, images_kept=2)
    body = get(sampled, "/run", run="nested")
    assert body["steps"] == [0, 1, 2, 3] and len(body["image_steps"]) == 2 and 3 in body["image_steps"]
    assert body["dropped"] == {"images": 2}
    assert get(sampled, "/runs")["sampling"] == {"images": 2, "scalars": None, "tbactviz": None}


def test_static_files_and_bad_requests(app: test.Client) -> None:
    index = app.get(f"{PREFIX}/static/index.js")
    assert index.status_code == 200 and index.headers["Content-Type"].startswith("text/javascript")
    assert b"export async function render()" in index.get_data()
    with open(f"{STATIC_DIR}/style.css", "rb") as f:
        assert app.get(f"{PREFIX}/static/style.css").get_data() == f.read()
    for bad in ("static/../routes.py", "static/%2e%2e/routes.py", "static/nothing.js", "static/"):
        assert app.get(f"{PREFIX}/{bad}").status_code == 404
    assert failure(app, "/run") == (400, {"error": "Invalid argument: missing query parameter 'run'"})
    assert failure(app, "/channel", run="nested", layer="conv1", channel="x") == (
        400,
        {"error": "Invalid argument: channel='x' is not valid; expected an int >= 0"},
    )
    assert failure(app, "/blob", key="nonsense") == (404, {"error": "Not found: no blob with key='nonsense'"})


def test_histograms_with_fixed_edges_are_the_written_buckets(app: test.Client) -> None:
    assert get(app, "/histograms", run="histo", layer="fixed") == {
        "run": "histo",
        "layer": "fixed",
        "steps": [0, 1, 2, 3, 4, 5],
        "edges": FIXED_EDGES.tolist(),
        "counts": FIXED_COUNTS.tolist(),
        "rebinned": False,
        "source_buckets": 8,
    }


def test_histograms_with_moving_edges_are_rebinned_onto_one_axis(app: test.Client) -> None:
    # steps: edges [0, 1, 2]; [0, 2, 4]; no finite value; every value 3; [1, 2, 3]; [0, 2, 4]
    assert get(app, "/histograms", run="histo", layer="moving", buckets=4) == {
        "run": "histo",
        "layer": "moving",
        "steps": [0, 1, 2, 3, 4, 5],
        "edges": [0.0, 1.0, 2.0, 3.0, 4.0],
        "counts": [
            [2.0, 4.0, 0.0, 0.0],
            [3.0, 3.0, 1.0, 1.0],
            [0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 5.0],
            [0.0, 1.0, 1.0, 0.0],
            [0.0, 0.0, 4.0, 4.0],
        ],
        "rebinned": True,
        "source_buckets": 2,
    }
    body = get(app, "/histograms", run="histo", layer="moving")  # the default: 64 shared buckets
    assert body["edges"] == np.linspace(0.0, 4.0, 65).tolist() and body["rebinned"] is True
    totals = [sum(row) for row in body["counts"]]
    assert totals == pytest.approx([sum(r[2] for r in rows) for rows in MOVING], abs=1e-9)


def test_histograms_of_a_logged_run_keep_every_step_and_count(app: test.Client, root: Path) -> None:
    written = {
        r.step: np.asarray(r.value)
        for r in read_events(root)
        if r.run == "nested" and r.tag == "histograms/block/inner_conv"
    }
    body = get(app, "/histograms", run="nested", layer="block/inner_conv")
    steps = sorted(written)
    edges, counts, rebinned = rebin.shared_axis([written[s] for s in steps])
    assert steps == [0, 1, 2, 3] and rebinned  # the weights shrink from step to step: the edges move
    assert body == {
        "run": "nested",
        "layer": "block/inner_conv",
        "steps": steps,
        "edges": edges.tolist(),
        "counts": counts.tolist(),
        "rebinned": True,
        "source_buckets": 30,
    }
    lo = min(float(written[s][0, 0]) for s in steps)
    hi = max(float(written[s][-1, 1]) for s in steps)
    assert (body["edges"][0], body["edges"][-1], len(body["edges"])) == (lo, hi, 65)
    for s, row in zip(steps, body["counts"], strict=True):  # re-binning keeps every count
        assert sum(row) == pytest.approx(written[s][:, 2].sum())


def test_histograms_of_a_layer_without_any(app: test.Client) -> None:
    assert get(app, "/histograms", run="nested", layer="nope") == {
        "run": "nested",
        "layer": "nope",
        "steps": [],
        "edges": [0.0, 1.0],
        "counts": [],
        "rebinned": False,
        "source_buckets": 0,
    }
    for bad in ("1", "513", "x", "-4"):
        status, body = failure(app, "/histograms", run="histo", layer="fixed", buckets=bad)
        assert status == 400
        assert body == {"error": f"Invalid argument: buckets={bad!r} is not valid; expected an int in 2..512"}


def test_a_failing_route_logs_its_exception_and_answers_json(
    app: test.Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the disk went away")

    for route, name in (
        ("/run", "run"),
        ("/layer", "layer"),
        ("/histograms", "histograms"),
        ("/latest", "latest"),
    ):
        monkeypatch.setattr(reading, name, broken)
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="tbactviz.plugin"):
            status, body = failure(app, route, run="nested", layer="conv1")
        assert (status, body) == (500, {"error": "RuntimeError: the disk went away"})
        [record] = caplog.records
        assert record.name == "tbactviz.plugin" and record.levelname == "ERROR"
        assert record.exc_info is not None and record.exc_info[0] is RuntimeError
        assert record.getMessage().startswith(f"tbactviz: {PREFIX}{route}?")
    monkeypatch.undo()
    assert get(app, "/run", run="nested")["run"] == "nested"  # and the route works again


def test_the_tab_loads_without_a_version_check(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The package requires a TensorBoard that serves the tab; the loader checks no version string."""
    from tensorboard import version

    monkeypatch.setattr(version, "VERSION", "2.4.1")
    with caplog.at_level(logging.WARNING, logger="tbactviz.plugin"):
        plugin = loader.ActivationsLoader().load(base_plugin.TBContext(data_provider=object()))
    assert isinstance(plugin, ActivationsPlugin) and not caplog.records
    assert not hasattr(loader, "supported") and not hasattr(loader, "MIN_TENSORBOARD")
    requires = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"tensorboard>=2.16"' in requires


def test_no_data_provider_or_a_broken_plugin_gives_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="tbactviz.plugin"):
        assert loader.ActivationsLoader().load(base_plugin.TBContext()) is None
        monkeypatch.setattr(ActivationsPlugin, "__init__", lambda self, ctx: 1 / 0)
        assert loader.ActivationsLoader().load(base_plugin.TBContext(data_provider=object())) is None
    assert len(caplog.records) == 2 and "ZeroDivisionError" in caplog.records[1].getMessage()


def test_import_tbactviz_does_not_import_the_plugin() -> None:
    import subprocess
    import sys

    code = "import sys, tbactviz; print(any(m.startswith('tbactviz.plugin') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
