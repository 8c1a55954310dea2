"""Screenshots of the Activations tab, one per view, for the README and docs/dashboard.md (docs/tab_*.png).

Builds (once) real logs under ``--logdir``: ``tbactviz demo`` (8 epochs: a training run, 4 layers x 9 steps),
a post-hoc ResNet50V2 run (random weights, no download; all 189 layers with 4-D outputs, scikit-image's cat
photograph, default byte budget) and ``resnet50v2_drift``, the same 189 layers logged at 8 steps, each with
another scikit-image photograph and every convolution kernel scaled by 1.005 more than at the step before (a
stand-in for weights that drift in training, so that the histograms move). Then it starts TensorBoard with
``tbactviz board``'s flags, opens the Activations tab in headless Chromium (Debian's ``chromium``) and saves:

* ``tab_health_map.png``: the demo run's health map (layers x steps, by dead channels), a cell hovered;
* ``tab_grids.png``: ``conv1`` and ``conv2`` side by side, the last step (A) vs step 0 (B);
* ``tab_drilldown.png``: one channel of ``conv1`` alone at every step, following the step slider;
* ``tab_histogram_demo.png``: the histogram over time of the demo's ``conv2``;
* ``tab_profile.png``: the post-hoc ResNet50V2 run as a layer profile (sparsity against depth), hovered;
* ``tab_health_map_resnet.png``: ``resnet50v2_drift``'s health map, 189 layers x 8 steps;
* ``tab_histogram_resnet.png``: the histogram over time of one of its layers (edges re-binned).

Usage::

    python scripts/screenshot_tab.py [--logdir /tmp/tab_logs] [--out docs]

It also prints the bytes of the post-hoc ResNet50V2 step (the default 4 MiB budget at work).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CHROMIUM = os.environ.get("TBACTVIZ_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip
DRIFT_STEPS = 8
DRIFT_SCALE = 1.005
PHOTOS = (
    "chelsea",
    "astronaut",
    "coffee",
    "rocket",
    "cat",
    "hubble_deep_field",
    "immunohistochemistry",
    "camera",
)


def build_logs(root: str) -> None:
    """The demo run and the two ResNet50V2 runs (each skipped when already there)."""
    import keras
    import numpy as np

    import tbactviz
    from tbactviz.tools.demo import run_demo

    if not os.path.isdir(os.path.join(root, "demo", "activations")):
        run_demo(root, epochs=8, verbose=0)
    posthoc = os.path.join(root, "resnet50v2_posthoc")
    drift = os.path.join(root, "resnet50v2_drift")
    if os.path.isdir(posthoc) and os.path.isdir(drift):
        return
    from skimage import color
    from skimage import data as skdata

    def photo(name: str) -> np.ndarray:
        image = getattr(skdata, name)()
        if image.ndim == 2:
            image = color.gray2rgb(image)
        image = keras.ops.image.resize(image[None, ..., :3].astype("float32"), (224, 224))
        return keras.applications.resnet_v2.preprocess_input(np.asarray(keras.ops.convert_to_numpy(image)))

    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50V2(weights=None, input_shape=(224, 224, 3))
    layers = [
        layer.name
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer) and len(layer.output.shape) == 4
    ]
    if not os.path.isdir(posthoc):
        with tbactviz.ActivationLogger(posthoc, model, layers, max_images=1) as log:
            log(photo("chelsea"), step=0)
            path = log.event_file
        print(f"ResNet50V2 post-hoc step: {len(layers)} layers, {os.path.getsize(path) / 2**20:.2f} MiB")
    if not os.path.isdir(drift):
        convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
        with tbactviz.ActivationLogger(drift, model, layers, max_images=1) as log:
            for step in range(DRIFT_STEPS):
                log(photo(PHOTOS[step % len(PHOTOS)]), step=step)
                for layer in convs:
                    layer.kernel.assign(layer.kernel * DRIFT_SCALE)


def open_tab(page, url):
    page.goto(url + "/#tbactviz")
    for _ in range(600):
        frame = next((f for f in page.frames if "plugin_entry.html?name=tbactviz" in f.url), None)
        if frame is not None:
            frame.wait_for_selector("body[data-ready]", timeout=60_000)
            return frame
        page.wait_for_timeout(100)
    raise RuntimeError("the Activations tab did not open")


def show_only(frame, run):
    """Tick only ``run`` in the run selector and wait for its view."""
    for label in frame.locator("label.run").all():
        box = label.locator("input")
        if box.is_checked() != (label.inner_text().strip() == run):
            box.click()
    frame.wait_for_selector(
        f'.mapwrap[data-run="{run}"], svg.profile circle[data-run="{run}"]', timeout=60_000
    )


def cell(canvas, row, col):
    """Position of the centre of a health-map cell."""
    w, h = int(canvas.get_attribute("data-cell-w")), int(canvas.get_attribute("data-cell-h"))
    return {"x": col * w + w // 2, "y": int(canvas.get_attribute("data-top")) + row * h + h // 2}


def open_histogram(frame, run, row):
    """The histogram over time of a row of ``run``'s health map, through the row's menu."""
    canvas = frame.locator(f'canvas.healthmap[data-run="{run}"]')
    labels = frame.locator(f'.mapwrap[data-run="{run}"] canvas.maplabels')
    labels.click(position={"x": 12, "y": cell(canvas, row, 0)["y"]})
    frame.locator(".rowmenu .menu-hist").click()
    frame.wait_for_selector("section.histtime-panel canvas.histtime", timeout=60_000)


def shots(root: str, out: str) -> None:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from _tensorboard import TensorBoardServer  # the tests' harness

    os.makedirs(out, exist_ok=True)
    save = lambda page, name: page.screenshot(path=os.path.join(out, name))  # noqa: E731
    with TensorBoardServer(root) as tb, sync_playwright() as p:
        tb.wait_for("/data/plugin/tbactviz/runs", lambda b: len(b["runs"]) == 3, timeout=120)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 820})
        frame = open_tab(page, tb.url)
        show_only(frame, "demo/activations")
        # health map: a cell hovered
        canvas = frame.locator('canvas.healthmap[data-run="demo/activations"]')
        canvas.hover(position=cell(canvas, 2, 6))
        page.wait_for_timeout(300)
        save(page, "tab_health_map.png")
        # grids: conv1 and conv2 at the last step, vs step 0
        for row in (1, 0):
            canvas = frame.locator('canvas.healthmap[data-run="demo/activations"]')
            canvas.click(position=cell(canvas, row, 8))
        frame.select_option("select.compare", "step")
        frame.select_option("select.step-b", "0")
        frame.wait_for_function("() => document.querySelectorAll('img.gridimg').length == 4")
        frame.wait_for_function("() => [...document.querySelectorAll('img.gridimg')].every(i => i.width)")
        frame.evaluate("document.querySelector('section.grids').scrollIntoView()")
        page.wait_for_timeout(300)
        save(page, "tab_grids.png")
        # drill-down: a tile of conv1 (step A), then the slider two steps back: it follows
        img = frame.locator('div.card[data-layer="conv1"] img.gridimg').first
        scale = img.evaluate("i => i.clientWidth / i.naturalWidth")
        img.click(position={"x": (2 * 33 + 16) * scale, "y": 16 * scale})  # tile 2: channel 2
        frame.wait_for_selector("section.drilldown")
        frame.select_option("select.compare", "none")
        for _ in range(2):
            frame.locator("input.step-slider").press("ArrowLeft")
        frame.wait_for_function(
            "() => [...document.querySelectorAll('.drilldown canvas.tile')].every(c => c.dataset.drawn)"
        )
        frame.evaluate("document.querySelector('section.drilldown').scrollIntoView()")
        page.wait_for_timeout(300)
        save(page, "tab_drilldown.png")
        # the histogram over time of conv2, from its row's menu
        frame.locator("section.drilldown .close").click()
        while frame.locator("div.card .close").count():
            frame.locator("div.card .close").first.click()
        frame.evaluate("window.scrollTo(0, 0)")
        open_histogram(frame, "demo/activations", 1)
        page.mouse.move(0, 0)
        page.wait_for_timeout(300)
        frame.evaluate("document.querySelector('section.health h2').scrollIntoView()")
        page.wait_for_timeout(300)
        save(page, "tab_histogram_demo.png")
        frame.locator("section.histtime-panel .close").click()
        # layer profile of the post-hoc run, hovered
        frame.evaluate("window.scrollTo(0, 0)")
        show_only(frame, "resnet50v2_posthoc")
        frame.select_option("select.figure", "sparsity")
        chart = frame.locator("svg.profile")
        chart.wait_for()
        x = float(frame.locator('svg.profile circle[data-layer="conv3_block2_out"]').get_attribute("cx"))
        chart.hover(position={"x": x, "y": 60})
        page.wait_for_timeout(300)
        save(page, "tab_profile.png")
        # 189 layers x 8 steps, and one layer's histogram over time
        show_only(frame, "resnet50v2_drift")
        frame.select_option("select.figure", "sparsity")
        page.mouse.move(0, 0)
        page.wait_for_timeout(300)
        save(page, "tab_health_map_resnet.png")
        names = frame.evaluate("JSON.parse(document.querySelector('canvas.maplabels').dataset.labels)")
        row = names.index("conv4_block6_out")
        open_histogram(frame, "resnet50v2_drift", row)
        page.mouse.move(0, 0)
        frame.evaluate("document.querySelector('section.histtime-panel').scrollIntoView()")
        page.wait_for_timeout(300)
        save(page, "tab_histogram_resnet.png")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--logdir", default="/tmp/tab_logs")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "docs"))
    args = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        sys.exit(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set TBACTVIZ_CHROMIUM)")
    t0 = time.perf_counter()
    build_logs(args.logdir)
    shots(args.logdir, args.out)
    print(f"screenshots in {os.path.abspath(args.out)} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
