"""The one way tests start the real service (``python citu_app.py`` under waitress) as a
subprocess, and talk to it over HTTP."""

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

from app_config import Config

PROJECT_ROOT = Path(__file__).resolve().parents[2]
API = "/api/v0/data_pipeline"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_environment() -> dict[str, str]:
    """``os.environ`` without any setting of the service: a developer's own configuration
    (a token, an LLM endpoint, a database) must not leak into a test's service."""
    env = {k: v for k, v in os.environ.items() if not Config.is_setting_variable(k)}
    env.update({"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"})
    return env


def stop_group(proc: subprocess.Popen | None, sig: int, timeout: float) -> int | None:
    """Signal a process's own group, SIGKILL it if it does not exit in time; its exit code."""
    if not proc or proc.poll() is not None:
        return proc.returncode if proc else None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(5)


class ServiceProcess:
    """A running ``citu_app.py``.

    Args:
        env: settings for the service (a value of None removes the variable); they are added
            to a clean environment (see :func:`clean_environment`).
        log_path: where the service's output goes.
        port: a fixed port; by default a free one (another is tried if it was taken).
    """

    def __init__(self, env: dict[str, str | None], log_path: Path, port: int | None = None):
        log_path = Path(log_path)
        # The operator's log of this service goes next to its output (not into the project).
        server_log = str(log_path.with_name(log_path.stem + "-server.log"))
        merged = {**clean_environment(), "SERVER_LOG_FILE": server_log, **env}
        self.env = {k: v for k, v in merged.items() if v is not None}
        self.log_path = Path(log_path)
        self.fixed_port = port
        self.port = port or 0
        self.proc: subprocess.Popen | None = None
        self.http = requests.Session()
        self.startup_seconds: float | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0, attempts: int = 3) -> ServiceProcess:
        """Start and wait until ``/ready`` answers 200 (``startup_seconds`` says how long)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(1 if self.fixed_port else attempts):
            self.port = self.fixed_port or free_port()
            started = time.monotonic()
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, str(PROJECT_ROOT / "citu_app.py"), "--port", str(self.port)],
                    cwd=PROJECT_ROOT,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            while time.monotonic() - started < timeout and self.proc.poll() is None:
                with contextlib.suppress(requests.RequestException):
                    if requests.get(self.url("/ready"), timeout=1).status_code == 200:
                        self.startup_seconds = time.monotonic() - started
                        return self
                time.sleep(0.1)
            if self.proc.poll() is None:
                self.stop()
                raise TimeoutError(f"service not ready after {timeout} s: {self.tail()}")
            if "address already in use" not in self.tail().lower():
                break  # not a port race: no point trying another port
        raise RuntimeError(f"service exited with {self.proc.returncode}: {self.tail()}")

    def url(self, path: str) -> str:
        return f"{self.base}{API}{path}"

    def log(self) -> str:
        """Everything the service wrote."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, n: int = 3000) -> str:
        return self.log()[-n:]

    def get(self, path: str, **kw) -> requests.Response:
        return self.http.get(self.url(path), timeout=kw.pop("timeout", 30), **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.http.post(self.url(path), timeout=kw.pop("timeout", 30), **kw)

    def delete(self, path: str, **kw) -> requests.Response:
        return self.http.delete(self.url(path), timeout=kw.pop("timeout", 30), **kw)

    def task(self, task_id: str) -> dict:
        r = self.get(f"/tasks/{task_id}")
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        """Signal the service's own process group (executors run in groups of their own),
        then SIGKILL it if it does not exit in time; return its exit code."""
        return stop_group(self.proc, sig, timeout)


class WorkerProcess:
    """A running ``python -m data_pipeline.worker`` (a worker only, as on another host)."""

    def __init__(self, env: dict[str, str | None], log_path: Path, *, name: str,
                 concurrency: int = 1):  # fmt: skip
        merged = {**clean_environment(), **env}
        self.env = {k: v for k, v in merged.items() if v is not None}
        self.log_path = Path(log_path)
        self.name = name
        self.concurrency = concurrency
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> WorkerProcess:
        """Start and wait until the worker says it takes jobs."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "data_pipeline.worker", "--name", self.name,
               "--concurrency", str(self.concurrency)]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if f"worker {self.name} on" in self.log():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"worker {self.name} did not start: {self.log()[-3000:]}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        return stop_group(self.proc, sig, timeout)
