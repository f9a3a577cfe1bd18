"""The installable package: ``pip wheel .`` builds, the wheel installs into a fresh virtual
environment, and its ``data-pipeline`` command runs from a folder outside the repository (its
SQL and console files come from the installed package, its data defaults from that folder).

Offline and fast: the wheel is built without build isolation (setuptools from
requirements-dev.txt) from a copy of the sources, and installed with ``--no-deps`` into a fresh
venv that reuses the project venv's packages through a ``.pth`` file (what
``--system-site-packages`` does for a system interpreter). A full ``pip install`` of the wheel
with its dependencies needs the package index (about 80 s here).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
import requests

import data_pipeline
from tests.conftest import new_database
from tests.support.server import free_port

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "requirements.txt", "app_config.py", "citu_app.py",
           "core", "data_pipeline", "sql")  # fmt: skip
CONTEXT = "Highway service area operations: areas, shops, traffic and revenue"


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, **kw)
    assert proc.returncode == 0, (cmd, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """Build the wheel, make a fresh venv, install the wheel in it; timings printed."""
    base = tmp_path_factory.mktemp("package")
    src = base / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "training_data", "build", "*.egg-info")
    for name in SOURCES:
        path = PROJECT_ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    wheels = base / "wheels"
    t0 = time.monotonic()
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--disable-pip-version-check", "-q", "-w", str(wheels), str(src)])  # fmt: skip
    built = time.monotonic() - t0
    [wheel] = wheels.glob("data_pipeline_api-*.whl")
    venv = base / "venv"
    t0 = time.monotonic()
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    purelib = Path(
        sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
    )  # fmt: skip
    purelib.mkdir(parents=True, exist_ok=True)
    # The project venv's packages, after the fresh venv's own (the wheel's code wins).
    reused = sysconfig.get_path("purelib")
    (purelib / "zz_project_venv.pth").write_text(reused + "\n", encoding="utf-8")
    _run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
          "--no-deps", "--no-index", "--disable-pip-version-check", "-q", str(wheel)])  # fmt: skip
    installed_in = time.monotonic() - t0
    print(f"wheel built in {built:.1f} s, fresh venv + install in {installed_in:.1f} s")
    return {"venv": venv, "wheel": wheel, "purelib": purelib}


@pytest.fixture
def outside(tmp_path) -> Path:
    """A working folder outside the repository."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    assert PROJECT_ROOT not in folder.parents
    return folder


def _env(extra: dict | None = None) -> dict:
    keep = ("PATH", "HOME", "TMPDIR")
    return {**{k: os.environ[k] for k in keep if k in os.environ}, "LC_ALL": "C.UTF-8",
            "LANG": "C.UTF-8", **(extra or {})}  # fmt: skip


def test_the_wheel_holds_the_code_and_its_data_files(installed):
    import zipfile

    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    assert {"app_config.py", "citu_app.py", "core/sql/migrations/001_task_tables.sql",
            "core/sql/demo/data.sql", "core/sql/queries/tasks.sql",
            "data_pipeline/console/static/index.html", "data_pipeline/cli/main.py",
            "data_pipeline/task_executor.py"} <= names  # fmt: skip
    assert not [n for n in names if "training_data" in n or n.endswith(".pyc")]


