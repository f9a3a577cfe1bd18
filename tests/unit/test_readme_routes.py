"""The README's API reference names every route under the API prefix (with a curl example)."""

from __future__ import annotations

import re
from typing import ClassVar

from flask import Flask

from app_config import PROJECT_ROOT, Config
from data_pipeline.api.common import API_PREFIX


def _api_section() -> str:
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- section:api -->(.*?)<!-- /section:api -->", text, re.S)
    assert match, "README has no API section"
    return match.group(1)


def _routes() -> set[tuple[str, str]]:
    """(METHOD, path) of every API route, with <converter:name> written as <name>."""
    from data_pipeline.api import routes
    from data_pipeline.api.health import bp as health_bp

    app = Flask(__name__)
    app.extensions["data_pipeline_config"] = Config(monitor_enabled=False)
    app.register_blueprint(health_bp, url_prefix=API_PREFIX)

    class _Runtime:  # register() only hands these on; no database is touched
        store = None
        pipeline_dsn = None
        closers: ClassVar[list] = []

    routes.register(app, Config(monitor_enabled=False, embedded_worker=False), _Runtime())
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(API_PREFIX):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", rule.rule)
            found |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return found


def test_every_route_has_a_readme_entry_with_a_curl_example():
    section = _api_section()
    routes = _routes()
    assert len(routes) >= 20
    headings = re.split(r"\n### ", section)
    for method, path in sorted(routes):
        title = f"`{method} {path}`"
        entry = next((h for h in headings if h.startswith(title)), None)
        assert entry is not None, f"README API section lacks a heading for {title}"
        assert "curl " in entry, f"README entry {title} has no curl example"
