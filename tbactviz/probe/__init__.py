"""The probe: the inputs a snapshot looks through, checked once, and the forward pass that returns the
chosen layers' outputs chunk by chunk.

* :mod:`~tbactviz.probe.inputs`: a probe (array, dict or list of arrays) checked against the model's inputs
  once, before anything runs (a :class:`~tbactviz.probe.inputs.CheckedProbe`, passed on), sliced into
  chunks and described in errors.
* :mod:`~tbactviz.probe.datasets`: the callback's probe from arrays or a fixed sample of a
  ``tf.data.Dataset``, read once.
* :mod:`~tbactviz.probe.extractor`: :class:`~tbactviz.probe.extractor.ActivationExtractor` and
  :func:`~tbactviz.probe.extractor.extract_activations`: one compiled forward pass per chunk, returning the
  chosen layers' outputs or what a reduction makes of them.
"""
