"""The protocol core, the model and the simulator: layered, without import circles, each module saying what it owns.

Read from the source with ``ast`` (imports under ``TYPE_CHECKING`` count too:
a circle hidden from the interpreter is still a circle in the design).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from test_layers import LAYERS as PACKAGE_LAYERS

PACKAGE = Path(__file__).resolve().parents[2] / "gearsim"
#: lowest first: a folder may import only from those before it (and the pure base modules)
LAYERS = ("protocol", "model", "sim")
#: pure modules below every layer (test_layers' first layer: the exceptions, bounded YAML, plurals)
BASE = tuple(f"gearsim.{name}" for name in sorted(PACKAGE_LAYERS[0]))
CORE = tuple(f"gearsim.{layer}" for layer in LAYERS)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> dict[str, Path]:
    return {module_name(p): p for layer in LAYERS for p in sorted((PACKAGE / layer).glob("*.py"))}


def imported(path: Path, known: set[str]) -> set[str]:
    """The gearsim modules ``path`` imports (``from pkg import mod`` counts as ``pkg.mod``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("gearsim"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gearsim"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return found


def graph() -> dict[str, set[str]]:
    files = sources()
    every = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {name: imported(path, every) for name, path in files.items()}


def layer_of(module: str) -> int | None:
    for index, prefix in enumerate(CORE):
        if module == prefix or module.startswith(prefix + "."):
            return index
    return None


def test_the_core_imports_nothing_above_its_own_layer() -> None:
    wrong = []
    for module, targets in graph().items():
        own = layer_of(module)
        assert own is not None
        for target in targets:
            theirs = layer_of(target)
            if target in BASE:
                continue
            if theirs is None or theirs > own:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle a depth-first walk of ``edges`` meets, each as the modules around it."""
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(edges.get(module, ())):
            if target in path:
                found.append([*path[path.index(target) :], target])
            elif target in edges and target not in done:
                visit(target, [*path, target])
        done.add(module)

    for start in sorted(edges):
        if start not in done:
            visit(start, [start])
    return found


def test_there_is_no_import_circle_in_protocol_model_or_sim() -> None:
    assert circles(graph()) == []


def test_admin_importing_the_server_again_would_be_found() -> None:
    edges = graph()
    edges["gearsim.model.admin"] = {*edges["gearsim.model.admin"], "gearsim.model.server"}
    assert [set(c) for c in circles(edges)] == [{"gearsim.model.admin", "gearsim.model.server"}]


@pytest.mark.parametrize("module", sorted(sources()))
def test_every_core_module_opens_with_what_it_owns(module: str) -> None:
    doc = ast.get_docstring(ast.parse(sources()[module].read_text(encoding="utf-8")))
    assert doc is not None and len(doc.split()) >= 8, f"{module} has no docstring saying what it owns"
