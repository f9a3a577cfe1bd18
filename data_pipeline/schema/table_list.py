"""Table lists (SPEC §6): which tables of the business database step 1 documents.

A list holds one name per line or several separated by commas; ``#`` starts a comment, blank
lines are ignored. A name is ``schema.table`` or ``table`` (schema ``public``). PostgreSQL's
identifier rules apply: unquoted parts fold to lower case, quoted parts (``"Sales"."Order
Items"``) are kept exactly. Parsed names are returned in a canonical form that parts needing
quotes keep quoted, so ``split_qualified`` and a re-parse give back the same identifiers.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from core.errors import InvalidInput

logger = logging.getLogger(__name__)

MAX_TABLES = 5000
MAX_IDENTIFIER_BYTES = 63  # NAMEDATALEN - 1: PostgreSQL truncates longer identifiers
MAX_FILE_BYTES = 1024 * 1024
DEFAULT_TABLE_LIST_FILE = "table_list.txt"

# PostgreSQL accepts letters of any script, digits, "_" and "$" in unquoted identifiers.
_UNQUOTED = re.compile(r"^[^\W\d][\w$]*$")
# A part that can be written without quotes and reads back identically.
_PLAIN = re.compile(r"^[a-z_\u0080-\U0010ffff][a-z0-9_$\u0080-\U0010ffff]*$")


class TableListError(InvalidInput):
    """A table list with invalid entries; ``details["errors"]`` lists every one by line."""


def _fold(part: str) -> str:
    """PostgreSQL's folding of unquoted identifiers: only ASCII letters are lowered."""
    return part.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def quote_part(part: str) -> str:
    """One identifier as written in a table list: bare when plain, else double-quoted."""
    if _PLAIN.match(part) and part.isprintable():
        return part
    return '"' + part.replace('"', '""') + '"'


