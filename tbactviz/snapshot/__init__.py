"""One snapshot: the stages put together by :class:`~tbactviz.snapshot.logger.ActivationLogger`.

* :mod:`~tbactviz.snapshot.drawing`: the logger's drawing options: one grid plan per layer, kept ranges, the
  grids' PNGs and ``layout/<path>`` summaries.
* :mod:`~tbactviz.snapshot.digest`: one layer's share of a snapshot: reduced on the device
  (:func:`~tbactviz.snapshot.digest.reduce_layer`), folded and drawn on the host
  (:class:`~tbactviz.snapshot.digest.LayerDigest`).
* :mod:`~tbactviz.snapshot.runner`: the probe run chunk by chunk with every chosen layer reduced on the
  device where the forward pass produces it.
* :mod:`~tbactviz.snapshot.steps`: the host half of a step: chunks folded into digests, one event written.
* :mod:`~tbactviz.snapshot.logger`: :class:`~tbactviz.snapshot.logger.ActivationLogger`.
"""
