"""The package's folders are its architecture: pure folders stay pure, imports only go down, old paths still work.

Read from the source itself (an AST walk over every module of gearsim/), so a
new import that breaks the layering fails here, naming the file and line.

The layers, bottom to top (a module may import its own layer and the ones
below, never one above; there are no import circles at all):

1. ``errors``, ``safeyaml``, ``words``: what every layer may raise, bounded YAML, plurals;
2. ``protocol``: packet table, codec, validator, requirements, traces, the node contract;
3. ``model``: the reference server and the profiles;
4. ``sim``: the simulator, links, scenarios and workloads;
5. ``vectors``: vector files as values;
6. ``run``: playing cases and judging them;
7. ``report``: what people read; ``lincheck``: judging an observed history by the orders it allows;
8. ``dissect``: captures;
9. ``io``, ``files``, ``drivers``: sockets, processes, files (the edges);
10. ``fuzz``: differential fuzzing against a real server (it opens sockets through io);
11. ``cli``, ``testing``: the command and the pytest plugin;
12. ``api``, ``__main__``, ``_moved``, the package itself: the public surface.

Layers 1-7 are pure (``lincheck`` too) (``safeyaml``, ``errors`` and ``words`` too): no sockets, threads,
processes, clocks, files or global randomness (a seeded ``random.Random`` is
fine).
"""

from __future__ import annotations

import ast
import importlib
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gearsim._moved import MOVED

PACKAGE = Path(__file__).resolve().parents[2] / "gearsim"

LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors", "safeyaml", "words"}),
    frozenset({"protocol"}),
    frozenset({"model"}),
    frozenset({"sim"}),
    frozenset({"vectors"}),
    frozenset({"run"}),
    frozenset({"report", "lincheck"}),
    frozenset({"dissect"}),
    frozenset({"io", "files", "drivers"}),
    frozenset({"fuzz"}),
    frozenset({"cli", "testing"}),
    frozenset({"api", "__main__", "_moved", ""}),
)
PURE = ("errors", "safeyaml", "words", "protocol", "model", "sim", "vectors", "run", "report", "lincheck")
#: modules a pure folder may not import (the edges' business)
FORBIDDEN_MODULES = frozenset(
    {"socket", "select", "selectors", "threading", "asyncio", "subprocess", "time", "os", "shutil", "tempfile"}
)
#: calls that read or write files, wherever they come from
FORBIDDEN_CALLS = frozenset({"open", "read_text", "write_text", "read_bytes", "write_bytes"})


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported gearsim module, dotted
    line: int


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _tree(module: str) -> ast.Module:
    return ast.parse(MODULES[module].read_text(encoding="utf-8"), str(MODULES[module]))


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` (imports for annotations never run)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    return skip


def _imports(module: str) -> Iterator[Import]:
    """Every gearsim module ``module`` imports when it runs (at import time or inside a function)."""
    tree = _tree(module)
    skip = _type_checking_only(tree)
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names = [f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source for a in node.names]
        else:
            continue
        for name in names:
            if name in MODULES and name != module:
                yield Import(module, name, node.lineno)


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    for i, members in enumerate(LAYERS):
        if top in members:
            return i
    raise AssertionError(f"{module}: the folder {top!r} is in no layer of this test; add it to LAYERS")


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        _layer(module)


def test_imports_only_go_down_the_layers() -> None:
    upward = [
        f"{MODULES[i.module].relative_to(PACKAGE.parent)}:{i.line}: {i.module} imports {i.target}"
        for module in MODULES
        for i in _imports(module)
        if _layer(i.target) > _layer(i.module)
    ]
    assert upward == []


def _circle(graph: dict[str, list[str]]) -> list[str]:
    """One import circle in ``graph`` (module -> modules it imports), as a path back to its start, or []."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str]:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return []
        for target in graph.get(module, ()):
            circle = visit(target, [*path, module])
            if circle:
                return circle
        done.add(module)
        return []

    for module in graph:
        circle = visit(module, [])
        if circle:
            return circle
    return []


def test_there_are_no_import_circles() -> None:
    graph = {m: sorted({i.target for i in _imports(m)} - {"gearsim"}) for m in MODULES}
    assert _circle(graph) == []


def test_the_checks_can_fail() -> None:
    assert _circle({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == ["a", "b", "c", "a"]
    assert _circle({"a": ["b"], "b": [], "c": ["a", "b"]}) == []
    # the real graph is read: cli.run imports the runner and io.managed, two layers below it
    imports = {i.target for i in _imports("gearsim.cli.run")}
    assert {"gearsim.run.runner", "gearsim.io.managed"} <= imports
    assert _layer("gearsim.cli.run") > _layer("gearsim.io.managed") > _layer("gearsim.run.runner")


def _halves(tree: ast.Module, where: str) -> Iterator[str]:
    """Classes that declare, for type checkers only, state they expect a subclass to hold.

    That is the mark of a file cut in two by inheritance (a "half" that reads
    its heir's attributes); a part of its own is composed and given what it
    uses, e.g. ``sim.plain.PlainPath`` is handed its engine as ``EngineHooks``.
    """
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        for stmt in node.body:
            if isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test):
                state = [s for s in stmt.body if isinstance(s, ast.AnnAssign)]
                if state:
                    yield f"{where}:{stmt.lineno}: {node.name} declares {ast.unparse(state[0].target)} for an heir"


def test_no_class_is_half_a_file_cut_by_inheritance() -> None:
    found = [line for m in MODULES for line in _halves(_tree(m), str(MODULES[m].relative_to(PACKAGE.parent)))]
    assert found == []


def test_the_half_check_sees_a_half() -> None:
    half = "class Half:\n    if TYPE_CHECKING:\n        conns: dict[int, int]\n\n    def f(self) -> None: ...\n"
    assert list(_halves(ast.parse(half), "x.py")) == ["x.py:2: Half declares conns for an heir"]
    # a type-checking-only property (Packet, Simulator) declares no state
    prop = "class P:\n    if TYPE_CHECKING:\n        @property\n        def now(self) -> int: ...\n"
    assert list(_halves(ast.parse(prop), "x.py")) == []


def _impurities(module: str) -> Iterator[str]:
    tree = _tree(module)
    where = MODULES[module].relative_to(PACKAGE.parent)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_MODULES:
                    yield f"{where}:{node.lineno}: import {alias.name}"
        elif isinstance(node, ast.ImportFrom) and not node.level:
            top = (node.module or "").split(".")[0]
            if top in FORBIDDEN_MODULES:
                yield f"{where}:{node.lineno}: from {node.module} import ..."
            if top == "random" and any(a.name != "Random" for a in node.names):
                yield f"{where}:{node.lineno}: global randomness from random"
            if top == "pathlib":
                yield f"{where}:{node.lineno}: pathlib (files)"
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
            # the builtin open(); a method called open (a simulated connection) is not a file
            builtin_open = name == "open" and isinstance(func, ast.Name)
            if builtin_open or (name in FORBIDDEN_CALLS and name != "open"):
                yield f"{where}:{node.lineno}: {ast.unparse(func)}(...)"
            if owner == "random" and name != "Random":
                yield f"{where}:{node.lineno}: global randomness random.{name}()"
        if isinstance(node, ast.Import) and any(a.name == "pathlib" for a in node.names):
            yield f"{where}:{node.lineno}: pathlib (files)"


@pytest.mark.parametrize("folder", PURE)
def test_pure_folders_touch_no_sockets_threads_processes_clocks_files_or_global_randomness(folder: str) -> None:
    modules = [m for m in MODULES if m.split(".")[1:2] == [folder]]
    assert modules, f"no modules in {folder}"
    found = [line for m in modules for line in _impurities(m)]
    assert found == []


def test_the_purity_check_sees_what_it_forbids() -> None:
    """io/tcp.py uses sockets, selectors and time: the check must say so, or it checks nothing."""
    found = list(_impurities("gearsim.io.tcp"))
    assert any("import socket" in f for f in found) and any("import time" in f for f in found)
    assert any("read_text" in f for f in _impurities("gearsim.files"))


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_an_old_import_path_warns_and_gives_the_same_module(old: str, new: str) -> None:
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    messages = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert any(old in m and new in m for m in messages), messages
