"""Loads the Activations tab into TensorBoard, or declines with one logged warning.

A TensorBoard it cannot serve (no data provider, an API that changed) must never take the other dashboards
down: :meth:`ActivationsLoader.load` then logs one warning and returns None, and TensorBoard goes on without
the tab. There is no version check: the package requires a TensorBoard recent enough (``pyproject.toml``).
"""

from __future__ import annotations

import logging

from tensorboard.plugins import base_plugin

__all__ = ["ActivationsLoader"]

_log = logging.getLogger("tbactviz.plugin")


class ActivationsLoader(base_plugin.TBLoader):
    """TensorBoard's entry point to the tab (``tensorboard_plugins``: ``tbactviz``)."""

    def load(self, context: base_plugin.TBContext) -> base_plugin.TBPlugin | None:
        """The plugin, or None (with one warning) when this TensorBoard cannot serve it."""
        try:
            if context.data_provider is None:
                _log.warning(
                    "tbactviz: TensorBoard started without a data provider; the Activations tab is off"
                )
                return None
            from tbactviz.plugin.routes import ActivationsPlugin

            return ActivationsPlugin(context)
        except Exception as exc:  # never break TensorBoard: any failure here only turns the tab off
            _log.warning(
                "tbactviz: the Activations tab could not load (%s: %s); it is off", type(exc).__name__, exc
            )
            return None
