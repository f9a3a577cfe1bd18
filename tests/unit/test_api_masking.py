"""Masking in API answers: the quick pre-check never lets a secret through."""

from __future__ import annotations

import json
import random

from flask import Flask

from core import secrets
from data_pipeline.api.envelope import ok

FRAGMENTS = [
    "password", "PassWord", "passwd", "pwd", "PWD", "api_key", "ApiKey", "apikey", "secret",
    "token", "Token", "://", "postgresql", "mysql", "@", ":", "=", " ", "'", '"', ",", "}",
    "user", "host", "/", "S3cret", "服务区", "key", "pas", "sword", "to", "ken", "se", "cret",
    "api", "_", "\\", "x", "1", "pa\u017fsword", "api_\u212aey", "\u0130", "toke\u0131",
]  # fmt: skip


def _full_mask(text: str) -> str:
    """The substitutions without the pre-check."""
    text = secrets._URI_PASSWORD.sub(lambda m: m["pre"] + ("***" if m["pw"] else "") + "@", text)
    text = secrets._KV_PASSWORD.sub(lambda m: m["pre"] + "***", text)
    return secrets._FIELD.sub(lambda m: m["pre"] + "***", text)


def test_precheck_only_skips_strings_the_patterns_would_not_change():
    rng = random.Random(11)
    skipped = 0
    for _ in range(20_000):
        text = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 8)))
        if not secrets.may_hold_secret(text):
            skipped += 1
            assert _full_mask(text) == text, text
        if not secrets.may_hold_secret(text, text.encode()):
            assert _full_mask(text) == text, text
        assert secrets.mask_secrets(text) == _full_mask(text), text
    assert skipped > 1000  # the pre-check does skip most harmless strings


def test_answers_are_masked_and_harmless_ones_untouched():
    app = Flask(__name__)
    app.json.ensure_ascii = False
    with app.app_context():
        data = {
            "dsn": "postgresql://reader:S3cretPw@db/x",
            "nested": [{"api_key": "sk-123"}, {"note": "password=hunter2 host=h"}],
            "context": "服务区 primary key",
        }
        response, code = ok(data)
        body = response.get_data(as_text=True)
        assert code == 200 and "S3cretPw" not in body and "sk-123" not in body
        assert "hunter2" not in body and "服务区 primary key" in body
        plain = {"task": "task_20250301_080000", "when": "2025-03-01T08:00:00+00:00"}
        response, _ = ok(plain)
        assert json.loads(response.get_data(as_text=True))["data"] == plain


def test_raw_json_passes_through_and_is_still_masked():
    from data_pipeline.api.envelope import RawJSON

    app = Flask(__name__)
    app.json.ensure_ascii = False

    def answer(data):
        response, _ = ok(data)
        return response.get_data(as_text=True), json.loads(response.get_data(as_text=True))

    with app.app_context():
        _, body = answer({"a": "x", "result": RawJSON('{"k": [1, 2], "名": "服务区"}')})
        assert body["data"] == {"a": "x", "result": {"k": [1, 2], "名": "服务区"}}
        text, body = answer({"result": RawJSON('{"dsn": "postgresql://u:S3cret@h/d"}')})
        assert "S3cret" not in text
        assert body["data"]["result"]["dsn"] == "postgresql://u:***@h/d"
        _, body = answer({"ctx": "\x00raw0\x00", "result": RawJSON("[1]"), "n": None})
        assert body["data"] == {"ctx": "\x00raw0\x00", "result": [1], "n": None}
