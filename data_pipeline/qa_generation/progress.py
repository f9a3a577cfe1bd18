"""``qa_generation_progress.json``: step 2's themes and the pairs of each finished theme.

Rewritten atomically after every theme, so a crash loses nothing already generated; a later
run of the step (without ``clean``) resumes from it when it was made for the same inputs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from data_pipeline.llm.base import QuestionSQL, Theme
from data_pipeline.qa_generation.writers import write_text_atomic

logger = logging.getLogger(__name__)

PROGRESS_FILE = "qa_generation_progress.json"


@dataclass
class Progress:
    """Themes, pairs kept per finished theme, and the counters of the run so far."""

    inputs: dict
    themes: list[Theme] = field(default_factory=list)
    pairs: dict[int, list[QuestionSQL]] = field(default_factory=dict)  # theme index -> pairs
    stats: dict = field(default_factory=dict)
    completed: bool = False

    def save(self, task_dir: Path) -> Path:
        data = {
            "inputs": self.inputs,
            "completed": self.completed,
            "themes": [asdict(t) for t in self.themes],
            "pairs": {str(i): [asdict(p) for p in ps] for i, ps in sorted(self.pairs.items())},
            "stats": self.stats,
        }
        text = json.dumps(data, ensure_ascii=False, indent=1)
        return write_text_atomic(Path(task_dir) / PROGRESS_FILE, text)

    @classmethod
    def resume(cls, task_dir: Path, inputs: dict) -> Progress | None:
        """The unfinished progress of an earlier run with the same inputs, or None."""
        path = Path(task_dir) / PROGRESS_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("completed") or data.get("inputs") != inputs:
                return None
            progress = cls(
                inputs=inputs,
                themes=[Theme(**t) for t in data["themes"]],
                pairs={int(i): [QuestionSQL(**p) for p in ps] for i, ps in data["pairs"].items()},
                stats=dict(data.get("stats") or {}),
            )
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("ignoring unreadable %s: %s", PROGRESS_FILE, exc)
            return None
        return progress if progress.themes else None
