"""The project's exceptions: one base, and the kinds the API maps to HTTP statuses; and
:func:`error_summary`, the one way an exception becomes a one-line message."""

from __future__ import annotations

from core.secrets import mask_secrets


def error_summary(
    exc: BaseException, *, limit: int | None = None, default: str | None = None
) -> str:
    """The first line of ``exc``'s message, passwords masked; ``default`` (else the exception's
    type name) when the message is empty. ``limit`` cuts the line to that many characters."""
    text = str(exc).strip()
    line = text.splitlines()[0].strip() if text else ""
    line = line or default or type(exc).__name__
    if limit is not None:
        line = line[:limit]
    return mask_secrets(line)


class PipelineError(Exception):
    """Base of every error this project raises on purpose."""

    http_status = 500
    error_type = "internal_error"

    def __init__(self, message: str, *, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidInput(PipelineError):
    http_status = 400
    error_type = "invalid_input"


class NotFound(PipelineError):
    http_status = 404
    error_type = "not_found"


class Conflict(PipelineError):
    http_status = 409
    error_type = "conflict"


class Forbidden(PipelineError):
    http_status = 403
    error_type = "forbidden"


class TooLarge(PipelineError):
    http_status = 413
    error_type = "too_large"


class Unprocessable(PipelineError):
    http_status = 422
    error_type = "unprocessable"


class DatabaseUnavailable(PipelineError):
    """The pipeline database cannot be reached (maps to 503, with ``Retry-After``)."""

    http_status = 503
    error_type = "database_unavailable"

    def __init__(self, message: str, *, details: dict | None = None, retry_after: int = 5):
        super().__init__(message, details=details)
        self.retry_after = retry_after


class StepFailed(PipelineError):
    """A pipeline step could not do its work; the message says why."""

    error_type = "step_failed"


class SourceUnavailable(StepFailed):
    """The business database could not be reached or queried."""

    error_type = "source_unavailable"


class ProviderError(StepFailed):
    """The LLM or embedding provider failed after retries."""

    error_type = "provider_error"


class Cancelled(PipelineError):
    """The run was cancelled while a step was working."""

    error_type = "cancelled"
