"""The training documents of a task folder, with ids derived from their content.

* every ``<stem>.ddl`` -> one document of the ``ddl`` collection;
* every ``<stem>_detail.md`` of step 1 -> the ``documentation`` collection, split at headings
  into chunks of at most ``max_chars`` characters, each starting with the table's title line
  (so a chunk found alone still says which table it is about); long sections are split by
  paragraphs, then lines (a Markdown table's header is repeated), then characters;
* the pairs of the newest ``*_pair.json`` -> the ``sql`` collection, each stored as the JSON
  document ``{"question": ..., "sql": ...}`` that Vanna's ``PG_VectorStore`` parses, and
  embedded by its question alone, as a passage (see :mod:`.embedders` for the measurements):
  the SQL's identifiers and keywords would otherwise outweigh the question's words.

Step 2's ``metadata_detail.md`` (the themes, each with its tables and example questions) is
not loaded: it is about no table in particular, so it is near every question a little and,
in the documentation collection, would take one of the few places Vanna gives to table
documentation for every question; its example questions are pairs of the ``sql`` collection
already.

Ids are ``uuid5(collection + normalised content)`` plus ``-sql`` / ``-ddl`` / ``-doc`` (the
suffixes Vanna uses), so the same content always gets the same id and loading it twice adds
nothing. A pair also has a looser :func:`pair_key` (case, spacing, trailing semicolon and
question mark ignored), with which the store finds the same pair under another id, e.g. one
Vanna wrote.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import StepFailed
from data_pipeline.schema.files import DDL_SUFFIX, DETAIL_SUFFIX, RESERVED_STEMS

logger = logging.getLogger(__name__)

COLLECTIONS: tuple[str, ...] = ("sql", "ddl", "documentation")
ID_SUFFIX = {"sql": "-sql", "ddl": "-ddl", "documentation": "-doc"}
MAX_CHUNK_CHARS = 1500
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://data-pipeline-api/training-data")
_PAIR_STAMP = re.compile(r"_(\d{8}_\d{6})_pair\.json$")
_HEADING = re.compile(r"^(#{1,6})\s+\S")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class TrainingDocument:
    """One row of the training store.

    Attributes:
        collection: ``sql``, ``ddl`` or ``documentation``.
        content: the stored document (for ``sql``, the JSON ``{"question", "sql"}``).
        source_file: the file it came from (a name inside the task folder).
        embedding_text: what is embedded (for ``sql``, the question).
        extra: more metadata (section, chunk number, pair key) stored in ``cmetadata``.
        doc_id: deterministic id, see :func:`document_id`.
        as_query: embedded as a search query rather than as a passage (e5's "query: "
            prefix); False for every document step 4 loads (see :mod:`.embedders`).
    """

    collection: str
    content: str
    source_file: str
    embedding_text: str
    extra: dict = field(default_factory=dict, compare=False)
    doc_id: str = ""
    as_query: bool = False

    @classmethod
    def make(
        cls,
        collection: str,
        content: str,
        source_file: str,
        *,
        embedding_text: str | None = None,
        id_key: str | None = None,
        extra: dict | None = None,
        as_query: bool = False,
    ) -> TrainingDocument:
        if collection not in ID_SUFFIX:
            raise ValueError(f"unknown collection {collection!r}")
        return cls(
            collection=collection,
            content=content,
            source_file=source_file,
            embedding_text=embedding_text if embedding_text is not None else content,
            extra=dict(extra or {}),
            doc_id=document_id(collection, id_key if id_key is not None else content),
            as_query=as_query,
        )


def normalise_text(text: str) -> str:
    """Whitespace runs collapsed: formatting changes alone do not make a new document."""
    return " ".join(text.split())


def document_id(collection: str, content: str) -> str:
    """``uuid5(collection, normalised content)`` + the collection's suffix."""
    key = f"{collection}\x1f{normalise_text(content)}"
    return f"{uuid.uuid5(_NAMESPACE, key)}{ID_SUFFIX[collection]}"


def pair_key(question: str, sql: str) -> str:
    """What makes two pairs the same, hashed (it is stored with every pair): question and SQL
    lower-cased, whitespace collapsed, a trailing semicolon (SQL) or question mark (question,
    ``?`` or ``？``) dropped."""
    q = normalise_text(question).lower().rstrip("?？ ")
    s = normalise_text(sql).lower().rstrip("; ")
    return hashlib.sha256(f"{q}\n{s}".encode()).hexdigest()[:24]


