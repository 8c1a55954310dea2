"""The HTTP routes of the Activations tab (served under ``/data/plugin/tbactviz/``).

=====================================  =======================================================================
route                                  returns
=====================================  =======================================================================
``/static/<file>``                     the ES modules (entry ``index.js``) and CSS of the tab, read once
``/runs``                              ``{"runs", "sampling", "logdir", "reload_interval"}``: runs with
                                       tbactviz data, steps kept per tag as ``--samples_per_plugin`` says
                                       (None: TensorBoard's default), the log directory, and TensorBoard's
                                       ``--reload_interval`` in seconds (None when unknown)
``/latest``                            ``{"runs": {run: {"step", "wall_time", "layers"}}}``: the newest step
                                       of each run (:func:`~.reading.latest`), what the tab polls
``/run?run=R``                         the health map of run R (:func:`tbactviz.plugin.reading.run`)
``/layer?run=R&layer=L``               every kept step of layer L's grids (:func:`~.reading.layer`)
``/channel?run=R&layer=L&channel=C``   per-channel figures of channel C over steps (:func:`~.reading.channel`)
``/histograms?run=R&layer=L``          layer L's histograms over steps on one value axis
(``&buckets=N``)                       (:func:`~.reading.histograms`)
``/blob?key=K``                        one PNG grid (a blob key from ``/layer``)
=====================================  =======================================================================

A data route that fails answers ``{"error": message}`` as JSON: with TensorBoard's status for its own errors
(400 for a bad argument, 404 for a missing blob), 500 for anything else, whose exception is logged with its
traceback on the ``tbactviz.plugin`` logger.
"""

from __future__ import annotations

import functools
import logging
import mimetypes
import os
from collections.abc import Callable
from typing import Any, cast

from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from tbactviz.events.naming import PLUGIN_NAME
from tbactviz.plugin import reading, rebin

__all__ = ["STATIC_DIR", "ActivationsPlugin"]

_log = logging.getLogger("tbactviz.plugin")

#: Directory of the tab's ES modules and CSS.
STATIC_DIR = os.path.join(os.path.dirname(__file__), "static")
_Handler = Callable[[Any, Any], Any]


def _application(handler: _Handler) -> _Handler:
    """``werkzeug``'s ``Request.application`` on a method (it takes the request as the last argument, as
    TensorBoard's own plugins use it); werkzeug types it for plain functions only."""
    return cast(_Handler, wrappers.Request.application(handler))  # type: ignore[arg-type]


_CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".json": "application/json"}


def _static_files() -> dict[str, tuple[bytes, str]]:
    files = {}
    for name in sorted(os.listdir(STATIC_DIR)):
        full = os.path.join(STATIC_DIR, name)
        ext = os.path.splitext(name)[1]
        if os.path.isfile(full) and ext in _CONTENT_TYPES:
            with open(full, "rb") as f:
                files[name] = (f.read(), _CONTENT_TYPES[ext] or mimetypes.guess_type(name)[0] or "text/plain")
    return files


def _json_errors(handler: _Handler) -> _Handler:
    """A route that answers ``{"error": message}`` (JSON) when it fails, instead of a stack trace or nothing.

    TensorBoard's own errors (:class:`tensorboard.errors.PublicError`: a bad argument, a missing blob) keep
    their status and message; any other exception is logged with its traceback on the ``tbactviz.plugin``
    logger and answers 500 with its type and message.
    """

    @functools.wraps(handler)
    def respond(self: Any, request: Any) -> Any:
        try:
            return handler(self, request)
        except errors.PublicError as exc:
            return http_util.Respond(request, {"error": str(exc)}, "application/json", code=exc.http_code)
        except Exception as exc:
            query = request.query_string.decode("utf-8", "replace")
            _log.exception("tbactviz: %s%s failed", request.path, f"?{query}" if query else "")
            body = {"error": f"{type(exc).__name__}: {exc}"}
            return http_util.Respond(request, body, "application/json", code=500)

    return respond


def _arg(request: Any, name: str) -> str:
    value = request.args.get(name)
    if value is None or value == "":
        raise errors.InvalidArgumentError(f"missing query parameter {name!r}")
    return str(value)


