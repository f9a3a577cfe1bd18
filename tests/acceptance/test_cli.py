"""The command line as a user runs it: ``python data_pipeline/schema_workflow.py`` as a real
process on the demo source, tracked in a real pipeline database (issue 4's acceptance)."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import psycopg2
import psycopg2.extras
import pytest

from data_pipeline.tasks.models import STEP_NAMES
from data_pipeline.workflow.outputs import sha256_of
from tests.conftest import new_database

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = PROJECT_ROOT / "data_pipeline" / "schema_workflow.py"
CONTEXT_ZH = "高速公路服务区管理系统：服务区、档口、车流量与营业收入"
CONTEXT_EN = "Highway service area operations: areas, shops, traffic and revenue"
PASSWORD = "S3cret-Pw_42"


def _query(dsn: str, sql: str, params=None) -> list[dict]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(sql, params)
            return [dict(r) for r in cur.fetchall()]
    finally:
        conn.close()


def _vector_counts(dsn: str) -> dict[str, int]:
    rows = _query(
        dsn,
        "SELECT c.name, count(e.id) AS n FROM langchain_pg_collection c "
        "LEFT JOIN langchain_pg_embedding e ON e.collection_id = c.uuid GROUP BY c.name",
    )
    return {r["name"]: r["n"] for r in rows}


@pytest.fixture(scope="module")
def cli_dsn(pg_admin_dsn, template_db) -> str:
    """One pipeline database for the module (the full run is shared by several tests)."""
    return new_database(pg_admin_dsn, template_db)


@pytest.fixture(scope="module")
def cli_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def env(cli_dsn, demo_dsn, cli_root) -> dict:
    keep = ("PATH", "HOME", "TMPDIR")
    base = {k: os.environ[k] for k in keep if k in os.environ}
    return {
        **base,
        "LC_ALL": "C.UTF-8",
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PIPELINE_DATABASE_URL": cli_dsn,
        "DATA_PIPELINE_ROOT": str(cli_root / "data"),
        "SOURCE_DEMO_URL": demo_dsn,
        "LOAD_DEMO_SOURCE": "false",
        "HEARTBEAT_INTERVAL_SECONDS": "1",
        "HEARTBEAT_TIMEOUT_SECONDS": "10",
    }


@pytest.fixture(scope="module")
def table_list(demo_dsn, cli_root) -> Path:
    """Every table of the demo database, with a comment line."""
    rows = _query(
        demo_dsn,
        "SELECT table_schema || '.' || table_name AS name FROM information_schema.tables "
        "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', "
        "'information_schema') ORDER BY 1",
    )
    assert len(rows) >= 5
    path = cli_root / "tables.txt"
    path.write_text("# 演示库的全部表 / all demo tables\n" + "\n".join(r["name"] for r in rows))
    return path


def run_cli(env: dict, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _manual_tasks(dsn: str) -> list[dict]:
    return _query(dsn, "SELECT * FROM data_pipeline_tasks WHERE created_by = 'manual' ORDER BY id")


@pytest.fixture(scope="module")
def full_run(env, cli_dsn, table_list):
    """One tracked complete run on the demo source, its progress sampled while it runs."""
    samples: list[tuple[str, int]] = []
    done = threading.Event()

    def sample() -> None:
        conn = psycopg2.connect(cli_dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                while not done.is_set():
                    cur.execute(
                        "SELECT status, progress FROM data_pipeline_tasks "
                        "WHERE created_by = 'manual' AND status = 'running'"
                    )
                    samples.extend(cur.fetchall())
                    time.sleep(0.02)
        finally:
            conn.close()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    proc = run_cli(
        env, "--db-connection", "source:demo", "--table-list", str(table_list),
        "--business-context", CONTEXT_ZH,
    )  # fmt: skip
    duration = time.monotonic() - started
    done.set()
    sampler.join(5)
    [task] = _manual_tasks(cli_dsn)
    return SimpleNamespace(
        proc=proc, task=task, folder=Path(task["output_directory"]), samples=samples,
        duration=duration, vectors=_vector_counts(cli_dsn),
    )  # fmt: skip


def test_full_run_exits_0_and_writes_every_file(full_run, env):
    proc = full_run.proc
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = full_run.folder
    assert folder.parent == Path(env["DATA_PIPELINE_ROOT"])
    names = [p.name for p in folder.iterdir()]
    assert any(n.endswith(".ddl") for n in names)
    assert any(n.endswith("_detail.md") for n in names)
    assert any(re.fullmatch(r"qs_demo_business_\d{8}_\d{6}_pair\.json", n) for n in names)
    assert any(re.fullmatch(r"sql_validation_\d{8}_\d{6}_summary\.log", n) for n in names)
    assert any(re.fullmatch(r"sql_validation_\d{8}_\d{6}_report\.json", n) for n in names)
    assert {"task_result.json", "data_pipeline.log", "table_list.txt"} <= set(names)
    result = json.loads((folder / "task_result.json").read_text("utf-8"))
    assert result["status"] == "completed" and list(result["steps"]) == list(STEP_NAMES)
    # Not a terminal: plain log lines, no progress bar; a summary at the end.
    assert "\r" not in proc.stdout and "status:   completed" in proc.stdout
    assert full_run.task["id"] in proc.stdout and str(folder) in proc.stdout
    print(f"full CLI run on the demo source: {full_run.duration:.1f} s")


def test_full_run_is_tracked_in_the_task_tables(full_run, cli_dsn):
    task = full_run.task
    assert re.fullmatch(r"manual_\d{8}_\d{6}(_[a-z0-9]{1,8})?", task["id"])
    assert task["status"] == "completed" and task["created_by"] == "manual"
    assert task["progress"] == 100 and task["db_name"] == "demo_business"
    assert task["step_status"] == dict.fromkeys(STEP_NAMES, "completed")
    assert task["result"]["status"] == "completed"
    executions = _query(
        cli_dsn, "SELECT * FROM data_pipeline_task_executions WHERE task_id = %s ORDER BY id",
        (task["id"],),
    )  # fmt: skip
    assert [(e["execution_step"], e["status"]) for e in executions] == [
        (s, "completed") for s in STEP_NAMES
    ]
    assert all(e["execution_id"].startswith(f"{task['id']}_step_") for e in executions)
    outputs = _query(
        cli_dsn, "SELECT * FROM data_pipeline_task_outputs WHERE task_id = %s", (task["id"],)
    )
    paths = {o["file_path"]: o for o in outputs}
    assert len(outputs) >= 10 and "task_result.json" in paths
    for path, row in paths.items():
        assert row["content_hash"] == sha256_of(full_run.folder / path), path
    primary = {p for p, o in paths.items() if o["is_primary"]}
    assert any(p.endswith("_pair.json") for p in primary) and "metadata.txt" in primary
    assert {o["step_name"] for o in outputs} >= set(STEP_NAMES) - {"training_load"}
    steps = _query(
        cli_dsn, "SELECT DISTINCT step_name FROM data_pipeline_task_logs WHERE task_id = %s",
        (task["id"],),
    )  # fmt: skip
    assert {r["step_name"] for r in steps} >= set(STEP_NAMES)
    # Progress, as sampled while running, never went backwards.
    values = [p for status, p in full_run.samples if status == "running"]
    assert values, "the run was never seen running"
    assert values == sorted(values) and values[-1] < 100


def test_full_run_loaded_vectors_and_step_4_again_adds_nothing(full_run, env, cli_dsn):
    before = full_run.vectors
    assert set(before) == {"sql", "ddl", "documentation"} and all(before.values())
    task_id = full_run.task["id"]
    again = run_cli(env, "--task-id", task_id, "--execution-mode", "single", "--single-step", "4")
    assert again.returncode == 0, again.stderr[-3000:]
    assert _vector_counts(cli_dsn) == before
    [task] = _manual_tasks(cli_dsn)
    assert task["status"] == "completed"  # every step is completed again
    last = _query(
        cli_dsn, "SELECT * FROM data_pipeline_task_executions WHERE task_id = %s "
        "ORDER BY id DESC LIMIT 1", (task_id,),
    )[0]  # fmt: skip
    assert last["execution_step"] == "training_load" and last["status"] == "completed"
    assert last["execution_result"]["totals"]["inserted"] == 0


def test_untracked_steps_1_then_2_in_one_folder(env, cli_dsn, table_list, tmp_path):
    out = tmp_path / "out"
    tasks_before = _query(cli_dsn, "SELECT count(*) AS n FROM data_pipeline_tasks")[0]["n"]
    common = ["--no-db-tracking", "--output-dir", str(out), "--db-connection", "source:demo",
              "--business-context", CONTEXT_EN]  # fmt: skip
    # Step 1 on a terminal: the live progress bar is drawn with carriage returns.
    code, screen = _run_on_a_terminal(
        env, *common, "--table-list", str(table_list), "--execution-mode", "single",
        "--single-step", "1",
    )  # fmt: skip
    assert code == 0, screen[-3000:]
    assert "\r" in screen and re.search(r"\[#+-*\]\s+\d+%  step 1/4 ddl_generation", screen)
    assert any(out.glob("*.ddl")) and any(out.glob("*_detail.md"))
    step2 = run_cli(env, *common, "--single-step", "2")
    assert step2.returncode == 0, step2.stderr[-3000:]
    assert "status:   partial_completed" in step2.stdout and "not tracked" in step2.stdout
    assert list(out.glob("qs_demo_business_*_pair.json")) and (out / "data_pipeline.log").is_file()
    result = json.loads((out / "task_result.json").read_text("utf-8"))
    assert result["tracked"] is False and list(result["steps"]) == ["qa_generation"]
    assert _query(cli_dsn, "SELECT count(*) AS n FROM data_pipeline_tasks")[0]["n"] == tasks_before


def _run_on_a_terminal(env: dict, *args: str, timeout: float = 120) -> tuple[int, str]:
    """Run the command line with a pseudo-terminal as stdout/stderr; return (code, output)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), *args], cwd=PROJECT_ROOT, env={"COLUMNS": "120", **env},
        stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
    )  # fmt: skip
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=10), b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--table-list", "BAD"], "line 3"),
        # A misspelt table is refused before any work (it used to end a run green).
        (["--table-list", "MISSPELT"], "table public.no_such_table does not exist"),
        (["--db-connection", "source:nowhere"], "unknown source 'nowhere'"),
        (["--execution-mode", "single"], "--single-step"),
        (["--execution-mode", "complete", "--single-step", "2"], "--single-step"),
        (["--single-step", "2", "--skip-steps", "3"], "complete mode only"),
        (["--skip-steps", "3,x"], "--skip-steps"),
        (["--task-id", "../etc"], "invalid task id"),
    ],
)
def test_bad_arguments_exit_2(args, message, env, cli_dsn, tmp_path):
    bad_list = tmp_path / "bad.txt"
    bad_list.write_text("# 表清单\npublic.service_area\n1bad-name\n", encoding="utf-8")
    good_list = tmp_path / "good.txt"
    good_list.write_text("public.service_area\n", encoding="utf-8")
    misspelt = tmp_path / "misspelt.txt"
    misspelt.write_text("service_area\nno_such_table\n", encoding="utf-8")
    files = {"BAD": str(bad_list), "MISSPELT": str(misspelt)}
    args = [files.get(a, a) for a in args]
    defaults = {"--db-connection": "source:demo", "--business-context": CONTEXT_ZH}
    for option, value in defaults.items():
        if option not in args:
            args += [option, value]
    if "--table-list" not in args:
        args += ["--table-list", str(good_list)]
    before = _query(cli_dsn, "SELECT count(*) AS n FROM data_pipeline_tasks")[0]["n"]
    proc = run_cli(env, *args, timeout=60)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _query(cli_dsn, "SELECT count(*) AS n FROM data_pipeline_tasks")[0]["n"] == before