def pair_key_of_document(document: str) -> str | None:
    """:func:`pair_key` of a stored ``sql`` document (None when it is not a pair's JSON)."""
    try:
        pair = json.loads(document)
    except (TypeError, ValueError):
        return None
    if not isinstance(pair, dict):
        return None
    question, sql = pair.get("question"), pair.get("sql")
    if not isinstance(question, str) or not isinstance(sql, str):
        return None
    return pair_key(question, sql)


def question_sql_document(question: str, sql: str, source_file: str) -> TrainingDocument:
    """A question/SQL pair as Vanna stores it: the JSON document ``{"question", "sql"}``,
    embedded by its question (see the module docstring)."""
    question, sql = question.strip(), sql.strip()
    content = json.dumps({"question": question, "sql": sql}, ensure_ascii=False)
    # A trailing semicolon does not make another query.
    key = normalise_text(question) + "\n" + normalise_text(sql).rstrip(";").rstrip()
    return TrainingDocument.make(
        "sql",
        content,
        source_file,
        embedding_text=question,
        id_key=key,
        extra={"pair_key": pair_key(question, sql)},
    )


# Markdown chunking ------------------------------------------------------------------------
@dataclass
class _Section:
    heading: str | None  # the heading line, None for text before the first heading
    lines: list[str]


def _sections(text: str) -> list[_Section]:
    sections = [_Section(None, [])]
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        if not in_fence and _HEADING.match(line):
            sections.append(_Section(line.rstrip(), []))
        else:
            sections[-1].lines.append(line.rstrip())
    return [s for s in sections if s.heading or any(x.strip() for x in s.lines)]


def chunk_markdown(text: str, max_chars: int = MAX_CHUNK_CHARS) -> list[tuple[str, str]]:
    """Split Markdown at headings into chunks of at most ``max_chars`` characters.

    Returns ``(section, chunk)`` pairs. The first heading (the table's title) starts every
    chunk; small neighbouring sections share a chunk; a long section is cut at paragraphs,
    then lines, then characters, and its heading is repeated on every piece.
    """
    if max_chars < 200:
        raise ValueError("max_chars must be at least 200")
    sections = _sections(text)
    if not sections:
        return []
    # The title is the first heading (``# schema.table (comment)`` in step 1's files).
    title_index = next((i for i, s in enumerate(sections) if s.heading), len(sections))
    title = sections[title_index].heading if title_index < len(sections) else None
    chunks: list[tuple[str, str]] = []
    current: list[str] = []
    current_section = ""

    def flush() -> None:
        nonlocal current, current_section
        body = "\n".join(current).strip()
        if body and body != (title or ""):
            chunks.append((current_section, body))
        current, current_section = [], ""

    for index, section in enumerate(sections):
        block = _block(section).strip()
        if not block:
            continue
        prefix = title if title and index > title_index else ""
        # Join the running chunk when it fits; otherwise start a new one with the title.
        joined = "\n".join([*current, "", block]) if current else _with(prefix, block)
        if len(joined) <= max_chars:
            current = joined.split("\n")
            current_section = current_section or _label(section, title)
            continue
        flush()
        single = _with(prefix, block)
        if len(single) <= max_chars:
            current, current_section = single.split("\n"), _label(section, title)
            continue
        for piece in _split_long(section, prefix, max_chars):
            chunks.append((_label(section, title), piece))
    flush()
    return chunks


def _block(section: _Section) -> str:
    return "\n".join(([section.heading] if section.heading else []) + section.lines)


def _with(prefix: str, block: str) -> str:
    return f"{prefix}\n\n{block}" if prefix else block


def _label(section: _Section, title: str | None) -> str:
    return (section.heading or title or "").lstrip("#").strip()


