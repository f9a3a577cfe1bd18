"""The real server (waitress) under abuse a caller can send: idle connections, oversize bodies,
malformed request lines. Every answer is the JSON envelope, and /health keeps answering."""

from __future__ import annotations

import contextlib
import socket
import time

import pytest
import requests

from tests.api_support import ApiServer
from tests.conftest import TEMPLATE_DB, new_database

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(pg_admin_dsn, template_db, demo_dsn, tmp_path_factory):
    root = tmp_path_factory.mktemp("http-hardening")
    srv = ApiServer(new_database(pg_admin_dsn, TEMPLATE_DB), demo_dsn, root / "data").start()
    yield srv
    srv.stop()


def test_150_idle_connections_do_not_starve_health(server):
    idle = []
    try:
        for _ in range(150):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            idle.append(sock)  # connected, and never says anything
        started = time.monotonic()
        r = requests.get(server.url("/health"), timeout=5)
        assert r.status_code == 200 and time.monotonic() - started < 2
    finally:
        for sock in idle:
            with contextlib.suppress(OSError):
                sock.close()


def test_every_oversize_body_answers_413_in_the_envelope(server):
    for size in (1024 * 1024 + 10, 1024 * 1024 + 200 * 1024, 3 * 1024 * 1024):
        r = requests.post(
            server.url("/tasks"),
            data=b"{" + b" " * size + b"}",
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert r.status_code == 413, size
        body = r.json()
        assert body["success"] is False and body["error"]["type"] == "too_large"


def test_malformed_requests_answer_in_the_envelope(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall("GET /api/v0/data_pipeline/tasks/任务 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):  # the server closes after an error answer
            chunks.append(chunk)
        raw = b"".join(chunks).decode("utf-8", "replace")
    head, _, body = raw.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 400") and "application/json" in head
    assert '"success": false' in body or '"success":false' in body
