"""Look up the training store: the documents nearest to a question.

    python -m data_pipeline.training_load.search "每个服务区的营业收入"
        [--collection sql|ddl|documentation] [-k N] [--task-id ID] [--json]

The store and the embedder come from the same settings as the pipeline (``.env`` /
environment): ``VECTOR_DATABASE_URL`` or the pipeline database, ``EMBEDDING_*``. The question
is embedded as a search query (e5's ``"query: "``). A store holding vectors of another
embedder than the configured one is an error, naming the setting that selects it.
Exit status: 0 with results, 1 on an error, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from app_config import Config
from core.errors import PipelineError, error_summary
from core.secrets import mask_secrets
from data_pipeline.training_load.documents import COLLECTIONS
from data_pipeline.training_load.embedders import get_embedder, setting_for
from data_pipeline.training_load.step import resolve_vector_dsn
from data_pipeline.training_load.vector_store import SearchHit, TrainingStore

logger = logging.getLogger(__name__)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "python -m data_pipeline.training_load.search",
        description="Find the training documents nearest to a question (cosine distance).",
    )
    parser.add_argument("question", help="the text to look up")
    parser.add_argument("--collection", choices=COLLECTIONS, help="search one collection only")
    parser.add_argument("-k", type=int, default=5, help="how many results (default 5)")
    parser.add_argument("--task-id", help="only documents loaded by this task")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser


def hit_to_dict(hit: SearchHit) -> dict:
    """A result as JSON: ``question``/``sql`` for the sql collection, ``content`` otherwise."""
    item = {
        "id": hit.id,
        "collection": hit.collection,
        "distance": round(hit.distance, 6),
        "task_id": hit.metadata.get("task_id"),
        "source_file": hit.metadata.get("source_file"),
    }
    if hit.collection == "sql":
        try:
            pair = json.loads(hit.document)
            item.update(question=pair.get("question"), sql=pair.get("sql"))
            return item
        except (ValueError, AttributeError):
            pass
    item["content"] = hit.document
    return item


def format_hit(rank: int, hit: SearchHit) -> str:
    item = hit_to_dict(hit)
    head = f"{rank}. [{hit.collection}] distance {hit.distance:.4f}  {hit.id}"
    if item.get("source_file"):
        head += f"  ({item['source_file']})"
    body = item["content"] if "content" in item else f"Q: {item['question']}\nSQL: {item['sql']}"
    indented = "\n".join("   " + line for line in body.splitlines())
    return f"{head}\n{indented}"


def mixed_store_message(others: dict[str, int], embedder: str) -> str:
    found = ", ".join(f"{n} by {name} ({setting_for(name)})" for name, n in others.items())
    return (
        f"the training store holds vectors made by another embedder: {found}; the question "
        f"would be embedded with {embedder}, and vectors of two models cannot be compared"
    )


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    if args.k < 1 or args.k > 100:
        print("error: -k must be between 1 and 100", file=sys.stderr)
        return 2
    if not args.question.strip():
        print("error: the question is empty", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = Config.from_env()
        embedder = get_embedder(config)
        with TrainingStore(resolve_vector_dsn(config)) as store:
            if not store.exists():
                print("the training store is empty: run step 4 (training_load) first")
                return 1
            others = store.other_embedders(embedder.name, [])
            if others:
                print(f"error: {mixed_store_message(others, embedder.name)}", file=sys.stderr)
                return 1
            hits = store.search(
                args.question, embedder, collection=args.collection, k=args.k, task_id=args.task_id
            )
    except (PipelineError, ValueError) as exc:
        print(f"error: {mask_secrets(str(exc))}", file=sys.stderr)
        return 1
    except Exception as exc:  # a driver error: say what, without a trace or a secret
        print(f"error: {error_summary(exc)}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([hit_to_dict(h) for h in hits], ensure_ascii=False, indent=2))
    elif not hits:
        print("no documents found")
    else:
        print("\n\n".join(format_hit(i, h) for i, h in enumerate(hits, 1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
