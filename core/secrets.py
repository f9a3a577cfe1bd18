"""Masking of passwords in connection strings and free text."""

from __future__ import annotations

import functools
import re

MASK = "***"
# postgresql://user:password@host  (also postgres://)
_URI_PASSWORD = re.compile(r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s]*:)(?P<pw>[^@\s/]*)@")
# key=value DSN: password=secret or password='se cret'
_KV_PASSWORD = re.compile(r"(?P<pre>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|[^\s]+)", re.I)
# JSON-ish "password": "secret", api_key=..., token: ...
_FIELD = re.compile(
    r"(?P<pre>[\"']?(?:password|passwd|pwd|api_key|apikey|secret|token)[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<pw>[^\"'\s,}&]+)",
    re.I,
)


# Non-ASCII letters that the patterns' re.IGNORECASE matches as ASCII ones (long s, dotless
# and dotted i, Kelvin sign): a text holding one always takes the slow path.
_FOLDING = "\u017f\u0131\u0130\u212a"


def may_hold_secret(text: str, encoded: bytes | None = None) -> bool:
    """False when ``mask_secrets`` (and ``mask_value``, for a JSON text) would change nothing.

    Every pattern above, and every secret key name, needs "://" or one of the hint words;
    most strings have none and skip the substitutions (substring tests beat a regex here).
    Long non-ASCII texts (``encoded``: the same as UTF-8) are searched as bytes:
    lowering bytes touches ASCII letters only, exact for the ASCII hints since UTF-8 never
    uses ASCII bytes inside other characters, and it is much faster on long texts.
    """
    if text.isascii() or (encoded is None and len(text) < 512):
        if not text.isascii() and any(c in text for c in _FOLDING):
            return True
        t = text.lower()
        return (
            "://" in t or "pass" in t or "pwd" in t or "api_key" in t or "apikey" in t
            or "secret" in t or "token" in t
        )  # fmt: skip
    if any(c in text for c in _FOLDING):
        return True
    b = (encoded if encoded is not None else text.encode("utf-8", "surrogatepass")).lower()
    return (
        b"://" in b or b"pass" in b or b"pwd" in b or b"api_key" in b or b"apikey" in b
        or b"secret" in b or b"token" in b
    )  # fmt: skip


def mask_secrets(text: str) -> str:
    """Replace passwords in URIs, key=value DSNs and ``password: x`` fields by ``***``."""
    if not text or not may_hold_secret(text):
        return text
    text = _URI_PASSWORD.sub(lambda m: m["pre"] + (MASK if m["pw"] else "") + "@", text)
    text = _KV_PASSWORD.sub(lambda m: m["pre"] + MASK, text)
    return _FIELD.sub(lambda m: m["pre"] + MASK, text)


def mask_value(value):
    """Mask secrets inside any JSON-like value (dicts, lists, strings)."""
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {k: (MASK if _is_secret_key(k) and v else mask_value(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(v) for v in value]
    return value


@functools.lru_cache(maxsize=4096)  # the same few keys come back in every answer
def _is_secret_key(key: str) -> bool:
    k = key.lower()
    return any(w in k for w in ("password", "passwd", "secret", "api_key", "apikey", "token"))
