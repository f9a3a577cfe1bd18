"""Relationships no schema declares: keys and joins inferred from names and confirmed by data.

Many business databases declare no foreign key (and often no primary key). Step 1 then looks
for them in three stages, all bounded and read-only:

1. **Candidates from names**, in Python: for each column of a listed table, the listed tables
   it may point to. Rules (the ``rule`` of the evidence):

   * ``table_id``: the column names a table and ends in a key word: ``user_id`` / ``userid`` /
     ``users_id`` → ``users`` (its ``id``, or a column of the same name, or its key);
   * ``same_name``: the same specific name on both sides (``author.aid`` ← ``writes.aid``,
     ``state.state_name`` ← ``city.state_name``), also after removing a prefix that a table's
     columns or all columns share;
   * ``prefixed``: names that differ by the child table's own prefix (``sbCustomer.sbCustId``
     ← ``sbTransaction.sbTxCustId``);
   * ``names_table``: the column's words include a table's name (``from_airport`` →
     ``airport``), pointing at that table's key;
   * ``self``: ``parent_id``, ``manager_id``, ``reports_to`` ... → the table's own key.

   Types must be compatible (integer with integer or numeric, text with text, others equal).
   Columns of a declared foreign key are left alone: declared keys win.

2. **Parent keys confirmed**: the referenced column must be unique and not null: declared
   (primary key, unique constraint or index), or checked in the data: exactly on tables up to
   ``exact_rows`` rows, on a bounded sample plus a probe of sampled values on larger ones.

3. **Values confirmed**: a bounded scan of the child column (a repeatable ``TABLESAMPLE`` on
   large tables) gives up to ``SAMPLE_VALUES`` distinct values; an ``EXISTS`` probe counts how
   many the parent key holds. Kept when the share is at least ``min_share`` over enough values;
   otherwise rejected with the reason. Each child column keeps its best parent (same schema
   first, then the stronger name rule, then the higher share).

Every statement runs under the session's statement timeout; the number of probes per table
pair and in all, and the time spent, are bounded. Nothing here writes.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
from dataclasses import dataclass, field

import psycopg2
from psycopg2 import sql as pgsql

from core.errors import error_summary
from data_pipeline.llm.rules.words import split_identifier
from data_pipeline.schema.model import ColumnMeta, ForeignKey, TableMeta

logger = logging.getLogger(__name__)

SAMPLE_VALUES = 200  # distinct child values probed per candidate
SCAN_ROWS = 5000  # child rows scanned to find them
KEY_SAMPLE_ROWS = 10_000  # rows of a large parent checked for duplicate keys
KEY_PROBE_VALUES = 20  # sampled key values probed against the whole large parent
MIN_VALUES_SAME_SCHEMA = 2  # distinct values needed to confirm a relationship
MIN_VALUES_OTHER_SCHEMA = 5
MAX_PROBES_PER_PAIR = 3  # candidate column pairs tried per (child, parent) table pair
MAX_PROBES = 2000
MAX_SAME_NAME_TABLES = 10  # a name shared by more tables is not evidence of a link
MAX_REJECTED_SHOWN = 100


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_KEY_WORDS = ("id", "code", "key", "no", "num", "number")
_SELF_WORDS = frozenset(
    ("parent", "manager", "mgr", "reports", "boss", "leader", "superior", "supervisor")
)
# Words that, beside a table's name, make a column a reference to it (from_airport).
_ROLE_WORDS = (
    _words(
        """from to src source dst dest destination target origin home away start end departure
    arrival pickup dropoff billing shipping primary secondary main parent child manager owner
    creator assigned assignee reviewer approver buyer seller sender receiver recipient
    customer supplier vendor old new current prev previous next ref fk id code key no num
    number"""
    )
    | _SELF_WORDS
)
# Names too common to mean "the same thing" when two tables share them.
_GENERIC = _words(
    """id name code type status title description desc value key no num number remark note
    notes comment created updated deleted createdat updatedat deletedat createdby updatedby
    createtime updatetime lastupdate version flag sort seq level category kind amount price
    date time year month day email phone address city country state region firstname
    lastname fullname username nickname password"""
)
# Strength of each rule (higher wins a tie between parents).
_RULE_STRENGTH = {"table_id": 3, "same_name": 2, "prefixed": 2, "names_table": 1, "self": 0}
_LINKABLE = {"integer": "int", "numeric": "int", "text": "text"}


@dataclass
class Candidate:
    child: TableMeta
    column: ColumnMeta
    parent: TableMeta
    key: ColumnMeta
    rule: str

    @property
    def label(self) -> str:
        return (
            f"{self.child.qualified_name}.{self.column.name} → "
            f"{self.parent.qualified_name}.{self.key.name}"
        )


@dataclass
class Report:
    """What inference found: relationships kept (added to the tables), candidates rejected
    with the reason, keys discovered in the data, and the work done."""

    inferred: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)  # table → key column found in the data
    probes: int = 0
    elapsed_seconds: float = 0.0
    stopped: str | None = None  # why inference stopped early (time or probe budget)

    def summary(self) -> dict:
        return {
            "inferred": self.inferred,
            "rejected": self.rejected[:MAX_REJECTED_SHOWN],
            "rejected_total": len(self.rejected),
            "keys_found": self.keys,
            "probes": self.probes,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "stopped": self.stopped,
        }


# Names ---------------------------------------------------------------------------------------
def norm(name: str) -> str:
    """``Sb_Cust-Id`` → ``sbcustid``."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def singular(word: str) -> str:
    for suffix, repl in (("ies", "y"), ("ses", "s"), ("xes", "x"), ("s", "")):
        if word.endswith(suffix) and len(word) > len(suffix) + 1:
            return word[: -len(suffix)] + repl
    return word


