"""Configuration of the Data Pipeline API: one settings model, read from the environment.

Every setting has a default that works on a fresh machine: with nothing set, the pipeline
database is an embedded PostgreSQL in ``./var/pgdata``, the ``demo`` source points at the
bundled demo business database, and the offline providers are used (the built-in LLM and
the in-process e5 embedder).

:meth:`Config.from_env` reads the environment, and a ``.env`` file in the project root when
present (values already in the environment win), through ``pydantic-settings``; each field's
variable is its name in capitals unless the field says otherwise (``DATA_PIPELINE_PORT``).
``Config(...)`` itself holds exactly what it is given plus the defaults (tests build it so).
:meth:`Config.to_env` is the reverse, derived from the same fields: it is how the API hands its
configuration to the executor processes it starts. See ``.env.example`` and the README.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

PROJECT_ROOT = Path(__file__).resolve().parent  # where the code is (site-packages when installed)
# A source checkout keeps its data beside the code (./var, ./data_pipeline/training_data, .env);
# an installed package (pip install) keeps it under the current directory: ./var/pgdata,
# ./var/log/server.log, ./var/training_data, and reads ./.env.
SOURCE_CHECKOUT = (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "sql").is_dir()


def home_dir() -> Path:
    """The folder the default data paths and ``.env`` are relative to: the project root in a
    source checkout, the current directory for an installed package."""
    return PROJECT_ROOT if SOURCE_CHECKOUT else Path.cwd().resolve()


def _default_data_root() -> Path:
    if SOURCE_CHECKOUT:
        return PROJECT_ROOT / "data_pipeline" / "training_data"
    return home_dir() / "var" / "training_data"


DEMO_SOURCE_URL = "embedded:demo_business"
SOURCE_ENV = re.compile(r"^SOURCE_([A-Z0-9_]+)_URL$", re.IGNORECASE)
_SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Embedders (data_pipeline.training_load.embedders).
EMBEDDING_PROVIDERS = ("local-e5", "hashing", "openai-compatible")
DEFAULT_EMBEDDING_PROVIDER = "local-e5"
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}

# The environment Config() reads, set only while Config.from_env() builds one.
_ENVIRONMENT: ContextVar[Mapping[str, str] | None] = ContextVar("environment", default=None)


class ConfigError(ValueError):
    """A setting in the environment has a value that cannot be used."""


def _parse_bool(value: str, name: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {value!r}")


class Config(BaseSettings):
    """All settings of the service, the executor and the command line."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="ignore",
        case_sensitive=False,
        env_ignore_empty=True,
        validate_by_name=True,
        validate_by_alias=True,
    )

    # Pipeline database (task tables + vectors). None -> embedded PostgreSQL.
    pipeline_database_url: str | None = None
    embedded_pg_dir: Path = Field(default_factory=lambda: home_dir() / "var" / "pgdata")
    # Training-data store; None -> the pipeline database.
    vector_database_url: str | None = None
    data_root: Path = Field(
        default_factory=_default_data_root, validation_alias="DATA_PIPELINE_ROOT"
    )
    # Named business databases: name -> DSN (or DEMO_SOURCE_URL for the bundled demo). Read
    # from DATA_SOURCES (JSON) and SOURCE_<NAME>_URL variables.
    data_sources: Mapping[str, str] = Field(default_factory=lambda: {"demo": DEMO_SOURCE_URL})
    load_demo_source: bool = True
    # Callers name sources; raw connection strings from API callers only when allowed, and
    # then only to hosts on the allow-list (names and CIDRs, comma separated) when one is set.
    allow_raw_connections: bool = False
    source_host_allowlist: str = ""
    # Fail a task whose source role is a superuser or may write a listed table.
    require_readonly_sources: bool = False

    host: str = Field("127.0.0.1", validation_alias="DATA_PIPELINE_HOST")
    port: int = Field(8084, validation_alias="DATA_PIPELINE_PORT")
    api_token: str | None = Field(None, validation_alias="DATA_PIPELINE_API_TOKEN")
    # Callers by token: JSON {"name": {"sha256": "<hex>", "role": "viewer|operator|admin"}}.
    api_tokens: str = ""
    # Browser origins that may call the API from another origin (CORS), comma separated
    # (https://ui.example.com); empty: no CORS headers at all.
    cors_allowed_origins: str = ""
    server_threads: int = 32
    # Open connections at most (idle ones included), and how long an idle one is kept.
    server_connection_limit: int = 512
    server_idle_timeout_seconds: float = 30.0
    # On SIGTERM: how long requests in flight may take to finish before the process exits.
    shutdown_grace_seconds: float = 10.0
    max_request_bytes: int = 1024 * 1024
    max_table_list_bytes: int = 256 * 1024
    max_table_list_lines: int = 5000

    # Runs at once across all workers; more wait in the queue (status queued).
    max_concurrent_tasks: int = 1
    # The API process runs a worker of its own (python citu_app.py --no-worker: API only).
    embedded_worker: bool = True
    # Runs one worker takes at once (unset: MAX_CONCURRENT_TASKS).
    worker_concurrency: int | None = Field(default=None, ge=1)
    # A run lost with its worker (host gone) is queued again this many times, else failed.
    retry_lost_runs: int = Field(default=0, ge=0, le=5)
    task_timeout_hours: float = 2.0
    heartbeat_interval_seconds: float = 10.0
    heartbeat_timeout_seconds: float = 60.0
    monitor_interval_seconds: float = 30.0
    # The monitor (zombies, timeouts, queue healing, retention) runs as a periodic job of the
    # workers; tests that build many apps in one process turn it off.
    monitor_enabled: bool = True
    cancel_grace_seconds: float = 5.0
    # A run rides out a pipeline-database outage this long; a longer one fails it (SPEC §10).
    pipeline_outage_tolerance_seconds: float = 60.0
    # An SSE log stream closes after this long so clients reconnect (with Last-Event-ID) and
    # server threads are not held for ever.
    log_stream_max_seconds: float = 600.0
    log_retention_days: int = 30
    file_retention_days: int = 30
    # Copies of task outputs every machine can read: None -> the pipeline database, or
    # s3://[key:secret@]bucket/prefix?endpoint_url=...&region=... (tasks/output_store).
    output_store_url: str | None = Field(None, repr=False)
    enable_file_download: bool = True
    max_download_file_size: int = 100 * 1024 * 1024
    log_level: str = "INFO"
    # The operator's log: what callers must not read (why a source connection failed, ...).
    server_log_file: Path = Field(default_factory=lambda: home_dir() / "var" / "log" / "server.log")

    # LLM: unset base URL -> built-in rule-based provider.
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str = "deepseek-chat"
    llm_timeout_seconds: float = 60.0
    llm_max_retries: int = 3
    llm_max_concurrency: int = 4

    # Embeddings: local-e5 (in-process semantic model, the default), hashing (built-in, fast,
    # matches wording only) or openai-compatible. Unset: openai-compatible when a base URL
    # is set, else local-e5 (see embedding_provider_name).
    embedding_provider: str | None = None
    embedding_base_url: str | None = None
    embedding_api_key: str | None = None
    embedding_model: str = "text-embedding-v3"
    embedding_dimension: int = 384
    embedding_batch_size: int = 64

    # Step defaults (a task's parameters may override them).
    sample_rows: int = 20
    exact_count_max_rows: int = 100_000
    source_statement_timeout_ms: int = 30_000
    # Step 1: foreign keys no schema declares, inferred from names and confirmed by data.
    infer_relationships: bool = True
    relationship_min_share: float = Field(default=0.95, gt=0, le=1)
    relationship_time_budget_seconds: float = Field(default=60.0, gt=0)
    qa_theme_count: int = 5
    qa_questions_per_theme: int = 10
    # The pair count grows with the tables: max(themes x per theme, per table x tables), capped.
    qa_pairs_per_table: int = Field(default=8, ge=0)
    qa_max_pairs: int = Field(default=400, ge=1)
    validation_max_concurrency: int = 4
    validation_statement_timeout_ms: int = 5_000
    validation_row_limit: int = 1000
    repair_max_attempts: int = 2

    # Reading ------------------------------------------------------------------------------
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        environ = _ENVIRONMENT.get()
        if environ is None:  # Config(...): what it is given, and the defaults
            return (init_settings,)
        return (
            init_settings,
            _NamedSources(settings_cls, environ),
            _Environ(settings_cls, environ),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, dotenv: bool = True) -> Config:
        """The configuration from environment variables (``env``, default ``os.environ``,
        plus the ``.env`` file of :func:`home_dir` unless ``dotenv`` is false)."""
        environ = dict(os.environ if env is None else env)
        path = home_dir() / ".env"
        if dotenv and env is None and path.is_file():
            from_file = {k: v for k, v in dotenv_values(path).items() if v is not None}
            environ = {**from_file, **environ}
        token = _ENVIRONMENT.set(environ)
        try:
            return cls()
        except ValidationError as exc:
            raise ConfigError(_readable(exc)) from None
        finally:
            _ENVIRONMENT.reset(token)

    @classmethod
    def env_name(cls, field_name: str) -> str:
        """The environment variable of a setting."""
        alias = cls.model_fields[field_name].validation_alias
        return alias if isinstance(alias, str) else field_name.upper()

    @classmethod
    def setting_variables(cls) -> list[str]:
        """Every environment variable a setting is read from (``SOURCE_<NAME>_URL`` aside)."""
        return [cls.env_name(name) for name in cls.model_fields]

    @classmethod
    def is_setting_variable(cls, name: str) -> bool:
        """Whether the environment variable ``name`` configures this service."""
        upper = name.upper()
        return upper in set(cls.setting_variables()) or bool(SOURCE_ENV.match(upper))

    def to_env(self) -> dict[str, str]:
        """Environment variables that make ``Config.from_env`` (in a child process) equal
        this configuration: the reverse of reading, derived from the fields."""
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, Mapping):
                text = json.dumps(dict(value), ensure_ascii=False)
            else:
                text = str(value)
            env[self.env_name(name)] = text
        return env

    # Checks -------------------------------------------------------------------------------
    @field_validator("embedded_pg_dir", "data_root", "server_log_file", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return Path(value).expanduser().resolve()

    @model_validator(mode="after")
    def _coherent(self) -> Config:
        """Reject settings that would make the service misbehave."""
        if not 1 <= self.port <= 65535:
            raise ValueError(f"DATA_PIPELINE_PORT must be 1-65535, got {self.port}")
        if self.max_concurrent_tasks < 1:
            raise ValueError("MAX_CONCURRENT_TASKS must be at least 1")
        if self.heartbeat_timeout_seconds <= self.heartbeat_interval_seconds:
            raise ValueError("HEARTBEAT_TIMEOUT_SECONDS must exceed HEARTBEAT_INTERVAL_SECONDS")
        if self.embedding_provider not in (None, *EMBEDDING_PROVIDERS):
            raise ValueError(
                f"EMBEDDING_PROVIDER must be one of {', '.join(EMBEDDING_PROVIDERS)}, "
                f"got {self.embedding_provider!r}"
            )
        if self.embedding_provider_name == "openai-compatible" and not self.embedding_base_url:
            raise ValueError("EMBEDDING_PROVIDER=openai-compatible needs EMBEDDING_BASE_URL")
        if self.output_store_url and not self.output_store_url.startswith("s3://"):
            raise ValueError("OUTPUT_STORE_URL must be s3://bucket/prefix (or unset)")
        if self.pipeline_outage_tolerance_seconds < 0:
            raise ValueError("PIPELINE_OUTAGE_TOLERANCE_SECONDS must not be negative")
        for name in self.data_sources:
            if not _SOURCE_NAME.match(name):
                raise ValueError(f"source name {name!r} must match {_SOURCE_NAME.pattern}")
        return self

    @property
    def source_hosts(self) -> tuple[str, ...]:
        """``SOURCE_HOST_ALLOWLIST`` as a tuple of host names and CIDRs."""
        return tuple(h.strip() for h in self.source_host_allowlist.split(",") if h.strip())

    @property
    def embedding_provider_name(self) -> str:
        """The embedder in use: ``EMBEDDING_PROVIDER``, else ``openai-compatible`` when
        ``EMBEDDING_BASE_URL`` is set, else ``local-e5``."""
        if self.embedding_provider:
            return self.embedding_provider
        return "openai-compatible" if self.embedding_base_url else DEFAULT_EMBEDDING_PROVIDER

    @property
    def uses_embedded_db(self) -> bool:
        return not self.pipeline_database_url

    def with_overrides(self, **changes: Any) -> Config:
        """A copy with some settings changed, checked again (tests pass their own config)."""
        return type(self)(**{**self.model_dump(), **changes})

    def __hash__(self) -> int:  # frozen, but holds a mapping: hash what identifies it
        return hash(tuple((k, str(v)) for k, v in self.model_dump().items()))


class _Environ(EnvSettingsSource):
    """A mapping of environment variables (``Config.from_env``'s), empty values unset."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if field_name == "data_sources":  # read by _NamedSources, with its own messages
            return None, field_name, False
        return super().get_field_value(field, field_name)


class _NamedSources(PydanticBaseSettingsSource):
    """``data_sources`` from ``LOAD_DEMO_SOURCE``, ``DATA_SOURCES`` (a JSON object) and
    ``SOURCE_<NAME>_URL`` variables, in that order (later ones win)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        super().__init__(settings_cls)
        self._environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything happens in __call__

    def __call__(self) -> dict[str, Any]:
        env = {k.upper(): v for k, v in self._environ.items()}
        sources: dict[str, str] = {}
        if _parse_bool(env.get("LOAD_DEMO_SOURCE") or "true", "LOAD_DEMO_SOURCE"):
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
            if (m := SOURCE_ENV.match(var)) and value:
                sources[m.group(1).lower()] = value
        return {"data_sources": sources}


def _readable(exc: ValidationError) -> str:
    """A validation error in terms of the environment variables a user sets."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = err.get("loc") or ()
        field = str(loc[0]) if loc else ""
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        variable = Config.env_name(field) if field in Config.model_fields else field.upper()
        if variable in Config.setting_variables():
            shown = err.get("input")
            got = f", got {shown!r}" if isinstance(shown, str | int | float) else ""
            problems.append(f"{variable}: {message}{got}")
        else:
            problems.append(message)
    return "; ".join(problems)
