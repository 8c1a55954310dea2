"""TensorBoard events: tag names, the summaries only tbactviz's tab reads, their bytes, and the event file.

* :mod:`~tbactviz.events.naming`: every tag and run name, built in one place.
* :mod:`~tbactviz.events.tilemap`: the ``layout/<path>`` summary: where each tile of a grid lies and which
  channel it shows (read back by the Activations tab).
* :mod:`~tbactviz.events.wire`: summary values and events as serialized protocol-buffer bytes.
* :mod:`~tbactviz.events.writer`: :class:`~tbactviz.events.writer.EventWriter`, tbactviz's own event file,
  opened lazily and closed idempotently.
"""