def test_unreachable_business_database_exits_1_and_leaves_nothing_behind(env, cli_dsn, table_list):
    """A refused connection is found before the task is created: no failed manual_ task, no
    folder, the reason on stderr, the password masked everywhere."""
    dsn = f"postgresql://reader:{PASSWORD}@127.0.0.1:1/sales?connect_timeout=2"
    root = Path(env["DATA_PIPELINE_ROOT"])
    folders = set(root.iterdir()) if root.is_dir() else set()
    tasks = len(_manual_tasks(cli_dsn))
    proc = run_cli(
        env, "--db-connection", dsn, "--table-list", str(table_list), "--business-context",
        CONTEXT_EN,
    )  # fmt: skip
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert 'business database "sales" on 127.0.0.1:1' in proc.stderr
    assert "nothing was started" in proc.stderr and "Traceback" not in proc.stderr
    assert len(_manual_tasks(cli_dsn)) == tasks
    assert (set(root.iterdir()) if root.is_dir() else set()) == folders
    assert PASSWORD not in proc.stdout + proc.stderr


def test_an_unknown_task_id_says_so(env, cli_dsn):
    proc = run_cli(env, "--task-id", "manual_20990101_000000", "--single-step", "4", timeout=60)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "no task manual_20990101_000000 (give --db-connection" in proc.stderr
    assert "is required" not in proc.stderr


