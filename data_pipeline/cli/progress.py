"""A one-line live progress bar for the command line, redrawn in place with ``\\r``.

Only drawn when the stream is a terminal; log lines printed meanwhile go above the bar
(:meth:`ProgressDisplay.log_handler`), so the two never garble each other.
"""

from __future__ import annotations

import logging
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
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


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
            columns = shutil.get_terminal_size((100, 20)).columns
            self._line = render(percent, step, note, columns)
            self._draw()

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
        return _AboveTheBar(self, stream or sys.stderr)


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