class ActivationsPlugin(base_plugin.TBPlugin):
    """The Activations tab: health map, grids by step, channel drill-down.

    Active when a run holds tbactviz's own summaries (TensorBoard checks ``data_plugin_names`` against the
    data provider's plugin list); :meth:`is_active` itself answers False, as TensorBoard's own plugins do.

    Args:
        context: TensorBoard's ``TBContext``; its ``data_provider`` is the only way data is read.
    """

    plugin_name = PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext) -> None:
        self._data = context.data_provider
        self._hints = dict(context.sampling_hints or {})
        self._logdir = str(context.logdir or "")
        interval = getattr(context.flags, "reload_interval", None)
        self._reload_interval = None if interval is None else float(interval)
        self._static = _static_files()

    def get_plugin_apps(self) -> dict[str, Any]:
        return {
            "/static/*": self._serve_static,
            "/runs": self._serve_runs,
            "/latest": self._serve_latest,
            "/run": self._serve_run,
            "/layer": self._serve_layer,
            "/channel": self._serve_channel,
            "/histograms": self._serve_histograms,
            "/blob": self._serve_blob,
        }

    def is_active(self) -> bool:
        return False  # TensorBoard's plugin listing asks the data provider (data_plugin_names)

    def data_plugin_names(self) -> tuple[str, ...]:
        return (PLUGIN_NAME,)

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        return base_plugin.FrontendMetadata(es_module_path="/static/index.js", tab_name="Activations")

    # -- static files ---------------------------------------------------------------------------------------

    def _file(self, request: Any, name: str) -> Any:
        if name not in self._static:
            return http_util.Respond(request, f"no such file: {name}", "text/plain", code=404)
        body, content_type = self._static[name]
        return http_util.Respond(request, body, content_type)

    @_application
    def _serve_static(self, request: Any) -> Any:
        return self._file(request, request.path.rsplit("/static/", 1)[-1])

    # -- data -----------------------------------------------------------------------------------------------

    @staticmethod
    def _where(request: Any) -> tuple[Any, str]:
        return plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)

    @_application
    @_json_errors
    def _serve_runs(self, request: Any) -> Any:
        ctx, eid = self._where(request)
        body = {
            "runs": reading.runs(ctx, eid, self._data),
            "sampling": reading.sampling(self._hints),
            "logdir": self._logdir,
            "reload_interval": self._reload_interval,
        }
        return http_util.Respond(request, body, "application/json")

    @_application
    @_json_errors
    def _serve_latest(self, request: Any) -> Any:
        ctx, eid = self._where(request)
        return http_util.Respond(request, {"runs": reading.latest(ctx, eid, self._data)}, "application/json")

    @_application
    @_json_errors
    def _serve_run(self, request: Any) -> Any:
        ctx, eid = self._where(request)
        body = reading.run(ctx, eid, self._data, _arg(request, "run"))
        return http_util.Respond(request, body, "application/json")

    @_application
    @_json_errors
    def _serve_layer(self, request: Any) -> Any:
        ctx, eid = self._where(request)
        body = reading.layer(ctx, eid, self._data, _arg(request, "run"), _arg(request, "layer"))
        return http_util.Respond(request, body, "application/json")

    @_application
    @_json_errors
    def _serve_channel(self, request: Any) -> Any:
        ctx, eid = self._where(request)
        text = _arg(request, "channel")
        if not text.isdigit():
            raise errors.InvalidArgumentError(f"channel={text!r} is not valid; expected an int >= 0")
        body = reading.channel(ctx, eid, self._data, _arg(request, "run"), _arg(request, "layer"), int(text))
        return http_util.Respond(request, body, "application/json")

    @_application
    @_json_errors
    def _serve_histograms(self, request: Any) -> Any:
        ctx, eid = self._where(request)
        text = request.args.get("buckets") or str(rebin.DEFAULT_BUCKETS)
        if not text.isdigit() or not 2 <= int(text) <= rebin.MAX_BUCKETS:
            raise errors.InvalidArgumentError(
                f"buckets={text!r} is not valid; expected an int in 2..{rebin.MAX_BUCKETS}"
            )
        body = reading.histograms(
            ctx, eid, self._data, _arg(request, "run"), _arg(request, "layer"), int(text)
        )
        return http_util.Respond(request, body, "application/json")

    @_application
    @_json_errors
    def _serve_blob(self, request: Any) -> Any:
        ctx, _ = self._where(request)
        key = _arg(request, "key")
        try:
            data = self._data.read_blob(ctx, blob_key=key)
        except ValueError as exc:  # a key the data provider cannot decode names no blob
            raise errors.NotFoundError(f"no blob with key={key!r}") from exc
        return http_util.Respond(request, data, "image/png", expires=3600)
