"""Configuration of the Data Pipeline API, read from the environment.

Every setting has a default that works on a fresh machine: with nothing set, the pipeline
database is an embedded PostgreSQL in ``./var/pgdata``, the ``demo`` source points at the
bundled demo business database, and the built-in offline LLM and embedder are used.
A ``.env`` file in the project root is read first when present (values already in the
environment win). See ``.env.example`` and the README's configuration table.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent
DEMO_SOURCE_URL = "embedded:demo_business"
_SOURCE_ENV = re.compile(r"^SOURCE_([A-Z0-9_]+)_URL$")
_SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class ConfigError(ValueError):
    """A setting in the environment has a value that cannot be used."""


def _bool(value: str, name: str) -> bool:
    v = value.strip().lower()
    if v in {"1", "true", "yes", "on"}:
        return True
    if v in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name} must be true or false, got {value!r}")


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None


def _float(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {value!r}") from None


@dataclass(frozen=True)
class Config:
    """All settings of the service, the executor and the command line."""

    # Pipeline database (task tables + vectors). None -> embedded PostgreSQL.
    pipeline_database_url: str | None = None
    embedded_pg_dir: Path = PROJECT_ROOT / "var" / "pgdata"
    # Training-data store; None -> the pipeline database.
    vector_database_url: str | None = None
    data_root: Path = PROJECT_ROOT / "data_pipeline" / "training_data"
    # Named business databases: name -> DSN (or DEMO_SOURCE_URL for the bundled demo).
    data_sources: Mapping[str, str] = field(default_factory=lambda: {"demo": DEMO_SOURCE_URL})
    load_demo_source: bool = True

    host: str = "127.0.0.1"
    port: int = 8084
    api_token: str | None = None
    server_threads: int = 32
    max_request_bytes: int = 1024 * 1024
    max_table_list_bytes: int = 256 * 1024
    max_table_list_lines: int = 5000

    max_concurrent_tasks: int = 1
    task_timeout_hours: float = 2.0
    heartbeat_interval_seconds: float = 10.0
    heartbeat_timeout_seconds: float = 60.0
    monitor_interval_seconds: float = 30.0
    # The monitor thread (zombies, timeouts, retention) runs in the API process; tests that
    # build many apps in one process turn it off.
    monitor_enabled: bool = True
    cancel_grace_seconds: float = 5.0
    # A run rides out a pipeline-database outage this long; a longer one fails it (SPEC §10).
    pipeline_outage_tolerance_seconds: float = 60.0
    # An SSE log stream closes after this long so clients reconnect (with Last-Event-ID) and
    # server threads are not held for ever.
    log_stream_max_seconds: float = 600.0
    log_retention_days: int = 30
    file_retention_days: int = 30
    enable_file_download: bool = True
    max_download_file_size: int = 100 * 1024 * 1024
    log_level: str = "INFO"

    # LLM: unset base URL -> built-in rule-based provider.
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str = "deepseek-chat"
    llm_timeout_seconds: float = 60.0
    llm_max_retries: int = 3
    llm_max_concurrency: int = 4

    # Embeddings: unset base URL -> built-in hashing embedder.
    embedding_base_url: str | None = None
    embedding_api_key: str | None = None
    embedding_model: str = "text-embedding-v3"
    embedding_dimension: int = 384
    embedding_batch_size: int = 64

    # Step defaults (a task's parameters may override them).
    sample_rows: int = 20
    exact_count_max_rows: int = 100_000
    source_statement_timeout_ms: int = 30_000
    qa_theme_count: int = 5
    qa_questions_per_theme: int = 10
    validation_max_concurrency: int = 4
    validation_statement_timeout_ms: int = 5_000
    validation_row_limit: int = 1000
    repair_max_attempts: int = 2

    @property
    def uses_embedded_db(self) -> bool:
        return not self.pipeline_database_url

    def with_overrides(self, **changes) -> Config:
        """Return a copy with some settings changed (tests pass their own config this way)."""
        return replace(self, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, dotenv: bool = True) -> Config:
        """Build the configuration from environment variables (see ``.env.example``)."""
        if env is None:
            if dotenv:
                _load_dotenv()
            env = os.environ
        kw: dict = {}

        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value not in (None, "") else None

        simple = {
            "PIPELINE_DATABASE_URL": "pipeline_database_url",
            "VECTOR_DATABASE_URL": "vector_database_url",
            "DATA_PIPELINE_API_TOKEN": "api_token",
            "DATA_PIPELINE_HOST": "host",
            "LLM_BASE_URL": "llm_base_url",
            "LLM_API_KEY": "llm_api_key",
            "LLM_MODEL": "llm_model",
            "EMBEDDING_BASE_URL": "embedding_base_url",
            "EMBEDDING_API_KEY": "embedding_api_key",
            "EMBEDDING_MODEL": "embedding_model",
            "LOG_LEVEL": "log_level",
        }
        for var, attr in simple.items():
            if (v := get(var)) is not None:
                kw[attr] = v
        for var, attr in {
            "EMBEDDED_PG_DIR": "embedded_pg_dir",
            "DATA_PIPELINE_ROOT": "data_root",
        }.items():
            if (v := get(var)) is not None:
                kw[attr] = Path(v).expanduser().resolve()

        typed = {f.name: f.type for f in fields(cls)}
        numeric = [
            "port", "server_threads", "max_request_bytes", "max_concurrent_tasks",
            "max_table_list_bytes", "max_table_list_lines",
            "task_timeout_hours", "heartbeat_interval_seconds", "heartbeat_timeout_seconds",
            "monitor_interval_seconds", "cancel_grace_seconds", "log_stream_max_seconds",
            "log_retention_days",
            "file_retention_days", "max_download_file_size", "llm_timeout_seconds",
            "llm_max_retries", "llm_max_concurrency", "embedding_dimension",
            "embedding_batch_size", "sample_rows", "exact_count_max_rows",
            "source_statement_timeout_ms", "qa_theme_count", "qa_questions_per_theme",
            "validation_max_concurrency", "validation_statement_timeout_ms",
            "validation_row_limit", "repair_max_attempts", "pipeline_outage_tolerance_seconds",
        ]  # fmt: skip
        for attr in numeric:
            var = "DATA_PIPELINE_PORT" if attr == "port" else attr.upper()
            if (v := get(var)) is not None:
                kw[attr] = _int(v, var) if typed[attr] == "int" else _float(v, var)
        for attr in ("enable_file_download", "load_demo_source", "monitor_enabled"):
            if (v := get(attr.upper())) is not None:
                kw[attr] = _bool(v, attr.upper())

        kw["data_sources"] = _sources_from_env(env)
        config = cls(**kw)
        config.validate()
        return config

    def validate(self) -> None:
        """Reject settings that would make the service misbehave."""
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"DATA_PIPELINE_PORT must be 1-65535, got {self.port}")
        if self.max_concurrent_tasks < 1:
            raise ConfigError("MAX_CONCURRENT_TASKS must be at least 1")
        if self.heartbeat_timeout_seconds <= self.heartbeat_interval_seconds:
            raise ConfigError("HEARTBEAT_TIMEOUT_SECONDS must exceed HEARTBEAT_INTERVAL_SECONDS")
        if self.pipeline_outage_tolerance_seconds < 0:
            raise ConfigError("PIPELINE_OUTAGE_TOLERANCE_SECONDS must not be negative")
        for name in self.data_sources:
            if not _SOURCE_NAME.match(name):
                raise ConfigError(f"source name {name!r} must match {_SOURCE_NAME.pattern}")


def _sources_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """Named sources: ``DATA_SOURCES`` (JSON object) and ``SOURCE_<NAME>_URL`` variables."""
    sources: dict[str, str] = {}
    if _bool(env.get("LOAD_DEMO_SOURCE") or "true", "LOAD_DEMO_SOURCE"):
        sources["demo"] = DEMO_SOURCE_URL
    raw = env.get("DATA_SOURCES")
    if raw:
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"DATA_SOURCES is not valid JSON: {exc.msg}") from None
        if not isinstance(parsed, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()
        ):
            raise ConfigError('DATA_SOURCES must be a JSON object {"name": "postgresql://..."}')
        sources.update({k.lower(): v for k, v in parsed.items()})
    for var, value in env.items():
        if (m := _SOURCE_ENV.match(var)) and value:
            sources[m.group(1).lower()] = value
    return sources


def _load_dotenv() -> None:
    path = PROJECT_ROOT / ".env"
    if path.is_file():
        from dotenv import load_dotenv

        load_dotenv(path, override=False)
