"""The built-in LLM provider: **offline, deterministic and rule-based — not a language model.**

It is used when no ``LLM_BASE_URL`` is configured, so the whole pipeline works without network
access, and it gives repeatable results for tests. Everything it writes is derived from the
real schema (names, types, keys, enum values and sample values read by step 1):

* ``comment_table``: comments from identifiers (split snake/camel case, a bilingual glossary:
  ``created_at`` → 创建时间 / Creation time), foreign keys, enum and sample values.
* ``extract_themes``: themes from foreign-key clusters (hub tables and their neighbours,
  connected components, tables with measures and dates).
* ``generate_pairs``: question→SQL pairs from templates over the real schema — counts,
  group-bys over enum/low-cardinality columns, top-N and sums/averages over measures, trends
  over dates, joins along foreign keys, filters with real sample values, distinct counts.
* ``repair_sql``: closest existing column/table names (difflib), quoting of mixed-case names,
  trailing semicolons and extra statements.

The language of the output follows the business context: Chinese when it contains Chinese
characters, English otherwise. Rules live in :mod:`data_pipeline.llm.rules`.
"""

from __future__ import annotations

import logging

from data_pipeline.llm.base import LLMProvider, QuestionSQL, TableComments, Theme
from data_pipeline.llm.rules import comments, pairs, repair, themes
from data_pipeline.llm.rules.words import language_of
from data_pipeline.schema.model import SchemaMetadata, TableMeta

logger = logging.getLogger(__name__)


class BuiltinLLM(LLMProvider):
    """Rule-based stand-in for an LLM: offline, deterministic, grounded in the real schema."""

    name = "builtin"
    is_rule_based = True

    def __init__(self) -> None:
        self._prepared: tuple | None = None  # (schema, language, pairs.prepare(...))

    def comment_table(self, table: TableMeta, business_context: str) -> TableComments:
        return comments.comment_table(table, language_of(business_context))

    def extract_themes(
        self, schema: SchemaMetadata, business_context: str, count: int, detail_markdown: str
    ) -> list[Theme]:
        return themes.extract_themes(schema, language_of(business_context), count)

    def generate_pairs(
        self,
        theme: Theme,
        schema: SchemaMetadata,
        business_context: str,
        count: int,
        detail_markdown: str,
    ) -> list[QuestionSQL]:
        lang = language_of(business_context)
        # Step 2 asks theme after theme about the same schema: classify its tables once.
        cached = self._prepared
        if cached is None or cached[0] is not schema or cached[1] != lang:
            cached = self._prepared = (schema, lang, pairs.prepare(schema, lang))
        return pairs.generate_pairs(theme, schema, lang, count, cached[2])

    def repair_sql(self, question: str, sql: str, error: str, ddl: str) -> str | None:
        return repair.repair_sql(sql, error, ddl)

    def describe(self) -> dict:
        return {
            "provider": self.name,
            "rule_based": True,
            "note": "offline rule-based generator (no language model)",
        }
