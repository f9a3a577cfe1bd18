"""The run plan: which steps a run executes, in order, and which of them it records as skipped.

Every part that needs to know what a run will do (the orchestrator, the API's create and
execute routes, the command line, the executor) asks :func:`plan_run`; nothing else computes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import InvalidInput
from data_pipeline.tasks.models import STEP_NAMES, step_name_of, step_number_of
from data_pipeline.workflow.params import WorkflowParams

# Steps an option turns off, and the reason recorded when they are skipped for it.
DISABLED_BY = {
    "sql_validation": ("enable_sql_validation", "enable_sql_validation is off"),
    "training_load": ("enable_training_data_load", "enable_training_data_load is off"),
}


@dataclass(frozen=True)
class PlannedStep:
    """One step of a run; ``skip`` is why it is recorded as skipped instead of run."""

    name: str
    skip: str | None = None

    @property
    def number(self) -> int:
        return step_number_of(self.name)


@dataclass(frozen=True)
class RunPlan:
    """The steps of one run, in order (skipped ones included: they are recorded)."""

    entries: tuple[PlannedStep, ...]

    @property
    def steps(self) -> list[str]:
        """Every step of the run, skipped ones included."""
        return [e.name for e in self.entries]

    @property
    def to_run(self) -> list[str]:
        """The steps that really run (not skipped for any reason)."""
        return [e.name for e in self.entries if not e.skip]

    @property
    def first(self) -> str | None:
        """The earliest step of the run: it and every step after it start again as pending."""
        return self.entries[0].name if self.entries else None

    def reset_steps(self) -> list[str]:
        """The steps a new run sends back to ``pending``: its first step and all later ones."""
        if self.first is None:
            return []
        return list(STEP_NAMES[STEP_NAMES.index(self.first) :])

    def runs(self, step: str) -> bool:
        return step in self.to_run

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)


def plan_run(params: WorkflowParams, steps: list[str | int] | None = None) -> RunPlan:
    """The plan of a run with ``params``.

    ``single`` mode runs its one step. ``complete`` mode covers ``start_step``..``end_step``;
    steps in ``skip_steps`` and steps turned off by an option are recorded as skipped.
    ``steps`` (names or numbers) runs exactly those steps instead.
    """
    if steps:
        return RunPlan(tuple(PlannedStep(step_name_of(s)) for s in steps))
    if params.execution_mode == "single":
        return RunPlan((PlannedStep(STEP_NAMES[params.single_step - 1]),))
    entries = []
    for number in range(params.start_step, params.end_step + 1):
        name = STEP_NAMES[number - 1]
        skip = "skip_steps" if number in params.skip_steps else None
        option, reason = DISABLED_BY.get(name, (None, None))
        if skip is None and option is not None and not getattr(params, option):
            skip = reason
        entries.append(PlannedStep(name, skip))
    return RunPlan(tuple(entries))


def params_for_run(
    parameters: dict,
    execution_mode: str | None = None,
    step: int | str | None = None,
    *,
    start_step: int | None = None,
) -> WorkflowParams:
    """A task's stored parameters with the mode of one run applied (validated).

    Args:
        parameters: the task's parameters.
        execution_mode: ``complete`` runs the whole workflow whatever the task was created
            with; ``single`` needs ``step`` unless the task is in single mode already.
        step: run this one step (number or name).
        start_step: complete mode from this step to the task's end step (resuming a stopped
            run); the task's ``skip_steps`` still apply.
    """
    values = dict(parameters)
    if start_step is not None:
        if step is not None or execution_mode == "single":
            raise InvalidInput("start_step resumes the whole workflow: not with a single step")
        values.update(execution_mode="complete", single_step=None, start_step=start_step)
        if int(values.get("end_step") or 4) < start_step:
            values["end_step"] = 4
    elif step is not None:
        values.update(execution_mode="single", single_step=step_number_of(step_name_of(step)))
    elif execution_mode == "complete":
        values.update(execution_mode="complete", single_step=None)
    elif execution_mode == "single" and values.get("execution_mode") != "single":
        raise InvalidInput("--execution-mode single needs --single-step or --step-name")
    return WorkflowParams(**values)
