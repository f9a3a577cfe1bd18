"""The one way the project writes files: atomically, and saying so when the disk is full.

A file is written to a hidden temporary name next to it (``.<name>.<random>.tmp``: never
registered as an output) and renamed over the real name only once complete, so a reader sees
the old file or the new one, never half of one. When the disk (or a quota) is full, the
temporary file is removed and :class:`StorageFull` says which file could not be written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from core.errors import PipelineError

_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _file_mode() -> int:
    mask = os.umask(0)  # read the umask (at import: before any thread writes files)
    os.umask(mask)
    return 0o666 & ~mask


# mkstemp makes 0600 files; a written file gets the permissions open() would have given it.
_MODE = _file_mode()


class StorageFull(PipelineError):
    """No space left where a file had to be written (HTTP 507 when a request wrote it)."""

    http_status = 507
    error_type = "storage_full"


def is_storage_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _FULL


def _full(path: Path, exc: OSError) -> StorageFull:
    reason = os.strerror(exc.errno).lower() if exc.errno else "storage full"
    if exc.errno == errno.ENOSPC:
        reason = "no space left on device"
    return StorageFull(f"{reason} while writing {path.name}", details={"file": path.name})


def _write(handle: IO, data) -> None:
    """Every byte the project writes to a file goes through here (tests inject ENOSPC)."""
    handle.write(data)


@contextlib.contextmanager
def atomic_writer(path: Path, *, binary: bool = False, newline: str | None = None) -> Iterator[IO]:
    """A file handle whose content replaces ``path`` once the block ends without error.

    Write to it with :func:`write` (or ``handle.write``). On any error the temporary file is
    removed and ``path`` is left as it was; a full disk raises :class:`StorageFull`.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, _MODE)
        mode = "wb" if binary else "w"
        encoding = None if binary else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as handle:
            yield handle
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if is_storage_full(exc):
            raise _full(path, exc) from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str, *, newline: str | None = None) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; see the module docstring."""
    path = Path(path)
    with atomic_writer(path, newline=newline) as handle:
        _write(handle, text)
    return path


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    path = Path(path)
    with atomic_writer(path, binary=True) as handle:
        _write(handle, data)
    return path
