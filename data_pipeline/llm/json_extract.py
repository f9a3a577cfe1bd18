"""Find the JSON value in a model's answer: plain JSON, a ```json fenced block, or the first
balanced ``{...}`` / ``[...]`` amid stray text. Reasoning blocks (``<think>…</think>``) that
some models emit first are ignored."""

from __future__ import annotations

import json
import re
from typing import Any

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[ \t]*\r?\n(.*?)```", re.DOTALL)
_MAX_STARTS = 20  # opening brackets tried before giving up


class JSONExtractError(ValueError):
    """No JSON value could be read from the answer."""


def extract_json(text: str) -> Any:
    """The first JSON object or array in ``text``; raise JSONExtractError if there is none."""
    if text is None:
        raise JSONExtractError("empty answer")
    cleaned = _THINK.sub("", text).strip()
    if not cleaned:
        raise JSONExtractError("empty answer")
    try:
        return json.loads(cleaned)
    except ValueError:
        pass
    for match in _FENCE.finditer(cleaned):
        block = match.group(2).strip()
        try:
            return json.loads(block)
        except ValueError:
            found = _first_balanced(block)
            if found is not _MISSING:
                return found
    found = _first_balanced(cleaned)
    if found is not _MISSING:
        return found
    snippet = cleaned[:80].replace("\n", " ")
    raise JSONExtractError(f"no JSON object or array found in the answer ({snippet!r}…)")


_MISSING = object()


def _first_balanced(text: str) -> Any:
    """The first ``{...}`` or ``[...]`` that parses, scanning with string awareness."""
    starts = [i for i, ch in enumerate(text) if ch in "{["][:_MAX_STARTS]
    for start in starts:
        end = _matching_end(text, start)
        if end is None:
            continue
        try:
            return json.loads(text[start : end + 1])
        except ValueError:
            continue
    return _MISSING


def _matching_end(text: str, start: int) -> int | None:
    stack: list[str] = []
    in_string = escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]":
            if not stack or stack.pop() != ch:
                return None
            if not stack:
                return i
    return None
