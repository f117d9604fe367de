"""Imports flow one way: edge_runtime <- train <- export <- benchmarks, with no cycle.

Every import of these packages is read from the source (including imports inside
functions, which run later but are dependencies all the same).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

LAYERS = ("edge_runtime", "train", "export", "benchmarks")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: Path) -> set[str]:
    """Modules of the four packages that a file imports, anywhere in it (but for imports
    under `if TYPE_CHECKING:`, which are for type checkers only)."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for inner in ast.walk(node)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        else:
            continue
        found |= {n for n in names if n.split(".")[0] in LAYERS}
    return found


def import_graph() -> dict[str, set[str]]:
    files = [p for layer in LAYERS for p in sorted((ROOT / layer).glob("*.py"))]
    return {module_name(p): project_imports(p) for p in files}


def test_no_module_imports_a_layer_above_its_own():
    upward = [
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        for target in targets
        if LAYERS.index(target.split(".")[0]) > LAYERS.index(module.split(".")[0])
    ]
    assert upward == []


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None (depth-first search)."""
    done: set[str] = set()

    def visit(module: str, trail: list[str]) -> list[str] | None:
        for target in sorted(graph.get(module, ())):
            if target in trail:
                return [*trail[trail.index(target) :], target]
            if target not in done and (cycle := visit(target, [*trail, target])):
                return cycle
        done.add(module)
        return None

    for module in sorted(graph):
        if module not in done and (cycle := visit(module, [module])):
            return cycle
    return None


def test_no_import_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle(import_graph()) is None


def test_the_graph_sees_lazy_imports():
    assert "train.prepare" in import_graph()["export.classifier"]  # imported inside a function
