"""Browser fixtures: the real service (waitress subprocess) and the system's headless Chromium.

The module is skipped, with the reason, only when Chromium itself is missing (CI installs it
with ``scripts/ensure-browser.sh``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.conftest import new_database
from tests.support.server import ServiceProcess

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """The system Chromium (Debian's package), or None."""
    env = os.environ.get("CHROMIUM_PATH")
    candidates = (env, *CHROMIUM_CANDIDATES) if env else CHROMIUM_CANDIDATES
    for path in candidates:
        if path and Path(path).is_file() and os.access(path, os.X_OK):
            return path
    found = shutil.which("chromium")
    return found


def service_env(pipeline_dsn: str, demo_dsn: str, data_root: Path, **extra: str) -> dict:
    """Environment of a test service: the test databases, fast heartbeats and monitor."""
    env: dict[str, str | None] = {
        "PIPELINE_DATABASE_URL": pipeline_dsn,
        "DATA_PIPELINE_ROOT": str(data_root),
        "SOURCE_DEMO_URL": demo_dsn,
        "LOAD_DEMO_SOURCE": "false",
        "DATA_SOURCES": None,
        "DATA_PIPELINE_API_TOKEN": None,
        "HEARTBEAT_INTERVAL_SECONDS": "0.5",
        "HEARTBEAT_TIMEOUT_SECONDS": "10",
        "MONITOR_INTERVAL_SECONDS": "1",
        "CANCEL_GRACE_SECONDS": "2",
        "LLM_BASE_URL": None,
        "EMBEDDING_BASE_URL": None,
        # The console is under test, not the model: the hashing embedder loads a demo task in
        # 0.1 s instead of ~20 s. The default (local-e5) runs end to end in the CLI and API
        # acceptance tests and in test_semantic_retrieval.
        "EMBEDDING_PROVIDER": "hashing",
    }
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = chromium_path()
    if path is None:
        pytest.skip(
            "Chromium is not installed (apt-get install chromium, or scripts/ensure-browser.sh)"
        )
    return path


@pytest.fixture(scope="session")
def browser(chromium_executable):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def browser_home():
    base = Path(tempfile.mkdtemp(prefix="dp-browser-"))
    yield base
    shutil.rmtree(base, ignore_errors=True)


def start_service(pg_admin_dsn, template_db, demo_dsn, home: Path, name: str, **extra):
    """A service on a fresh pipeline database; the caller stops it."""
    dsn = new_database(pg_admin_dsn, template_db)
    service = ServiceProcess(
        service_env(dsn, demo_dsn, home / f"{name}-data", **extra), home / f"{name}.log"
    )
    service.start()
    service.pipeline_dsn = dsn
    return service


@pytest.fixture(scope="module")
def service(pg_admin_dsn, template_db, demo_dsn, browser_home):
    """The service without a token (as after ``make run``)."""
    svc = start_service(pg_admin_dsn, template_db, demo_dsn, browser_home, "open")
    yield svc
    svc.stop()


class ConsoleErrors:
    """Console errors and uncaught exceptions of a page; some network errors may be expected."""

    def __init__(self, page):
        self.items: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.items.append(f"pageerror: {exc}"))

    def _console(self, msg) -> None:
        if msg.type == "error":
            self.items.append(f"console: {msg.text}")

    def unexpected(self, *allowed_statuses: int) -> list[str]:
        """Errors other than the browser's own note of an expected HTTP status."""
        allowed = [f"status of {s} " for s in allowed_statuses]
        return [
            e
            for e in self.items
            if not ("Failed to load resource" in e and any(a in e for a in allowed))
        ]


@pytest.fixture
def context(browser):
    ctx = browser.new_context(accept_downloads=True, viewport={"width": 1366, "height": 900})
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    page.errors = ConsoleErrors(page)
    return page
