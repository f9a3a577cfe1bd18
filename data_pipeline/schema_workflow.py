"""The workflow's command line and its orchestrator (SPEC §2, §9):

    python data_pipeline/schema_workflow.py --help
    python -m data_pipeline.schema_workflow --help

A thin entry point: the command line lives in :mod:`data_pipeline.cli.workflow`, the
orchestrator (:class:`SchemaWorkflowOrchestrator`, the four steps of one run) in
:mod:`data_pipeline.workflow.orchestrator`.
"""

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_pipeline.cli.workflow import main
from data_pipeline.workflow.orchestrator import SchemaWorkflowOrchestrator

__all__ = ["SchemaWorkflowOrchestrator", "main"]

if __name__ == "__main__":
    sys.exit(main())