def test_console_script_version_and_help(installed, outside):
    script = installed["venv"] / "bin" / "data-pipeline"
    version = _run([str(script), "--version"], cwd=outside, env=_env())
    assert version.stdout.strip() == f"data-pipeline {data_pipeline.__version__}"
    usage = _run([str(script)], cwd=outside, env=_env()).stdout
    assert all(f"  {c}" in usage for c in ("run", "validate", "search", "serve", "worker"))
    text = _run([str(script), "run", "--help"], cwd=outside, env=_env()).stdout
    assert "usage: data-pipeline run" in text and "--json" in text
    # The other commands' help in one process (each start-up imports much of the package).
    helps = (
        "import contextlib, io, json; from data_pipeline.cli.main import main; out = {}\n"
        "for c in ('validate', 'search', 'serve', 'worker'):\n"
        "    buf = io.StringIO()\n"
        "    with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):\n"
        "        main([c, '--help'])\n"
        "    out[c] = buf.getvalue()\n"
        "print(json.dumps(out))"
    )
    python = str(installed["venv"] / "bin" / "python")
    texts = json.loads(_run([python, "-c", helps], cwd=outside, env=_env()).stdout)
    assert all(f"usage: data-pipeline {c}" in text for c, text in texts.items()), texts
    # The code, SQL and static files come from the installed package; data defaults from here.
    probe = (
        "import json, app_config, core.sql_queries as q, data_pipeline.console as c;"
        "cfg = app_config.Config();"
        "print(json.dumps({'code': app_config.__file__, 'sql': str(q.SQL_DIR),"
        " 'static': str(c.STATIC_DIR / 'index.html'), 'data': str(cfg.data_root),"
        " 'pg': str(cfg.embedded_pg_dir), 'checkout': app_config.SOURCE_CHECKOUT,"
        " 'queries': len(q.all_queries())}))"
    )
    where = json.loads(
        _run([python, "-c", probe], cwd=outside, env=_env()).stdout
    )  # fmt: skip
    purelib = str(installed["purelib"])
    assert where["code"].startswith(purelib) and where["checkout"] is False
    assert where["sql"] == f"{purelib}/core/sql" and where["queries"] > 20
    assert Path(where["static"]).is_file() and where["static"].startswith(purelib)
    assert where["data"] == str(outside / "var" / "training_data")
    assert where["pg"] == str(outside / "var" / "pgdata")


def test_an_untracked_step_one_run_from_outside_the_repository(
    installed, outside, demo_dsn, pg_admin_dsn
):
    (outside / "tables.txt").write_text("service_area\npublic.daily_revenue\n", encoding="utf-8")
    env = _env({"SOURCE_DEMO_URL": demo_dsn, "LOAD_DEMO_SOURCE": "false",
                "PIPELINE_DATABASE_URL": pg_admin_dsn})  # fmt: skip
    started = time.monotonic()
    proc = _run(
        [str(installed["venv"] / "bin" / "data-pipeline"), "run", "--no-db-tracking",
         "--single-step", "1", "--db-connection", "source:demo", "--table-list", "tables.txt",
         "--business-context", CONTEXT, "--output-dir", "out", "--json"],
        cwd=outside, env=env,
    )  # fmt: skip
    print(f"step 1 through the installed command: {time.monotonic() - started:.1f} s")
    report = json.loads(proc.stdout)  # stdout holds the report and nothing else
    assert report["status"] == "partial_completed" and report["tracked"] is False
    assert report["steps"]["ddl_generation"]["status"] == "completed"
    out = outside / "out"
    assert report["output_directory"] == str(out)
    assert sorted(p.name for p in out.glob("*.ddl")) == ["daily_revenue.ddl", "service_area.ddl"]
    assert (out / "task_result.json").is_file() and (out / "data_pipeline.log").is_file()
    assert not (outside / "var").exists()  # nothing else written here


def test_the_installed_service_serves_the_api_and_the_console(
    installed, outside, pg_admin_dsn, template_db
):
    """``data-pipeline serve``: migrations from the package's SQL, the console's files."""
    port = free_port()
    env = _env({"PIPELINE_DATABASE_URL": new_database(pg_admin_dsn, template_db),
                "LOAD_DEMO_SOURCE": "false", "DATA_PIPELINE_PORT": str(port)})  # fmt: skip
    log = (outside / "serve.log").open("w")
    proc = subprocess.Popen(
        [str(installed["venv"] / "bin" / "data-pipeline"), "serve", "--no-worker"],
        cwd=outside, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                ready = requests.get(f"{base}/api/v0/data_pipeline/ready", timeout=2)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, (outside / "serve.log").read_text("utf-8")
                time.sleep(0.2)
        else:
            raise AssertionError("the installed service never answered")
        assert ready.status_code == 200, ready.text
        page = requests.get(f"{base}/", timeout=5)
        assert page.status_code == 200 and "console" in page.text
        script = requests.get(f"{base}/console/static/js/app.js", timeout=5)
        assert script.status_code == 200 and "import" in script.text
        tasks = requests.get(f"{base}/api/v0/data_pipeline/tasks", timeout=5)
        assert tasks.status_code == 200 and tasks.json()["data"]["total"] == 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
