"""Where a task's files live: only ever inside the data root."""

from __future__ import annotations

from pathlib import Path


def safe_task_folder(root: Path, task_id: str, folder: str | None) -> Path | None:
    """The task's folder when it lies inside the data root (else None: never touched)."""
    candidate = Path(folder) if folder else root / task_id
    if candidate.is_symlink():  # deleting through a link would hit whatever it points to
        return None
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError):
        return None
    if resolved == root or not resolved.is_relative_to(root):
        return None
    return resolved
