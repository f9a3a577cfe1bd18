"""Data Pipeline: turns a PostgreSQL business database into Text-to-SQL training data.

From Python: :func:`run_workflow` (one run of the workflow, returning a
:class:`WorkflowResult`); it is imported on first use, so ``import data_pipeline`` stays cheap
for the service and the executors.
"""

__version__ = "0.1.0"

__all__ = ["StepResult", "WorkflowResult", "__version__", "run_workflow"]


def __getattr__(name: str):
    if name in ("run_workflow", "WorkflowResult", "StepResult"):
        from data_pipeline.workflow import run

        return getattr(run, name)
    raise AttributeError(f"module 'data_pipeline' has no attribute {name!r}")
