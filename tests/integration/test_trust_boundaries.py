"""Trust boundaries, tried as an outside caller would: named sources only, no connection string
that reaches the server's files, secrets or own databases, roles for callers, and requests the
server must refuse cleanly (400, never a 500)."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import psycopg2
import pytest
from psycopg2.extensions import parse_dsn

from core.errors import SourceUnavailable
from data_pipeline.sources.connection import SourceRefused, connect_readonly
from data_pipeline.sources.registry import checked_raw_dsn
from data_pipeline.tasks.runtime import open_runtime
from data_pipeline.training_load.documents import collect_documents
from data_pipeline.training_load.embedders import HashingEmbedder
from data_pipeline.training_load.loader import load_documents
from data_pipeline.training_load.vector_store import ensure_store
from tests.api_support import API, make_app

CONTEXT = "高速公路服务区 (highway service areas)"


def _body(connection: str, **extra) -> dict:
    return {
        "start": False,
        "parameters": {
            "db_connection": connection,
            "business_context": CONTEXT,
            "table_list": ["service_area"],
            **extra,
        },
    }


# 1. The pipeline's own server and databases --------------------------------------------
def test_sources_show_no_user_password_socket_or_connection_string(client):
    sources = client.get(f"{API}/sources").json["data"]["sources"]
    assert sources and set(sources[0]) == {"name", "reference", "database", "host"}
    text = json.dumps(sources)
    assert "postgres" not in text and "/tmp" not in text and "host=" not in text


def test_callers_cannot_give_connection_strings_by_default(client, pipeline_dsn):
    socket_folder = parse_dsn(pipeline_dsn)["host"]
    for connection in (
        f"postgresql://postgres@/postgres?host={socket_folder}",
        pipeline_dsn,
        "host=127.0.0.1 dbname=sales user=x",
    ):
        r = client.post(f"{API}/tasks", json=_body(connection))
        assert r.status_code == 400, connection
        assert "source:NAME" in r.json["message"]


def test_a_source_that_is_the_pipeline_database_is_refused(config, pipeline_dsn, tmp_path):
    # An operator's mistake: a named source pointing at the pipeline database itself.
    mistaken = config.with_overrides(data_sources={**config.data_sources, "oops": pipeline_dsn})
    runtime = open_runtime(mistaken, load_demo=False)
    try:
        with pytest.raises(SourceRefused, match="pipeline's own database"):
            connect_readonly(pipeline_dsn, purpose="test")
        app = make_app(mistaken)
        client = app.test_client()
        r = client.get(f"{API}/sources/oops/tables")
        assert r.status_code == 400 and r.json["error"]["type"] == "source_refused"
        app.extensions["data_pipeline"].close()
    finally:
        runtime.close()


# 2. Connection strings that reach files, other hosts or stored secrets ------------------
@pytest.mark.parametrize(
    ("connection", "word"),
    [
        ("host=db.example port=5432 dbname=x user=u passfile=/etc/shadow", "passfile"),
        ("host=db.example hostaddr=127.0.0.1 dbname=x user=u", "hostaddr"),
        (
            "host=db.example dbname=x user=u sslrootcert=/etc/shadow sslmode=verify-ca",
            "sslrootcert",
        ),
        ("host=db.example dbname=x user=u service=prod", "service"),
        ("host=db.example dbname=x options='-c statement_timeout=0'", "options"),
        ("postgresql://u@/x?host=/var/run/postgresql", "socket"),
        ("dbname=x user=u", "host"),
        ("host=a.example,b.example dbname=x", "host"),
    ],
)
def test_raw_connections_keep_to_safe_keys_and_network_hosts(connection, word):
    with pytest.raises(Exception, match=word):
        checked_raw_dsn(connection)


def test_the_host_allow_list_and_address_pinning():
    pinned = parse_dsn(checked_raw_dsn("postgresql://u:pw@localhost:5433/x", ("127.0.0.0/8",)))
    assert pinned["host"] == "localhost" and pinned["hostaddr"] in ("127.0.0.1", "::1")
    by_name = parse_dsn(checked_raw_dsn("host=localhost dbname=x", ("localhost",)))
    assert by_name["hostaddr"] in ("127.0.0.1", "::1")
    with pytest.raises(Exception, match="allow-list"):
        checked_raw_dsn("host=localhost dbname=x", ("10.0.0.0/8",))
    with pytest.raises(Exception, match="allow-list"):
        checked_raw_dsn("host=no-such-host.invalid dbname=x", ("10.0.0.0/8",))


def test_allowed_raw_connections_go_through_the_api_rules(app, config):
    open_app = make_app(config.with_overrides(allow_raw_connections=True))
    client = open_app.test_client()
    try:
        r = client.post(f"{API}/tasks", json=_body("host=db.example dbname=x passfile=/x"))
        assert r.status_code == 400 and "passfile" in r.json["message"]
        r = client.post(f"{API}/tasks", json=_body("postgresql://u:pw@db.example:5432/sales"))
        assert r.status_code == 201
    finally:
        open_app.extensions["data_pipeline"].close()


def test_why_a_connection_failed_goes_to_the_server_log_only(caplog):
    server_log = logging.getLogger("data_pipeline.server")  # does not propagate to the root
    server_log.addHandler(caplog.handler)
    try:
        with pytest.raises(SourceUnavailable) as info:
            connect_readonly(
                "postgresql://u:pw@127.0.0.1:1/sales", purpose="test", connect_timeout=2
            )
    finally:
        server_log.removeHandler(caplog.handler)
    message = info.value.message
    assert "127.0.0.1" in message and "refused" not in message.lower()
    assert any("refused" in r.getMessage().lower() for r in caplog.records)
    assert all(
        r.name == "data_pipeline.server" for r in caplog.records if "refused" in r.getMessage()
    )


# 3. The training store: a task touches only its own rows -------------------------------
def _folder(root: Path, table: str) -> Path:
    root.mkdir(parents=True)
    (root / f"{table}.ddl").write_text(f"CREATE TABLE {table} (id int);\n", encoding="utf-8")
    (root / f"{table}_detail.md").write_text(f"# {table}\n\n表 {table}\n", encoding="utf-8")
    pairs = [{"question": f"{table} 有多少行？", "sql": f"SELECT count(*) FROM {table}"}]
    (root / "qs_x_20250101_000000_pair.json").write_text(json.dumps(pairs), encoding="utf-8")
    return root


def test_truncate_and_backup_touch_only_the_tasks_own_rows(tmp_path, pipeline_dsn):
    embedder = HashingEmbedder(384)
    a = collect_documents(_folder(tmp_path / "a", "orders")).documents
    b = collect_documents(_folder(tmp_path / "b", "stalls")).documents
    with ensure_store(pipeline_dsn, 384) as store:
        load_documents(store, a, embedder, task_id="task_20250101_000000")
        load_documents(store, b, embedder, task_id="task_20250101_000001")
        files = store.backup_vector_tables(tmp_path / "bak", "task_20250101_000001")
        rows = next(f for f in files if "embedding" in f.name).read_text(encoding="utf-8")
        assert "stalls" in rows and "orders" not in rows  # B's backup holds B's rows only
        removed = store.truncate_vector_tables(384, "task_20250101_000001")
        assert sum(removed.values()) == len(b)
        assert store.total() == len(a)  # A's rows are still there
        assert store.counts("task_20250101_000000") == store.counts()


# 6. Bad input that used to answer 500 --------------------------------------------------
def test_nul_bytes_overflowing_ids_and_deep_nesting_answer_400(client):
    for field in ("task_name", "business_context", "db_connection", "db_name"):
        body = _body("source:demo")
        if field == "task_name":
            body["task_name"] = "bad\x00name"
        else:
            body["parameters"][field] = "bad\x00value"
        r = client.post(f"{API}/tasks", json=body)
        assert r.status_code == 400 and "NUL" in r.json["message"], (field, r.json)
    r = client.get(f"{API}/tasks?q=a%00b")
    assert r.status_code == 400 and "NUL" in r.json["message"]
    task = client.post(f"{API}/tasks", json=_body("source:demo")).json["data"]["task_id"]
    r = client.get(f"{API}/tasks/{task}/logs?after_id=9223372036854775808")
    assert r.status_code == 400 and "after_id" in r.json["message"]
    deep = "[" * 100_000 + "]" * 100_000
    r = client.post(f"{API}/tasks", data=deep, content_type="application/json")
    assert r.status_code == 400 and "nested too deeply" in r.json["message"]
    r = client.post(
        f"{API}/tasks",
        data=json.dumps(
            {
                "parameters": {
                    "x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
                }
            }
        ),
        content_type="application/json",
    )
    assert r.status_code == 400


# 8. Metric labels stay bounded ---------------------------------------------------------
def test_invented_methods_do_not_grow_the_metrics(client):
    for i in range(20):
        client.open(f"{API}/health", method=f"BREW{i}")
    text = client.get(f"{API}/metrics").get_data(as_text=True)
    assert "BREW" not in text
    assert 'method="other"' in text


# Roles ------------------------------------------------------------------------------------
def _tokens(**roles: str) -> tuple[str, dict[str, str]]:
    tokens = {name: f"token-of-{name}-秘" for name in roles}
    spec = {
        name: {"sha256": hashlib.sha256(tokens[name].encode()).hexdigest(), "role": role}
        for name, role in roles.items()
    }
    return json.dumps(spec), tokens


def test_roles_decide_what_a_caller_may_do(config):
    spec, tokens = _tokens(vera="viewer", otto="operator", olga="operator", ada="admin")
    app = make_app(config.with_overrides(api_tokens=spec))
    client = app.test_client()

    def as_(name):
        return {"Authorization": f"Bearer {tokens[name]}"}

    try:
        assert client.get(f"{API}/tasks").status_code == 401
        assert (
            client.get(f"{API}/tasks", headers={"Authorization": "Bearer nope"}).status_code == 401
        )
        me = client.get(f"{API}/whoami", headers=as_("otto")).json["data"]
        assert me == {"name": "otto", "role": "operator", "authenticated": True}
        assert client.get(f"{API}/tasks", headers=as_("vera")).status_code == 200
        r = client.post(f"{API}/tasks", json=_body("source:demo"), headers=as_("vera"))
        assert r.status_code == 403 and "viewer" in r.json["message"]
        r = client.post(f"{API}/tasks", json=_body("source:demo"), headers=as_("otto"))
        assert r.status_code == 201
        task = r.json["data"]["task_id"]
        detail = client.get(f"{API}/tasks/{task}", headers=as_("vera")).json["data"]
        assert detail["created_by"] == "otto"
        listed = client.get(f"{API}/tasks?created_by=otto", headers=as_("vera")).json["data"]
        assert [t["task_id"] for t in listed["items"]] == [task]
        assert client.delete(f"{API}/tasks/{task}", headers=as_("olga")).status_code == 403
        assert client.delete(f"{API}/tasks/{task}", headers=as_("vera")).status_code == 403
        assert client.delete(f"{API}/tasks/{task}", headers=as_("otto")).status_code == 200
        other = client.post(f"{API}/tasks", json=_body("source:demo"), headers=as_("olga"))
        other_id = other.json["data"]["task_id"]
        assert client.delete(f"{API}/tasks/{other_id}", headers=as_("ada")).status_code == 200
    finally:
        app.extensions["data_pipeline"].close()


def test_bad_token_configuration_stops_the_start(config):
    from app_config import ConfigError

    for spec in ('{"manual": {"sha256": "' + "0" * 64 + '", "role": "admin"}}',
                 '{"x": {"sha256": "abc", "role": "admin"}}',
                 '{"x": {"sha256": "' + "0" * 64 + '", "role": "root"}}', "not json"):  # fmt: skip
        with pytest.raises(ConfigError):
            make_app(config.with_overrides(api_tokens=spec))


def test_demo_reader_can_read_the_demo_and_nothing_else(pg_admin_dsn, demo_dsn):
    from core.roles import grant_demo_reader, prepare_app_role

    prepare_app_role(pg_admin_dsn)  # what the embedded default does first
    reader = grant_demo_reader(pg_admin_dsn, parse_dsn(demo_dsn)["dbname"])
    conn = psycopg2.connect(reader)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM service_area")
            assert cur.fetchone()[0] > 0
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("DELETE FROM service_area")
        conn.rollback()
    finally:
        conn.close()
    for other in ("postgres", "template1"):
        with pytest.raises(psycopg2.OperationalError, match="permission denied"):
            psycopg2.connect(reader.replace(parse_dsn(demo_dsn)["dbname"], other)).close()


def test_a_source_role_that_may_write_is_warned_about_or_refused(tmp_path, demo_dsn, pg_admin_dsn):
    from app_config import Config
    from core.errors import StepFailed
    from core.roles import grant_demo_reader
    from data_pipeline.ddl_generation import step as ddl_step
    from data_pipeline.llm.builtin import BuiltinLLM
    from data_pipeline.workflow.context import StepContext
    from data_pipeline.workflow.params import WorkflowParams

    def ctx(folder: Path, dsn: str, **settings) -> StepContext:
        return StepContext(
            task_dir=folder,
            config=Config(data_root=tmp_path, **settings),
            params=WorkflowParams(db_connection="source:x", business_context=CONTEXT),
            source_dsn=dsn,
            db_name="demo_business",
            llm=BuiltinLLM(),
            tables=["service_area"],
        )

    summary = ddl_step.run(ctx(tmp_path / "a", demo_dsn))  # the session's superuser
    assert summary["source_role"]["superuser"] is True
    assert "superuser" in summary["source_role"]["warning"]
    with pytest.raises(StepFailed, match=r"superuser.*REQUIRE_READONLY_SOURCES"):
        ddl_step.run(ctx(tmp_path / "b", demo_dsn, require_readonly_sources=True))
    reader = grant_demo_reader(pg_admin_dsn, parse_dsn(demo_dsn)["dbname"])
    summary = ddl_step.run(ctx(tmp_path / "c", reader, require_readonly_sources=True))
    assert summary["source_role"] == {
        "role": "demo_reader", "superuser": False, "writable": [], "warning": None,
    }  # fmt: skip


def test_the_service_makes_libpq_ignore_the_environment(monkeypatch):
    from data_pipeline.sources.connection import isolate_from_libpq_environment

    monkeypatch.setenv("PGPASSWORD", "from-the-environment")
    monkeypatch.setenv("PGHOST", "elsewhere.example")
    monkeypatch.setenv("PGSERVICE", "prod")
    for name in ("PGPASSFILE", "PGSERVICEFILE", "PGSYSCONFDIR"):  # restored after the test
        monkeypatch.setenv(name, "/tmp/anything")
    removed = isolate_from_libpq_environment()
    import os

    assert {"PGPASSWORD", "PGHOST", "PGSERVICE"} <= set(removed)
    assert not {"PGPASSWORD", "PGHOST", "PGSERVICE"} & set(os.environ)
    for name in ("PGPASSFILE", "PGSERVICEFILE"):
        assert not Path(os.environ[name]).exists()  # libpq finds no password or service file
