"""The LLM interface the steps use: four tasks, each with a typed answer.

Two implementations: :class:`data_pipeline.llm.openai_compatible.OpenAICompatibleLLM`
(any OpenAI-compatible chat endpoint, via the official ``openai`` client) and
:class:`data_pipeline.llm.builtin.BuiltinLLM` (offline, deterministic, rule-based: it writes
from the real schema, not from a model). :func:`data_pipeline.llm.factory.get_llm` picks one
from the settings.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from data_pipeline.schema.model import SchemaMetadata, TableMeta


@dataclass
class TableComments:
    """Comments proposed for a table that lacks some. Only missing ones are used."""

    table_comment: str | None = None
    column_comments: dict[str, str] = field(default_factory=dict)


@dataclass
class Theme:
    name: str
    description: str
    tables: list[str]  # schema.table names
    entities: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)


@dataclass
class QuestionSQL:
    question: str
    sql: str


class LLMProvider(ABC):
    """What the pipeline asks of a language model."""

    name: str = "llm"
    is_rule_based: bool = False

    @abstractmethod
    def comment_table(self, table: TableMeta, business_context: str) -> TableComments:
        """Comments for the table and for columns without one (step 1)."""

    @abstractmethod
    def extract_themes(
        self, schema: SchemaMetadata, business_context: str, count: int, detail_markdown: str
    ) -> list[Theme]:
        """Business themes over the tables (step 2)."""

    @abstractmethod
    def generate_pairs(
        self,
        theme: Theme,
        schema: SchemaMetadata,
        business_context: str,
        count: int,
        detail_markdown: str,
    ) -> list[QuestionSQL]:
        """Question→SQL pairs for one theme, in the language of the business context."""

    @abstractmethod
    def repair_sql(self, question: str, sql: str, error: str, ddl: str) -> str | None:
        """A corrected SQL for ``question`` given the error and the DDL of the tables involved,
        or None when no repair is offered (step 3)."""

    def describe(self) -> dict:
        """Name and settings safe to show (no key)."""
        return {"provider": self.name, "rule_based": self.is_rule_based}
