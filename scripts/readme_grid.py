"""Make docs/resnet50v2_chelsea.png: real grids tbactviz wrote, read back from its event file.

ResNet50V2 with random weights (no download needed) on scikit-image's cat photograph: the first
convolution keeps the whole scene, a deeper block output is already abstract. The PNGs are taken from the
event file exactly as TensorBoard would serve them, and put side by side.

    python scripts/readme_grid.py [--out docs/resnet50v2_chelsea.png]
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile

import keras
import numpy as np
from PIL import Image
from skimage import data
from tensorboard.backend.event_processing import event_accumulator

import tbactviz

LAYERS = ["conv1_conv", "conv3_block4_out"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("docs", "resnet50v2_chelsea.png"))
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50V2(weights=None)
    cat = Image.fromarray(data.chelsea()).resize((224, 224), Image.Resampling.BILINEAR)
    x = keras.applications.resnet_v2.preprocess_input(np.asarray(cat, np.float32)[None])
    logdir = tempfile.mkdtemp()
    with tbactviz.ActivationLogger(logdir, model, LAYERS, max_images=1, max_channels=36) as log:
        log(x, step=0)
    acc = event_accumulator.EventAccumulator(logdir, size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    grids = []
    for layer in LAYERS:
        (event,) = acc.Tensors(f"activations/{layer}")
        grids.append(Image.open(io.BytesIO(event.tensor_proto.string_val[2])).convert("RGB"))
    pad = 12
    height = max(g.height for g in grids)
    photo = cat.resize((height, height))
    sheet = Image.new("RGB", (photo.width + sum(g.width for g in grids) + pad * len(grids), height), "white")
    sheet.paste(photo, (0, 0))
    left = photo.width + pad
    for grid in grids:
        sheet.paste(grid, (left, 0))
        left += grid.width + pad
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out} ({sheet.width}x{sheet.height})")


if __name__ == "__main__":
    main()
