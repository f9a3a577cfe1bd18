"""Pure parts of the workflow command line: argument checks, the progress bar, the summary."""

from __future__ import annotations

import io
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app_config import Config
from core.errors import InvalidInput
from data_pipeline.cli.arguments import UsageError, build_params
from data_pipeline.cli.progress import ProgressDisplay, fit, render
from data_pipeline.cli.workflow import build_parser, format_summary
from data_pipeline.runs.executor import build_parser as executor_parser
from data_pipeline.workflow.plan import params_for_run as run_params

CONFIG = Config(data_sources={"demo": "postgresql://reader@localhost/demo_business"})
BASE = ["--db-connection", "source:demo", "--business-context", "高速公路服务区"]


def _params(*argv: str):
    args = build_parser().parse_args([*BASE, *argv])
    return build_params(args, None, ["public.service_area"], None, CONFIG)


def test_options_become_parameters():
    params, db_name, source = _params(
        "--start-step", "2", "--skip-steps", "4,3", "--no-modify-file"
    )
    assert db_name == "demo_business" and source == CONFIG.data_sources["demo"]
    assert (params.start_step, params.skip_steps, params.modify_original_file) == (2, [3, 4], False)
    assert params.table_list_file == "table_list.txt" and params.table_list is None
    params, _, _ = _params("--single-step", "3")
    assert (params.execution_mode, params.single_step) == ("single", 3)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--execution-mode", "single"], "--execution-mode 'single' needs --single-step 1-4"),
        (["--execution-mode", "complete", "--single-step", "1"], "--single-step is only valid"),
        (["--start-step", "3", "--end-step", "2"], "--start-step must not be after --end-step"),
        (["--skip-steps", "0"], "steps are numbered 1-4"),
        (["--business-context", "  "], "--business-context:"),
        (["--db-connection", "mysql://u:pw@h/db"], "must be source:NAME or a PostgreSQL DSN"),
    ],
)
def test_bad_combinations_are_usage_errors_in_cli_terms(argv, message):
    with pytest.raises(UsageError) as err:
        _params(*argv)
    assert message in str(err.value)
    assert "pw@" not in str(err.value)


def test_step_one_needs_a_table_list():
    args = build_parser().parse_args(BASE)
    with pytest.raises(UsageError, match="--table-list is required"):
        build_params(args, None, None, None, CONFIG)
    args = build_parser().parse_args([*BASE, "--start-step", "2"])
    assert build_params(args, None, None, None, CONFIG)[0].start_step == 2


def test_executor_applies_the_run_mode_to_the_stored_parameters():
    stored = {"db_connection": "source:demo", "business_context": "x", "table_list": ["a"]}
    assert run_params(stored, None, "training_load").single_step == 4
    assert run_params(stored, "single", 2).execution_mode == "single"
    single = {**stored, "execution_mode": "single", "single_step": 2}
    assert run_params(single, "complete", None).single_step is None
    with pytest.raises(InvalidInput):
        run_params(stored, "single", None)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_is_redrawn_in_place_and_logs_go_above_it():
    screen = _Terminal()
    display = ProgressDisplay(screen, min_interval=0)
    display.update(25, "qa_generation", "主题 2/5")
    handler = display.log_handler(screen)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.emit(logging.LogRecord("x", logging.INFO, "f", 1, "a log line", None, None))
    display.finish()
    text = screen.getvalue()
    assert text.startswith("\r\x1b[K[#####---------------]  25%  step 2/4 qa_generation  主题 2/5")
    # cleared, the line printed, the bar drawn again below it
    assert "\r\x1b[Ka log line\n\r\x1b[K[#####" in text and text.endswith("\n")
    assert not ProgressDisplay(io.StringIO()).enabled  # not a terminal: no bar


def test_anything_written_to_stderr_goes_above_the_bar(monkeypatch):
    """A record of any handler (the server log's, a library's) or a plain message never lands
    on the bar's line: the guarded stderr clears the line first and redraws after it."""
    screen = _Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    display = ProgressDisplay(screen, min_interval=0)
    with display.guard_stderr():
        display.update(40, "qa_generation")
        other = logging.StreamHandler()  # made while guarded, as configure_server_log does
        other.setFormatter(logging.Formatter("%(message)s"))
        other.emit(logging.LogRecord("x", logging.WARNING, "f", 1, "a warning", None, None))
        print("part", end="", file=sys.stderr)
        print(" and the rest", file=sys.stderr)
        assert isinstance(display.log_handler(), logging.StreamHandler)
    assert sys.stderr is screen
    display.finish()
    text = screen.getvalue()
    bar = "[########------------]  40%  step 2/4 qa_generation"
    assert (
        f"{bar}\r\x1b[Ka warning\n\r\x1b[K{bar}\r\x1b[Kpart and the rest\n\r\x1b[K{bar}\n" in text
    )
    shown = [line.split("\r\x1b[K")[-1] for line in text.split("\n")]  # what each line ends as
    assert shown == ["a warning", "part and the rest", bar, ""]


def test_bar_fits_the_terminal_counting_wide_characters():
    assert fit("服务区abc", 7) == "服务区a"
    assert fit("a→b…c", 4) == "a→b"  # ambiguous width (→, …): counted as two cells
    line = render(50, "ddl_generation", "表 " * 100, columns=40)
    assert sum(2 if ord(c) > 0x2E80 else 1 for c in line) <= 39


def test_summary_masks_passwords():
    report = {
        "status": "failed",
        "task_id": "manual_20250101_120000",
        "tracked": True,
        "output_directory": "/data/manual_20250101_120000",
        "steps": {
            "ddl_generation": {
                "number": 1,
                "step": "ddl_generation",
                "status": "failed",
                "duration_seconds": 0.5,
                "summary": None,
            },
        },
        "totals": {"output_files": 1, "output_bytes": 10},
        "duration_seconds": 0.6,
        "error": {"message": "cannot reach postgresql://reader:secret@db.example/sales"},
    }
    text = format_summary(report)
    assert "secret" not in text and "reader:***@db.example" in text
    assert "1 ddl_generation" in text and "failed" in text


def test_readme_documents_every_option():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    section = re.search(r"<!-- section:cli -->(.*)<!-- /section:cli -->", readme, re.S)[1]
    for parser in (build_parser(), executor_parser()):
        for action in parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help", "--verbose"):
                    assert f"`{option}" in section or f" {option}" in section, option


@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "new"),
    [
        ("data_pipeline.validators", "data_pipeline.sql_validation"),
        ("data_pipeline.trainer.search", "data_pipeline.training_load.search"),
    ],
)
def test_the_steps_former_module_paths_still_run(module, new):
    """Commands documented before the step packages were renamed keep working."""
    old = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60
    )
    current = subprocess.run(
        [sys.executable, "-m", new, "--help"], capture_output=True, text=True, timeout=60
    )
    assert old.returncode == current.returncode == 0, old.stderr
    assert old.stdout == current.stdout
