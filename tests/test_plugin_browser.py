"""The Activations tab in a real browser: TensorBoard serving real logs, Debian's Chromium under Playwright.

One TensorBoard (``tbactviz board``'s flags) serves, for the whole module: ``nested`` (3 layers x 4 steps, one
of them inside a nested model), ``posthoc`` (one step) and ``resnet_like`` (189 layers x 50 steps, written
directly with the event writer). Skipped, with the reason, only when no Chromium executable exists (CI
installs Debian's ``chromium``; Playwright's own browser download is not used).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _plugin_logs import build, synthetic_run
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
OPEN_BUDGET_MS = 2000  # the tab over 189 layers x 50 steps (and two small runs) must open faster
LAST_OPEN: dict[str, float] = {}  # seconds from navigation to the tab ready (TensorBoard's own page included)


def open_tab(page: Any, url: str, timeout: float = 60.0) -> Any:
    """Go to the Activations tab; return its iframe once the tab says it is ready."""
    start = time.monotonic()
    page.goto(url + "/#tbactviz")
    deadline = start + timeout
    while time.monotonic() < deadline:
        frame = next((f for f in page.frames if "plugin_entry.html?name=tbactviz" in f.url), None)
        if frame is not None:
            frame.wait_for_selector("body[data-ready]", timeout=timeout * 1000)
            LAST_OPEN["seconds"] = time.monotonic() - start
            return frame
        page.wait_for_timeout(100)
    raise AssertionError(f"the Activations tab did not open within {timeout} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TensorBoardServer]:
    root = tmp_path_factory.mktemp("browser_logs")
    build(str(root), demo=False)
    synthetic_run(root, layers=189, steps=50)
    with TensorBoardServer(root) as tb:
        tb.wait_for("/data/plugins_listing", lambda b: b.get("tbactviz", {}).get("enabled"))
        tb.wait_for("/data/plugin/tbactviz/runs", lambda b: len(b["runs"]) == 3)
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
def tab(server: TensorBoardServer, browser: Any) -> Iterator[Any]:
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    frame = open_tab(page, server.url)
    yield frame
    page.close()
    assert errors == [], errors


def image_ok(frame: Any, selector: str) -> bool:
    return bool(
        frame.eval_on_selector(
            selector, "i => i.complete && i.naturalWidth > 0 && i.clientWidth > 0 && i.clientHeight > 0"
        )
    )


def grid_steps(frame: Any) -> list[str]:
    return frame.eval_on_selector_all("figure.grid", "els => els.map(e => e.dataset.step)")


def test_health_map_has_one_cell_per_layer_and_step(tab: Any, server: TensorBoardServer) -> None:
    for run in ("nested", "resnet_like"):
        body = server.get_json(f"/data/plugin/tbactviz/run?run={run}")
        canvas = tab.locator(f'canvas.healthmap[data-run="{run}"]')
        rows, cols = int(canvas.get_attribute("data-rows")), int(canvas.get_attribute("data-cols"))
        assert (rows, cols) == (len(body["layers"]), len(body["steps"]))
        assert int(canvas.get_attribute("data-cells")) == rows * cols
    large = tab.locator('canvas.healthmap[data-run="resnet_like"]')
    assert int(large.get_attribute("data-cells")) == 189 * 50
    assert tab.locator("svg.profile").count() == 1  # the post-hoc run as a layer profile
    assert int(tab.locator("svg.profile").get_attribute("data-series")) == 1


def test_large_run_opens_fast(tab: Any, server: TensorBoardServer, browser: Any) -> None:
    open_ms = int(tab.evaluate("document.body.dataset.openMs"))
    # as a user does it: TensorBoard already open on another dashboard, then a click on the tab
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(server.url + "/#scalars")
    page.wait_for_selector("text=Activations", timeout=60_000)
    start = time.monotonic()
    page.get_by_text("Activations", exact=True).first.click()
    frame = None
    while frame is None and time.monotonic() - start < 30:
        frame = next((f for f in page.frames if "plugin_entry.html?name=tbactviz" in f.url), None)
        page.wait_for_timeout(20)
    assert frame is not None
    frame.wait_for_selector("body[data-ready]", timeout=30_000)
    click_ms = (time.monotonic() - start) * 1000
    page.close()
    print(
        f"Activations tab open: {open_ms} ms in the tab (189 x 50 + 3 x 4 + 3 x 1 cells), {click_ms:.0f} ms "
        f"from the click on the tab, {LAST_OPEN['seconds'] * 1000:.0f} ms from a cold page load"
    )
    assert open_ms < OPEN_BUDGET_MS and click_ms < OPEN_BUDGET_MS


def click_cell(frame: Any, run: str, row: int, col: int) -> None:
    canvas = frame.locator(f'canvas.healthmap[data-run="{run}"]')
    left, top = int(canvas.get_attribute("data-left")), int(canvas.get_attribute("data-top"))
    w, h = int(canvas.get_attribute("data-cell-w")), int(canvas.get_attribute("data-cell-h"))
    canvas.click(position={"x": left + col * w + w // 2, "y": top + row * h + h // 2})


def test_cell_opens_grids_step_control_moves_all_and_tile_drills_down(tab: Any) -> None:
    # a cell: that layer at that step
    click_cell(tab, "nested", row=1, col=2)
    card = 'div.card[data-layer="block/inner_conv"] img.gridimg'
    tab.wait_for_selector(card)
    tab.wait_for_function(f"() => document.querySelector('{card}').naturalWidth > 0")
    assert image_ok(tab, card)
    assert grid_steps(tab) == ["2"]
    click_cell(tab, "nested", row=0, col=3)  # a second layer, at step 3: both grids at step 3
    tab.wait_for_function("() => document.querySelectorAll('img.gridimg').length == 2")
    assert grid_steps(tab) == ["3", "3"]
    # ONE step control moves every grid
    for key, step in (("Home", "0"), ("ArrowRight", "1"), ("End", "3")):
        tab.locator("input.step-slider").press(key)
        tab.wait_for_function(
            f"() => [...document.querySelectorAll('figure.grid')].every(f => f.dataset.step === '{step}')"
        )
        tab.wait_for_function(
            "() => [...document.querySelectorAll('img.gridimg')].every(i => i.complete && i.naturalWidth > 0)"
        )
        assert grid_steps(tab) == [step, step]
    # step A vs step B: two grids per layer
    tab.select_option("select.compare", "step")
    tab.wait_for_function("() => document.querySelectorAll('figure.grid').length == 4")
    tab.select_option("select.compare", "none")
    # a tile: that channel alone, at every step
    img = tab.locator(card)
    box = img.bounding_box()
    natural = img.evaluate("i => [i.naturalWidth, i.clientWidth]")
    scale = natural[1] / natural[0]
    img.click(position={"x": (48 + 1 + 10) * scale, "y": 10 * scale})  # tile 1 (48-px tiles, 1-px separators)
    tab.wait_for_selector("section.drilldown")
    assert box["width"] > 0
    drill = tab.locator("section.drilldown")
    assert drill.get_attribute("data-layer") == "block/inner_conv"
    assert drill.get_attribute("data-channel") == "1"
    frames = drill.locator(".filmstrip figure.frame")
    assert frames.count() == 4
    tab.wait_for_function(
        "() => [...document.querySelectorAll('.filmstrip canvas.tile')].every(c => c.dataset.drawn === '1')"
    )
    # the crops are pictures, not blank canvases
    distinct = tab.evaluate(
        """() => [...document.querySelectorAll('.filmstrip canvas.tile')].map(c => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const seen = new Set();
            for (let i = 0; i < d.length; i += 4) seen.add(d[i] * 65536 + d[i + 1] * 256 + d[i + 2]);
            return seen.size; })"""
    )
    assert len(distinct) == 4 and min(distinct) > 1


def test_channel_figures_show_in_the_drilldown(tab: Any) -> None:
    click_cell(tab, "nested", row=0, col=0)
    card = 'div.card[data-layer="conv1"] img.gridimg'
    tab.wait_for_selector(card)
    tab.wait_for_function(f"() => document.querySelector('{card}').naturalWidth > 0")
    tab.locator(card).click(position={"x": 3, "y": 3})  # tile 0
    tab.wait_for_selector("section.drilldown .charts")
    assert tab.locator("section.drilldown .chartbox").count() == 4
