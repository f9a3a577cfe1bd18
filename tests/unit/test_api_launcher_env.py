"""The executor gets the API's configuration through its environment, never its arguments."""

from __future__ import annotations

from app_config import DEMO_SOURCE_URL, Config
from data_pipeline.runs.launcher import child_environment, executor_command


def _config(tmp_path) -> Config:
    return Config(
        pipeline_database_url="postgresql://pipe:PipePw1@db.example/pipeline",
        vector_database_url="postgresql://vec:VecPw2@db.example/vectors",
        data_root=(tmp_path / "数据").resolve(),
        embedded_pg_dir=(tmp_path / "pg").resolve(),
        data_sources={"demo": DEMO_SOURCE_URL, "sales": "postgresql://r:SalesPw3@h/sales"},
        api_token="tok",
        max_concurrent_tasks=3,
        heartbeat_interval_seconds=0.5,
        heartbeat_timeout_seconds=2.5,
        monitor_enabled=False,
        enable_file_download=False,
        llm_base_url="http://127.0.0.1:9/v1",
        llm_api_key="sk-LlmKey4",
        embedding_dimension=256,
        task_timeout_hours=0.25,
        log_stream_max_seconds=30.0,
        pipeline_outage_tolerance_seconds=2.5,
    )


def test_child_rebuilds_the_same_config(tmp_path):
    cfg = _config(tmp_path)
    assert Config.from_env(cfg.to_env(), dotenv=False) == cfg
    default = Config(data_root=(tmp_path / "d").resolve())
    assert Config.from_env(default.to_env(), dotenv=False) == default


def test_outage_tolerance_reaches_the_executor(tmp_path):
    env = _config(tmp_path).to_env()
    assert env["PIPELINE_OUTAGE_TOLERANCE_SECONDS"] == "2.5"
    assert Config.from_env(env, dotenv=False).pipeline_outage_tolerance_seconds == 2.5


def test_inherited_settings_do_not_leak_into_the_child(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_OTHER_URL", "postgresql://x@h/other")
    monkeypatch.setenv("LLM_BASE_URL", "http://leaked")
    monkeypatch.setenv("UNRELATED_VARIABLE", "kept")
    cfg = Config(data_root=(tmp_path / "d").resolve(), data_sources={"demo": "postgresql://h/d"})
    env = child_environment(cfg)
    assert "SOURCE_OTHER_URL" not in env and "LLM_BASE_URL" not in env
    assert env["UNRELATED_VARIABLE"] == "kept"
    assert Config.from_env(env, dotenv=False).data_sources == {"demo": "postgresql://h/d"}


def test_command_line_carries_ids_and_options_only():
    cmd = executor_command(
        "task_20250301_080000_ab12", execution_mode="single", step_name="sql_validation",
        force=True, clean=True,
    )  # fmt: skip
    assert cmd[1].endswith("data_pipeline/task_executor.py")
    assert cmd[2:] == [
        "--task-id", "task_20250301_080000_ab12", "--execution-mode", "single",
        "--step-name", "sql_validation", "--force", "--clean",
    ]  # fmt: skip


def test_a_resumed_run_reaches_the_executor_with_its_start_step():
    from data_pipeline.runs.executor import build_parser

    cmd = executor_command("task_20250301_080000_ab12", start_step=3)
    assert cmd[2:] == [
        "--task-id", "task_20250301_080000_ab12", "--execution-mode", "complete",
        "--start-step", "3",
    ]  # fmt: skip
    assert build_parser().parse_args(cmd[2:]).start_step == 3
