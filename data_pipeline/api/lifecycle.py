"""The service process's life under waitress: requests in flight, and a graceful stop.

On SIGTERM (or Ctrl-C) the service stops accepting connections, tells open log streams to end
(they send a last ``shutdown`` event, which the console answers by reconnecting later), waits
for the requests in flight to finish (at most ``SHUTDOWN_GRACE_SECONDS``), lets their answers
reach the clients, and returns from :meth:`GracefulStop.serve` so that the process exits 0.
Executor processes are not touched: they run in their own process groups, and the next start
finds them again. A second signal stops at once.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Iterable
from typing import ClassVar

from flask import Flask, current_app
from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import ErrorTask
from waitress.wasyncore import close_all, dispatcher

logger = logging.getLogger(__name__)

SHUTDOWN_EXTENSION = "data_pipeline_shutdown"


def shutting_down(app: Flask | None = None) -> threading.Event:
    """The event set when the service is stopping (log streams watch it)."""
    app = app or current_app
    return app.extensions.setdefault(SHUTDOWN_EXTENSION, threading.Event())


class JsonErrorTask(ErrorTask):
    """waitress's own error answers (a body over its size limit, a malformed request line or
    header) in the API's JSON envelope instead of plain text."""

    _TYPES: ClassVar[dict[int, str]] = {
        400: "invalid_input", 413: "too_large", 431: "too_large", 501: "not_implemented",
    }  # fmt: skip

    def execute(self) -> None:
        error = self.request.error
        message = "request body too large" if error.code == 413 else str(error.body)
        body = json.dumps(
            {
                "success": False,
                "code": error.code,
                "message": message,
                "data": None,
                "error": {"type": self._TYPES.get(error.code, "http_error"), "details": {}},
            }
        ).encode("utf-8")
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask


class InFlight:
    """WSGI middleware counting the requests whose answer is not finished yet (a streamed
    answer counts until its iterable is closed)."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app
        self._lock = threading.Lock()
        self.count = 0

    def _done(self) -> None:
        with self._lock:
            self.count -= 1

    def __call__(self, environ, start_response):
        with self._lock:
            self.count += 1
        try:
            result = self.wsgi_app(environ, start_response)
        except BaseException:
            self._done()
            raise
        return _Closing(result, self._done)


class _Closing:
    """An answer's iterable that reports when the server has closed it."""

    def __init__(self, result: Iterable[bytes], on_close):
        self._result = result
        self._on_close = on_close
        self._closed = False

    def __iter__(self):
        return iter(self._result)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            self._on_close()


class GracefulStop:
    """Serves ``app`` with waitress until a stop signal, then stops gracefully.

    Args:
        app: the Flask app (its ``wsgi_app`` gets the in-flight counter).
        grace: seconds the requests in flight may take to finish after the signal.
        server_options: waitress settings (host, port, threads, limits, ...).
    """

    def __init__(self, app: Flask, *, grace: float, **server_options):
        self.app = app
        self.grace = grace
        self.inflight = InFlight(app.wsgi_app)
        app.wsgi_app = self.inflight
        self.server = create_server(app, **server_options)
        self.server.channel_class = JsonErrorChannel
        self._stopping = threading.Event()

    def serve(self) -> int:
        """Run until stopped; return the process's exit code (0)."""
        signal.signal(signal.SIGTERM, self._signal)
        signal.signal(signal.SIGINT, self._signal)
        self.server.run()
        self.server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        worker = self.app.extensions.get("data_pipeline_worker")
        if worker is not None:
            worker.stop(timeout=5)  # executors it started run on and record their outcome
        logger.info("stopped")
        return 0

    def _signal(self, signum, frame) -> None:
        if self._stopping.is_set():
            logger.warning("second stop signal: stopping now")
            raise SystemExit(0)  # out of waitress's loop, which shuts its threads down
        self._stopping.set()
        shutting_down(self.app).set()
        # No new connections: the listening socket goes (clients get "connection refused").
        dispatcher.close(self.server)
        logger.info(
            "stopping (%s): no new connections; %d request(s) in flight get up to %.0f s",
            signal.Signals(signum).name,
            self.inflight.count,
            self.grace,
        )
        threading.Thread(target=self._drain, name="graceful-stop", daemon=True).start()

    def _drain(self) -> None:
        deadline = time.monotonic() + self.grace
        while self.inflight.count > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.inflight.count > 0:
            logger.warning(
                "%d request(s) still running after the grace period", self.inflight.count
            )
        # Let the last answers leave the output buffers before the connections close.
        flush_deadline = time.monotonic() + 2.0
        while time.monotonic() < flush_deadline and any(
            getattr(channel, "total_outbufs_len", 0) for channel in list(self.server._map.values())
        ):
            time.sleep(0.02)
        self.server.trigger.pull_trigger(lambda: close_all(self.server._map))
