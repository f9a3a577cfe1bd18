"""The parameters of a pipeline run (API body ``parameters`` and the command line alike).

What a run executes follows from them through :func:`data_pipeline.workflow.plan.plan_run`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class WorkflowParams(BaseModel):
    """Validated parameters of a run. Unknown keys are refused so typos are noticed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    db_connection: str = Field(min_length=1, max_length=2000)
    table_list: list[str] | None = Field(default=None, max_length=5000)
    table_list_file: str | None = Field(default=None, max_length=255)
    business_context: str = Field(min_length=1, max_length=4000)
    db_name: str | None = Field(default=None, max_length=100)

    execution_mode: Literal["complete", "single"] = "complete"
    single_step: int | None = None
    start_step: int = Field(default=1, ge=1, le=4)
    end_step: int = Field(default=4, ge=1, le=4)
    skip_steps: list[int] = Field(default_factory=list)

    enable_sql_validation: bool = True
    enable_llm_repair: bool = True
    modify_original_file: bool = True
    enable_training_data_load: bool = True
    backup_vector_tables: bool = False
    truncate_vector_tables: bool = False
    load_pairs: Literal["all", "approved"] = Field(
        default="all",
        description="step 4: every pair of the pair file, or only those approved in curation",
    )

    # Step settings (None -> the configured default).
    sample_rows: int | None = Field(default=None, ge=0, le=1000)
    theme_count: int | None = Field(default=None, ge=1, le=50)
    questions_per_theme: int | None = Field(default=None, ge=1, le=100)
    validation_level: Literal["explain", "execute"] = "explain"
    validation_max_concurrency: int | None = Field(default=None, ge=1, le=32)
    repair_max_attempts: int | None = Field(default=None, ge=0, le=5)

    @field_validator("skip_steps")
    @classmethod
    def _steps_in_range(cls, value: list[int]) -> list[int]:
        bad = [s for s in value if not 1 <= s <= 4]
        if bad:
            raise ValueError(f"steps are numbered 1-4, got {bad}")
        return sorted(set(value))

    @model_validator(mode="after")
    def _mode_rules(self) -> WorkflowParams:
        if self.execution_mode == "single":
            if self.single_step is None or not 1 <= self.single_step <= 4:
                raise ValueError("execution_mode 'single' needs single_step 1-4")
        elif self.single_step is not None:
            raise ValueError("single_step is only valid with execution_mode 'single'")
        if self.start_step > self.end_step:
            raise ValueError("start_step must not be after end_step")
        return self
