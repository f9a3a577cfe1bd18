"""Step 2, ``qa_generation``: business themes, then question→SQL pairs per theme.

Inputs: ``schema_metadata.json`` and the ``*_detail.md`` files of step 1, and the business
context. Every SQL kept is one read-only SELECT/WITH that parses as PostgreSQL and names only
existing tables and columns (:mod:`data_pipeline.schema.sql_checks`); exact and template duplicates
are removed (:mod:`.dedupe`). Themes are saved as they finish (:mod:`.progress`).

Outputs: ``qs_<db>_<YYYYMMDD_HHMMSS>_pair.json``, ``metadata.txt``, ``metadata_detail.md``.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from pathlib import Path

from core.errors import ProviderError, StepFailed
from data_pipeline.llm import get_llm
from data_pipeline.llm.base import LLMProvider, QuestionSQL, Theme
from data_pipeline.llm.rules.sqlgen import untranslated_names
from data_pipeline.llm.rules.words import language_of
from data_pipeline.qa_generation import inputs, writers
from data_pipeline.qa_generation.progress import PROGRESS_FILE, Progress
from data_pipeline.schema.dedupe import Deduplicator
from data_pipeline.schema.model import SchemaMetadata
from data_pipeline.schema.sql_checks import (
    SQLCheckError,
    check_names,
    normalise_sql,
    parse_single_select,
)
from data_pipeline.workflow.context import StepContext

logger = logging.getLogger(__name__)

MAX_TOP_UP = 1000  # most pairs asked of a rule-based provider to fill a theme


def missing_inputs(task_dir: Path) -> str | None:
    """Why step 2 cannot run yet (naming step 1), or None."""
    return inputs.missing_inputs(task_dir)


def output_files(task_dir: Path) -> list[Path]:
    """The files step 2 writes (removed by a ``clean`` re-run)."""
    task_dir = Path(task_dir)
    names = [writers.METADATA_SQL, writers.METADATA_MD, PROGRESS_FILE]
    found = sorted(task_dir.glob(writers.PAIR_GLOB))
    return found + [task_dir / n for n in names if (task_dir / n).exists()]


def check_pair(pair: QuestionSQL, schema: SchemaMetadata) -> tuple[QuestionSQL | None, str]:
    """The pair cleaned up and "" when it may be kept, else (None, reason)."""
    question = (pair.question or "").strip()
    if not question:
        return None, "empty question"
    sql = normalise_sql(pair.sql or "")
    try:
        expression = parse_single_select(sql)
    except SQLCheckError as exc:
        return None, str(exc)
    problems = check_names(expression, schema)
    if problems:
        return None, "; ".join(problems)
    return QuestionSQL(question, sql), ""


def reason_kind(reason: str) -> str:
    """A short category of a rejection reason, for the summary."""
    text = reason.lower()
    for key, words in (
        ("empty_question", ("empty question",)),
        ("syntax_error", ("syntax error", "cannot parse", "empty sql")),
        ("unknown_table", ("unknown table",)),
        ("unknown_column", ("column",)),
        ("multiple_statements", ("exactly one statement",)),
    ):
        if any(w in text for w in words):
            return key
    return "not_read_only_select"


class _ThemeRun:
    """Validation and dedupe state shared by all themes of one run."""

    def __init__(self, schema: SchemaMetadata, progress: Progress):
        self.schema = schema
        self.seen = Deduplicator()
        self.rejected: Counter = Counter(progress.stats.get("rejected") or {})
        self.generated = int(progress.stats.get("pairs_generated", 0))
        self.duplicates = int(progress.stats.get("duplicates_removed", 0))
        self.themes_failed = int(progress.stats.get("themes_failed", 0))
        for pairs in progress.pairs.values():
            for pair in pairs:
                self.seen.add(pair.question, pair.sql)

    def accept(self, raw: list[QuestionSQL], kept: list[QuestionSQL], limit: int, count: bool):
        """Validate ``raw`` pairs into ``kept`` up to ``limit``; ``count`` updates counters."""
        for pair in raw:
            if len(kept) >= limit:
                break
            if count:
                self.generated += 1
            clean, reason = check_pair(pair, self.schema)
            if clean is None:
                if count:
                    self.rejected[reason_kind(reason)] += 1
                    logger.info("rejected SQL (%s): %s", reason, (pair.sql or "")[:300])
                continue
            duplicate = self.seen.add(clean.question, clean.sql)
            if duplicate:
                if count:
                    self.duplicates += 1
                    logger.debug("%s: %s", duplicate, clean.question)
                continue
            kept.append(clean)

    def stats(self) -> dict:
        return {
            "pairs_generated": self.generated,
            "rejected": dict(sorted(self.rejected.items())),
            "duplicates_removed": self.duplicates,
            "themes_failed": self.themes_failed,
        }


def _valid_themes(themes: list[Theme], schema: SchemaMetadata, count: int) -> list[Theme]:
    """Themes naming at least one known table (unknown names dropped), at most ``count``."""
    known = {t.qualified_name for t in schema.tables}
    bare = {t.name: t.qualified_name for t in schema.tables if t.schema == "public"}
    kept: list[Theme] = []
    for theme in themes:
        tables = []
        for name in theme.tables:
            full = name if name in known else bare.get(name)
            if full and full not in tables:
                tables.append(full)
        if not tables or not (theme.name or "").strip():
            logger.info("theme %r dropped: it names no listed table", theme.name)
            continue
        theme.tables = tables
        kept.append(theme)
    return kept[:count]


def _top_up(llm, theme, schema, business_context, markdown, per_theme, state, kept) -> None:
    """Fill a theme left short by duplicates of earlier themes or rejections.

    A rule-based provider is cheap and returns the same pairs first, then new ones: ask for
    more and more until the theme is full or the provider has nothing new. A model is asked
    once more.
    """
    if not llm.is_rule_based:
        extra = llm.generate_pairs(theme, schema, business_context, per_theme, markdown)
        state.accept(list(extra or []), kept, per_theme, count=True)
        return
    more = per_theme * 3
    while len(kept) < per_theme:
        extra = list(llm.generate_pairs(theme, schema, business_context, more, markdown) or [])
        state.accept(extra, kept, per_theme, count=False)
        if len(extra) < more or more >= MAX_TOP_UP:
            return
        more = min(more * 2, MAX_TOP_UP)


def pairs_per_theme(ctx: StepContext, theme_count: int, table_count: int) -> int:
    """Pairs asked per theme: the run's ``questions_per_theme`` when given, else enough for
    ``QA_PAIRS_PER_TABLE`` pairs per listed table (at least ``QA_QUESTIONS_PER_THEME``), the
    whole never above ``QA_MAX_PAIRS``."""
    if ctx.params.questions_per_theme is not None:
        return int(ctx.params.questions_per_theme)
    config = ctx.config
    base = int(config.qa_questions_per_theme)
    wanted = max(base * theme_count, int(config.qa_pairs_per_table) * table_count)
    wanted = min(wanted, max(int(config.qa_max_pairs), theme_count))
    return max(1, -(-wanted // theme_count))  # ceil


def run(ctx: StepContext) -> dict:
    """Generate themes and pairs into the task folder; return the step summary."""
    problem = missing_inputs(ctx.task_dir)
    if problem:
        raise StepFailed(problem)
    ctx.check_cancelled()
    schema = inputs.load_schema(ctx.task_dir)
    if not schema.tables:
        raise StepFailed("schema_metadata.json lists no table: run step 1 with a table list")
    docs = inputs.load_details(ctx.task_dir, schema)
    llm: LLMProvider = ctx.llm or get_llm(ctx.config)
    business_context = ctx.params.business_context
    theme_count = int(ctx.setting("theme_count"))
    per_theme = pairs_per_theme(ctx, theme_count, len(schema.tables))
    run_inputs = {
        "db_name": schema.db_name,
        "tables": sorted(t.qualified_name for t in schema.tables),
        "business_context": business_context,
        "theme_count": theme_count,
        "questions_per_theme": per_theme,
        "provider": llm.describe(),
    }
    progress = Progress.resume(ctx.task_dir, run_inputs)
    resumed = progress is not None
    if progress is None:
        progress = Progress(inputs=run_inputs)
        markdown = inputs.bounded_markdown(docs, None, inputs.THEMES_BUDGET)
        themes = llm.extract_themes(schema, business_context, theme_count, markdown)
        progress.themes = _valid_themes(list(themes or []), schema, theme_count)
        if not progress.themes:
            raise StepFailed(f"the LLM ({llm.name}) proposed no usable theme for these tables")
        progress.save(ctx.task_dir)
    else:
        done = len(progress.pairs)
        logger.info("resuming: %d of %d themes already done", done, len(progress.themes))
    total = len(progress.themes)
    ctx.progress(1, total + 1, f"{total} themes")
    state = _ThemeRun(schema, progress)
    for index, theme in enumerate(progress.themes):
        if index in progress.pairs:
            continue
        ctx.check_cancelled()
        markdown = inputs.bounded_markdown(docs, theme.tables, inputs.THEME_BUDGET)
        kept: list[QuestionSQL] = []
        try:
            raw = llm.generate_pairs(theme, schema, business_context, per_theme, markdown)
            state.accept(list(raw or []), kept, per_theme, count=True)
            if len(kept) < per_theme:
                _top_up(llm, theme, schema, business_context, markdown, per_theme, state, kept)
        except ProviderError as exc:
            # A model that keeps answering garbage for one theme costs that theme only; an
            # unreachable endpoint fails the step (the finished themes are saved).
            if exc.details.get("reason") != "invalid_json":
                raise
            logger.warning("theme %r skipped: %s", theme.name, exc.message)
            state.themes_failed += 1
        progress.pairs[index] = kept
        progress.stats = state.stats()
        progress.save(ctx.task_dir)
        logger.info("theme %d/%d %r: %d pairs kept", index + 1, total, theme.name, len(kept))
        ctx.progress(index + 2, total + 1, f"theme {index + 1}/{total}")
    return _finish(ctx, schema, llm, progress, state, resumed)


def _finish(ctx, schema, llm, progress: Progress, state: _ThemeRun, resumed: bool) -> dict:
    pairs_by_theme = [progress.pairs.get(i, []) for i in range(len(progress.themes))]
    all_pairs = [p for ps in pairs_by_theme for p in ps]
    if not all_pairs:
        raise StepFailed(
            f"no valid question-SQL pair was generated (rejected: {state.stats()['rejected']})"
        )
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    db_name = ctx.db_name or schema.db_name
    pair_path = writers.write_pairs(
        Path(ctx.task_dir) / writers.pair_file_name(db_name, stamp), all_pairs
    )
    writers.write_text_atomic(
        Path(ctx.task_dir) / writers.METADATA_SQL, writers.metadata_sql(progress.themes, db_name)
    )
    provider = llm.describe()
    label = provider.get("provider", llm.name) + (" (rule-based)" if llm.is_rule_based else "")
    if provider.get("model"):
        label += f", model {provider['model']}"
    lang = language_of(ctx.params.business_context)
    writers.write_text_atomic(
        Path(ctx.task_dir) / writers.METADATA_MD,
        writers.metadata_markdown(
            progress.themes,
            pairs_by_theme,
            db_name,
            label,
            lang,
            untranslated_names(schema.tables, lang),
        ),
    )
    progress.completed = True
    progress.save(ctx.task_dir)
    stats = state.stats()
    summary = {
        "themes": len(progress.themes),
        "theme_names": [t.name for t in progress.themes],
        "pairs_generated": stats["pairs_generated"],
        "pairs_kept": len(all_pairs),
        "rejected": stats["rejected"],
        "rejected_total": sum(stats["rejected"].values()),
        "duplicates_removed": stats["duplicates_removed"],
        "themes_failed": stats["themes_failed"],
        "resumed": resumed,
        "provider": llm.name,
        "llm": provider,
        "pair_file": pair_path.name,
        "files": [pair_path.name, writers.METADATA_SQL, writers.METADATA_MD],
    }
    logger.info(
        "step 2 done: %d themes, %d pairs kept (%d generated, %d rejected, %d duplicates)",
        summary["themes"], summary["pairs_kept"], summary["pairs_generated"],
        summary["rejected_total"], summary["duplicates_removed"],
    )  # fmt: skip
    return summary