def _common_prefix(words: list[str], share: float = 0.8, longest: int = 6) -> str:
    """The longest prefix (2..``longest`` letters) shared by at least ``share`` of ``words``
    while leaving something after it; "" when none."""
    words = [w for w in words if w]
    if len(words) < 2:
        return ""
    best = ""
    for size in range(2, longest + 1):
        counts: dict[str, int] = {}
        for w in words:
            if len(w) > size:
                counts[w[:size]] = counts.get(w[:size], 0) + 1
        prefix, hits = max(counts.items(), key=lambda kv: kv[1], default=("", 0))
        if hits >= share * len(words):
            best = prefix
        else:
            break
    return best


class Names:
    """Normalised names of the listed tables and columns, with the prefixes they share."""

    def __init__(self, tables: list[TableMeta]):
        self.table_prefix = _common_prefix([norm(t.name) for t in tables], longest=4)
        self.column_prefix = {
            id(t): _common_prefix([norm(c.name) for c in t.columns]) for t in tables
        }
        all_columns = [norm(c.name) for t in tables for c in t.columns]
        self.global_prefix = _common_prefix(all_columns, longest=4)
        # entity name → tables named so (``users``, ``user``, ``tbl_user`` → ``user``).
        self.by_entity: dict[str, list[TableMeta]] = {}
        for t in tables:
            for entity in self.entities(t):
                self.by_entity.setdefault(entity, []).append(t)

    def entities(self, table: TableMeta) -> set[str]:
        name = norm(table.name)
        out = {name, singular(name)}
        if self.table_prefix and name.startswith(self.table_prefix):
            rest = name[len(self.table_prefix) :]
            out |= {rest, singular(rest)}
        return {e for e in out if len(e) >= 2}

    def forms(self, table: TableMeta, col: ColumnMeta) -> set[str]:
        """The column's name, and without its table's or the database's common prefix."""
        name = norm(col.name)
        out = {name}
        for prefix in (self.column_prefix.get(id(table), ""), self.global_prefix):
            if prefix and name.startswith(prefix) and len(name) > len(prefix) + 1:
                out.add(name[len(prefix) :])
        return out


def _compatible(a: ColumnMeta, b: ColumnMeta) -> bool:
    ka, kb = _LINKABLE.get(a.category), _LINKABLE.get(b.category)
    if ka or kb:
        return ka == kb
    return a.category == b.category == "other" and a.data_type == b.data_type


def _specific(form: str) -> bool:
    return len(form) >= 3 and form not in _GENERIC and not form.isdigit()


def _declared_key(table: TableMeta) -> ColumnMeta | None:
    if len(table.primary_key) == 1:
        return table.column(table.primary_key[0])
    for cols in table.unique_constraints:
        if len(cols) == 1 and (col := table.column(cols[0])) is not None and not col.nullable:
            return col
    return None


