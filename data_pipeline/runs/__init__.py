"""Runs as processes: starting, executing, keeping alive and settling them.

* :mod:`.launcher` — the API starts one detached executor process per run and cancels it by
  process group;
* :mod:`.executor` — the executor process itself (``data_pipeline/task_executor.py``);
* :mod:`.tracked` — one tracked run in this process (claim → logging → heartbeat → workflow →
  outcome), shared by the executor and the command line;
* :mod:`.heartbeat` — the heartbeat thread and the cancel flag;
* :mod:`.monitor` — the API's thread that fails zombie and overdue runs and applies retention.
"""
