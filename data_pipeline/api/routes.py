"""The REST API: one blueprint at ``/api/v0/data_pipeline`` holding every route of SPEC §8.

``register(app, config, runtime)`` (called by ``citu_app.create_app``) adds the blueprint, the
optional bearer-token check, request metrics, the executor launcher and the monitor thread.

Where a request goes: ``tasks.py`` (create, list, detail, execute, cancel, executions),
``manage.py`` (table list, delete), ``logs.py`` (logs, SSE tail, download), ``files.py``
(outputs, downloads), ``sources.py``, ``metrics.py``, ``openapi.py``; ``health.py`` is
registered by the app itself.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask

from app_config import Config
from data_pipeline.api import auth, files, logs, manage, metrics, openapi, sources, tasks
from data_pipeline.api.common import API_PREFIX
from data_pipeline.runs.launcher import Launcher
from data_pipeline.runs.monitor import Monitor
from data_pipeline.tasks.runtime import Runtime

logger = logging.getLogger(__name__)

CHILDREN = (
    tasks.bp, manage.bp, logs.bp, files.bp, sources.bp, metrics.bp, openapi.bp, auth.bp,
)  # fmt: skip


def register(app: Flask, config: Config, runtime: Runtime) -> None:
    """Add the API blueprint, auth, metrics, launcher and (when enabled) the monitor."""
    # A fresh parent per app: hooks cannot be added to a blueprint once it is registered.
    api = Blueprint("data_pipeline_api", __name__, url_prefix=API_PREFIX)
    api.before_request(auth.require_token)
    for child in CHILDREN:
        api.register_blueprint(child)
    # "//" must reach the routes (and be refused there as a path) rather than be answered
    # with werkzeug's HTML redirect to the merged path.
    app.url_map.merge_slashes = False
    app.register_blueprint(api)
    metrics.install(app, runtime.store)
    app.extensions["data_pipeline_callers"] = auth.parse_tokens(config.api_tokens, config.api_token)
    launcher = Launcher(config, runtime.store)
    app.extensions["data_pipeline_launcher"] = launcher
    if config.monitor_enabled:
        monitor = Monitor(config, runtime.store, runtime.pipeline_dsn, launcher=launcher)
        app.extensions["data_pipeline_monitor"] = monitor
        monitor.start()
    if app.extensions["data_pipeline_callers"]:
        logger.info("API tokens required on every route but /health and /ready")
