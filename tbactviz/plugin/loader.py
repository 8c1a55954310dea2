"""Loads the Activations tab into TensorBoard, or declines with one logged warning.

A TensorBoard it cannot serve (too old, no data provider, an API that changed) must never take the other
dashboards down: :meth:`ActivationsLoader.load` then logs one warning and returns None, and TensorBoard goes
on
without the tab.
"""

from __future__ import annotations

import logging

from tensorboard.plugins import base_plugin

__all__ = ["MIN_TENSORBOARD", "ActivationsLoader", "supported"]

_log = logging.getLogger("tbactviz.plugin")

#: Oldest TensorBoard the tab is known to work with (data provider with blob sequences, iframe plugins).
MIN_TENSORBOARD = (2, 12)


def supported(version: str) -> bool:
    """Whether a TensorBoard version string (``"2.21.0"``, ``"2.22.0a0"``) is one the tab can serve.

    Example:
        >>> supported("2.21.0"), supported("2.4.1"), supported("garbage")
        (True, False, False)
    """
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            return False
        parts.append(int(digits))
    return len(parts) == 2 and tuple(parts) >= MIN_TENSORBOARD


class ActivationsLoader(base_plugin.TBLoader):
    """TensorBoard's entry point to the tab (``tensorboard_plugins``: ``tbactviz``)."""

    def load(self, context: base_plugin.TBContext) -> base_plugin.TBPlugin | None:
        """The plugin, or None (with one warning) when this TensorBoard cannot serve it."""
        try:
            from tensorboard import version

            if not supported(version.VERSION):
                _log.warning(
                    "tbactviz: the Activations tab needs TensorBoard >= %s, this is %s; the tab is off "
                    "(every other dashboard works as usual)",
                    ".".join(map(str, MIN_TENSORBOARD)),
                    version.VERSION,
                )
                return None
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