def _key_columns(table: TableMeta, names: Names) -> list[ColumnMeta]:
    """Columns that may be ``table``'s key, best first: declared, else named like one."""
    declared = _declared_key(table)
    if declared is not None:
        return [declared]
    entities = names.entities(table)
    ranked = []
    for col in table.columns:
        if col.category not in _LINKABLE and col.category != "other":
            continue
        forms = names.forms(table, col)
        if forms & {"id"}:
            rank = 0
        elif any(f in {e + w for e in entities for w in _KEY_WORDS} for f in forms):
            rank = 1
        elif any(f.endswith(_KEY_WORDS) for f in forms) or col is table.columns[0]:
            rank = 2
        else:
            continue
        ranked.append((rank, table.columns.index(col), col))
    return [col for *_, col in sorted(ranked, key=lambda r: (r[0], r[1]))][:3]


def candidates(tables: list[TableMeta]) -> list[Candidate]:
    """Name-based candidates for every column not already in a declared foreign key."""
    names = Names(tables)
    keys = {id(t): _key_columns(t, names) for t in tables}
    by_form: dict[str, list[tuple[TableMeta, ColumnMeta]]] = {}
    for t in tables:
        for col in t.columns:
            for form in names.forms(t, col):
                if _specific(form):
                    by_form.setdefault(form, []).append((t, col))
    # Key columns by the end of their name: sbCustId under "custid", for sbTxCustId (a child
    # whose own prefix "sbTx" hides the same "sb" + "CustId").
    by_suffix: dict[str, list[tuple[TableMeta, ColumnMeta]]] = {}
    for t in tables:
        for key in keys[id(t)]:
            name = norm(key.name)
            for start in range(2, len(name) - 3):
                by_suffix.setdefault(name[start:], []).append((t, key))
    found: list[Candidate] = []
    for child in tables:
        declared = {c for fk in child.foreign_keys for c in fk.columns}
        for col in child.columns:
            if col.name in declared or (col.category not in _LINKABLE and col.category != "other"):
                continue
            forms = names.forms(child, col)
            seen: set[tuple[int, str]] = set()
            before = len(found)

            def add(parent, key, rule, child=child, col=col, seen=seen) -> None:
                if parent is child and rule != "self":
                    return
                if key is col or (id(parent), key.name) in seen or not _compatible(col, key):
                    return
                seen.add((id(parent), key.name))
                found.append(Candidate(child, col, parent, key, rule))

            # table_id: <entity><key word> → that table's id / same-named column / key; not
            # when the entity is the table itself (music.customer.customerid is its own key).
            own_entities = names.entities(child)
            if forms & {e + w for e in own_entities for w in _KEY_WORDS}:
                continue  # the table's own key (customer.customer_id) refers to nothing
            for form in forms:
                for word in _KEY_WORDS:
                    stem = form[: -len(word)].rstrip("_") if form.endswith(word) else ""
                    if stem in own_entities:
                        continue
                    for parent in names.by_entity.get(stem, []) if len(stem) >= 2 else []:
                        same = [c for c in parent.columns if norm(c.name) in forms]
                        for key in [*same, *keys[id(parent)]][:2]:
                            add(parent, key, "table_id")
            # same_name: a specific name both tables carry (a name on many tables, such as
            # tenant_id, is left to the table_id rule).
            for form in forms:
                sharing = by_form.get(form, []) if _specific(form) else []
                for parent, other in sharing if len(sharing) <= MAX_SAME_NAME_TABLES else []:
                    if parent is not child:
                        add(parent, other, "same_name")
            # prefixed: the child's name without its table's prefix ends a key's name, and
            # the part of the key's name before it starts the child's name too.
            own = norm(col.name)
            for form in forms - {own}:
                for parent, key in by_suffix.get(form, []) if _specific(form) else []:
                    if own.startswith(norm(key.name)[: -len(form)]):
                        add(parent, key, "prefixed")
            # names_table: the column's words are a table's name and a role (from_airport,
            # manager_staff_id) → its key; rental_duration is no rental.
            words = split_identifier(col.name)
            phrases = {(w,): w for w in words}
            phrases.update({(a, b): a + b for a, b in itertools.pairwise(words)})
            for used, entity in phrases.items():
                rest = [w for w in words if w not in used and not w.isdigit()]
                if len(entity) < 3 or not set(rest) <= _ROLE_WORDS:
                    continue
                for parent in names.by_entity.get(entity, []):
                    for key in keys[id(parent)][:1]:
                        add(parent, key, "names_table")
            # self: parent_id, manager_id, reports_to → this table's key (unless the name
            # points at another table: manager_staff_id → staff).
            if set(words) & _SELF_WORDS and len(found) == before:
                for key in keys[id(child)][:1]:
                    add(child, key, "self")
    return found


