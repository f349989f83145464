"""Old import paths of modules that moved in the 0.2 layout, kept for one release.

This module owns the table of moves and an import hook that serves each old
path as the module at its new home, with a DeprecationWarning naming the new
path. ``gearsim/__init__.py`` installs the hook. The README lists the same
moves for readers.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from collections.abc import Sequence

#: old module path -> new module path (removed in the release after 0.2)
MOVED: dict[str, str] = {
    "gearsim.packets": "gearsim.protocol.packets",
    "gearsim.codec": "gearsim.protocol.codec",
    "gearsim.validate": "gearsim.protocol.validate",
    "gearsim.requirements": "gearsim.protocol.requirements",
    "gearsim.trace": "gearsim.protocol.trace",
    "gearsim.node": "gearsim.protocol.node",
    "gearsim.profiles": "gearsim.model.profiles",
    "gearsim.links": "gearsim.sim.links",
    "gearsim.scenario": "gearsim.sim.scenario",
    "gearsim.workload": "gearsim.sim.workload",
    "gearsim.vectortypes": "gearsim.vectors.cases",
    "gearsim.vectortext": "gearsim.vectors.text",
    "gearsim.codec_cases": "gearsim.vectors.codec_checks",
    "gearsim.lint": "gearsim.vectors.lint",
    "gearsim.matching": "gearsim.vectors.matching",
    "gearsim.runner": "gearsim.run.runner",
    "gearsim.simpeer": "gearsim.run.model_peer",
    "gearsim.chunking": "gearsim.run.chunking",
    "gearsim.shard": "gearsim.run.shard",
    "gearsim.html_report": "gearsim.report.html",
    "gearsim.matrix": "gearsim.report.matrix",
    "gearsim.baseline": "gearsim.report.baseline",
    "gearsim.coverage": "gearsim.report.coverage",
    "gearsim.strategies": "gearsim.testing.strategies",
    "gearsim.pytest_plugin": "gearsim.testing.pytest_plugin",
    "gearsim.loading": "gearsim.files",
    "gearsim.resources": "gearsim.files",
    "gearsim.io.client_under_test": "gearsim.io.programs",
    "gearsim.io.peer_fixtures": "gearsim.testing.peer_fixtures",
    "gearsim.io.program_match": "gearsim.vectors.program_matching",
}


class _Alias(importlib.abc.Loader):
    """Loads an old path as the module at its new home (the same object, not a copy)."""

    def __init__(self, new: str) -> None:
        self.new = new

    def exec_module(self, module: types.ModuleType) -> None:
        # importlib returns whatever sys.modules holds under the old name once
        # this returns, so the old name becomes the new module itself.
        warnings.warn(
            f"{module.__name__} moved to {self.new}; the old path goes away in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        sys.modules[module.__name__] = importlib.import_module(self.new)


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(new))


def install() -> None:
    """Put the hook in ``sys.meta_path`` once."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
