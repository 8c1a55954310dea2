"""What does a pretrained ResNet50V2 see in a photograph of a cat? Post hoc, one forward pass.

The classic recipe -- choose a model, load an image, choose layers, compute the activation maps, look at
them -- with tbactviz doing the last three and TensorBoard the looking::

    python examples/posthoc_pretrained.py --logdir logs/resnet50v2
    tbactviz board --logdir logs

The photograph is scikit-image's ``chelsea`` (a cat, shipped with scikit-image, no download). The model asks
for ImageNet weights; where they cannot be downloaded (no network, a proxy) it says so with a warning and
goes on with random weights -- the pictures then show an untrained network, which is still a fine way to see
the machinery work. The same as one shell command::

    tbactviz log resnet.keras cat.png --preprocess resnet_v2 --layers 'conv*_out' --logdir logs/resnet50v2
"""

from __future__ import annotations

import argparse
import os
import warnings

import keras
import numpy as np

import tbactviz

# The output of each stage of ResNet50V2, from edges (conv1) to object parts (conv5), plus the final ReLU.
LAYERS = [
    "conv1_conv",
    "conv2_block3_out",
    "conv3_block4_out",
    "conv4_block6_out",
    "conv5_block3_out",
    "post_relu",
]


def load_resnet() -> tuple[keras.Model, bool]:
    """ResNet50V2 with ImageNet weights, or with random weights when they cannot be downloaded."""
    try:
        return keras.applications.ResNet50V2(weights="imagenet"), True
    except Exception as exc:  # Keras raises a bare Exception ("URL fetch failure ...") when offline
        warnings.warn(
            f"ImageNet weights for ResNet50V2 could not be downloaded ({str(exc)[:160]}...). Falling back to "
            "weights=None: the activations shown are those of an UNTRAINED network. Run again with network "
            "access (the weights are then cached in ~/.keras/models) to see what the trained network sees.",
            RuntimeWarning,
            stacklevel=2,
        )
        return keras.applications.ResNet50V2(weights=None), False


def load_cat(size: int = 224) -> np.ndarray:
    """scikit-image's chelsea (300x451 RGB), resized to size x size, as a (1, size, size, 3) float batch."""
    from PIL import Image
    from skimage import data

    cat = Image.fromarray(data.chelsea()).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(cat, dtype=np.float32)[None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default=os.path.join("logs", "resnet50v2"), help="run directory")
    parser.add_argument("--max-channels", type=int, default=64, help="feature maps drawn per layer")
    args = parser.parse_args()

    model, pretrained = load_resnet()
    image = load_cat()  # pixels 0..255
    inputs = keras.applications.resnet_v2.preprocess_input(image.copy())  # -> [-1, 1], as in training

    # One forward pass for all chosen layers; grids, histograms and health scalars written at step 0.
    with tbactviz.ActivationLogger(
        args.logdir, model, LAYERS, max_images=1, max_channels=args.max_channels, order="activity"
    ) as log:
        figures = log(inputs, step=0)
        event_file = log.event_file

    print(f"{'layer':<20} {'sparsity':>9} {'dead ch.':>9}")
    for path, stats in figures.items():
        print(f"{path:<20} {stats['sparsity']:>9.2f} {stats['dead_channels']:>9.2f}")
    if pretrained:
        top = keras.applications.resnet_v2.decode_predictions(model.predict(inputs, verbose=0), top=3)[0]
        print("ImageNet top 3:", ", ".join(f"{name} ({p:.2f})" for _, name, p in top))
    print(f"\nEvents: {event_file}")
    print(f"Open them with:  tbactviz board --logdir {os.path.dirname(args.logdir) or '.'}")


if __name__ == "__main__":
    main()
