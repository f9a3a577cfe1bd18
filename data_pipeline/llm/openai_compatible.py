"""LLM provider for any OpenAI-compatible chat-completions endpoint (DeepSeek, Qwen/DashScope
compatible mode, Ollama, vLLM, OpenAI), on the official ``openai`` client.

The client's own retries are off (``max_retries=0``): timeouts, connection errors, 429 and
5xx are retried by the shared :class:`~data_pipeline.llm.retry.RetryPolicy` with exponential
back-off (``LLM_MAX_RETRIES``), and a bounded semaphore limits concurrent calls
(``LLM_MAX_CONCURRENCY``). Answers are asked for as JSON and
read robustly (:mod:`.json_extract`), with one corrective retry when the answer is not JSON.
Errors name the endpoint's host, never the key.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import urlparse

from core.errors import ProviderError
from core.secrets import mask_secrets
from data_pipeline.llm import prompts
from data_pipeline.llm.base import LLMProvider, QuestionSQL, TableComments, Theme
from data_pipeline.llm.json_extract import JSONExtractError, extract_json
from data_pipeline.llm.retry import RetryPolicy, refusal_text
from data_pipeline.schema.model import SchemaMetadata, TableMeta

logger = logging.getLogger(__name__)

_CORRECTION = (
    "Your previous answer was not valid JSON ({error}). Answer again with only the JSON "
    "value, no explanation and no code fence."
)


class OpenAICompatibleLLM(LLMProvider):
    """Chat-completions client with retries, bounded concurrency and JSON answers."""

    name = "openai_compatible"
    is_rule_based = False

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str,
        *,
        timeout: float = 60.0,
        max_retries: int = 3,
        max_concurrency: int = 4,
        temperature: float = 0.2,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = timeout
        self.temperature = temperature
        self.retry = RetryPolicy(max(0, int(max_retries)), backoff_base, backoff_max)
        self._key = api_key or ""
        self._semaphore = threading.BoundedSemaphore(max(1, int(max_concurrency)))
        # Local servers (Ollama, vLLM) take any key; the client insists on one.
        from openai import OpenAI  # about 1 s to import: only when this provider is used

        self._client = OpenAI(
            base_url=self.base_url,
            api_key=api_key or "not-needed",
            timeout=timeout,
            max_retries=0,
        )
        parsed = urlparse(self.base_url)
        self.host = parsed.hostname or self.base_url
        if parsed.port:
            self.host += f":{parsed.port}"

    @classmethod
    def from_config(cls, config) -> OpenAICompatibleLLM:
        return cls(
            config.llm_base_url,
            config.llm_api_key,
            config.llm_model,
            timeout=config.llm_timeout_seconds,
            max_retries=config.llm_max_retries,
            max_concurrency=config.llm_max_concurrency,
        )

    def describe(self) -> dict:
        return {
            "provider": self.name,
            "rule_based": False,
            "base_url": mask_secrets(self.base_url),
            "model": self.model,
        }

    # -- low level -------------------------------------------------------------------------

    def _safe(self, text: str) -> str:
        """Error text without the key or URL passwords."""
        text = mask_secrets(str(text))
        return text.replace(self._key, "***") if self._key else text

    def _complete(self, messages: list[dict]) -> str:
        """One chat completion, retried on transient failures; the answer's text."""

        def call() -> str:
            with self._semaphore:
                response = self._client.chat.completions.create(
                    model=self.model, messages=messages, temperature=self.temperature
                )
            choices = getattr(response, "choices", None) or []
            content = choices[0].message.content if choices else None
            if content is None:
                raise ProviderError(f"LLM endpoint {self.host} returned no answer text")
            return content

        return self.retry.run(
            call,
            what=f"LLM call to {self.host}",
            refused=lambda exc: ProviderError(
                f"LLM endpoint {self.host} refused the request (HTTP {exc.status_code}): "
                f"{refusal_text(exc, self._key, limit=200)}"
            ),
            exhausted=lambda attempts, reason: ProviderError(
                f"LLM endpoint {self.host} failed after {attempts} attempt(s): {reason}",
                details={"host": self.host, "model": self.model},
            ),
        )

    def chat(self, system: str, user: str) -> str:
        """The model's answer to one system + user message."""
        return self._complete(
            [{"role": "system", "content": system}, {"role": "user", "content": user}]
        )

    def chat_json(self, system: str, user: str) -> Any:
        """The JSON value the model answers with; one corrective retry when it is not JSON."""
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        answer = self._complete(messages)
        try:
            return extract_json(answer)
        except JSONExtractError as exc:
            logger.warning("LLM answer from %s was not JSON (%s); asking again", self.host, exc)
            first_error = exc
        messages += [
            {"role": "assistant", "content": answer},
            {"role": "user", "content": _CORRECTION.format(error=first_error)},
        ]
        answer = self._complete(messages)
        try:
            return extract_json(answer)
        except JSONExtractError as exc:
            raise ProviderError(
                f"LLM endpoint {self.host} did not answer with valid JSON after a corrective "
                f"retry: {self._safe(str(exc))}",
                details={"host": self.host, "model": self.model, "reason": "invalid_json"},
            ) from None

    # -- the four tasks --------------------------------------------------------------------

    def comment_table(self, table: TableMeta, business_context: str) -> TableComments:
        data = self.chat_json(*prompts.comment_table(table, business_context))
        if not isinstance(data, dict):
            return TableComments()
        table_comment = _text(data.get("table_comment"))
        raw = data.get("columns") or data.get("column_comments") or {}
        if isinstance(raw, list):  # [{"name": ..., "comment": ...}] is a common variant
            raw = {_text(i.get("name")): i.get("comment") for i in raw if isinstance(i, dict)}
        names = {c.name for c in table.columns}
        comments: dict[str, str] = {}
        for name, comment in raw.items() if isinstance(raw, dict) else []:
            text = _text(comment)
            if name not in names:
                logger.info("dropped a comment for %s.%s: no such column", table.name, name)
            elif text:
                comments[name] = text[:500]
        return TableComments(table_comment[:500] if table_comment else None, comments)

    def extract_themes(
        self, schema: SchemaMetadata, business_context: str, count: int, detail_markdown: str
    ) -> list[Theme]:
        data = self.chat_json(
            *prompts.extract_themes(schema, business_context, count, detail_markdown)
        )
        items = data.get("themes", []) if isinstance(data, dict) else data
        themes = []
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict) or not _text(item.get("name")):
                continue
            themes.append(
                Theme(
                    name=_text(item.get("name")),
                    description=_text(item.get("description")),
                    tables=_texts(item.get("tables")),
                    entities=_texts(item.get("entities")),
                    metrics=_texts(item.get("metrics")),
                )
            )
        return themes[:count]

    def generate_pairs(
        self,
        theme: Theme,
        schema: SchemaMetadata,
        business_context: str,
        count: int,
        detail_markdown: str,
    ) -> list[QuestionSQL]:
        data = self.chat_json(
            *prompts.generate_pairs(theme, schema, business_context, count, detail_markdown)
        )
        items = data.get("pairs", data.get("questions", [])) if isinstance(data, dict) else data
        pairs = []
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict):
                question, sql = _text(item.get("question")), _text(item.get("sql"))
                if question and sql:
                    pairs.append(QuestionSQL(question, sql))
        return pairs

    def repair_sql(self, question: str, sql: str, error: str, ddl: str) -> str | None:
        data = self.chat_json(*prompts.repair_sql(question, sql, error, ddl))
        text = _text(data.get("sql")) if isinstance(data, dict) else _text(data)
        return text or None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    return (
        [v.strip() for v in value if isinstance(v, str) and v.strip()]
        if isinstance(value, list)
        else []
    )
