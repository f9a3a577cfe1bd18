"""Start the real service (``python citu_app.py``, waitress) as a subprocess for tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

PROJECT_ROOT = Path(__file__).resolve().parents[2]
API = "/api/v0/data_pipeline"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServiceProcess:
    """A running ``citu_app.py``; ``url(path)`` builds API URLs; ``stop()`` ends it."""

    def __init__(self, env: dict[str, str | None], log_path: Path, port: int | None = None):
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        merged = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", **env}
        # A value of None removes the variable from the child's environment.
        self.env = {k: v for k, v in merged.items() if v is not None}
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> float:
        """Start and wait until /ready answers 200; return the seconds it took."""
        log = open(self.log_path, "ab")
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "citu_app.py"), "--port", str(self.port)],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited with {self.proc.returncode}: {self.tail()}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url("/ready"), timeout=1).status_code == 200:
                    return time.monotonic() - started
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"service not ready after {timeout} s: {self.tail()}")

    def url(self, path: str) -> str:
        return f"{self.base}{API}{path}"

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (a clean exit), then SIGKILL if it hangs."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)
