"""Transfer learning: log layers *inside* a keras.applications backbone nested in a classifier.

A pretrained backbone used as one layer of a new model is the case other tools fail on ("Graph
disconnected"): its inner layers belong to the backbone's own graph. tbactviz addresses them by path,
``'<backbone name>/<inner layer>'``, here ``'mobilenetv2_0.35_96/block_1_expand_relu'`` (Keras' model names
may contain dots; that is fine)::

    python examples/transfer_learning.py --logdir logs/transfer
    tbactviz board --logdir logs/transfer

Training runs in two phases, the usual recipe: first the new head on a frozen backbone, then everything
with a small learning rate. One callback object serves both ``fit`` calls; its steps continue (0 and 1 in
phase one, then 2 with the default ``--epochs 1``), so the slider shows the whole story, and the frozen inner
layers only start to change in phase two. Phase two trains the whole backbone: on 2 CPU cores the script
takes about a minute.

ImageNet weights are requested; offline, a warning says so and the backbone starts from random weights.
"""

from __future__ import annotations

import argparse
import os
import warnings

import keras
from keras import layers

import tbactviz
from tbactviz.tools.data import make_shapes

SIZE = 96


def load_backbone() -> keras.Model:
    """MobileNetV2 (width 0.35, 96x96, no top), ImageNet weights if they can be downloaded."""
    options = {"input_shape": (SIZE, SIZE, 3), "alpha": 0.35, "include_top": False}
    try:
        return keras.applications.MobileNetV2(weights="imagenet", **options)
    except Exception as exc:  # Keras raises a bare Exception ("URL fetch failure ...") when offline
        warnings.warn(
            f"ImageNet weights could not be downloaded ({str(exc)[:120]}...); using weights=None (random).",
            RuntimeWarning,
            stacklevel=2,
        )
        return keras.applications.MobileNetV2(weights=None, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default=os.path.join("logs", "transfer"), help="log root")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per phase")
    args = parser.parse_args()

    x, y = make_shapes(400, size=SIZE, seed=0)
    x_val, y_val = make_shapes(120, size=SIZE, seed=1)
    x, x_val = x * 255.0, x_val * 255.0  # raw pixels; the model preprocesses itself

    backbone = load_backbone()
    backbone.trainable = False
    inputs = keras.Input((SIZE, SIZE, 3))
    h = layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess")(inputs)  # MobileNetV2 wants [-1, 1]
    h = backbone(h)  # the whole backbone is one layer of the new model ...
    h = layers.GlobalAveragePooling2D(name="pool")(h)
    outputs = layers.Dense(4, activation="softmax", name="classes")(h)
    model = keras.Model(inputs, outputs, name="shapes_classifier")

    # ... and its inner layers are reached by path. `tbactviz layers` lists them all for a saved model;
    # in Python, tbactviz.list_layers(model) does the same.
    name = backbone.name  # 'mobilenetv2_0.35_96'
    chosen = [
        f"{name}/Conv1_relu",
        f"{name}/block_1_expand_relu",
        f"{name}/block_6_expand_relu",
        f"{name}/out_relu",
    ]
    for info in tbactviz.list_layers(model):
        if info.path in chosen:
            print(f"logging {info.path:<40} {info.class_name:<10} {info.output_shape}")

    callback = tbactviz.ActivationCallback(
        os.path.join(args.logdir, "activations"), probe=x_val[:3], layers=chosen, max_channels=32
    )
    tensorboard = keras.callbacks.TensorBoard(args.logdir)

    # Phase 1: the head only.
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(
        x,
        y,
        validation_data=(x_val, y_val),
        epochs=args.epochs,
        batch_size=32,
        callbacks=[callback, tensorboard],
        verbose=2,
    )
    # Phase 2: fine-tune everything; the same callback continues its steps.
    backbone.trainable = True
    model.compile(keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(
        x,
        y,
        validation_data=(x_val, y_val),
        epochs=2 * args.epochs,
        initial_epoch=args.epochs,
        batch_size=32,
        callbacks=[callback, tensorboard],
        verbose=2,
    )

    print(f"Logged steps {callback.logged_steps}. Open them with:  tbactviz board --logdir {args.logdir}")


if __name__ == "__main__":
    main()
