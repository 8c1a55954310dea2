"""The Activations tab in a real browser: TensorBoard serving real logs, Debian's Chromium under Playwright.

One TensorBoard (``tbactviz board``'s flags, ``--reload_interval 1``) serves, for the whole module:
``nested`` (3 layers x 4 steps, one of them inside a nested model), ``posthoc`` (one step) and ``posthoc_b``
(one step of other layers of the same model), ``histo`` (histograms of known counts), ``live`` (written
while the page is open) and ``resnet_like`` (189 layers x 200 steps, written directly with the event
writer). Skipped, with the reason, only when no Chromium executable exists (CI installs Debian's
``chromium``; Playwright's own browser download is not used).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _plugin_logs import FIXED_COUNTS, build, histogram_run, nested_model, synthetic_run
from _tensorboard import TensorBoardServer

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("TBACTVIZ_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DRAW_BUDGET_MS = 1000  # the health map of 189 layers x 200 steps, measured in the page (performance.now())
LIVE_WITHIN_S = 15  # a step written while the page is open shows within this (TensorBoard reloads every 1 s)
PREFIX = "/data/plugin/tbactviz"
#: viridis, 9 stops: the tab's colour scale (util.js), for checking pixels
VIRIDIS = [
    (68, 1, 84),
    (71, 44, 122),
    (59, 81, 139),
    (44, 113, 142),
    (33, 144, 141),
    (39, 173, 129),
    (92, 200, 99),
    (170, 220, 50),
    (253, 231, 37),
]


def viridis(t: float) -> tuple[int, ...]:
    """The colour util.js's colour(t) draws (components rounded half up, as Math.round)."""
    x = min(1.0, max(0.0, t)) * 8
    i = min(7, math.floor(x))
    f = x - i
    return tuple(math.floor(a + (b - a) * f + 0.5) for a, b in zip(VIRIDIS[i], VIRIDIS[i + 1], strict=True))


def open_tab(page: Any, url: str, timeout: float = 60.0) -> Any:
    """Go to the Activations tab; return its iframe once the tab says it is ready."""
    page.goto(url + "/#tbactviz")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = next((f for f in page.frames if "plugin_entry.html?name=tbactviz" in f.url), None)
        if frame is not None:
            frame.wait_for_selector("body[data-ready]", timeout=timeout * 1000)
            return frame
        page.wait_for_timeout(100)
    raise AssertionError(f"the Activations tab did not open within {timeout} s")


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """The log directory, and the logger of the ``live`` run (steps 0 and 1 written; open, for more)."""
    import tbactviz

    root = tmp_path_factory.mktemp("browser_logs")
    build(str(root), demo=False)
    synthetic_run(root, layers=189, steps=200, plain=True)
    histogram_run(root)
    model = nested_model()
    probe = np.random.default_rng(0).random((2, 16, 16, 3)).astype("float32")
    with tbactviz.ActivationLogger(root / "posthoc_b", model, ["conv1", "pool1", "conv2"]) as log:
        log(probe, 0)
    import keras

    inp = keras.Input((16, 16, 3))  # no ReLU: it would turn NaN into 0 (true zeros, not a missing value)
    x = keras.layers.Conv2D(4, 3, name="conv_a")(inp)
    plain = keras.Model(inp, keras.layers.Conv2D(2, 1, name="conv_b")(x))
    with (
        warnings.catch_warnings(),
        tbactviz.ActivationLogger(root / "nan", plain, ["conv_a", "conv_b"], max_images=1) as log,
    ):
        warnings.simplefilter("ignore", tbactviz.TbactvizWarning)  # mostly NaN: tested in test_reliability
        for step, x in enumerate([probe, np.full_like(probe, np.nan), probe]):
            log(x, step)
    live = tbactviz.ActivationLogger(root / "live", model, ["conv1", "conv2"], max_images=1)
    for step in range(2):
        live(probe * (step + 1), step)
    yield root, lambda step: live(probe * (step + 1), step)
    live.close()


@pytest.fixture(scope="module")
def server(logs: tuple[Path, Any]) -> Iterator[TensorBoardServer]:
    with TensorBoardServer(logs[0], extra=["--reload_interval", "1"]) as tb:
        tb.wait_for("/data/plugins_listing", lambda b: b.get("tbactviz", {}).get("enabled"))
        tb.wait_for(f"{PREFIX}/runs", lambda b: len(b["runs"]) == 7, timeout=120)
        yield tb


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(server: TensorBoardServer, browser: Any) -> Iterator[Any]:
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    page.close()
    assert errors == [], errors


