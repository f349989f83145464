"""Case analysis for batches of cases (gearsim.run.batch): which cases may share a server, and how long one may take."""

from __future__ import annotations

import pytest

from gearsim.files import select
from gearsim.run.batch import (
    CaseRef,
    UnsupportedOption,
    case_wall_bound,
    is_stateless,
    option_flags,
    real_server_skip,
    selected_cases,
)


def _refs(*selectors: str) -> list[CaseRef]:
    selection = select(list(selectors))
    return selected_cases(selection.files, selection.chosen)


def test_option_flags_follow_gearmand_command_line() -> None:
    assert option_flags({"job_retries": 2}) == ("--job-retries=2",)
    assert option_flags({"exceptions": True, "worker_wakeup": 1}) == ("--exceptions", "--worker-wakeup=1")
    assert option_flags({"exceptions": False, "job_retries": 0}) == ()
    with pytest.raises(UnsupportedOption, match="virtual clock"):
        option_flags({"epoch0": 1_800_000_000})
    with pytest.raises(UnsupportedOption, match="unknown server option"):
        option_flags({"nope": 1})


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
