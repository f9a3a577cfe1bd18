"""What a load must do, decided from the store before anything is embedded.

* **Present and up to date** (same id, same ``embedding_key``): nothing to embed; the task
  joins the row's ``task_ids``. So loading the same folder again embeds nothing.
* **Present but out of date** (another embedder, or the text is embedded otherwise than when
  it was stored, e.g. pairs that earlier versions embedded as question + SQL): embedded again,
  and the row's vector replaced.
* **A pair stored under another id** (the same :func:`~.documents.pair_key`: case, spacing,
  a trailing semicolon or question mark aside), whoever wrote it — Vanna's
  ``add_question_sql`` gives random ids: not added again. When this pipeline wrote that row,
  the task joins its ``task_ids``; a row of Vanna's is left as it is (so that purging the task
  never removes it).
* **An earlier version of a table's DDL or documentation** (rows of the same database and
  source file, ``<stem>.ddl`` / ``<stem>_detail.md``, that the new version does not have):
  removed once the new rows are in, and the tasks that loaded them join the new rows'
  ``task_ids`` (purging any one of them keeps the table's current documentation while another
  still wants it). The database is known by its name only: two servers with a database of
  the same name share their tables' documentation.
* **Rows another embedder made** (other than those re-embedded or replaced now): the load
  stops, as vectors of two models cannot be compared (:meth:`LoadPlan.mixing_error`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from data_pipeline.training_load.documents import TrainingDocument, pair_key_of_document
from data_pipeline.training_load.store_schema import embedding_key
from data_pipeline.training_load.vector_store import TrainingStore


@dataclass
class Replacement:
    """An earlier version of one file's rows, replaced by this load's."""

    collection: str
    source_file: str
    old_ids: list[str]
    new_ids: list[str]
    owners: list[str]


@dataclass
class LoadPlan:
    to_embed: list[TrainingDocument] = field(default_factory=list)
    up_to_date: list[TrainingDocument] = field(default_factory=list)
    stale_ids: set[str] = field(default_factory=set)
    # doc id -> the id of the same pair stored under another id
    same_pair: dict[str, str] = field(default_factory=dict)
    claim_ids: list[str] = field(default_factory=list)
    replacements: list[Replacement] = field(default_factory=list)
    other_embedders: dict[str, int] = field(default_factory=dict)

    def mixing_error(self, embedder: str) -> str | None:
        """Why the load must not go on (the store holds another embedder's vectors), or None."""
        if not self.other_embedders:
            return None
        found = ", ".join(f"{n} made by {name}" for name, n in self.other_embedders.items())
        return (
            f"the training store holds vectors of another embedder ({found}); this run embeds "
            f"with {embedder}, and vectors of two models cannot be compared: set "
            "EMBEDDING_PROVIDER back to the store's embedder, or remove those rows (purge the "
            "tasks that loaded them, or truncate_vector_tables), or point VECTOR_DATABASE_URL "
            "at another store"
        )


def plan_load(
    store: TrainingStore, docs: list[TrainingDocument], embedder: str, db_name: str | None
) -> LoadPlan:
    """The plan for loading ``docs`` (distinct ids) with the embedder named ``embedder``."""
    plan = LoadPlan()
    if store.is_empty():  # nothing to compare with: everything is new
        plan.to_embed = list(docs)
        return plan
    present = store.present_rows([d.doc_id for d in docs])
    _find_same_pairs(store, [d for d in docs if d.doc_id not in present], plan)
    for doc in docs:
        if doc.doc_id in plan.same_pair:
            continue
        if doc.doc_id in present and present[doc.doc_id] == embedding_key(doc, embedder):
            plan.up_to_date.append(doc)
            plan.claim_ids.append(doc.doc_id)
        else:
            plan.to_embed.append(doc)
            if doc.doc_id in present:
                plan.stale_ids.add(doc.doc_id)
    if db_name:
        _find_replacements(store, docs, db_name, plan)
    exempt = [d.doc_id for d in plan.to_embed]
    exempt += [i for r in plan.replacements for i in r.old_ids]
    plan.other_embedders = store.other_embedders(embedder, exempt)
    return plan


def _find_same_pairs(store: TrainingStore, docs: list[TrainingDocument], plan: LoadPlan) -> None:
    pairs = [d for d in docs if d.collection == "sql" and d.extra.get("pair_key")]
    if not pairs:
        return
    stored: dict[str, dict] = {}
    for row in store.pair_rows(sorted({d.extra["pair_key"] for d in pairs})):
        key = row["pair_key"] or pair_key_of_document(row["document"] or "")
        if key and (key not in stored or (row["ours"] and not stored[key]["ours"])):
            stored[key] = row
    for doc in pairs:
        row = stored.get(doc.extra["pair_key"])
        if row and row["id"] != doc.doc_id:
            plan.same_pair[doc.doc_id] = row["id"]
            if row["ours"]:
                plan.claim_ids.append(row["id"])


def _find_replacements(
    store: TrainingStore, docs: list[TrainingDocument], db_name: str, plan: LoadPlan
) -> None:
    new: dict[tuple[str, str], list[str]] = defaultdict(list)
    for doc in docs:
        if doc.collection in ("ddl", "documentation"):
            new[(doc.collection, doc.source_file)].append(doc.doc_id)
    if not new:
        return
    old: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in store.file_rows(db_name, sorted({f for _, f in new})):
        key = (row["collection"], row["source_file"])
        if key in new and row["id"] not in new[key]:
            old[key].append(row)
    for key, rows in sorted(old.items()):
        owners: list[str] = []
        for row in rows:
            owners += [t for t in row["task_ids"] or [] if isinstance(t, str) and t not in owners]
        plan.replacements.append(
            Replacement(key[0], key[1], [r["id"] for r in rows], new[key], owners)
        )
