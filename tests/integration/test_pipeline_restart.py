"""A restart of the pipeline database between requests costs no request: pooled connections
that died with the old server are noticed before use, and only a database that is really down
answers 503 (JSON, with Retry-After)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from app_config import Config
from core.db import Database
from core.embedded_pg import start_embedded, stop_embedded
from core.errors import DatabaseUnavailable
from core.migrations import apply_migrations
from tests.api_support import API, make_app

pytestmark = pytest.mark.slow  # restarts a server of the test's own


def test_the_pool_replaces_connections_that_died_with_the_server(own_server):
    data, dsn = own_server
    db = Database(dsn, maxconn=4)
    apply_migrations(db)
    # Four pooled connections, all idle.
    with db.connection(), db.connection(), db.connection(), db.connection():
        pass
    stop_embedded(data)
    start_embedded(data)  # a restart between two uses of the pool
    for _ in range(10):  # every call answers: none was handed a dead connection
        assert db.fetch_one("count_tasks_by_status") is None
        assert db.fetch_all("count_tasks_by_status") == []
        db.ping()
    assert db.discarded >= 1
    stop_embedded(data)  # really down: a clear error that says when to try again
    with pytest.raises(DatabaseUnavailable) as down:
        db.ping()
    assert down.value.retry_after > 0
    start_embedded(data)
    db.close()


def test_requests_after_a_restart_all_succeed(own_server, tmp_path, demo_dsn):
    data, dsn = own_server
    config = Config(
        pipeline_database_url=dsn,
        data_root=tmp_path / "data",
        data_sources={"demo": demo_dsn},
        load_demo_source=False,
    )
    app = make_app(config)
    client = app.test_client()
    paths = ("/tasks?limit=5", "/tasks/active", "/ready", "/metrics")

    def served_together() -> list[int]:
        # Concurrent requests, so that the pool holds several connections afterwards.
        with ThreadPoolExecutor(6) as pool:
            return list(
                pool.map(lambda p: app.test_client().get(f"{API}{p}").status_code, paths * 3)
            )

    try:
        assert served_together() == [200] * 12
        stop_embedded(data)
        start_embedded(data)  # a restart between requests
        statuses = [client.get(f"{API}{path}").status_code for _ in range(3) for path in paths]
        assert statuses == [200] * len(statuses)
        assert served_together() == [200] * 12

        stop_embedded(data)  # really down: 503 in the envelope, with Retry-After
        down = client.get(f"{API}/tasks?limit=5")
        assert down.status_code == 503 and down.json["error"]["type"] == "database_unavailable"
        assert int(down.headers["Retry-After"]) > 0
        ready = client.get(f"{API}/ready")
        assert ready.status_code == 503 and int(ready.headers["Retry-After"]) > 0
        start_embedded(data)
        assert client.get(f"{API}/tasks?limit=5").status_code == 200
    finally:
        app.extensions["data_pipeline"].close()
