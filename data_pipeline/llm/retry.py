"""The one retry policy of the provider clients (chat and embeddings), on the ``openai`` errors.

A call is tried again when it failed for a reason that may pass: a timeout, a connection
error, HTTP 408/409/425/429 or any 5xx. Other refusals (400, 401, 403, 404, 422…) fail at
once. Waits grow exponentially from ``backoff_base`` up to ``backoff_max``, and honour a
``Retry-After`` header given in seconds. The ``openai`` client's own retries stay off so that
every attempt is logged and bounded here.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from core.errors import error_summary

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    import openai

T = TypeVar("T")
TRANSIENT_STATUS = frozenset({408, 409, 425, 429})


def transient_reason(exc: BaseException) -> str | None:
    """Why a failed call may succeed when tried again (``timed out``, ``unreachable``,
    ``HTTP 503``), or None when trying again cannot help."""
    import openai  # loaded by the client that failed; not at start-up (about 1 s)

    if isinstance(exc, openai.APITimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIConnectionError):
        return "unreachable"
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status >= 500 or status in TRANSIENT_STATUS:
            return f"HTTP {status}"
    return None


def refusal_text(exc: openai.APIError, secret: str | None = None, limit: int = 300) -> str:
    """What an endpoint said when it refused a request: one line, without the client's
    ``Error code: 400 -`` prefix, the key (``secret``) or a password."""
    text = str(getattr(exc, "message", None) or exc).strip()
    text = re.sub(r"^Error code: \d+( - )?", "", text).strip()
    if secret:
        text = text.replace(secret, "***")
    return error_summary(ValueError(text), limit=limit, default="no details")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a provider call is tried again."""

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 8.0

    def delay(self, attempt: int, exc: BaseException) -> float:
        """The wait before retry ``attempt + 1``: exponential, or the server's Retry-After."""
        delay = min(self.backoff_max, self.backoff_base * (2**attempt))
        response = getattr(exc, "response", None)
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after:
            with contextlib.suppress(ValueError):  # an HTTP date: keep our own delay
                delay = min(self.backoff_max, max(delay, float(retry_after)))
        return delay

    def run(
        self,
        call: Callable[[], T],
        *,
        what: str,
        refused: Callable[[openai.APIStatusError], Exception],
        exhausted: Callable[[int, str], Exception],
    ) -> T:
        """Call ``call`` until it succeeds or the retries are used up.

        Args:
            what: names the call in the retry warnings (never a key).
            refused: the error to raise for a refusal that retrying cannot cure.
            exhausted: the error to raise once ``max_retries + 1`` attempts failed, from the
                number of attempts and the last reason.
        """
        import openai  # loaded by the client making the call

        attempts = max(0, int(self.max_retries)) + 1
        reason = ""
        for attempt in range(attempts):
            try:
                return call()
            except openai.APIError as exc:
                reason = transient_reason(exc) or ""
                if not reason:
                    if isinstance(exc, openai.APIStatusError):
                        raise refused(exc) from None
                    raise
                error = exc
            if attempt + 1 < attempts:
                delay = self.delay(attempt, error)
                logger.warning(
                    "%s failed (%s), retry %d/%d in %.1fs",
                    what, reason, attempt + 1, attempts - 1, delay,
                )  # fmt: skip
                time.sleep(delay)
        raise exhausted(attempts, reason)
