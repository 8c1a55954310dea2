"""Watch a CNN's layers learn, in TensorBoard, from an ordinary Keras training script.

The only tbactviz line is the ``ActivationCallback`` in ``callbacks=[...]``; everything else is the usual
build / compile / fit. Run it, then open TensorBoard::

    python examples/train_with_callback.py --logdir logs/example
    tbactviz board --logdir logs/example        # or: tensorboard --logdir logs/example

In the IMAGES tab, ``activations/conv1`` shows, for each probe image, the 16 feature maps of the first
convolution; drag the step slider from 0 (untrained) to the last epoch and watch them turn into colour and
edge detectors. SCALARS has ``sparsity/*`` and ``dead_channels/*`` next to Keras' own loss and accuracy, and
HISTOGRAMS shows how each layer's activations spread.

The data are tbactviz's built-in synthetic shapes (no download); swap in your own ``x_train``/``y_train``.
"""

from __future__ import annotations

import argparse
import os

import keras
from keras import layers

import tbactviz
from tbactviz.tools.data import make_shapes


def build_model(image_size: int = 32) -> keras.Model:
    """A small CNN; the layer names are what we select in the callback."""
    inputs = keras.Input((image_size, image_size, 3))
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(48, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.GlobalMaxPooling2D()(x)
    outputs = layers.Dense(4, activation="softmax", name="scores")(x)
    return keras.Model(inputs, outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default=os.path.join("logs", "example"), help="log root")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()

    # 1. Data: 32x32 RGB images in [0, 1], labels 0..3 (circle, square, triangle, cross).
    x_train, y_train = make_shapes(2000, seed=0)
    x_val, y_val = make_shapes(400, seed=1)

    # 2. Model, as usual.
    keras.utils.set_random_seed(0)
    model = build_model()
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])

    # 3. The callback. The probe is a fixed handful of images: the same ones at every step, so the
    #    pictures compare across epochs. Layers are chosen by name, glob, nested path or class.
    activations = tbactviz.ActivationCallback(
        os.path.join(args.logdir, "activations"),  # a run directory of its own ...
        probe=x_val[:4],
        layers=["conv*", "scores"],  # the three convolutions (glob) and the class scores (Dense)
        every_n_epochs=1,  # one event per epoch; step 0 is logged before training starts
        max_images=4,  # one grid per probe image
        colormap="viridis",
    )
    # ... next to Keras' own TensorBoard callback, which writes args.logdir/train and args.logdir/validation.
    tensorboard = keras.callbacks.TensorBoard(args.logdir)

    model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=args.epochs,
        batch_size=64,
        callbacks=[activations, tensorboard],
        verbose=2,
    )
    print(f"Logged steps {activations.logged_steps} into {activations.logdir}")
    print(f"Open them with:  tbactviz board --logdir {args.logdir}")


if __name__ == "__main__":
    main()
