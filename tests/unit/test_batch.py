"""Case analysis for batches of cases (gearsim.run.batch): which cases may share a server, and how long one may take."""

from __future__ import annotations

from gearsim.files import select
from gearsim.run.batch import (
    CaseRef,
    case_wall_bound,
    is_stateless,
    real_server_skip,
    selected_cases,
)


def _refs(*selectors: str) -> list[CaseRef]:
    selection = select(list(selectors))
    return selected_cases(selection.files, selection.chosen)


def test_stateless_cases_are_the_read_only_ones() -> None:
    by_id = {f"{vf.name}::{c.id}": c for vf, c in _refs("codec/admin.yaml", "codec/packets.yaml", "server/*")}
    assert is_stateless(by_id["codec/admin.yaml::version"])
    assert is_stateless(by_id["codec/admin.yaml::status"])
    assert not is_stateless(by_id["codec/admin.yaml::shutdown"])
    assert not is_stateless(by_id["codec/packets.yaml::submit-job-req-client"])
    assert not is_stateless(by_id["codec/packets.yaml::can-do-req-worker"])
    assert not is_stateless(by_id["server/disconnect.yaml::retry-limit-reached"])  # options, and submits


def test_virtual_clock_cases_are_skipped_on_real_servers() -> None:
    cases = {c.id: c for _, c in _refs("server/epoch.yaml")}
    flagged = [c for c in cases.values() if "VirtualClock" in c.flags]
    assert flagged, "server/epoch.yaml no longer has VirtualClock cases"
    assert all((real_server_skip(c) or "").startswith("VirtualClock:") for c in flagged)
    assert all(real_server_skip(c) is None for c in cases.values() if "VirtualClock" not in c.flags)


def test_case_wall_bound_covers_timed_advances() -> None:
    cases = {c.id: c for _, c in _refs("worker/timeout.yaml")}
    timed = next(c for c in cases.values() if c.timed)
    advances = sum(s.ms for s in timed.steps if s.action == "advance")
    assert case_wall_bound(timed) > advances / 1000
