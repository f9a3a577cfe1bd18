"""The workflow of one run: the steps in order, and what is recorded about them.

* :mod:`.orchestrator` — :class:`SchemaWorkflowOrchestrator`, which runs the plan;
* :mod:`.plan` — which steps a run executes (the only place that decides it);
* :mod:`.params` — the run's parameters; :mod:`.context` — what a step receives;
* :mod:`.registry` — the four steps by name, and their titles;
* :mod:`.tracking` — where a run is recorded: the task tables, or nowhere;
* :mod:`.run_logging`, :mod:`.report`, :mod:`.outputs` — the run's log handlers, progress and
  final report, and the registration of its output files.
* :mod:`.run` — :func:`~.run.run_workflow` for Python callers (a typed result), and the source
  check and tracked/untracked runs the command line shares with it.
"""
