"""What a run did not do of what it was asked: warnings drawn from the steps' summaries.

A run whose steps all completed but left work undone — a table step 1 could not document, a
theme step 2 could not generate, SQL that step 3 left invalid — ends ``partial_completed``
with these warnings in its report (and the task's detail), never a plain ``completed``.
"""

from __future__ import annotations

from collections.abc import Iterable


def step_warnings(step: str, summary: dict | None) -> list[str]:
    """Warnings of one completed step, from its summary (empty when nothing was left out)."""
    if not isinstance(summary, dict):
        return []
    found: list[str] = []
    if step == "ddl_generation":
        failed = summary.get("tables_failed") or []
        if failed:
            total = summary.get("tables_total") or len(failed)
            names = ", ".join(str(f.get("table")) for f in failed[:10])
            more = f" and {len(failed) - 10} more" if len(failed) > 10 else ""
            found.append(
                f"step 1: {len(failed)} of {total} table(s) could not be documented: {names}{more}"
            )
    elif step == "qa_generation":
        themes_failed = int(summary.get("themes_failed") or 0)
        if themes_failed:
            found.append(
                f"step 2: {themes_failed} of {summary.get('themes', '?')} theme(s) produced no "
                "pairs (the LLM failed or every pair was rejected)"
            )
    elif step == "sql_validation":
        invalid = int(summary.get("invalid") or 0)
        if invalid:
            removed = int(summary.get("removed") or 0)
            what = f"{removed} removed from the pair file" if removed else "kept in the pair file"
            found.append(
                f"step 3: {invalid} of {summary.get('total', '?')} SQL statement(s) stayed "
                f"invalid ({what})"
            )
    return found


def run_warnings(outcomes: Iterable) -> list[str]:
    """Warnings of every completed step of a run (``StepOutcome``s), in step order."""
    found: list[str] = []
    for outcome in outcomes:
        if getattr(outcome.status, "value", outcome.status) == "completed":
            found.extend(step_warnings(outcome.step, outcome.summary))
    return found