def _split_outside_quotes(text: str, separators: str) -> list[str] | None:
    """Split ``text`` at separator characters that are not inside double quotes.

    Returns None when a quote is left open.
    """
    pieces, current, quoted = [], [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted  # a doubled "" toggles twice and stays inside the identifier
            current.append(ch)
        elif ch in separators and not quoted:
            pieces.append("".join(current))
            current = []
        else:
            current.append(ch)
    if quoted:
        return None
    pieces.append("".join(current))
    return pieces


def _strip_comment(line: str) -> str:
    """Drop a ``#`` comment unless the ``#`` is inside a quoted identifier."""
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == "#" and not quoted:
            return line[:i]
    return line


def _parse_part(raw: str) -> str:
    """One identifier (quoted or not) → its real name; ValueError says what is wrong."""
    part = raw.strip()
    if not part:
        raise ValueError("empty name part")
    if part.startswith('"'):
        if len(part) < 2 or not part.endswith('"'):
            raise ValueError("text after a quoted name, or an unclosed quote")
        inner = part[1:-1]
        if '"' in inner.replace('""', ""):
            raise ValueError('a double quote inside a quoted name must be doubled ("")')
        name = inner.replace('""', '"')
        if not name:
            raise ValueError("empty quoted name")
        if not name.isprintable() or "\x00" in name:
            raise ValueError("control characters are not allowed in names")
    else:
        if not _UNQUOTED.match(part):
            raise ValueError(
                "not a valid identifier (letters, digits, _ and $, not starting with a digit;"
                " quote other names with double quotes)"
            )
        name = _fold(part)
    if len(name.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        raise ValueError(f"name longer than {MAX_IDENTIFIER_BYTES} bytes")
    return name


def parse_name(entry: str) -> tuple[str, str]:
    """``schema.table`` or ``table`` (quoted parts allowed) → ``(schema, table)``.

    Raises ValueError with the reason when the name is invalid or in a system schema.
    """
    parts = _split_outside_quotes(entry.strip(), ".")
    if parts is None:
        raise ValueError("unbalanced double quote")
    if len(parts) > 2:
        raise ValueError("too many dots: expected schema.table or table")
    names = [_parse_part(p) for p in parts]
    schema, table = (names[0], names[1]) if len(names) == 2 else ("public", names[0])
    if schema.startswith("pg_") or schema == "information_schema":
        raise ValueError(f"system schema {schema!r} is not allowed")
    return schema, table


def qualified(schema: str, table: str) -> str:
    """The canonical list form of a table name."""
    return f"{quote_part(schema)}.{quote_part(table)}"


def split_qualified(name: str) -> tuple[str, str]:
    """A canonical (or any valid) list name → ``(schema, table)`` with quotes removed."""
    return parse_name(name)


def parse_table_list(text: str) -> list[str]:
    """Parse a table list; return canonical ``schema.table`` names in order, without duplicates.

    Raises TableListError naming every invalid entry with its line number.
    """
    names: list[str] = []
    seen: set[str] = set()
    errors: list[dict] = []
    for lineno, line in enumerate((text or "").splitlines(), start=1):
        body = _strip_comment(line).strip()
        if not body:
            continue
        entries = _split_outside_quotes(body, ",")
        if entries is None:
            errors.append({"line": lineno, "value": body, "reason": "unbalanced double quote"})
            continue
        for entry in entries:
            value = entry.strip()
            if not value:
                continue
            try:
                name = qualified(*parse_name(value))
            except ValueError as exc:
                errors.append({"line": lineno, "value": value[:200], "reason": str(exc)})
                continue
            if name not in seen:
                seen.add(name)
                names.append(name)
    if errors:
        lines = ", ".join(str(e["line"]) for e in errors[:20])
        more = f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""
        raise TableListError(
            f"invalid table list: {len(errors)} invalid entr{'y' if len(errors) == 1 else 'ies'}"
            f" on line(s) {lines}{more}",
            details={"errors": errors},
        )
    if len(names) > MAX_TABLES:
        raise TableListError(
            f"too many tables: {len(names)} listed, at most {MAX_TABLES}",
            details={"errors": [], "count": len(names), "max": MAX_TABLES},
        )
    return names


def format_table_list(names: list[str]) -> str:
    """The text of a table list file for ``names`` (canonical names, one per line)."""
    return "".join(f"{qualified(*split_qualified(n))}\n" for n in names)


def _safe_list_file(task_dir: Path, file_name: str) -> Path:
    """The list file inside ``task_dir``; refuses paths, ``..``, hidden names, symlink escapes."""
    bad = (
        not file_name
        or "\x00" in file_name
        or "/" in file_name
        or "\\" in file_name
        or file_name in {".", ".."}
        or file_name.startswith(".")
        or ":" in file_name
    )
    if bad:
        raise TableListError(
            f"table_list_file must be a plain file name inside the task folder, got {file_name!r}",
            details={"errors": [], "table_list_file": file_name},
        )
    root = Path(task_dir).resolve()
    path = (root / file_name).resolve()
    if path.parent != root:
        raise TableListError(
            "table_list_file points outside the task folder",
            details={"errors": [], "table_list_file": file_name},
        )
    return path


def load_table_list(params, task_dir: Path) -> list[str]:
    """The run's table list: the file named by ``table_list_file`` (in the task folder), else
    the inline ``table_list``, else ``table_list.txt`` in the task folder when present.

    An uploaded file wins over an inline list because uploading is how a list is replaced.
    Raises TableListError when there is no list, it is empty or it has invalid entries.
    """
    file_name = getattr(params, "table_list_file", None)
    inline = getattr(params, "table_list", None)
    if not file_name and inline:
        # Each item is one "line", so errors name the item's position (1-based).
        return _non_empty(parse_table_list("\n".join(i.replace("\n", " ") for i in inline)))
    path = _safe_list_file(task_dir, file_name or DEFAULT_TABLE_LIST_FILE)
    if not path.is_file():
        if file_name:
            raise TableListError(
                f"table list file {file_name!r} not found in the task folder",
                details={"errors": [], "table_list_file": file_name},
            )
        raise TableListError(
            "no table list: give table_list or upload table_list.txt into the task folder",
            details={"errors": []},
        )
    if inline and file_name:
        logger.info("using the table list file %s (it replaces the inline list)", file_name)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise TableListError(
            f"table list file is too large ({size} bytes, at most {MAX_FILE_BYTES})",
            details={"errors": []},
        )
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TableListError(
            f"table list file is not UTF-8 text (byte {exc.start})", details={"errors": []}
        ) from None
    return _non_empty(parse_table_list(text))


def _non_empty(names: list[str]) -> list[str]:
    if not names:
        raise TableListError("the table list is empty", details={"errors": []})
    return names
