"""Who is calling, and what they may do.

With no token configured the API is open (it binds 127.0.0.1 by default) and every caller is
``anonymous`` with the ``admin`` role. Otherwise every route but ``/health`` and ``/ready``
needs ``Authorization: Bearer <token>``, and the token decides the caller's name and role:

* ``API_TOKENS`` — JSON ``{"name": {"sha256": "<hex of the token>", "role": "viewer"}}``; only
  the SHA-256 of a token is configured, never the token itself;
* ``DATA_PIPELINE_API_TOKEN`` — one token, the shorthand for a caller named ``admin``.

Roles: ``viewer`` reads (GET); ``operator`` also creates, runs and cancels tasks and sets table
lists, and deletes the tasks it created; ``admin`` may do everything, including deleting any
task. The log stream and downloads also accept ``?access_token=``, because a browser's
EventSource and plain download links cannot send headers. Tokens are compared in constant
time, by their hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass

from flask import Blueprint, current_app, g, request

from app_config import ConfigError
from core.errors import Forbidden
from data_pipeline.api.envelope import error_response, ok

logger = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)

ROLES = ("viewer", "operator", "admin")
RESERVED_NAMES = frozenset({"manual", "system", "api", "anonymous"})
# Endpoints (suffixes) that may carry the token in the query string.
_QUERY_TOKEN_ENDPOINTS = ("stream_logs", "download_log", "download_file", "export_store")
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Caller:
    """Who sent the request: a configured token's name and role."""

    name: str
    role: str
    authenticated: bool = True

    @property
    def may_write(self) -> bool:
        return self.role in ("operator", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def created_by(self) -> str:
        """What a task created by this caller records (``api`` when the API is open)."""
        return self.name if self.authenticated else "api"

    def as_dict(self) -> dict:
        return {"name": self.name, "role": self.role, "authenticated": self.authenticated}


ANONYMOUS = Caller("anonymous", "admin", authenticated=False)


class TokenError(ConfigError):
    """``API_TOKENS`` cannot be used as given."""


def parse_tokens(raw: str, single_token: str | None) -> dict[str, Caller]:
    """SHA-256 hex of each token → its caller, from ``API_TOKENS`` and the single token."""
    callers: dict[str, Caller] = {}
    if raw and raw.strip():
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise TokenError(f"API_TOKENS is not valid JSON: {exc.msg}") from None
        if not isinstance(data, dict):
            raise TokenError('API_TOKENS must be {"name": {"sha256": "...", "role": "..."}}')
        for name, spec in data.items():
            if not isinstance(name, str) or not name.isidentifier() or len(name) > 50:
                raise TokenError(f"API_TOKENS: {name!r} is not a valid name (letters, _, digits)")
            if name.lower() in RESERVED_NAMES:
                raise TokenError(f"API_TOKENS: the name {name!r} is reserved")
            if not isinstance(spec, dict):
                raise TokenError(f"API_TOKENS[{name!r}] must be an object with sha256 and role")
            digest = str(spec.get("sha256", "")).lower()
            role = spec.get("role")
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise TokenError(f"API_TOKENS[{name!r}].sha256 must be 64 hex digits")
            if role not in ROLES:
                raise TokenError(f"API_TOKENS[{name!r}].role must be one of {', '.join(ROLES)}")
            callers[digest] = Caller(name, role)
    if single_token:
        callers[token_digest(single_token)] = Caller("admin", "admin")
    return callers


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _presented_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if request.endpoint and request.endpoint.endswith(_QUERY_TOKEN_ENDPOINTS):
        return request.args.get("access_token") or None
    return None


def _lookup(callers: dict[str, Caller], presented: str | None) -> Caller | None:
    if presented is None:
        return None
    digest = token_digest(presented)
    found = None
    for known, caller in callers.items():  # every entry compared: no timing difference
        if hmac.compare_digest(known, digest):
            found = caller
    return found


def current_caller() -> Caller:
    """The caller of the request being answered."""
    return g.get("dp_caller", ANONYMOUS)


def require_token():
    """``before_request`` hook of the API blueprint: identify the caller (401 without a known
    token when tokens are configured) and refuse writes to viewers (403)."""
    callers: dict[str, Caller] = current_app.extensions.get("data_pipeline_callers", {})
    if not callers:
        g.dp_caller = ANONYMOUS
        return None
    caller = _lookup(callers, _presented_token())
    if caller is None:
        response, code = error_response(
            401, "authentication required: send Authorization: Bearer <token>", "unauthorized"
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="data_pipeline"'
        return response, code
    g.dp_caller = caller
    if request.method not in _READ_METHODS:
        if not caller.may_write:
            return error_response(
                403, f"{caller.name} is a viewer: it may read, not change anything", "forbidden"
            )
        logger.info("%s (%s) %s %s", caller.name, caller.role, request.method, request.path)
    return None


def require_owner_or_admin(created_by: str, what: str) -> None:
    """403 unless the caller is an admin or created the thing (``created_by``)."""
    caller = current_caller()
    if caller.is_admin or (caller.authenticated and caller.created_by == created_by):
        return
    raise Forbidden(
        f"{caller.name} may not {what}: only its creator ({created_by}) or an admin may",
        details={"role": caller.role},
    )


@bp.get("/whoami")
def whoami():
    """The caller: its token's name and role (``anonymous`` / ``admin`` when the API is open)."""
    return ok(current_caller().as_dict())
