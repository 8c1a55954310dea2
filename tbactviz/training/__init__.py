"""During ``model.fit``: when to log, from which process, and writing in the background.

* :mod:`~tbactviz.training.callback`: :class:`~tbactviz.training.callback.ActivationCallback`, a thin
  adapter from Keras' hooks to the schedule and the logger.
* :mod:`~tbactviz.training.schedule`: when to log (epochs, batches, explicit steps, step 0, resuming).
* :mod:`~tbactviz.training.background`: the writer thread and its queue bounded in bytes.
* :mod:`~tbactviz.training.chief`: which process writes under distributed training.
"""
