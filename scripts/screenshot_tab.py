"""Screenshots of the Activations tab, one per view, for the README (docs/tab_*.png).

Builds (once) real logs under ``--logdir``: ``tbactviz demo`` (8 epochs: a training run, 4 layers x 9 steps)
and a post-hoc ResNet50V2 run (random weights, no download; all 189 layers with 4-D outputs, scikit-image's
cat photograph, default byte budget), then starts TensorBoard with ``tbactviz board``'s flags, opens the
Activations tab in headless Chromium (Debian's ``chromium``) and saves:

* ``tab_health_map.png``: the demo run's health map (layers x steps, by dead channels), a cell hovered;
* ``tab_grids.png``: ``conv1`` and ``conv2`` side by side, step 0 (untrained) vs the last step;
* ``tab_drilldown.png``: one channel of ``conv1`` alone at every step, with its figures;
* ``tab_profile.png``: the post-hoc ResNet50V2 run as a layer profile (sparsity against depth).

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


def build_logs(root: str) -> None:
    """The demo run and the post-hoc ResNet50V2 run (skipped when already there)."""
    import keras
    import numpy as np

    import tbactviz
    from tbactviz.tools.demo import run_demo

    if not os.path.isdir(os.path.join(root, "demo", "activations")):
        run_demo(root, epochs=8, verbose=0)
    posthoc = os.path.join(root, "resnet50v2_posthoc")
    if not os.path.isdir(posthoc):
        from skimage import data as skdata

        keras.utils.set_random_seed(0)
        model = keras.applications.ResNet50V2(weights=None, input_shape=(224, 224, 3))
        layers = [
            layer.name
            for layer in model.layers
            if not isinstance(layer, keras.layers.InputLayer) and len(layer.output.shape) == 4
        ]
        image = keras.ops.convert_to_numpy(keras.ops.image.resize(skdata.chelsea()[None], (224, 224)))
        x = keras.applications.resnet_v2.preprocess_input(np.asarray(image, np.float32))
        with tbactviz.ActivationLogger(posthoc, model, layers, max_images=1) as log:
            log(x, step=0)
            path = log.event_file
        print(f"ResNet50V2 post-hoc step: {len(layers)} layers, {os.path.getsize(path) / 2**20:.2f} MiB")


def open_tab(page, url):
    page.goto(url + "/#tbactviz")
    for _ in range(600):
        frame = next((f for f in page.frames if "plugin_entry.html?name=tbactviz" in f.url), None)
        if frame is not None:
            frame.wait_for_selector("body[data-ready]", timeout=60_000)
            return frame
        page.wait_for_timeout(100)
    raise RuntimeError("the Activations tab did not open")


def shots(root: str, out: str) -> None:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from _tensorboard import TensorBoardServer  # the tests' harness

    os.makedirs(out, exist_ok=True)
    with TensorBoardServer(root) as tb, sync_playwright() as p:
        tb.wait_for("/data/plugin/tbactviz/runs", lambda b: len(b["runs"]) == 2)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 820})
        frame = open_tab(page, tb.url)
        frame.locator("label.run", has_text="resnet50v2_posthoc").locator("input").uncheck()
        frame.wait_for_function("() => !document.querySelector('svg.profile')")
        # health map: hover a cell
        canvas = frame.locator('canvas.healthmap[data-run="demo/activations"]')
        left, top = int(canvas.get_attribute("data-left")), int(canvas.get_attribute("data-top"))
        w, h = int(canvas.get_attribute("data-cell-w")), int(canvas.get_attribute("data-cell-h"))
        canvas.hover(position={"x": left + 6 * w + w // 2, "y": top + 2 * h + h // 2})
        page.wait_for_timeout(300)
        page.screenshot(path=os.path.join(out, "tab_health_map.png"))
        # grids: conv1 and conv2, last step, vs step 0
        for row in (1, 0):
            canvas.click(position={"x": left + 8 * w + w // 2, "y": top + row * h + h // 2})
        frame.select_option("select.compare", "step")
        frame.wait_for_function("() => document.querySelectorAll('img.gridimg').length == 4")
        frame.wait_for_function("() => [...document.querySelectorAll('img.gridimg')].every(i => i.width)")
        frame.locator("section.grids").scroll_into_view_if_needed()
        frame.evaluate("document.querySelector('section.grids').scrollIntoView()")
        page.wait_for_timeout(300)
        page.screenshot(path=os.path.join(out, "tab_grids.png"))
        # drill-down: a tile of conv1 (step A)
        img = frame.locator('div.card[data-layer="conv1"] img.gridimg').first
        scale = img.evaluate("i => i.clientWidth / i.naturalWidth")
        img.click(position={"x": (2 * 33 + 16) * scale, "y": 16 * scale})  # tile 2: channel 2
        frame.wait_for_selector("section.drilldown")
        frame.wait_for_function(
            "() => [...document.querySelectorAll('.filmstrip canvas.tile')].every(c => c.dataset.drawn)"
        )
        page.wait_for_timeout(300)
        page.screenshot(path=os.path.join(out, "tab_drilldown.png"))
        # layer profile of the post-hoc run
        closers = frame.locator("section.drilldown .close, div.card .close")
        while closers.count():
            closers.first.click()
        frame.evaluate("window.scrollTo(0, 0)")
        frame.locator("label.run", has_text="resnet50v2_posthoc").locator("input").check()
        frame.wait_for_selector("svg.profile")
        frame.locator("label.run", has_text="demo/activations").locator("input").uncheck()
        frame.select_option("select.figure", "sparsity")
        frame.wait_for_selector("svg.profile")
        page.wait_for_timeout(300)
        frame.evaluate("document.querySelector('svg.profile').scrollIntoView({block: 'center'})")
        page.wait_for_timeout(300)
        page.screenshot(path=os.path.join(out, "tab_profile.png"))
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
