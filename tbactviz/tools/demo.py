"""The built-in demo: a small CNN learns coloured shapes while tbactviz logs what its layers see.

``tbactviz demo`` (or :func:`run_demo`) generates the synthetic shapes of
:func:`tbactviz.tools.data.make_shapes`, trains :func:`build_model` on them for a few epochs with
:class:`tbactviz.ActivationCallback` next to
``keras.callbacks.TensorBoard``, and leaves in ``LOGDIR/RUN/`` (``logs/demo/`` by default)::

    activations/   tbactviz's run: feature-map grids, histograms, sparsity / dead-channel scalars per epoch
    train/         keras.callbacks.TensorBoard: loss and accuracy per epoch (when TensorFlow is installed:
                   Keras' callback writes with tf.summary on every backend; left out without it)
    validation/    idem, on the validation images
    model.keras    the trained model, for `tbactviz layers` and `tbactviz log`
    probe.npy      the probe images (4, H, W, 3), float32 pixels in 0..255
    probe/*.png    the same probe images as PNG files

Step 0 is the untrained network; steps 1..N follow each epoch. On 2 CPU cores the default (8 epochs of 3000
images of 32x32) takes well under a minute, TensorFlow's start included, and reaches a validation accuracy
above 0.9; the first convolution turns from noise into colour-blob and edge detectors along the way.

Example:
    >>> from tbactviz.tools.demo import run_demo
    >>> result = run_demo("logs", epochs=1, samples=256, verbose=0)  # doctest: +SKIP
    >>> result.activations_dir  # doctest: +SKIP
    'logs/demo/activations'
"""

from __future__ import annotations

import glob
import importlib.util
import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tbactviz.checks import check_int, type_error, value_error
from tbactviz.tools.data import CLASS_NAMES, make_shapes

if TYPE_CHECKING:
    import keras

__all__ = ["DEMO_LAYERS", "DemoResult", "build_model", "probe_images", "run_demo"]

_log = logging.getLogger(__name__)

