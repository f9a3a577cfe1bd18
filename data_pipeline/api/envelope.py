"""One JSON envelope for every answer: ``{"success", "code", "message", "data"}``; errors add
``"error": {"type", "details"}``. Registered app-wide so no route returns HTML or a trace."""

from __future__ import annotations

import json
import logging
import secrets

from flask import Flask, current_app, jsonify
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from core.errors import PipelineError
from core.secrets import mask_value, may_hold_secret

logger = logging.getLogger(__name__)
_COMPACT = (",", ":")
# Placeholders of RawJSON values while serialising: unguessable, so no client text can
# take a placeholder's place.
_NONCE = secrets.token_hex(8)


class RawJSON:
    """A JSON text to place in an answer as it is (a stored document that only passes
    through: decoding and re-encoding it would cost more than the rest of the answer)."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


def _decode_raw(value):
    """``value`` with every RawJSON decoded (for the masking walk)."""
    if isinstance(value, RawJSON):
        return json.loads(value.text)
    if isinstance(value, dict):
        return {k: _decode_raw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_decode_raw(v) for v in value]
    return value


def _dumps(body: dict) -> str:
    raws: list[str] = []
    fallback = current_app.json.default

    def default(o):
        if isinstance(o, RawJSON):
            raws.append(o.text)
            return f"\x00{_NONCE}{len(raws) - 1}\x00"
        return fallback(o)

    text = current_app.json.dumps(body, separators=_COMPACT, default=default)
    for i, raw in enumerate(raws):
        text = text.replace(f'"\\u0000{_NONCE}{i}\\u0000"', raw, 1)
    return text + "\n"


def ok(data=None, message: str = "ok", code: int = 200, *, masked: bool = False):
    """A success answer with the given HTTP status.

    Secrets in ``data`` are masked here, unless the caller says it already masked every
    string of it (``masked=True``). The answer is serialised first: when its text holds
    nothing a secret could look like (the common case), the walk through every value is
    skipped, which matters on large answers such as task details with their run report.
    """
    body = {"success": True, "code": code, "message": message, "data": data}
    text = _dumps(body)
    raw = text.encode("utf-8")
    if not masked and may_hold_secret(text, raw):
        body["data"] = mask_value(_decode_raw(data))
        raw = _dumps(body).encode("utf-8")
    return current_app.response_class(raw, mimetype="application/json"), code


def fields_of(details: dict, message: str) -> list[dict]:
    """The ``fields`` of a 400: ``[{"field", "message"}, ...]``, whatever the error gave.

    Most errors name their fields already; a table list's line errors become one entry per
    line; anything else (a body that is not JSON, a refused header) one entry for the whole
    request, so clients read every 400 the same way."""
    given = details.get("fields")
    if isinstance(given, list) and given:
        fields = []
        for item in given:
            item = item if isinstance(item, dict) else {"field": str(item)}
            fields.append(
                {
                    **item,
                    "field": str(item.get("field") or "request"),
                    "message": str(item.get("message") or message),
                }
            )
        return fields
    errors = details.get("errors")
    if isinstance(errors, list) and errors:
        field = str(details.get("field") or "table_list")
        return [
            {
                "field": field,
                "message": f"line {e.get('line')}: {e.get('reason') or e.get('message')}",
                "line": e.get("line"),
            }
            for e in errors
            if isinstance(e, dict)
        ]
    return [{"field": str(details.get("field") or "request"), "message": message}]


def error_response(code: int, message: str, error_type: str, details: dict | None = None):
    details = dict(details or {})
    if code == 400:
        details["fields"] = fields_of(details, message)
    body = {
        "success": False,
        "code": code,
        "message": message,
        "data": None,
        "error": {"type": error_type, "details": mask_value(details)},
    }
    return jsonify(body), code


_HTTP_TYPES = {
    400: "invalid_input",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_requests",
    503: "unavailable",
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(PipelineError)
    def _pipeline_error(exc: PipelineError):
        if exc.http_status >= 500 and exc.http_status != 503:
            logger.error("internal error: %s", exc.message)
        response, code = error_response(exc.http_status, exc.message, exc.error_type, exc.details)
        retry_after = getattr(exc, "retry_after", None)
        if code == 503 and retry_after:
            response.headers["Retry-After"] = str(int(retry_after))
        return response, code

    @app.errorhandler(ValidationError)
    def _validation_error(exc: ValidationError):
        # A model validated outside the request helpers: 400 with the fields, no values.
        fields = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors(include_input=False, include_url=False)
        ]
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:8])
        return error_response(
            400, f"invalid request: {summary}", "invalid_input", {"fields": fields}
        )

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = exc.code or 500
        message = exc.description or exc.name
        if code == 413:
            message = "request body too large"
        response, code = error_response(code, message, _HTTP_TYPES.get(code, "http_error"))
        if code == 405 and getattr(exc, "valid_methods", None):
            # RFC 9110: a 405 says which methods the resource has.
            response.headers["Allow"] = ", ".join(sorted(set(exc.valid_methods)))
        return response, code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        logger.exception("unexpected error while answering a request")
        return error_response(500, "internal server error", "internal_error")
