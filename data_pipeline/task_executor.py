"""The executor process the API starts for each run (SPEC §2, §5):

    python data_pipeline/task_executor.py --task-id ID [--execution-mode complete|single]
        [--single-step N | --step-name NAME] [--force] [--clean]

A thin entry point: the process's work lives in :mod:`data_pipeline.runs.executor` (claim,
heartbeat, cancel, exit watchdog) and :mod:`data_pipeline.runs.tracked` (the run itself).
Exit codes: 0 the run succeeded (or was no longer wanted), 1 it failed, 2 bad arguments,
130 it was cancelled.
"""

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_pipeline.runs.executor import main

if __name__ == "__main__":
    sys.exit(main())
