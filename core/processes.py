"""Process checks and stopping process groups, on ``psutil`` (Linux and macOS alike)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable

import psutil


def pid_alive(pid: int | None) -> bool:
    """Whether a process exists and is not a zombie."""
    if not pid or pid <= 0:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def group_alive(pgid: int) -> bool:
    """Whether any process of the process group still runs (zombies excluded)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    for proc in psutil.process_iter(["status"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == pgid:
                return True
    return False


def command_line(pid: int) -> list[str] | None:
    """The command line of a process, or None when it cannot be read."""
    try:
        return psutil.Process(pid).cmdline()
    except psutil.Error:
        return None


def terminate_group(
    pgid: int, pid: int, *, grace: float, waiter: Callable[[int, float], object] | None = None
) -> str:
    """SIGTERM the process group, wait up to ``grace`` seconds, then SIGKILL it.

    Returns how it ended: ``gone`` (nothing to signal), ``terminated`` or ``killed``.
    """
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return "gone"
    deadline = time.monotonic() + grace
    if waiter is not None:
        waiter(pid, grace)
    while time.monotonic() < deadline and group_alive(pgid):
        time.sleep(0.05)
    if not group_alive(pgid):
        return "terminated"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    end = time.monotonic() + 2.0
    while time.monotonic() < end and group_alive(pgid):
        time.sleep(0.02)
    return "killed"
