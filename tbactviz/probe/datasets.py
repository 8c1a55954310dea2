"""The callback's probe inputs: checking array probes, and reading a fixed sample from a ``tf.data.Dataset``.

A probe must be the same at every step so that the pictures compare. Arrays (or a list/dict of arrays) are
taken as they are; a ``Dataset`` is read once, at the start of the first ``fit``, until ``probe_samples``
samples are taken, and the samples are kept as numpy arrays.
"""

from __future__ import annotations

import sys
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from tbactviz.errors import ProbeError, TbactvizWarning

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

__all__ = ["check_probe", "is_dataset", "take_samples"]


def is_dataset(value: Any) -> bool:
    """Whether ``value`` is a ``tf.data.Dataset``.

    Never imports TensorFlow: a Dataset exists only once TensorFlow has been imported, so in a process
    without it (JAX, PyTorch) the answer is False at once.

    Example:
        >>> is_dataset(np.zeros((2, 3)))
        False
    """
    tf = sys.modules.get("tensorflow")
    data = getattr(tf, "data", None)
    return data is not None and isinstance(value, data.Dataset)


def check_probe(probe: Any) -> Any:
    """Reject probes that cannot work whatever the model: no arrays, or arrays without the same N >= 1.

    Args:
        probe: An array (N, ...), or a list/dict of them.

    Returns:
        ``probe``, unchanged.

    Raises:
        tbactviz.ProbeError: No array, an array without samples (or without a batch axis), or arrays of
            different N; the message gives the shapes received.

    Example:
        >>> check_probe(np.zeros((2, 8, 8, 3))).shape
        (2, 8, 8, 3)
    """
    import keras

    leaves = keras.tree.flatten(probe)
    sizes = {int(np.shape(leaf)[0]) if np.ndim(leaf) else -1 for leaf in leaves}
    if not leaves or sizes & {0, -1} or len(sizes) != 1:
        shapes = [tuple(np.shape(leaf)) for leaf in leaves]
        raise ProbeError(
            f"probe has shapes {shapes}; expected one or more arrays of shape (N, ...) with the same N >= 1 "
            "(a batch of probe samples), or a tf.data.Dataset"
        )
    return probe


def _single_input_rank(model: keras.Model) -> int | None:
    """Rank (with batch axis) of a model's single input, when it is known."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    if not inputs or len(inputs) != 1:
        return None
    return len(inputs[0].shape)


def take_samples(dataset: tf.data.Dataset, model: keras.Model, wanted: int) -> Any:
    """Read the first ``wanted`` samples of a probe ``Dataset`` (its ``x``) into numpy arrays.

    Args:
        dataset: Batched as ``fit`` takes it (elements ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, w)``);
            unbatched elements are accepted for a model with one input of known rank.
        model: The model the probe is for (to recognize unbatched elements).
        wanted: Samples to take (>= 1).

    Returns:
        The samples, in the structure of ``x`` (an array, or a list/dict of arrays).

    Raises:
        tbactviz.ProbeError: The Dataset yields no sample, or elements without a batch axis.

    Warns:
        tbactviz.TbactvizWarning: Fewer than ``wanted`` samples; the probe is what there is.
    """
    import tensorflow as tf

    input_rank = _single_input_rank(model)
    chunks: list[Any] = []
    taken = 0
    for element in dataset:
        x = element[0] if isinstance(element, tuple) else element
        x = tf.nest.map_structure(lambda t: np.asarray(t), x)
        leaves = tf.nest.flatten(x)
        if not leaves or leaves[0].ndim == 0:
            raise ProbeError(
                f"probe: the Dataset yields {type(x).__name__} elements without a batch axis; pass a "
                "Dataset of (x, y) or x batches, e.g. dataset.batch(8)"
            )
        if input_rank is not None and len(leaves) == 1 and leaves[0].ndim == input_rank - 1:
            x = tf.nest.map_structure(lambda a: a[None], x)  # unbatched element
        chunks.append(x)
        taken += len(tf.nest.flatten(x)[0])
        if taken >= wanted:
            break
    if taken == 0:
        raise ProbeError(
            f"probe: the Dataset yielded no sample; probe_samples={wanted} samples are needed (pass a "
            "non-empty Dataset or arrays)"
        )
    if taken < wanted:
        warnings.warn(
            f"tbactviz: ActivationCallback: the probe Dataset yielded only {taken} sample(s), fewer than "
            f"probe_samples={wanted}; logging with {taken}",
            TbactvizWarning,
            stacklevel=4,
        )
    return tf.nest.map_structure(lambda *parts: np.concatenate(parts)[:wanted], *chunks)
