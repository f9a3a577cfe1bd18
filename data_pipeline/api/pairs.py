"""Curation of a task's question/SQL pairs: list, run, edit, add, delete, approve, load
(``/tasks/<task_id>/pairs…``). Being built (issue #13)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("pairs", __name__)

# OpenAPI entries of these routes, in the shape of ``openapi.ROUTES``.
OPENAPI_ROUTES: list[tuple] = []
