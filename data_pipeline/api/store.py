"""The training store as the console shows it: counts, search, list, delete, export
(``/store…``). Being built (issue #13)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("store", __name__)

# OpenAPI entries of these routes, in the shape of ``openapi.ROUTES``.
OPENAPI_ROUTES: list[tuple] = []