# Data ----------------------------------------------------------------------------------------
def _ident(table: TableMeta) -> pgsql.Composable:
    return pgsql.SQL("{}.{}").format(pgsql.Identifier(table.schema), pgsql.Identifier(table.name))


def _source(table: TableMeta, rows_wanted: int) -> pgsql.Composable:
    """The table, or a repeatable sample of it big enough for ``rows_wanted`` rows."""
    rows = table.row_count or 0
    if rows <= rows_wanted * 20:
        return _ident(table)
    percent = min(100.0, 100.0 * rows_wanted * 4 / rows)
    return pgsql.SQL("{} TABLESAMPLE SYSTEM ({}) REPEATABLE (7)").format(
        _ident(table), pgsql.Literal(round(percent, 6))
    )


_PROBE = """
WITH s AS MATERIALIZED (
    SELECT {col} AS v FROM {child} WHERE {col} IS NOT NULL LIMIT {scan}
), d AS MATERIALIZED (
    SELECT DISTINCT v FROM s LIMIT {values}
)
SELECT (SELECT count(*) FROM s) AS rows_scanned,
       (SELECT count(DISTINCT v) FROM s) AS distinct_scanned,
       (SELECT count(*) FROM d) AS probed,
       (SELECT count(*) FROM d WHERE EXISTS (
            SELECT 1 FROM {parent} p WHERE p.{key} = d.v)) AS matched
"""

_KEY_EXACT = "SELECT count(*) AS n, {counts} FROM {table}"

_KEY_SAMPLE = """
WITH s AS MATERIALIZED (SELECT {col} AS v FROM {source} LIMIT {rows})
SELECT (SELECT count(*) FROM s) AS n,
       (SELECT count(v) FROM s) AS not_null,
       (SELECT count(DISTINCT v) FROM s) AS distinct_values,
       (SELECT count(*) FROM {table} t
         WHERE t.{col} IN (SELECT v FROM s WHERE v IS NOT NULL LIMIT {probe})) AS probe_rows,
       (SELECT count(*) FROM (SELECT v FROM s WHERE v IS NOT NULL LIMIT {probe}) x)
           AS probe_values
"""


class _Budget(Exception):
    pass


