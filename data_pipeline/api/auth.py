"""Optional bearer-token authentication (``DATA_PIPELINE_API_TOKEN``).

When a token is configured every API route but ``/health`` and ``/ready`` needs
``Authorization: Bearer <token>``. The log stream and downloads also accept
``?access_token=<token>``, because a browser's EventSource and plain download links cannot
send headers. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac

from flask import current_app, request

from data_pipeline.api.envelope import error_response

# Endpoints (suffixes) that may carry the token in the query string.
_QUERY_TOKEN_ENDPOINTS = ("stream_logs", "download_log", "download_file")


def _presented_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if request.endpoint and request.endpoint.endswith(_QUERY_TOKEN_ENDPOINTS):
        return request.args.get("access_token") or None
    return None


def token_matches(presented: str | None, expected: str) -> bool:
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


def require_token():
    """``before_request`` hook of the API blueprint: 401 unless the token is presented."""
    token = current_app.extensions["data_pipeline_config"].api_token
    if not token or token_matches(_presented_token(), token):
        return None
    response, code = error_response(
        401, "authentication required: send Authorization: Bearer <token>", "unauthorized"
    )
    response.headers["WWW-Authenticate"] = 'Bearer realm="data_pipeline"'
    return response, code
