"""Shared helpers: the bundled lifecycle vector cases, as pytest parameters."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from gearsim.files import read_vector_file, vector_root
from gearsim.run.runner import CaseResult, Verdict
from gearsim.vectors.parse import Case, VectorFile

#: the folders of bundled lifecycle vectors
LIFECYCLE_AREAS = ("server", "worker", "admin", "client")
#: the profile the real server and the model are judged under
PROFILE = "gearmand-1.1"


@dataclass(frozen=True)
class Bundled:
    """One lifecycle case of a bundled vector file."""

    vf: VectorFile
    case: Case

    @property
    def id(self) -> str:
        return f"{self.vf.name}::{self.case.id}"


def bundled_cases() -> list[Bundled]:
    """Every lifecycle case under vectors/{server,worker,admin,client} that applies to PROFILE."""
    root = vector_root()
    out: list[Bundled] = []
    for area in LIFECYCLE_AREAS:
        folder = root / area
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.yaml")):
            vf = read_vector_file(path, Path(area, path.name).as_posix())
            out.extend(Bundled(vf, c) for c in vf.cases if not c.is_codec and c.applies_to(PROFILE))
    return out


def params(cases: list[Bundled]) -> list[object]:
    return [pytest.param(b, id=b.id) for b in cases]


def explain(result: CaseResult) -> str:
    """A failure message with everything needed to understand it."""
    return (
        f"{result.id}: {result.verdict.value}: {result.reason}\n"
        f"step {result.step}\nexpected: {result.expected}\nactual:   {result.actual}\n"
        f"notes: {'; '.join(result.notes)}\ntrace:\n{result.trace}"
    )


def assert_ok(result: CaseResult) -> None:
    """Pass, an allowed alternative, or a defect the profile records (lint checks that it does)."""
    assert result.verdict in (Verdict.PASS, Verdict.ACCEPTABLE, Verdict.KNOWN_DEFECT), explain(result)
