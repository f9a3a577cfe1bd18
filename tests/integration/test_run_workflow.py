"""``run_workflow(...)`` from Python: a typed result built from the run's report, on the demo
source; bad arguments and a source that cannot be reached raise before anything is made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import InvalidInput, SourceUnavailable
from data_pipeline import StepResult, WorkflowResult, run_workflow

CONTEXT = "Highway service areas: areas, shops, traffic and revenue"


def test_step_one_untracked_returns_a_typed_result(config, tmp_path, pipeline_dsn):
    out = tmp_path / "out"
    seen: list[int] = []
    result = run_workflow(
        db_connection="source:demo",
        table_list=["service_area", "public.daily_revenue"],
        business_context=CONTEXT,
        single_step=1,
        tracked=False,
        output_dir=out,
        config=config,
        progress=lambda pct, step, note: seen.append(pct),
    )
    assert isinstance(result, WorkflowResult) and result.ok
    assert result.status == "partial_completed"  # one step of four: work left undone
    assert result.tracked is False and result.output_directory == out.resolve()
    assert result.task_id is None  # untracked: no task
    [step] = result.steps
    assert isinstance(step, StepResult)
    assert (step.step, step.number, step.status) == ("ddl_generation", 1, "completed")
    assert step.duration_seconds is not None and step.summary["tables_succeeded"] == 2
    assert result.error is None and seen
    assert sorted(p.name for p in out.glob("*.ddl")) == ["daily_revenue.ddl", "service_area.ddl"]
    assert (out / "table_list.txt").read_text("utf-8").split() == [
        "public.service_area",
        "public.daily_revenue",
    ]
    on_disk = json.loads((out / "task_result.json").read_text("utf-8"))
    assert on_disk["status"] == result.status and result.report == on_disk
    as_dict = result.to_dict()
    assert json.loads(json.dumps(as_dict))["steps"][0]["status"] == "completed"
    assert result.step("ddl_generation") == step and result.step("qa_generation") is None


def test_bad_arguments_and_unknown_tables_raise_before_any_work(config, tmp_path):
    out = tmp_path / "out"
    common = {"business_context": CONTEXT, "tracked": False, "output_dir": out, "config": config}
    with pytest.raises(InvalidInput, match="no_such_table"):
        run_workflow(db_connection="source:demo", table_list=["no_such_table"], single_step=1,
                     **common)  # fmt: skip
    with pytest.raises(InvalidInput, match="unknown source 'nowhere'"):
        run_workflow(db_connection="source:nowhere", table_list=["a"], single_step=1, **common)
    with pytest.raises(InvalidInput, match="single_step"):
        run_workflow(db_connection="source:demo", table_list=["a"], single_step=7, **common)
    assert not out.exists()


def test_an_unreachable_source_raises_and_creates_nothing(config, tmp_path):
    out = tmp_path / "out"
    dsn = "postgresql://reader:S3cret@127.0.0.1:1/sales"
    with pytest.raises(SourceUnavailable) as err:
        run_workflow(db_connection=dsn, table_list=["t"], business_context=CONTEXT,
                     single_step=1, tracked=False, output_dir=out, config=config)  # fmt: skip
    assert "S3cret" not in str(err.value) and not Path(out).exists()
