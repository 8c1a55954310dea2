"""Which process writes: under distributed training only one process (the chief) logs activations.

Every process of a multi-process run trains the same model and would log the same pictures; writing them
once is enough, and several processes writing into one run directory would interleave event files. The
callback asks :func:`is_chief` at the start of each ``fit``.

The active Keras backend's library is imported inside the function, and only that one: this module imports
nothing at import time but the standard library.
"""

from __future__ import annotations

from typing import Any

__all__ = ["is_chief"]


def is_chief(model: Any = None) -> bool:
    """Whether this process should write the events of ``model``'s training run.

    Each check that applies must agree for the process to be the chief:

    * TensorFlow distribution strategies (any backend's model may carry one; Keras' TensorFlow trainer
      does): ``model.distribute_strategy.extended.should_save_summary``, False on the non-chief workers of
      ``MultiWorkerMirroredStrategy``; True under ``MirroredStrategy`` and without a strategy.
    * JAX backend: ``jax.process_index() == 0``. This covers multi-process JAX
      (``jax.distributed.initialize``) and ``keras.distribution`` (``DataParallel``, ``ModelParallel``),
      which runs on JAX; a single process is process 0.
    * PyTorch backend: when ``torch.distributed`` is available and its default process group is initialized
      (``torch.distributed.init_process_group``, e.g. under ``torchrun``), ``get_rank() == 0``; otherwise
      True.

    The backend is the one ``keras.backend.backend()`` names; only its library is imported.

    Args:
        model: The model being trained (for its TensorFlow distribution strategy), or None.

    Returns:
        True on the process that writes (always True in a single-process run), False on the others.

    Example:
        >>> is_chief()  # a single process
        True
    """
    strategy = getattr(model, "distribute_strategy", None)
    extended = getattr(strategy, "extended", None)
    if not bool(getattr(extended, "should_save_summary", True)):
        return False
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return int(jax.process_index()) == 0
    if backend == "torch":
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return int(dist.get_rank()) == 0
    return True