def test_json_prints_the_report_and_nothing_else_on_stdout(env, cli_dsn, table_list, tmp_path):
    out = tmp_path / "out"
    proc = run_cli(
        env, "--no-db-tracking", "--output-dir", str(out), "--db-connection", "source:demo",
        "--table-list", str(table_list), "--business-context", CONTEXT_EN, "--single-step", "1",
        "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report == json.loads((out / "task_result.json").read_text("utf-8"))
    assert report["status"] == "partial_completed" and "ddl_generation" in report["steps"]
    assert "step 1/1 ddl_generation started" in proc.stderr  # the log still goes to stderr


def test_quiet_prints_only_warnings_and_errors(env, cli_dsn, table_list, tmp_path):
    out = tmp_path / "out"
    common = ["--no-db-tracking", "--output-dir", str(out), "--db-connection", "source:demo",
              "--business-context", CONTEXT_EN, "--quiet"]  # fmt: skip
    proc = run_cli(env, *common, "--table-list", str(table_list), "--single-step", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == ""
    levels = {line.split()[2] for line in proc.stderr.splitlines() if line.strip()}
    assert levels <= {"WARNING", "ERROR", "CRITICAL"}, proc.stderr
    assert any(out.glob("*.ddl"))
    version = run_cli(env, "--version", timeout=30)
    assert version.returncode == 0 and re.fullmatch(
        r"schema_workflow\.py \d+\.\d+\.\d+\n", version.stdout
    )


def test_log_records_never_share_the_progress_bar_line(env, table_list, tmp_path):
    """On a terminal, every record (debug ones too, the server log's) is printed on a line of
    its own above the bar: what each line finally shows is either a bar or a record."""
    out = tmp_path / "out"
    code, screen = _run_on_a_terminal(
        {**env, "COLUMNS": "70"}, "--no-db-tracking", "--output-dir", str(out),
        "--db-connection", "source:demo", "--table-list", str(table_list),
        "--business-context", CONTEXT_EN, "--single-step", "1", "-v",
    )  # fmt: skip
    assert code == 0, screen[-3000:]
    shown = [line.rstrip("\r").split("\r\x1b[K")[-1] for line in screen.split("\n")]
    bars = [line for line in shown if "%  step" in line or line.startswith("[#")]
    records = [line for line in shown if re.match(r"\d{4}-\d\d-\d\d ", line)]
    assert bars and len(records) > 10
    bar = re.compile(r"\[[#-]{20}\]\s+\d+%(  step \d/\d \w+)?(  .*)?")
    assert all(bar.fullmatch(line) and len(line) < 70 for line in bars), bars
    assert not [line for line in records if "[#" in line or "%  step" in line]


def test_ctrl_c_exits_130_and_marks_the_task_cancelled(env, cli_dsn, table_list):
    # Many themes and questions keep step 2 busy for seconds, so the interrupt lands mid-run
    # even on a loaded machine.
    slow_env = {**env, "QA_THEME_COUNT": "20", "QA_QUESTIONS_PER_THEME": "100"}
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--db-connection", "source:demo", "--table-list",
         str(table_list), "--business-context", CONTEXT_ZH, "--skip-training-load"],
        cwd=PROJECT_ROOT, env=slow_env,
        # A shell that starts the test suite in the background leaves SIGINT ignored, and an
        # ignored signal stays ignored across exec: give the child the default, as a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    known = {t["id"] for t in _manual_tasks(cli_dsn)}
    deadline = time.monotonic() + 60
    task_id = None
    while time.monotonic() < deadline and proc.poll() is None:
        running = [t for t in _manual_tasks(cli_dsn) if t["id"] not in known]
        if (
            running
            and running[0]["status"] == "running"
            and running[0]["current_step"]
            in (
                "qa_generation",
                "sql_validation",
            )
        ):
            task_id = running[0]["id"]
            break
        time.sleep(0.02)
    assert task_id, "the run was never seen running"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    [task] = [t for t in _manual_tasks(cli_dsn) if t["id"] == task_id]
    assert task["status"] == "cancelled"
    assert "Traceback" not in err
    running = _query(
        cli_dsn, "SELECT count(*) AS n FROM data_pipeline_task_executions "
        "WHERE task_id = %s AND status = 'running'", (task_id,),
    )[0]["n"]  # fmt: skip
    assert running == 0


def test_ctrl_c_stops_within_a_second_while_llm_calls_hang(env, cli_dsn, table_list):
    """An LLM endpoint that never answers (60 s timeout, 3 retries by default): one Ctrl-C
    ends the CLI within about a second, exit 130, the task cancelled, nothing left running."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    arrived = threading.Event()
    release = threading.Event()

    class Hanging(BaseHTTPRequestHandler):
        def do_POST(self):
            arrived.set()
            release.wait(120)  # never answers while the test runs

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hanging)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    llm_env = {
        **env,
        "LLM_BASE_URL": f"http://127.0.0.1:{server.server_port}/v1",
        "LLM_API_KEY": "sk-test",
        "LLM_MODEL": "hanging-model",
    }
    known = {t["id"] for t in _manual_tasks(cli_dsn)}
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--db-connection", "source:demo", "--table-list",
         str(table_list), "--business-context", CONTEXT_ZH, "--single-step", "1"],
        cwd=PROJECT_ROOT, env=llm_env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert arrived.wait(60), "the run never called the LLM"
        time.sleep(0.3)  # several calls in flight (LLM_MAX_CONCURRENCY=4)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
        server.shutdown()
    assert proc.returncode == 130, (out, err)
    assert took < 3.0, f"Ctrl-C took {took:.1f} s"
    assert "stopping… (Ctrl-C again to force)" in err
    assert "Traceback" not in err
    [task] = [t for t in _manual_tasks(cli_dsn) if t["id"] not in known]
    assert task["status"] == "cancelled"
    running = _query(
        cli_dsn, "SELECT count(*) AS n FROM data_pipeline_task_executions "
        "WHERE task_id = %s AND status = 'running'", (task["id"],),
    )[0]["n"]  # fmt: skip
    assert running == 0
