"""A local HTTP server speaking the OpenAI chat-completions and embeddings protocol.

It stands in for a remote LLM / embedding API so that the real ``openai`` client code runs in
tests. Started on 127.0.0.1 (free port) in a thread; scriptable per test:

* ``server.script(*replies)`` queues replies for ``POST /v1/chat/completions``: a string (the
  answer's text), or :func:`reply` / :func:`error` / :func:`slow` objects, or a callable
  ``(request) -> reply``. When the queue is empty, ``server.handler`` answers (default: HTTP
  500 saying nothing was scripted).
* ``POST /v1/embeddings`` returns deterministic unit vectors (``dimensions`` from the request,
  else ``server.embedding_dimension``) derived from the input text; replies queued in
  ``server.embedding_errors`` (e.g. ``error(500)``) are served first.
* ``server.requests`` records every request (path, headers, JSON body);
  ``server.max_in_flight`` is the largest number of chat calls handled at once.

The fixture is ``fake_openai``; make it available in a test module with
``from tests.fakes.openai_server import fake_openai_fixture  # noqa: F401``.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Reply:
    """One scripted answer: ``content`` with HTTP 200, or an error ``status`` and body."""

    content: str | None = None
    status: int = 200
    body: Any = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def reply(content: str, delay: float = 0.0) -> Reply:
    return Reply(content=content, delay=delay)


def error(status: int, message: str = "scripted error", headers: dict | None = None) -> Reply:
    body = {"error": {"message": message, "type": "server_error", "code": status}}
    return Reply(status=status, body=body, headers=headers or {})


def slow(seconds: float, content: str = "{}") -> Reply:
    """An answer that arrives after ``seconds`` (longer than the client timeout = timeout)."""
    return Reply(content=content, delay=seconds)


@dataclass
class Request:
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any

    @property
    def messages(self) -> list[dict]:
        return (self.body or {}).get("messages", []) if isinstance(self.body, dict) else []

    @property
    def prompt(self) -> str:
        """All message texts joined (to route answers by what was asked)."""
        return "\n".join(str(m.get("content", "")) for m in self.messages)


def fake_vector(text: str, dimension: int) -> list[float]:
    """A deterministic unit vector for ``text``."""
    values: list[float] = []
    counter = 0
    while len(values) < dimension:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    values = values[:dimension]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


class FakeOpenAIServer:
    """The server and its script; see the module docstring."""

    def __init__(self, embedding_dimension: int = 384):
        self.embedding_dimension = embedding_dimension
        self.requests: list[Request] = []
        self.handler: Callable[[Request], Reply | str] = lambda req: error(
            500, "nothing scripted for this request"
        )
        self._queue: deque = deque()
        # Error replies (see error()) served, in order, to the next POST /v1/embeddings calls.
        self.embedding_errors: deque = deque()
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._make_handler())
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def script(self, *replies: Reply | str | Callable) -> None:
        with self._lock:
            self._queue.extend(replies)

    @property
    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def _next(self, request: Request) -> Reply:
        with self._lock:
            item = self._queue.popleft() if self._queue else self.handler
        if callable(item) and not isinstance(item, Reply):
            item = item(request)
        return Reply(content=item) if isinstance(item, str) else item

    def _make_handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, status: int, payload: Any, headers: dict | None = None) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    body = None
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = Request(self.path, headers, body)
                with server._lock:
                    server.requests.append(request)
                if self.path.endswith("/embeddings"):
                    self._embeddings(body or {})
                elif self.path.endswith("/chat/completions"):
                    self._chat(request)
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def _chat(self, request: Request) -> None:
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    answer = server._next(request)
                    if answer.delay:
                        time.sleep(answer.delay)
                finally:
                    with server._lock:
                        server.in_flight -= 1
                if answer.status != 200:
                    self._send(answer.status, answer.body or {}, answer.headers)
                    return
                model = (request.body or {}).get("model", "fake-model")
                self._send(200, _completion(answer.content or "", model), answer.headers)

            def _embeddings(self, body: dict) -> None:
                with server._lock:
                    failure = server.embedding_errors.popleft() if server.embedding_errors else None
                if failure is not None:
                    self._send(failure.status, failure.body or {}, failure.headers)
                    return
                inputs = body.get("input", [])
                inputs = [inputs] if isinstance(inputs, str) else list(inputs)
                dimension = int(body.get("dimensions") or server.embedding_dimension)
                data = [
                    {"object": "embedding", "index": i, "embedding": fake_vector(str(t), dimension)}
                    for i, t in enumerate(inputs)
                ]
                self._send(
                    200,
                    {
                        "object": "list",
                        "data": data,
                        "model": body.get("model", "fake-embedding"),
                        "usage": {"prompt_tokens": 0, "total_tokens": 0},
                    },
                )

        return Handler


def _completion(content: str, model: str) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


@pytest.fixture(name="fake_openai")
def fake_openai_fixture():
    """A running :class:`FakeOpenAIServer` for one test."""
    server = FakeOpenAIServer().start()
    yield server
    server.stop()
