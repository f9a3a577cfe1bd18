"""LLM repair of failing SQL, grounded in the DDL of the tables the SQL touches.

The model sees the question, the SQL, PostgreSQL's error (and hint) and the DDL of the tables
the query reads (:class:`~data_pipeline.sql_validation.ddl_source.DDLSource`). Every proposal is
validated again exactly like the original; attempts are bounded and each one is recorded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import asdict, dataclass, field

from core.errors import Cancelled, ProviderError
from core.threads import abandoning_pool
from data_pipeline.schema.sql_checks import normalise_sql
from data_pipeline.sql_validation.ddl_source import DDLSource
from data_pipeline.sql_validation.sql_validator import SQLValidator, ValidationResult

logger = logging.getLogger(__name__)

PROVIDER_FAILURES_FATAL = 3  # consecutive provider errors that fail the step


# Repair -----------------------------------------------------------------------------------
@dataclass
class RepairAttempt:
    attempt: int
    sql: str | None  # the proposal (None: the model offered none)
    valid: bool
    error: str | None = None
    error_kind: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RepairOutcome:
    repaired_sql: str | None = None
    attempts: list[RepairAttempt] = field(default_factory=list)


def error_text(result: ValidationResult) -> str:
    """The error as the model sees it: message, PostgreSQL hint, kind."""
    text = result.error or "invalid"
    if result.hint:
        text += f"\nHint: {result.hint}"
    return f"{text}\n(error kind: {result.error_kind or 'other'})"


class SQLRepairer:
    """Asks the LLM for fixes and re-validates each one.

    Args:
        llm: an :class:`data_pipeline.llm.base.LLMProvider`.
        validator: checks every proposal exactly like the original SQL.
        ddl_source: DDL of the tables involved.
        max_attempts: proposals per SQL at most.
    """

    def __init__(
        self, llm, validator: SQLValidator, ddl_source: DDLSource, *, max_attempts: int = 2
    ):
        self.llm = llm
        self.validator = validator
        self.ddl_source = ddl_source
        self.max_attempts = max(0, int(max_attempts))
        self._lock = threading.Lock()
        self._provider_failures = 0  # consecutive, across all SQL

    def repair(self, question: str, sql: str, failure: ValidationResult) -> RepairOutcome:
        """Up to ``max_attempts`` proposals; stops at the first valid one."""
        outcome = RepairOutcome()
        current_sql, current = sql, failure
        seen = {normalise_sql(sql)}
        for number in range(1, self.max_attempts + 1):
            ddl = self.ddl_source.ddl_for(current_sql, sql)
            try:
                proposal = self.llm.repair_sql(question, current_sql, error_text(current), ddl)
                with self._lock:
                    self._provider_failures = 0
            except ProviderError as exc:
                # One bad answer is this SQL's problem; several in a row (each after the
                # provider's own retries) mean the provider is down: the step fails.
                with self._lock:
                    self._provider_failures += 1
                    down = self._provider_failures >= PROVIDER_FAILURES_FATAL
                if down:
                    raise
                outcome.attempts.append(
                    RepairAttempt(number, None, False, f"repair failed: {exc.message}", "other")
                )
                break
            except Cancelled:
                raise
            except Exception as exc:  # a bad answer is this SQL's problem only
                logger.warning("repair attempt %d failed: %s", number, exc)
                outcome.attempts.append(
                    RepairAttempt(number, None, False, f"repair failed: {exc}", "other")
                )
                break
            proposal = normalise_sql(proposal) if isinstance(proposal, str) else ""
            if not proposal:
                outcome.attempts.append(
                    RepairAttempt(number, None, False, "no repair offered", None)
                )
                break
            if proposal in seen:
                outcome.attempts.append(
                    RepairAttempt(number, proposal, False, "the same SQL was proposed again")
                )
                break
            seen.add(proposal)
            check = self.validator.validate(proposal)
            outcome.attempts.append(
                RepairAttempt(number, proposal, check.valid, check.error, check.error_kind)
            )
            if check.valid:
                outcome.repaired_sql = proposal
                break
            current_sql, current = proposal, check
        return outcome

    def repair_many(
        self,
        items: list[tuple[str, str, ValidationResult]],
        *,
        concurrency: int = 4,
        progress: Callable[[int, int], None] | None = None,
        is_cancelled: Callable[[], bool] | None = None,
    ) -> list[RepairOutcome]:
        """Repair ``(question, sql, failure)`` items concurrently; results in input order."""
        outcomes: list[RepairOutcome | None] = [None] * len(items)
        if not items:
            return []
        with abandoning_pool(max(1, min(concurrency, len(items))), "repair") as executor:
            futures = {executor.submit(self.repair, *item): i for i, item in enumerate(items)}
            pending = set(futures)
            done_count = 0
            try:
                while pending:
                    finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    for future in finished:
                        outcomes[futures[future]] = future.result()  # re-raises provider errors
                        done_count += 1
                    if finished and progress is not None:
                        progress(done_count, len(items))
                    if is_cancelled is not None and is_cancelled():
                        raise Cancelled("the run was cancelled")
            except BaseException:
                for future in pending:  # do not start more LLM calls
                    future.cancel()
                raise
        return outcomes  # type: ignore[return-value]
