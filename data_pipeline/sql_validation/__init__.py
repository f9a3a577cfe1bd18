"""Step 3 (``sql_validation``): every generated SQL must really run before it is loaded.

* :class:`~data_pipeline.sql_validation.sql_validator.SQLValidator` — static check, then EXPLAIN
  (or a bounded read-only execution) on a small connection pool, concurrently.
* :mod:`~data_pipeline.sql_validation.repair` — LLM repair grounded in the DDL of the tables a
  query touches, each repair re-validated.
* :mod:`~data_pipeline.sql_validation.file_modifier` — applies repairs/removals to the pair file.
* :mod:`~data_pipeline.sql_validation.report` — summary log and JSON report.
* :mod:`~data_pipeline.sql_validation.step` — ``run(ctx)`` for the workflow; ``python -m
  data_pipeline.sql_validation`` for the command line.
"""

from data_pipeline.sql_validation.sql_validator import SQLValidator, ValidationResult

__all__ = ["SQLValidator", "ValidationResult"]