class Inference:
    """One inference run over the listed ``tables`` on a read-only connection."""

    def __init__(
        self,
        conn,
        tables: list[TableMeta],
        *,
        min_share: float = 0.95,
        exact_rows: int = 100_000,
        max_probes: int = MAX_PROBES,
        time_budget_seconds: float = 60.0,
    ):
        self.conn = conn
        self.tables = tables
        self.min_share = min_share
        self.exact_rows = exact_rows
        self.max_probes = max_probes
        self.deadline = time.monotonic() + time_budget_seconds
        self.report = Report()
        self._unique: dict[tuple[int, str], tuple[bool, str]] = {}

    def run(self) -> Report:
        started = time.monotonic()
        found = candidates(self.tables)
        per_pair: dict[tuple[int, int], int] = {}
        results: list[tuple[Candidate, dict]] = []
        names = Names(self.tables)
        try:
            # Keys: a table without a declared one gets its first key-like column that is
            # unique and not null in the data.
            for table in self.tables:
                if _declared_key(table) is None:
                    for col in _key_columns(table, names)[:2]:
                        if self._is_key(table, col)[0]:
                            self.report.keys[table.qualified_name] = col.name
                            break
            for cand in found:
                pair = (id(cand.child), id(cand.parent))
                if per_pair.get(pair, 0) >= MAX_PROBES_PER_PAIR:
                    self._reject(cand, "too many candidates between these two tables")
                    continue
                unique, how = self._is_key(cand.parent, cand.key)
                if not unique:
                    self._reject(cand, how)
                    continue
                per_pair[pair] = per_pair.get(pair, 0) + 1
                evidence = self._probe(cand)
                if evidence is None:
                    continue
                evidence["parent_key"] = how
                reason = self._weak(cand, evidence)
                if reason:
                    self._reject(cand, reason, evidence)
                else:
                    results.append((cand, evidence))
        except _Budget as exc:
            self.report.stopped = str(exc)
            logger.warning("relationship inference stopped early: %s", exc)
        self._keep_best(results)
        self.report.elapsed_seconds = time.monotonic() - started
        return self.report

    # Checks ----------------------------------------------------------------------------
    def _spend(self) -> None:
        if self.report.probes >= self.max_probes:
            raise _Budget(f"probe budget of {self.max_probes} queries used")
        if time.monotonic() > self.deadline:
            raise _Budget("time budget used")
        self.report.probes += 1

    def _query(self, statement: pgsql.Composable) -> dict | None:
        self._spend()
        try:
            with self.conn.cursor() as cur:
                cur.execute(statement)
                names = [d.name for d in cur.description]
                row = cur.fetchone()
            self.conn.rollback()
            return dict(zip(names, row, strict=True)) if row else None
        except psycopg2.Error as exc:
            self.conn.rollback()
            logger.info("relationship probe failed: %s", error_summary(exc))
            return None

    def _is_key(self, table: TableMeta, col: ColumnMeta) -> tuple[bool, str]:
        """(unique and not null, how we know it / why not) for one column, cached."""
        cache_key = (id(table), col.name)
        if cache_key in self._unique:
            return self._unique[cache_key]
        declared = _declared_key(table)
        if (declared is not None and declared.name == col.name) or (
            [col.name] in table.unique_constraints and not col.nullable
        ):
            answer = (True, "declared key")
        elif not (table.row_count or table.sample_rows):
            answer = (False, "the referenced table has no rows to check")
        elif (table.row_count or 0) <= self.exact_rows:
            answer = self._key_exact(table, col)
        else:
            answer = self._key_sampled(table, col)
        self._unique[cache_key] = answer
        return answer

    def _key_exact(self, table: TableMeta, col: ColumnMeta) -> tuple[bool, str]:
        ident = pgsql.Identifier(col.name)
        statement = pgsql.SQL(_KEY_EXACT).format(
            counts=pgsql.SQL(
                "count({c}) AS not_null, count(DISTINCT {c}) AS distinct_values"
            ).format(c=ident),
            table=_ident(table),
        )
        row = self._query(statement)
        if row is None:
            return False, "the key check did not finish"
        if row["n"] == 0:
            return False, "the referenced table is empty"
        if row["not_null"] < row["n"]:
            return False, f"{col.name} is null in some rows of {table.qualified_name}"
        if row["distinct_values"] < row["n"]:
            return False, f"{col.name} is not unique in {table.qualified_name}"
        return True, f"unique and not null in all {row['n']} rows"

    def _key_sampled(self, table: TableMeta, col: ColumnMeta) -> tuple[bool, str]:
        ident = pgsql.Identifier(col.name)
        statement = pgsql.SQL(_KEY_SAMPLE).format(
            col=ident,
            source=_source(table, KEY_SAMPLE_ROWS),
            rows=pgsql.Literal(KEY_SAMPLE_ROWS),
            table=_ident(table),
            probe=pgsql.Literal(KEY_PROBE_VALUES),
        )
        row = self._query(statement)
        if row is None:
            return False, "the key check did not finish"
        if not row["n"]:
            return False, "the referenced table is empty"
        if row["not_null"] < row["n"] or row["distinct_values"] < row["not_null"]:
            return False, f"{col.name} repeats or is null in a sample of {table.qualified_name}"
        if row["probe_rows"] != row["probe_values"]:
            return False, f"{col.name} repeats in {table.qualified_name}"
        return True, f"unique and not null in a sample of {row['n']} rows and a probe"

    def _probe(self, cand: Candidate) -> dict | None:
        statement = pgsql.SQL(_PROBE).format(
            col=pgsql.Identifier(cand.column.name),
            child=_source(cand.child, SCAN_ROWS),
            scan=pgsql.Literal(SCAN_ROWS),
            values=pgsql.Literal(SAMPLE_VALUES),
            parent=_ident(cand.parent),
            key=pgsql.Identifier(cand.key.name),
        )
        row = self._query(statement)
        if row is None:
            self._reject(cand, "the value probe did not finish")
            return None
        probed, matched = int(row["probed"]), int(row["matched"])
        unique_child = row["distinct_scanned"] == row["rows_scanned"]
        return {
            "rule": cand.rule,
            "match_share": round(matched / probed, 4) if probed else 0.0,
            "values_probed": probed,
            "values_matched": matched,
            "rows_scanned": int(row["rows_scanned"]),
            "cardinality": "one-to-one" if unique_child else "many-to-one",
        }

    def _weak(self, cand: Candidate, evidence: dict) -> str | None:
        """Why the evidence is too weak to keep the candidate, or None."""
        probed = evidence["values_probed"]
        same_schema = cand.child.schema == cand.parent.schema
        needed = MIN_VALUES_SAME_SCHEMA if same_schema else MIN_VALUES_OTHER_SCHEMA
        if probed == 0:
            return "the column holds no value to check"
        if evidence["match_share"] < self.min_share:
            share = evidence["match_share"]
            return f"only {share:.0%} of {probed} sampled values exist in the referenced key"
        if probed < needed:
            return f"too few distinct values to tell ({probed}, {needed} needed)"
        if evidence["cardinality"] == "one-to-one" and cand.rule == "same_name":
            # Both sides unique: the table the column is named after is the parent.
            own = norm(cand.column.name)
            if not any(own.startswith(e) for e in Names([cand.parent]).entities(cand.parent)):
                return "both columns are unique and the name does not say which side refers"
        return None

    def _reject(self, cand: Candidate, reason: str, evidence: dict | None = None) -> None:
        item = {"from": f"{cand.child.qualified_name}.{cand.column.name}",
                "to": f"{cand.parent.qualified_name}.{cand.key.name}",
                "rule": cand.rule, "reason": reason}  # fmt: skip
        if evidence:
            item["evidence"] = evidence
        self.report.rejected.append(item)
        logger.debug("relationship candidate %s rejected: %s", cand.label, reason)

    def _keep_best(self, results: list[tuple[Candidate, dict]]) -> None:
        """One parent per child column: same schema first, stronger rule, higher share."""
        by_column: dict[tuple[int, str], list[tuple[Candidate, dict]]] = {}
        for cand, evidence in results:
            by_column.setdefault((id(cand.child), cand.column.name), []).append((cand, evidence))
        for options in by_column.values():
            options.sort(
                key=lambda ce: (
                    ce[0].child.schema == ce[0].parent.schema,
                    _RULE_STRENGTH[ce[0].rule],
                    ce[1]["match_share"],
                    ce[1]["values_probed"],
                ),
                reverse=True,
            )
            (best, evidence), *others = options
            for cand, ev in others:
                self._reject(cand, f"{best.label} fits better", ev)
            if _declared_key(best.parent) is None:
                self.report.keys.setdefault(best.parent.qualified_name, best.key.name)
            best.child.foreign_keys.append(
                ForeignKey(
                    name=f"inferred_{best.column.name}_{best.parent.name}"[:63],
                    columns=[best.column.name],
                    ref_schema=best.parent.schema,
                    ref_table=best.parent.name,
                    ref_columns=[best.key.name],
                    inferred=True,
                    evidence=evidence,
                )
            )
            self.report.inferred.append(
                {"from": f"{best.child.qualified_name}.{best.column.name}",
                 "to": f"{best.parent.qualified_name}.{best.key.name}", **evidence}
            )  # fmt: skip
            logger.info(
                "inferred relationship %s (%s, %.0f%% of %d values match)",
                best.label, evidence["rule"], 100 * evidence["match_share"],
                evidence["values_probed"],
            )  # fmt: skip


def infer_relationships(conn, tables: list[TableMeta], **options) -> Report:
    """Add inferred foreign keys to ``tables`` (marked ``inferred`` with their evidence) and
    record keys found in the data; return what was found and rejected."""
    report = Inference(conn, tables, **options).run()
    for table in tables:
        key = report.keys.get(table.qualified_name)
        if key and not table.primary_key:
            table.inferred_key = [key]
    return report
