"""A one-line live progress bar for the command line, redrawn in place with ``\\r``.

Only drawn when the stream is a terminal. Whatever is written to stderr meanwhile (log records
of any handler, warnings, messages) goes above the bar: :meth:`ProgressDisplay.guard_stderr`
takes the bar off its line before the text and draws it again after a full line, so a record
never lands on the bar's line (``[####----]  40%  step 2/4 ...some record``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import threading
import time
import unicodedata

from core.secrets import mask_secrets
from data_pipeline.tasks.models import STEP_NAMES

_CLEAR_LINE = "\r\x1b[K"
BAR_WIDTH = 20


def _cell_width(ch: str) -> int:
    # Ambiguous characters (…, →, ·, Greek, Cyrillic) take two cells on some terminals (CJK
    # locales): counted as two, the bar can be a little shorter but never wraps.
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F", "A") else 1


def fit(text: str, columns: int) -> str:
    """Cut ``text`` to ``columns`` terminal cells (Chinese characters take two)."""
    used, out = 0, []
    for ch in text:
        w = _cell_width(ch)
        if used + w > columns:
            break
        out.append(ch)
        used += w
    return "".join(out)


def render(percent: int, step: str | None, note: str | None, columns: int = 100) -> str:
    """The bar's text: ``[#####---------------]  25%  step 2/4 qa_generation  note``."""
    done = BAR_WIDTH * max(0, min(100, percent)) // 100
    text = f"[{'#' * done}{'-' * (BAR_WIDTH - done)}] {percent:3d}%"
    if step in STEP_NAMES:
        text += f"  step {STEP_NAMES.index(step) + 1}/{len(STEP_NAMES)} {step}"
    if note:
        text += "  " + " ".join(str(note).split())
    return fit(mask_secrets(text), max(10, columns - 1))


class ProgressDisplay:
    """Draws progress on ``stream`` when it is a terminal (or when ``enabled`` says so)."""

    def __init__(self, stream=None, *, enabled: bool | None = None, min_interval: float = 0.1):
        self.stream = stream or sys.stdout
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.min_interval = min_interval
        self.redraws = 0
        self._line = ""
        self._shown = False
        self._last: tuple[float, int] = (0.0, -1)
        self._lock = threading.RLock()

    def update(self, percent: int, step: str | None = None, note: str | None = None) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        with self._lock:
            # Redraw on every new percent, otherwise at most every min_interval seconds.
            if percent == self._last[1] and now - self._last[0] < self.min_interval:
                return
            self._last = (now, percent)
            self._line = render(percent, step, note, self.columns())
            self._draw()

    def columns(self) -> int:
        """The terminal's width: ``COLUMNS``, else the bar's stream's, else 100."""
        with contextlib.suppress(ValueError, KeyError):
            if int(os.environ["COLUMNS"]) > 0:
                return int(os.environ["COLUMNS"])
        with contextlib.suppress(AttributeError, OSError, ValueError):
            size = os.get_terminal_size(self.stream.fileno()).columns
            if size > 0:
                return size
        return shutil.get_terminal_size((100, 20)).columns

    def _draw(self) -> None:
        self.stream.write(_CLEAR_LINE + self._line)
        self.stream.flush()
        self._shown = True
        self.redraws += 1

    def clear(self) -> None:
        """Remove the bar (before printing something else)."""
        with self._lock:
            if self._shown:
                self.stream.write(_CLEAR_LINE)
                self.stream.flush()

    def restore(self) -> None:
        with self._lock:
            if self._shown and self._line:
                self._draw()

    def finish(self) -> None:
        """Leave the last bar on screen and move to the next line."""
        with self._lock:
            if self._shown:
                self.stream.write("\n")
                self.stream.flush()
            self._shown, self._line = False, ""

    def log_handler(self, stream=None) -> logging.Handler:
        """A console handler that prints records above the bar."""
        stream = stream or sys.stderr
        if isinstance(stream, _ClearsTheBar):  # the stream does it already
            return logging.StreamHandler(stream)
        return _AboveTheBar(self, stream)

    @contextlib.contextmanager
    def guard_stderr(self):
        """While active, ``sys.stderr`` takes the bar off its line before each write."""
        saved = sys.stderr
        sys.stderr = _ClearsTheBar(self, saved)
        try:
            yield sys.stderr
        finally:
            sys.stderr = saved


class _ClearsTheBar:
    """A text stream in front of ``raw`` that keeps the display's bar off its lines."""

    def __init__(self, display: ProgressDisplay, raw):
        self._display, self._raw = display, raw
        self._mid_line = False

    def write(self, text: str) -> int:
        if not text:
            return 0
        with self._display._lock:
            if not self._mid_line:
                self._display.clear()
            written = self._raw.write(text)
            self._mid_line = not text.endswith("\n")
            if not self._mid_line:
                self._raw.flush()
                self._display.restore()
        return written

    def flush(self) -> None:
        self._raw.flush()

    def __getattr__(self, name: str):
        return getattr(self._raw, name)


class _AboveTheBar(logging.StreamHandler):
    def __init__(self, display: ProgressDisplay, stream):
        super().__init__(stream)
        self.display = display

    def emit(self, record: logging.LogRecord) -> None:
        with self.display._lock:
            self.display.clear()
            super().emit(record)
            self.flush()
            self.display.restore()