@pytest.fixture()
def tab(server: TensorBoardServer, page: Any) -> Any:
    return open_tab(page, server.url)


def image_ok(frame: Any, selector: str) -> bool:
    return bool(
        frame.eval_on_selector(
            selector, "i => i.complete && i.naturalWidth > 0 && i.clientWidth > 0 && i.clientHeight > 0"
        )
    )


def grid_steps(frame: Any) -> list[str]:
    return frame.eval_on_selector_all("figure.grid", "els => els.map(e => e.dataset.step)")


def show_runs(frame: Any, runs: list[str]) -> None:
    """Tick exactly ``runs`` in the run selector."""
    for label in frame.locator("label.run").all():
        name = label.inner_text().strip()
        box = label.locator("input")
        if box.is_checked() != (name in runs):
            box.click()
    for run in runs:
        frame.wait_for_selector(f'.mapwrap[data-run="{run}"], svg.profile circle[data-run="{run}"]')


def click_cell(frame: Any, run: str, row: int, col: int) -> None:
    canvas = frame.locator(f'canvas.healthmap[data-run="{run}"]')
    left, top = int(canvas.get_attribute("data-left")), int(canvas.get_attribute("data-top"))
    w, h = int(canvas.get_attribute("data-cell-w")), int(canvas.get_attribute("data-cell-h"))
    canvas.click(position={"x": left + col * w + w // 2, "y": top + row * h + h // 2})


def test_run_selector_counts_runs_and_shows_all(tab: Any, server: TensorBoardServer) -> None:
    runs = server.get_json(f"{PREFIX}/runs")["runs"]
    assert len(runs) >= 7
    assert tab.locator(".runcount").inner_text() == f"4 of {len(runs)} runs shown"
    assert tab.locator("label.run input:checked").count() == 4
    tab.locator("button.allruns").click()
    tab.wait_for_selector('.mapwrap[data-run="resnet_like"]', timeout=60_000)
    assert tab.locator(".runcount").inner_text() == f"{len(runs)} of {len(runs)} runs shown"
    assert tab.locator("label.run input:checked").count() == len(runs)


def test_health_map_one_cell_per_layer_and_step_legible_and_fast_at_189_x_200(
    tab: Any, server: TensorBoardServer
) -> None:
    show_runs(tab, ["nested", "resnet_like"])
    for run in ("nested", "resnet_like"):
        body = server.get_json(f"{PREFIX}/run?run={run}")
        canvas = tab.locator(f'canvas.healthmap[data-run="{run}"]')
        rows, cols = int(canvas.get_attribute("data-rows")), int(canvas.get_attribute("data-cols"))
        assert (rows, cols) == (len(body["layers"]), len(body["steps"]))
        assert int(canvas.get_attribute("data-cells")) == rows * cols
    large = tab.locator('canvas.healthmap[data-run="resnet_like"]')
    assert int(large.get_attribute("data-cells")) == 189 * 200
    draw_ms = float(large.get_attribute("data-draw-ms"))
    tab.wait_for_function(
        "() => document.querySelector('canvas.healthmap[data-run=\"resnet_like\"]').dataset.paintMs"
    )
    paint_ms = float(large.get_attribute("data-paint-ms"))
    print(f"health map 189 x 200: drawn in {draw_ms:.1f} ms, on screen after {paint_ms:.1f} ms (in the page)")
    assert draw_ms < DRAW_BUDGET_MS
    # legible: cells of at least 8 px, step labels that do not overlap, names with their parent path,
    # names that stay in view while the steps scroll
    assert int(large.get_attribute("data-cell-w")) >= 8 and int(large.get_attribute("data-cell-h")) >= 8
    labels = large.get_attribute("data-step-labels").split(",")
    assert labels[0] == "0" and labels[-1] == "199" and 20 <= len(labels) < 200
    overlap = tab.evaluate(
        """() => {
            const c = document.querySelector('canvas.healthmap[data-run="resnet_like"]');
            const g = c.getContext('2d');
            g.font = '11px sans-serif';
            const shown = c.dataset.stepLabels.split(',').map(Number);
            const w = +c.dataset.cellW;
            return shown.slice(1).some((s, k) => (s - shown[k]) * w < g.measureText(String(shown[k])).width);
        }"""
    )
    assert overlap is False
    names = json.loads(
        tab.locator('.mapwrap[data-run="resnet_like"] canvas.maplabels').get_attribute("data-labels")
    )
    assert names[:4] == ["stage0/conv0", "conv1", "conv2", "stage1/conv3"] and len(names) == 189
    nested = json.loads(
        tab.locator('.mapwrap[data-run="nested"] canvas.maplabels').get_attribute("data-labels")
    )
    assert nested == ["conv1", "block/inner_conv", "conv2"]
    scroller = tab.locator('.mapwrap[data-run="resnet_like"] .mapscroll')
    scroller.evaluate("s => { s.scrollLeft = s.scrollWidth; }")
    names_box = tab.locator('.mapwrap[data-run="resnet_like"] canvas.maplabels').bounding_box()
    assert abs(names_box["x"] - scroller.bounding_box()["x"]) < 1  # sticky: still at the left edge


def test_small_run_fills_the_width(tab: Any) -> None:
    show_runs(tab, ["histo"])
    canvas = tab.locator('canvas.healthmap[data-run="histo"]')
    names = tab.locator('.mapwrap[data-run="histo"] canvas.maplabels')
    width = tab.evaluate("document.querySelector('section.health').clientWidth")
    used = canvas.bounding_box()["width"] + names.bounding_box()["width"]
    assert used >= 0.9 * width
    assert int(canvas.get_attribute("data-cell-w")) > 100 and int(canvas.get_attribute("data-cell-h")) > 20
    assert canvas.get_attribute("data-step-labels") == "0,1,2,3,4,5"  # room for every step's label


def test_a_layer_with_no_finite_value_is_drawn_as_such_not_as_not_logged(tab: Any) -> None:
    """Issue 18: the all-NaN step's mean cells are magenta (no finite value), with a tooltip that says so;
    the finite steps keep their colours."""
    show_runs(tab, ["nan"])
    tab.select_option("select.figure", "mean")
    canvas = tab.wait_for_selector('canvas.healthmap[data-run="nan"][data-figure="mean"]')
    assert canvas.get_attribute("data-no-finite-cells") == "2"  # conv_a and conv_b at step 1
    w, h = int(canvas.get_attribute("data-cell-w")), int(canvas.get_attribute("data-cell-h"))
    top = int(canvas.get_attribute("data-top"))
    dpr = tab.evaluate("window.devicePixelRatio || 1")

    def pixel(row: int, col: int) -> list[int]:
        x, y = round((col * w + w // 2) * dpr), round((top + row * h + h // 2) * dpr)
        return tab.evaluate(
            f"""() => Array.from(document.querySelector('canvas.healthmap[data-run="nan"]')
                .getContext('2d').getImageData({x}, {y}, 1, 1).data.slice(0, 3))"""
        )

    assert pixel(0, 1) == pixel(1, 1) == [0xD8, 0x1B, 0x60]
    assert pixel(0, 0) != [0xD8, 0x1B, 0x60] and pixel(0, 0) != [0xE0, 0xE0, 0xE0]
    canvas.hover(position={"x": w + w // 2, "y": top + h // 2})
    tip = tab.wait_for_selector('.mapwrap[data-run="nan"] .tip:not([hidden])')
    assert "conv_a @ step 1: no finite value" in tip.inner_text()
    assert "no finite value" in tab.locator(".legendwrap").inner_text()


def test_cell_opens_grids_and_arrow_keys_move_one_step_keeping_focus(tab: Any) -> None:
    show_runs(tab, ["nested"])
    click_cell(tab, "nested", row=1, col=2)  # a cell: that layer at that step
    card = 'div.card[data-layer="block/inner_conv"] img.gridimg'
    tab.wait_for_selector(card)
    tab.wait_for_function(f"() => document.querySelector('{card}').naturalWidth > 0")
    assert image_ok(tab, card)
    assert grid_steps(tab) == ["2"]
    click_cell(tab, "nested", row=0, col=3)  # a second layer, at step 3: both grids at step 3
    tab.wait_for_function("() => document.querySelectorAll('img.gridimg').length == 2")
    assert grid_steps(tab) == ["3", "3"]
    keyboard = tab.page.keyboard
    tab.locator("input.step-slider").focus()

    def at(step: str) -> None:
        tab.wait_for_function(
            f"() => [...document.querySelectorAll('figure.grid')].every(f => f.dataset.step === '{step}')"
        )
        assert grid_steps(tab) == [step, step]
        assert tab.evaluate("document.activeElement.classList.contains('step-slider')")
        assert (
            tab.evaluate("document.querySelector('.mapwrap[data-run=\"nested\"] .stepmark').dataset.step")
            == step
        )

    for key, step in (("ArrowLeft", "2"), ("ArrowLeft", "1"), ("ArrowLeft", "0"), ("ArrowLeft", "0")):
        keyboard.press(key)  # one press, one step, and the slider keeps the focus
        at(step)
    for key, step in (("ArrowRight", "1"), ("End", "3"), ("ArrowUp", "3"), ("Home", "0"), ("ArrowDown", "0")):
        keyboard.press(key)
        at(step)
    tab.wait_for_function(
        "() => [...document.querySelectorAll('img.gridimg')].every(i => i.complete && i.naturalWidth > 0)"
    )
    # step A vs step B: two grids per layer; A follows the slider, B stays
    tab.select_option("select.compare", "step")
    tab.wait_for_function("() => document.querySelectorAll('figure.grid').length == 4")
    tab.select_option("select.step-b", "2")
    tab.locator("input.step-slider").press("ArrowRight")
    tab.wait_for_function(
        "() => [...document.querySelectorAll('figure.grid')].map(f => f.dataset.step).join() === '1,2,1,2'"
    )
    # run A vs run B: B follows the slider too
    tab.select_option("select.compare", "run")
    tab.select_option("select.run-b", "posthoc")
    tab.wait_for_function("() => document.querySelectorAll('figure.grid[data-run=\"posthoc\"]').length == 2")
    tab.locator("input.step-slider").press("End")
    tab.wait_for_function(
        "() => [...document.querySelectorAll('figure.grid[data-run=\"nested\"]')]"
        ".every(f => f.dataset.step === '3')"
    )
    tab.wait_for_function(  # its only step, the nearest to 3
        "() => [...document.querySelectorAll('figure.grid[data-run=\"posthoc\"]')]"
        ".every(f => f.dataset.step === '0')"
    )


def open_drill(tab: Any) -> Any:
    """The drill-down of channel 1 of ``block/inner_conv`` of ``nested``, opened from its grid at step 3."""
    show_runs(tab, ["nested"])
    click_cell(tab, "nested", row=1, col=3)
    card = 'div.card[data-layer="block/inner_conv"] img.gridimg'
    tab.wait_for_selector(card)
    tab.wait_for_function(f"() => document.querySelector('{card}').naturalWidth > 0")
    img = tab.locator(card)
    scale = img.evaluate("i => i.clientWidth / i.naturalWidth")
    img.click(position={"x": (48 + 1 + 10) * scale, "y": 10 * scale})  # tile 1 (48-px tiles, 1-px separators)
    tab.wait_for_selector("section.drilldown .big canvas.tile[data-drawn]")
    return tab.locator("section.drilldown")


def test_tile_drills_down_and_the_drilldown_follows_the_slider(tab: Any, server: TensorBoardServer) -> None:
    drill = open_drill(tab)
    assert drill.get_attribute("data-layer") == "block/inner_conv"
    assert drill.get_attribute("data-channel") == "1"
    assert drill.locator(".filmstrip figure.frame").count() == 4
    tab.wait_for_function(
        "() => [...document.querySelectorAll('.filmstrip canvas.tile')].every(c => c.dataset.drawn === '1')"
    )
    distinct = tab.evaluate(  # the crops are pictures, not blank canvases
        """() => [...document.querySelectorAll('.filmstrip canvas.tile')].map(c => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const seen = new Set();
            for (let i = 0; i < d.length; i += 4) seen.add(d[i] * 65536 + d[i + 1] * 256 + d[i + 2]);
            return seen.size; })"""
    )
    assert len(distinct) == 4 and min(distinct) > 1

    blobs = {  # the PNG of each step (probe sample 0), as the route gives them
        str(entry["step"]): entry["blobs"][0]
        for entry in server.get_json(f"{PREFIX}/layer?run=nested&layer=block/inner_conv")["steps"]
    }

    def big() -> tuple[str, str]:
        tab.wait_for_selector("section.drilldown .big canvas.tile[data-drawn]")
        frame = tab.locator("section.drilldown .big figure.frame")
        return frame.get_attribute("data-step"), frame.locator("canvas").get_attribute("data-blob")

    assert big() == ("3", blobs["3"])
    assert tab.locator(".filmstrip figure.frame.current").get_attribute("data-step") == "3"
    tab.locator("input.step-slider").press("Home")
    tab.wait_for_function(
        "() => document.querySelector('section.drilldown .big figure.frame').dataset.step === '0'"
    )
    assert big() == ("0", blobs["0"])  # the large frame is cut from step 0's grid now
    assert tab.locator(".filmstrip figure.frame.current").get_attribute("data-step") == "0"
    tab.locator('.filmstrip figure.frame[data-step="2"]').click()  # a frame moves the slider, and every view
    tab.wait_for_function(
        "() => document.querySelector('section.drilldown .big figure.frame').dataset.step === '2'"
    )
    tab.wait_for_function(  # the grid card reloads for the new step: wait for it, then compare
        "() => [...document.querySelectorAll('figure.grid')].every(f => f.dataset.step === '2')"
    )
    assert tab.locator("input.step-slider").input_value() == "2" and grid_steps(tab) == ["2"]


def test_channel_figures_show_in_the_drilldown(tab: Any) -> None:
    show_runs(tab, ["nested"])
    click_cell(tab, "nested", row=0, col=0)
    card = 'div.card[data-layer="conv1"] img.gridimg'
    tab.wait_for_selector(card)
    tab.wait_for_function(f"() => document.querySelector('{card}').naturalWidth > 0")
    tab.locator(card).click(position={"x": 3, "y": 3})  # tile 0
    tab.wait_for_selector("section.drilldown .charts")
    assert tab.locator("section.drilldown .chartbox").count() == 4


def test_profile_aligns_runs_by_layer_path(tab: Any, server: TensorBoardServer) -> None:
    show_runs(tab, ["posthoc", "posthoc_b"])
    tab.select_option("select.figure", "sparsity")
    chart = tab.locator("svg.profile")
    assert json.loads(chart.get_attribute("data-layers")) == ["conv1", "pool1", "block/inner_conv", "conv2"]
    points = tab.eval_on_selector_all(
        "svg.profile circle",
        "cs => cs.map(c => [c.dataset.run, c.dataset.layer, +c.getAttribute('cx'), +c.dataset.value])",
    )
    by_run: dict[str, dict[str, tuple[float, float]]] = {}
    for run, layer, cx, value in points:
        by_run.setdefault(run, {})[layer] = (cx, value)
    assert list(by_run["posthoc"]) == ["conv1", "block/inner_conv", "conv2"]
    assert list(by_run["posthoc_b"]) == ["conv1", "pool1", "conv2"]  # pool1 is a gap in posthoc's line
    for layer in ("conv1", "conv2"):  # the same layer at the same x in both runs
        assert by_run["posthoc"][layer][0] == by_run["posthoc_b"][layer][0]
    for run in ("posthoc", "posthoc_b"):  # each point is that run's value for that layer
        body = server.get_json(f"{PREFIX}/run?run={run}")
        for i, layer in enumerate(body["layers"]):
            assert by_run[run][layer["path"]][1] == pytest.approx(body["figures"]["sparsity"][i][0])
    xs = [x for x, _ in sorted(by_run["posthoc"].values()) + sorted(by_run["posthoc_b"].values())]
    assert len({round(x) for x in xs}) == 4  # four distinct layer positions
    assert tab.eval_on_selector_all("svg.profile text.xlabel", "ts => ts.map(t => t.textContent)") == [
        "conv1",
        "pool1",
        "block/inner_conv",
        "conv2",
    ]
    # hover: the layer, each run and its value
    box = chart.bounding_box()
    cx = by_run["posthoc"]["conv2"][0]
    chart.hover(position={"x": cx, "y": box["height"] / 3})
    tip = tab.locator(".profilewrap .tip")
    tip.wait_for(state="visible")
    text = tip.inner_text()
    value = by_run["posthoc_b"]["conv2"][1]
    assert "layer conv2" in text and "posthoc @ step 0: sparsity = " in text
    assert f"posthoc_b @ step 0: sparsity = {value:.4g}"[:36] in text
    chart.hover(position={"x": by_run["posthoc_b"]["pool1"][0], "y": box["height"] / 3})
    tab.wait_for_function("() => document.querySelector('.profilewrap .tip').textContent.includes('pool1')")
    assert "posthoc @ step 0: not logged in this run" in tip.inner_text()
    show_runs(tab, ["posthoc"])  # a single run: the tooltip too
    chart = tab.locator("svg.profile")
    chart.hover(position={"x": by_run["posthoc"]["conv1"][0], "y": chart.bounding_box()["height"] / 3})
    tab.wait_for_function(
        "() => document.querySelector('.profilewrap .tip').textContent.includes('layer conv1')"
    )


def histogram_pixels(frame: Any) -> list[list[list[int]]]:
    """RGB at the centre of every (step, bucket) cell of the histogram over time (its documented geometry)."""
    return frame.evaluate(
        """() => {
            const c = document.querySelector('canvas.histtime');
            const d = c.dataset;
            const [nS, nB, left, top] = [d.steps, d.buckets, d.left, d.top].map(Number);
            const [w, h] = [d.plotW, d.plotH].map(Number);
            const dpr = c.width / c.clientWidth;
            const g = c.getContext('2d');
            const out = [];
            for (let j = 0; j < nS; j++) {
                const x = (left + Math.round(j * w / nS) + left + Math.round((j + 1) * w / nS)) / 2;
                const row = [];
                for (let b = 0; b < nB; b++) {
                    const y0 = top + Math.round((nB - b - 1) * h / nB);
                    const y = (y0 + top + Math.round((nB - b) * h / nB)) / 2;
                    const px = g.getImageData(Math.floor(x * dpr), Math.floor(y * dpr), 1, 1).data;
                    row.push(Array.from(px.slice(0, 3)));
                }
                out.push(row);
            }
            return out;
        }"""
    )


def test_histogram_over_time_draws_the_counts(tab: Any) -> None:
    show_runs(tab, ["histo"])
    # from the health map: a layer's name opens its menu
    names = tab.locator('.mapwrap[data-run="histo"] canvas.maplabels')
    h = int(tab.locator('canvas.healthmap[data-run="histo"]').get_attribute("data-cell-h"))
    names.click(position={"x": 10, "y": 20 + h // 2})  # row 0: fixed
    tab.locator(".rowmenu .menu-hist").click()
    tab.wait_for_selector('section.histtime-panel[data-layer="fixed"] canvas.histtime')
    canvas = tab.locator("canvas.histtime")
    assert (canvas.get_attribute("data-steps"), canvas.get_attribute("data-buckets")) == ("6", "8")
    assert float(canvas.get_attribute("data-max")) == FIXED_COUNTS.max()
    assert canvas.get_attribute("data-value-ticks") == "-4,-2,0,2,4"  # the value axis, labelled
    assert canvas.get_attribute("data-step-labels") == "0,1,2,3,4,5"
    assert tab.locator("section.histtime-panel .note.rebinned").count() == 0
    pixels = histogram_pixels(tab)
    top = math.log1p(FIXED_COUNTS.max())
    for step in range(6):
        for bucket in range(8):  # colour = viridis(log(1 + count) / log(1 + max count)), bucket 0 lowest
            expected = viridis(math.log1p(FIXED_COUNTS[step, bucket]) / top)
            got = pixels[step][bucket]
            assert max(abs(a - b) for a, b in zip(got, expected, strict=True)) <= 1, (
                step,
                bucket,
                got,
                expected,
            )
    # moving edges: re-binned onto one axis, and the panel says so
    tab.select_option("select.histlayer", "moving")
    tab.wait_for_selector('section.histtime-panel[data-layer="moving"] canvas.histtime')
    note = tab.locator("section.histtime-panel .note.rebinned").inner_text()
    assert "change from step to step" in note and "re-binned onto 64 shared buckets, values 0 to 4" in note
    assert tab.locator("canvas.histtime").get_attribute("data-buckets") == "64"
    # from the grid view: a card's button
    click_cell(tab, "histo", row=0, col=1)
    tab.locator('div.card[data-layer="fixed"] button.histbtn').click()
    tab.wait_for_selector('section.histtime-panel[data-layer="fixed"] canvas.histtime')
    # it follows the slider
    tab.locator("input.step-slider").press("Home")
    tab.wait_for_function("() => document.querySelector('.histwrap .stepmark').dataset.step === '0'")


def test_a_failed_request_shows_a_message_and_a_retry(page: Any, server: TensorBoardServer) -> None:
    failing = {"run": True, "layer": True}

    def answer(route: Any) -> None:
        kind = "layer" if "/layer?" in route.request.url else "run"
        if failing[kind]:
            body = json.dumps({"error": f"RuntimeError: no {kind} today"})
            route.fulfill(status=500, content_type="application/json", body=body)
        else:
            route.continue_()

    page.route("**/data/plugin/tbactviz/run?run=nested", answer)
    page.route("**/data/plugin/tbactviz/layer?*", answer)
    tab = open_tab(page, server.url)
    error = tab.locator("section.health .error")
    error.wait_for()
    assert error.inner_text().startswith("Loading run nested failed: RuntimeError: no run today (HTTP 500)")
    failing["run"] = False
    error.locator("button.retry").click()
    tab.wait_for_selector('canvas.healthmap[data-run="nested"]')
    assert tab.locator("section.health .error").count() == 0
    click_cell(tab, "nested", row=0, col=1)  # the grid's data fails: the card says so, in place
    card_error = tab.locator('div.card[data-layer="conv1"] .error')
    card_error.wait_for()
    assert "RuntimeError: no layer today (HTTP 500)" in card_error.inner_text()
    failing["layer"] = False
    card_error.locator("button.retry").click()
    tab.wait_for_selector('div.card[data-layer="conv1"] img.gridimg')
    assert grid_steps(tab) == ["1"]


def test_live_a_new_step_and_a_new_run_appear_without_reload(
    tab: Any, logs: tuple[Path, Any], server: TensorBoardServer
) -> None:
    root, log_step = logs
    show_runs(tab, ["live", "nested"])
    assert tab.locator('canvas.healthmap[data-run="live"]').get_attribute("data-cols") == "2"
    click_cell(tab, "live", row=0, col=1)  # grids of conv1 at its last step, 1
    card = 'div.card[data-layer="conv1"] img.gridimg'
    tab.wait_for_selector(card)
    tab.wait_for_function(f"() => document.querySelector('{card}').naturalWidth > 0")
    tab.locator(card).click(position={"x": 3, "y": 3})  # channel 0's drill-down
    tab.wait_for_selector("section.drilldown .big canvas.tile[data-drawn]")
    assert tab.locator(".filmstrip figure.frame").count() == 2
    tab.evaluate("document.scrollingElement.scrollTop = 250")
    updates = int(tab.locator(".live").get_attribute("data-updates"))
    log_step(2)  # written while the page is open
    start = time.monotonic()
    tab.wait_for_function(
        "() => document.querySelector('canvas.healthmap[data-run=\"live\"]').dataset.cols === '3'",
        timeout=LIVE_WITHIN_S * 1000,
    )
    print(f"a new step showed {time.monotonic() - start:.1f} s after it was written")
    # the slider was on the newest step: it follows to the new one, and every view with it
    tab.wait_for_function(
        "() => document.querySelector('section.drilldown .big figure.frame').dataset.step === '2'"
    )
    assert grid_steps(tab) == ["2"]
    assert tab.locator(".filmstrip figure.frame").count() == 3
    drill = tab.locator("section.drilldown")
    assert (drill.get_attribute("data-run"), drill.get_attribute("data-layer")) == ("live", "conv1")
    checked = tab.eval_on_selector_all(
        "label.run", "ls => ls.filter(l => l.querySelector('input').checked).map(l => l.textContent.trim())"
    )
    assert checked == ["live", "nested"]  # the user's selection
    assert abs(tab.evaluate("document.scrollingElement.scrollTop") - 250) <= 1  # and where the page was
    assert int(tab.locator(".live").get_attribute("data-updates")) > updates
    # a new run: listed (not ticked: the user chose two runs)
    import tbactviz

    probe = np.random.default_rng(1).random((1, 16, 16, 3)).astype("float32")
    with tbactviz.ActivationLogger(root / "live_new", nested_model(), ["conv1"]) as log:
        log(probe, 0)
    tab.wait_for_function(
        "() => [...document.querySelectorAll('label.run')].some(l => l.textContent.trim() === 'live_new')",
        timeout=LIVE_WITHIN_S * 1000,
    )
    runs = server.get_json(f"{PREFIX}/runs")["runs"]
    assert tab.locator(".runcount").inner_text() == f"2 of {len(runs)} runs shown"
