"""The workflow's command line (``python data_pipeline/schema_workflow.py``).

* :mod:`.workflow` — the parser, tracked and untracked runs, the end-of-run summary, exit codes;
* :mod:`.arguments` — options → run parameters, with messages a user can act on (exit code 2);
* :mod:`.progress` — the one-line progress bar redrawn on a terminal, log lines above it.
"""
