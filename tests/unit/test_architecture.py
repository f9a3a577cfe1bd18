"""The layout a newcomer reads the architecture from: packages by role, and no import circles.

The import graph is built with ``ast`` from the sources of ``data_pipeline/`` and ``core/``,
counting imports made inside functions too (only those under ``if TYPE_CHECKING:`` are left
out: they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("data_pipeline", "core")
STEP_PACKAGES = ("ddl_generation", "qa_generation", "sql_validation", "training_load")
# Entry points allowed directly in data_pipeline/ (besides packages).
# Entry points: the workflow's and the executor's commands, the worker, and the Python client
# of the API (``data_pipeline.client``, for programs that call the service).
ROOT_MODULES = {"__init__", "schema_workflow", "task_executor", "worker", "client"}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = getattr(test, "id", None) or getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                for child in node.body:
                    skipped |= {id(n) for n in ast.walk(child)}
    return skipped


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``module`` imports (``from pkg import sub`` counts as ``pkg.sub``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                prefix = package[: len(package) - (node.level - 1)]
                base = ".".join(prefix + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in modules else base)
    return {t for t in targets if t in modules and t != module}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_local_imports(tmp_path):
    # The checker itself: an import inside a function is an edge like any other; one under
    # TYPE_CHECKING is not.
    path = tmp_path / "probe.py"
    path.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from core.errors import X\n"
        "def f():\n    from core.db import Database\n",
        encoding="utf-8",
    )
    modules = {**_modules(), "data_pipeline.probe": path}
    assert _imports("data_pipeline.probe", path, modules) == {"core.db"}
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_no_import_circles(graph):
    assert _cycles(graph) == []


def test_core_imports_nothing_from_data_pipeline(graph):
    wrong = {m: sorted(t for t in ts if t.startswith("data_pipeline")) for m, ts in graph.items()}
    assert {m: ts for m, ts in wrong.items() if m.startswith("core") and ts} == {}


def test_the_llm_layer_imports_no_step(graph):
    steps = tuple(f"data_pipeline.{p}" for p in STEP_PACKAGES)
    bad = {
        m: sorted(t for t in targets if t.startswith(steps))
        for m, targets in graph.items()
        if m.startswith("data_pipeline.llm")
    }
    assert {m: ts for m, ts in bad.items() if ts} == {}


def test_steps_import_neither_the_api_nor_runs(graph):
    steps = tuple(f"data_pipeline.{p}" for p in STEP_PACKAGES)
    forbidden = ("data_pipeline.api", "data_pipeline.runs", "data_pipeline.cli")
    bad = {
        m: sorted(t for t in targets if t.startswith(forbidden))
        for m, targets in graph.items()
        if m.startswith(steps)
    }
    assert {m: ts for m, ts in bad.items() if ts} == {}


def test_data_pipeline_root_holds_only_entry_points():
    loose = {p.stem for p in (ROOT / "data_pipeline").glob("*.py")}
    assert loose <= ROOT_MODULES
    assert len(loose) <= len(ROOT_MODULES)


def test_every_package_says_what_it_owns():
    for init in (ROOT / "data_pipeline").rglob("__init__.py"):
        if "static" in init.parts:
            continue
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc) > 40, f"{init.relative_to(ROOT)} has no docstring"


def test_the_orchestrator_has_no_store_branches():
    text = (ROOT / "data_pipeline" / "workflow" / "orchestrator.py").read_text(encoding="utf-8")
    assert "store is None" not in text and "store is not None" not in text