#: Layers the demo logs: the three convolutions and the class scores.
DEMO_LAYERS: tuple[str, ...] = ("conv1", "conv2", "conv3", "scores")


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` wrote and how training went.

    Attributes:
        run_dir: ``LOGDIR/RUN``, holding everything below.
        activations_dir: tbactviz's run (``run_dir/activations``).
        train_dir: Keras' training run (``run_dir/train``); None without TensorFlow (Keras' TensorBoard
            callback needs it on every backend).
        validation_dir: Keras' validation run (``run_dir/validation``); None without TensorFlow.
        model_path: The trained model (``run_dir/model.keras``).
        probe_path: The probe images (``run_dir/probe.npy``), float32 in 0..255, shape (4, H, W, 3).
        layer_paths: The logged layers.
        logged_steps: Steps of the activation events (0 = before training, then one per epoch).
        epochs: Epochs trained.
        seconds: Wall time of data generation, training and saving (TensorFlow's import excluded).
        val_accuracy: Validation accuracy after the last epoch.
        history: ``model.fit(...).history``.
    """

    run_dir: str
    activations_dir: str
    train_dir: str | None
    validation_dir: str | None
    model_path: str
    probe_path: str
    layer_paths: tuple[str, ...]
    logged_steps: tuple[int, ...]
    epochs: int
    seconds: float
    val_accuracy: float
    history: dict[str, list[float]] = field(default_factory=dict, repr=False)


def build_model(image_size: int = 32, num_classes: int = len(CLASS_NAMES)) -> keras.Model:
    """The demo's small CNN: three 3x3 convolutions with max pooling, global max pooling, a softmax.

    Global *max* pooling makes each feature a "somewhere in the image" detector; with average pooling the
    background dominates and this network takes several times longer to leave chance level.

    Inputs are raw pixels (0..255); a ``Rescaling`` layer maps them to [0, 1], so image files can be fed
    as read (``tbactviz log model.keras cat.png`` needs no ``--preprocess``). About 19k parameters.

    Args:
        image_size: Side of the square RGB input images (>= 16).
        num_classes: Number of classes (>= 2).

    Returns:
        An uncompiled Functional model named ``"shapes_cnn"`` with layers ``rescale``, ``conv1`` (16 ch),
        ``pool1``, ``conv2`` (32 ch), ``pool2``, ``conv3`` (48 ch), ``gmp`` and ``scores``; input
        ``(None, image_size, image_size, 3)``, output ``(None, num_classes)`` probabilities.

    Example:
        >>> model = build_model(32)  # doctest: +SKIP
        >>> model.get_layer("conv1").output.shape  # doctest: +SKIP
        (None, 32, 32, 16)
    """
    import keras
    from keras import layers

    image_size = check_int("image_size", image_size, minimum=16)
    num_classes = check_int("num_classes", num_classes, minimum=2)
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(name="pool1")(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(name="pool2")(x)
    x = layers.Conv2D(48, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.GlobalMaxPooling2D(name="gmp")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="scores")(x)
    return keras.Model(inputs, outputs, name="shapes_cnn")


def probe_images(x: np.ndarray, y: np.ndarray, per_class: int = 1) -> np.ndarray:
    """Pick ``per_class`` images of each class, in class order (the probe shown at every step).

    Args:
        x: Images (N, H, W, C).
        y: Integer labels (N,).
        per_class: Images per class (>= 1); classes with fewer images give what they have.

    Returns:
        The chosen images, shape (k, H, W, C), k <= per_class * number of classes.

    Example:
        >>> x, y = np.arange(6)[:, None, None, None] * np.ones((6, 2, 2, 1)), np.array([1, 0, 1, 0, 2, 2])
        >>> probe_images(x, y)[:, 0, 0, 0].tolist()
        [1.0, 0.0, 4.0]
    """
    picks = [i for c in np.unique(y) for i in np.flatnonzero(y == c)[:per_class]]
    return x[np.asarray(picks, dtype=np.int64)]


def _clear_previous_run(run_dir: str) -> None:
    """Remove the event files a previous demo left in ``run_dir`` so steps do not overlap in TensorBoard."""
    old = [
        f
        for sub in ("activations", "train", "validation")
        for f in glob.glob(os.path.join(run_dir, sub, "events.out.tfevents.*"))
    ]
    if old:
        _log.info("replacing the previous demo run in %s (%d event files)", run_dir, len(old))
    for path in old:
        os.remove(path)


def run_demo(
    logdir: str | os.PathLike[str] = "logs",
    *,
    run: str = "demo",
    epochs: int = 8,
    samples: int = 3000,
    image_size: int = 32,
    seed: int = 0,
    batch_size: int = 64,
    verbose: int = 2,
    **callback_options: Any,
) -> DemoResult:
    """Train the demo CNN on synthetic shapes and log its activations next to Keras' own TensorBoard logs.

    An earlier demo run in ``logdir/run`` is replaced (its event files are removed first), so its steps do
    not mix with the new ones.

    Args:
        logdir: The log root; everything goes to ``logdir/run``. Point ``tbactviz board`` at ``logdir``.
        run: Name of the run directory under ``logdir`` (no path separators).
        epochs: Training epochs (>= 1); one activation event per epoch, plus step 0 before training.
        samples: Training images (>= 16); a fifth as many validation images are generated besides.
        image_size: Side of the images in pixels (>= 16), e.g. 32 or 48.
        seed: Seed of the data and of the weights: the same seed trains the same way on the same machine.
        batch_size: Training batch size (>= 1).
        verbose: Keras ``fit`` verbosity: 0 silent, 1 progress bar, 2 one line per epoch.
        **callback_options: More options of :class:`tbactviz.ActivationCallback` (e.g. ``colormap="gray"``,
            ``every_n_batches=20``).

    Returns:
        A :class:`DemoResult` with the paths written and the final validation accuracy.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: An argument is out of range.
        tbactviz.LogdirError: ``logdir`` cannot be written.

    Example:
        >>> r = run_demo("logs", epochs=1, samples=256, verbose=0)  # doctest: +SKIP
        >>> r.logged_steps  # doctest: +SKIP
        (0, 1)
    """
    for name, value, low in (("epochs", epochs, 1), ("samples", samples, 16), ("batch_size", batch_size, 1)):
        check_int(name, value, minimum=low)
    valid = "a plain directory name such as 'demo'"
    if not isinstance(run, str):
        raise type_error("run", run, valid)
    if not run or os.sep in run or (os.altsep and os.altsep in run) or run in (".", ".."):
        raise value_error("run", run, valid)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    import tbactviz

    start = time.perf_counter()
    run_dir = os.path.join(os.fspath(logdir), run)
    _clear_previous_run(run_dir)
    x_train, y_train = make_shapes(samples, size=image_size, seed=seed)
    x_val, y_val = make_shapes(max(64, samples // 5), size=image_size, seed=seed + 1)
    x_train *= 255.0  # the model takes raw pixels (see build_model)
    x_val *= 255.0
    probe = probe_images(x_val, y_val)

    keras.utils.set_random_seed(seed)
    model = build_model(image_size, len(CLASS_NAMES))
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    options: dict[str, Any] = {"max_images": len(probe), "every_n_epochs": 1}
    options.update(callback_options)
    activations_dir = os.path.join(run_dir, "activations")
    act_cb = tbactviz.ActivationCallback(activations_dir, probe, list(DEMO_LAYERS), **options)
    callbacks: list[Any] = [act_cb]
    keras_runs = importlib.util.find_spec("tensorflow") is not None  # Keras' callback needs tf.summary
    if keras_runs:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=run_dir, write_graph=False, profile_batch=0))
    history = model.fit(
        x_train,
        y_train,
        batch_size=batch_size,
        epochs=epochs,
        validation_data=(x_val, y_val),
        callbacks=callbacks,
        verbose=verbose,
    )

    model_path = os.path.join(run_dir, "model.keras")
    model.save(model_path)
    probe_path = os.path.join(run_dir, "probe.npy")
    np.save(probe_path, probe.astype(np.float32))
    _save_pngs(probe, os.path.join(run_dir, "probe"))
    seconds = time.perf_counter() - start
    logger = act_cb.logger
    paths = tuple(logger.layer_paths) if logger is not None else DEMO_LAYERS
    return DemoResult(
        run_dir=run_dir,
        activations_dir=activations_dir,
        train_dir=os.path.join(run_dir, "train") if keras_runs else None,
        validation_dir=os.path.join(run_dir, "validation") if keras_runs else None,
        model_path=model_path,
        probe_path=probe_path,
        layer_paths=paths,
        logged_steps=tuple(act_cb.logged_steps),
        epochs=epochs,
        seconds=seconds,
        val_accuracy=float(history.history.get("val_accuracy", [float("nan")])[-1]),
        history={k: [float(v) for v in vs] for k, vs in history.history.items()},
    )


def _save_pngs(images: np.ndarray, directory: str) -> None:
    from PIL import Image

    os.makedirs(directory, exist_ok=True)
    for old in glob.glob(os.path.join(directory, "*.png")):
        os.remove(old)
    for i, image in enumerate(images):
        name = CLASS_NAMES[i] if i < len(CLASS_NAMES) else str(i)
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(
            os.path.join(directory, f"{i}_{name}.png")
        )
