"""Cross-origin calls (CORS) to the API, off unless ``CORS_ALLOWED_ORIGINS`` names origins.

When on, for paths under the API prefix:

* a preflight (``OPTIONS`` with ``Access-Control-Request-Method``) is answered 204 before any
  token check (browsers send no ``Authorization`` with it), with the route's methods, the
  headers a client may send and how long the answer may be cached;
* every answer to an allowed origin carries ``Access-Control-Allow-Origin`` (that origin, or
  ``*`` when the setting is ``*``) and ``Access-Control-Expose-Headers``;
* every answer carries ``Vary: Origin`` (whether the header is there depends on the origin).

No ``Access-Control-Allow-Credentials`` is ever sent: the API takes bearer tokens, not cookies,
so ``*`` never meets credentials. An origin not on the list gets no CORS header (the browser
then refuses the answer to the page); the request itself is answered as usual.
"""

from __future__ import annotations

from flask import Flask, request

from data_pipeline.api.common import API_PREFIX

ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, Last-Event-ID"
EXPOSE_HEADERS = (
    "Location, Retry-After, Content-Disposition, Content-Length, ETag, Last-Modified, "
    "WWW-Authenticate, Allow"
)
MAX_AGE_SECONDS = 600


def parse_origins(raw: str) -> frozenset[str]:
    """The origins of the setting (comma separated; trailing slashes and case ignored)."""
    return frozenset(
        o.strip().rstrip("/").lower() for o in (raw or "").split(",") if o.strip().rstrip("/")
    )


def _allowed_origin(origins: frozenset[str]) -> str | None:
    origin = request.headers.get("Origin")
    if not origin:
        return None
    if "*" in origins:
        return "*"
    return origin if origin.rstrip("/").lower() in origins else None


def _add_vary(response) -> None:
    if "origin" not in {v.strip().lower() for v in response.vary}:
        response.vary.add("Origin")


def install(app: Flask, raw_origins: str) -> None:
    """Add the preflight answer and the CORS headers to ``app`` (nothing when off)."""
    origins = parse_origins(raw_origins)
    if not origins:
        return

    @app.before_request
    def _preflight():
        if request.method != "OPTIONS" or not request.path.startswith(API_PREFIX):
            return None
        if "Access-Control-Request-Method" not in request.headers:
            return None  # a plain OPTIONS: Flask's own answer (Allow)
        response = app.response_class(status=204)
        _add_vary(response)
        origin = _allowed_origin(origins)
        if origin is None:
            return response
        try:  # every method of the path (GET and POST /tasks are two rules)
            methods = app.create_url_adapter(request).allowed_methods()
        except Exception:  # a path with no route: the preflight still answers
            methods = []
        methods = sorted(set(methods) | {"OPTIONS"})
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = ", ".join(methods)
        response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        response.headers["Access-Control-Max-Age"] = str(MAX_AGE_SECONDS)
        return response

    @app.after_request
    def _headers(response):
        if not request.path.startswith(API_PREFIX):
            return response
        _add_vary(response)
        origin = _allowed_origin(origins)
        if origin is not None and "Access-Control-Allow-Origin" not in response.headers:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        return response
