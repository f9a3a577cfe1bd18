"""Step 3 (``sql_validation``): every generated SQL must really run before it is loaded.

* :class:`~data_pipeline.validators.sql_validator.SQLValidator` — static check, then EXPLAIN
  (or a bounded read-only execution) on a small connection pool, concurrently.
* :mod:`~data_pipeline.validators.repair` — LLM repair grounded in the DDL of the tables a
  query touches, each repair re-validated.
* :mod:`~data_pipeline.validators.file_modifier` — applies repairs/removals to the pair file.
* :mod:`~data_pipeline.validators.report` — summary log and JSON report.
* :mod:`~data_pipeline.validators.step` — ``run(ctx)`` for the workflow; ``python -m
  data_pipeline.validators`` for the command line.
"""

from data_pipeline.validators.sql_validator import SQLValidator, ValidationResult

__all__ = ["SQLValidator", "ValidationResult"]
