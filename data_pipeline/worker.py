"""``python -m data_pipeline.worker``: a worker only — takes queued runs and runs them.

Every worker, whatever its host, reads ``PIPELINE_DATABASE_URL`` (the queue and the task
tables), its own ``DATA_PIPELINE_ROOT`` (its working copies of task folders) and the sources'
settings (``DATA_SOURCES``, ``SOURCE_<NAME>_URL``), which must name the same databases on every
node. ``MAX_CONCURRENT_TASKS`` holds across all workers; ``--concurrency`` bounds this one.
"""

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_pipeline.jobqueue.cli import main

if __name__ == "__main__":
    sys.exit(main())
