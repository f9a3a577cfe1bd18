"""The package's description in pyproject.toml matches the tree: every package folder is
listed (the list is explicit because sql/ is shipped inside core), the data files the code
reads at run time are included, one version, and the dispatcher knows every command."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

import data_pipeline
from app_config import SOURCE_CHECKOUT, Config, home_dir
from core.sql_queries import SQL_DIR
from data_pipeline.cli import main as dispatcher

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def _package_folders() -> set[str]:
    found = set()
    for top in ("core", "data_pipeline"):
        for init in (ROOT / top).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT).parts
            if "training_data" in parts or "static" in parts or "__pycache__" in parts:
                continue
            found.add(".".join(parts))
    return found


def test_every_package_folder_is_listed():
    assert set(SETUPTOOLS["packages"]) == _package_folders() | {"core.sql"}
    assert SETUPTOOLS["package-dir"] == {"core.sql": "sql"}
    assert set(SETUPTOOLS["py-modules"]) == {"app_config", "citu_app"}


def _matches(patterns: list[str], base: Path, files: list[Path]) -> list[Path]:
    rel = [f.relative_to(base).as_posix() for f in files]
    return [
        f
        for f, r in zip(files, rel, strict=True)
        if not any(fnmatch.fnmatch(r, p) for p in patterns)
    ]


def test_run_time_data_files_are_included():
    data = SETUPTOOLS["package-data"]
    sql_files = [p for p in (ROOT / "sql").rglob("*") if p.is_file()]
    assert any(p.name == "data.sql" for p in sql_files)  # the demo loader's data
    assert _matches(data["core.sql"], ROOT / "sql", sql_files) == []
    static = ROOT / "data_pipeline" / "console" / "static"
    static_files = [p for p in static.rglob("*") if p.is_file()]
    assert len(static_files) > 5
    assert _matches(data["data_pipeline.console"], static.parent, static_files) == []


def test_one_version_and_every_command_dispatched():
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "data_pipeline.__version__"
    }
    assert "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["project"]["scripts"] == {"data-pipeline": "data_pipeline.cli.main:main"}
    assert set(dispatcher.COMMANDS) == {"run", "validate", "search", "serve", "worker"}
    assert data_pipeline.__version__.count(".") == 2


def test_dispatcher_version_and_unknown_command(capsys):
    assert dispatcher.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"data-pipeline {data_pipeline.__version__}"
    assert dispatcher.main(["nope"]) == 2
    assert "unknown command 'nope'" in capsys.readouterr().err


def test_a_checkout_keeps_its_data_beside_the_code():
    assert SOURCE_CHECKOUT and home_dir() == ROOT and SQL_DIR == ROOT / "sql"
    config = Config()
    assert config.embedded_pg_dir == ROOT / "var" / "pgdata"
    assert config.data_root == ROOT / "data_pipeline" / "training_data"
    assert config.server_log_file == ROOT / "var" / "log" / "server.log"
