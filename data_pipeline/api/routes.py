"""The REST API: one blueprint at ``/api/v0/data_pipeline`` holding every route of SPEC §8.

``register(app, config, runtime)`` (called by ``citu_app.create_app``) adds the blueprint, the
optional bearer-token check, request metrics, the queue's dispatcher and (unless
``EMBEDDED_WORKER`` is off) a worker in the process, which also runs the periodic monitor.

Where a request goes: ``tasks.py`` (create, list, detail, execute, cancel, executions),
``manage.py`` (table list, delete), ``logs.py`` (logs, SSE tail, download), ``files.py``
(outputs, downloads), ``pairs.py`` (curating a task's pairs), ``store.py`` (the training
store), ``sources.py``, ``metrics.py``, ``openapi.py``; ``health.py`` is
registered by the app itself.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask

from app_config import Config
from data_pipeline.api import (
    auth,
    cors,
    files,
    logs,
    manage,
    metrics,
    openapi,
    pairs,
    runs,
    sources,
    store,
    tasks,
)
from data_pipeline.api.common import API_PREFIX
from data_pipeline.jobqueue.dispatch import Dispatcher
from data_pipeline.jobqueue.jobs import QueueApp
from data_pipeline.jobqueue.worker import Worker
from data_pipeline.runs.launcher import Launcher
from data_pipeline.tasks.runtime import Runtime

logger = logging.getLogger(__name__)

CHILDREN = (
    tasks.bp, manage.bp, logs.bp, files.bp, sources.bp, metrics.bp, openapi.bp, auth.bp,
    pairs.bp, store.bp, runs.bp,
)  # fmt: skip


def register(app: Flask, config: Config, runtime: Runtime) -> None:
    """Add the API blueprint, auth, metrics, the dispatcher and the embedded worker."""
    # A fresh parent per app: hooks cannot be added to a blueprint once it is registered.
    api = Blueprint("data_pipeline_api", __name__, url_prefix=API_PREFIX)
    api.before_request(auth.require_token)
    # Only the query parameters the OpenAPI document declares for the route (400 otherwise).
    api.before_request(openapi.check_query_string)
    for child in CHILDREN:
        api.register_blueprint(child)
    # "//" must reach the routes (and be refused there as a path) rather than be answered
    # with werkzeug's HTML redirect to the merged path.
    app.url_map.merge_slashes = False
    app.register_blueprint(api)
    metrics.install(app, runtime.store)
    cors.install(app, config.cors_allowed_origins)
    app.extensions["data_pipeline_callers"] = auth.parse_tokens(config.api_tokens, config.api_token)
    # The API starts no executor itself: it queues runs for the workers (its own embedded
    # one, unless --no-worker) and stops executors on this host when a task is cancelled.
    app.extensions["data_pipeline_launcher"] = Launcher(config, runtime.store)
    queue = QueueApp(runtime.pipeline_dsn, application_name="data_pipeline_api")
    runtime.closers.append(queue.close)
    app.extensions["data_pipeline_dispatcher"] = Dispatcher(runtime.store, queue)
    if config.embedded_worker:
        worker = Worker(runtime).start()
        runtime.closers.append(worker.stop)
        app.extensions["data_pipeline_worker"] = worker
    if app.extensions["data_pipeline_callers"]:
        logger.info("API tokens required on every route but /health and /ready")
