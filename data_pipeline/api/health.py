"""Liveness and readiness: ``/health`` answers while the process lives; ``/ready`` only when
the pipeline database answers too."""

from __future__ import annotations

from flask import Blueprint, current_app

from core.errors import DatabaseUnavailable
from data_pipeline.api.envelope import error_response, ok

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    """Liveness: 200 while the API process is up."""
    return ok({"status": "ok"})


@bp.get("/ready")
def ready():
    """Readiness: 200 when the pipeline database answers, else 503."""
    runtime = current_app.extensions["data_pipeline"]
    try:
        runtime.db.ping()
    except DatabaseUnavailable as exc:
        response, code = error_response(503, exc.message, exc.error_type)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response, code
    return ok({"status": "ready", "database": "ok", "vector": runtime.vector_available})
