"""Ctrl-C at the terminal: stop within about a second, whatever is in flight.

The first Ctrl-C says ``stopping… (Ctrl-C again to force)`` and raises KeyboardInterrupt in
the main thread: the run unwinds, drops queued LLM work (:func:`core.threads.abandoning_pool`)
and records the task ``cancelled``. Calls still in flight in worker threads are abandoned:
once the outcome is recorded the process ends at once (:func:`exit_now`) instead of letting
the interpreter wait for those threads. A second Ctrl-C ends the process immediately.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

EXIT_INTERRUPTED = 130


class InterruptHandler:
    """SIGINT handler of the command line (installed only where SIGINT is not ignored)."""

    def __init__(self) -> None:
        self.count = 0

    def install(self) -> InterruptHandler:
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, self._handle)
        return self

    @property
    def interrupted(self) -> bool:
        return self.count > 0

    def _handle(self, signum, frame) -> None:
        self.count += 1
        if self.count == 1:
            _say("\nstopping… (Ctrl-C again to force)")
            raise KeyboardInterrupt
        _say("forced stop")
        os._exit(EXIT_INTERRUPTED)


def exit_now(code: int) -> None:
    """End the process with ``code`` without waiting for abandoned worker threads."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _say(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        print(text, file=sys.stderr, flush=True)