def _split_long(section: _Section, prefix: str, max_chars: int) -> list[str]:
    """Pieces of a section too long for one chunk, each headed by prefix + heading."""
    head = "\n\n".join(x for x in (prefix, section.heading or "") if x)
    if len(head) > max_chars // 2:  # a pathological heading: shorten it
        head = head[: max_chars // 2]
    budget = max_chars - len(head) - 2
    pieces: list[str] = []
    table_header: str | None = None
    for kind, unit, sep in _units(section.lines, budget):
        if kind == "table_header":
            table_header = unit
        elif kind != "row":
            table_header = None
        if pieces and len(pieces[-1]) + len(sep) + len(unit) <= budget:
            pieces[-1] += sep + unit
            continue
        # A new piece; table rows continued in it keep their table's header.
        if kind == "row" and table_header and len(table_header) + 1 + len(unit) <= budget:
            unit = table_header + "\n" + unit
        pieces.append(unit)
    bodies = (p.strip() for p in pieces)
    return [f"{head}\n\n{b}" if head else b for b in bodies if b]


def _units(lines: list[str], budget: int) -> list[tuple[str, str, str]]:
    """(kind, text, separator before it): paragraphs that fit; tables as header + rows;
    other long paragraphs as lines; lines longer than the budget cut to size."""
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    units: list[tuple[str, str, str]] = []
    for para in filter(None, paragraphs):
        text = "\n".join(para)
        if len(text) <= budget:
            units.append(("para", text, "\n\n"))
            continue
        kind, sep = "line", "\n\n"
        is_table = len(para) >= 2 and para[0].lstrip().startswith("|") and "-" in para[1]
        if is_table and len(para[0]) + 1 + len(para[1]) <= budget // 2:
            units.append(("table_header", para[0] + "\n" + para[1], sep))
            para, kind, sep = para[2:], "row", "\n"
        for line in para:
            for i in range(0, len(line), budget):
                units.append((kind, line[i : i + budget], sep if i == 0 else ""))
            sep = "\n"
    return units


# Reading a task folder -------------------------------------------------------------------
def newest_pair_file(task_dir: Path) -> Path | None:
    """The newest ``*_pair.json`` (by the timestamp in its name, then modification time)."""
    files = [p for p in Path(task_dir).glob("*_pair.json") if p.is_file()]
    if not files:
        return None

    def key(p: Path):
        m = _PAIR_STAMP.search(p.name)
        return (m.group(1) if m else "", p.stat().st_mtime, p.name)

    return max(files, key=key)


def read_pairs(path: Path, *, approved_only: bool = False) -> list[tuple[str, str]]:
    """(question, sql) pairs of a pair file; entries without both are skipped with a warning.
    ``approved_only``: only the entries a reviewer approved (``review.approved`` true, see
    :mod:`data_pipeline.curation`)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StepFailed(f"cannot read the question-SQL file {path.name}: {exc}") from None
    if not isinstance(data, list):
        raise StepFailed(f"{path.name} must hold a JSON array of {{question, sql}} objects")
    pairs, skipped, unapproved = [], 0, 0
    for item in data:
        if approved_only and not _approved(item):
            unapproved += 1
            continue
        q = item.get("question") if isinstance(item, dict) else None
        s = item.get("sql") if isinstance(item, dict) else None
        if isinstance(q, str) and isinstance(s, str) and q.strip() and s.strip():
            pairs.append((q, s))
        else:
            skipped += 1
    if skipped:
        logger.warning("%s: skipped %d entries without both question and sql", path.name, skipped)
    if approved_only:
        logger.info(
            "%s: %d approved pairs loaded, %d not approved left out", path.name, len(pairs),
            unapproved,
        )  # fmt: skip
    return pairs


def _approved(item) -> bool:
    review = item.get("review") if isinstance(item, dict) else None
    return isinstance(review, dict) and review.get("approved") is True


@dataclass
class FolderDocuments:
    """The documents of a task folder and where they came from."""

    documents: list[TrainingDocument]
    ddl_files: list[str]
    detail_files: list[str]
    pair_file: str | None


def collect_documents(
    task_dir: Path, max_chars: int = MAX_CHUNK_CHARS, *, load_pairs: str = "all"
) -> FolderDocuments:
    """Every training document of a task folder (see the module docstring); with
    ``load_pairs="approved"`` only the approved pairs of the pair file."""
    task_dir = Path(task_dir)
    docs: list[TrainingDocument] = []
    ddl_files = sorted(p for p in task_dir.glob(f"*{DDL_SUFFIX}") if p.is_file())
    for path in ddl_files:
        text = _read(path).strip()
        if text:
            docs.append(TrainingDocument.make("ddl", text, path.name))
    detail_files = sorted(
        p
        for p in task_dir.glob(f"*{DETAIL_SUFFIX}")
        if p.is_file() and p.name[: -len(DETAIL_SUFFIX)] not in RESERVED_STEMS
    )
    for path in detail_files:
        for n, (section, chunk) in enumerate(chunk_markdown(_read(path), max_chars)):
            extra = {"section": section, "chunk": n}
            docs.append(TrainingDocument.make("documentation", chunk, path.name, extra=extra))
    pair_file = newest_pair_file(task_dir)
    if pair_file is not None:
        pairs = read_pairs(pair_file, approved_only=load_pairs == "approved")
        docs.extend(question_sql_document(q, s, pair_file.name) for q, s in pairs)
    return FolderDocuments(
        documents=docs,
        ddl_files=[p.name for p in ddl_files],
        detail_files=[p.name for p in detail_files],
        pair_file=pair_file.name if pair_file else None,
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StepFailed(f"cannot read {path.name}: {exc}") from None
