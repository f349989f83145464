"""Mutants of admin and queue-limit SHOULD rules are not failed at ``--level must``, and still fail at the default.

``gearsim run --level must`` promises that only MUST violations fail. Each row
is a mutant of the reference model that breaks one SHOULD rule, and a case
that used to FAIL it at that level under a MUST it keeps: an upper-case
command word taken for an unknown one (GM-ADMIN-003) or a prefix match
(GM-ADMIN-020) charged the listing rules GM-ADMIN-004/005 or the line-end
rule GM-ADMIN-001; a success spelled DONE (GM-ADMIN-015) charged GM-ADMIN-001;
no version command (GM-ADMIN-009) charged GM-FRAME-010 and GM-ECHO-001; a limit
not kept (GM-ADMIN-010), an eviction (GM-QUEUE-002) or a limit that counts
queued jobs alone (GM-QUEUE-004) charged the refusal rule GM-QUEUE-001 or the
eviction rule GM-QUEUE-003 although nothing was refused or evicted silently.
The vectors now judge each behaviour under the SHOULD it breaks: at
``--level must`` the case is not failed, at the default level it fails naming
that SHOULD, and the unmutated model passes either way.

The prefix-match mutant used to be gear's whole match, case-sensitive too, so
it also broke GM-ADMIN-003: it now breaks GM-ADMIN-020 alone, and the
upper-case cases pass it.
"""

from __future__ import annotations

import pytest
from mutant_judging import DEFAULT_LEVEL, NOT_FAILED, Row, judged_row, row_ids

from gearsim.protocol.requirements import Requirement
from gearsim.run.mutants.registry import mutation
from gearsim.run.result import Verdict

ROWS = [
    Row("upper-case-unknown", "admin/listings.yaml::empty-server", "GM-ADMIN-003"),
    Row("upper-case-unknown", "codec/admin.yaml::status-upper-case", "GM-ADMIN-003"),
    # ECHO_RES first, then ERR for version: the ERR is not the first reply, so no rule named it before
    Row("no-version", "codec/framing.yaml::binary-then-admin", "GM-ADMIN-009"),
    # maxqueue answers OK and keeps no limit: the first job's status tells it from an eviction
    Row("no-maxqueue", "server/maxqueue.yaml::limits-per-priority", "GM-ADMIN-010"),
    Row("no-maxqueue", "server/maxqueue.yaml::full-queue-refuses-or-evicts", "GM-ADMIN-010"),
    Row("ok-spelled-done", "admin/listings.yaml::create-function-newline-bug", "GM-ADMIN-015"),
    Row("ok-spelled-done", "codec/admin.yaml::create-function-crlf", "GM-ADMIN-015"),
    Row("ok-spelled-done", "codec/admin.yaml::create-function-lf-then-status", "GM-ADMIN-015"),
    Row("ok-spelled-done", "codec/admin.yaml::create-then-drop-function", "GM-ADMIN-015"),
    Row("ok-spelled-done", "server/maxqueue.yaml::limit-zero-unlimited", "GM-ADMIN-015"),
    Row("prefix-commands", "admin/commands.yaml::unknown-commands", "GM-ADMIN-020"),
    Row("prefix-commands", "codec/framing.yaml::version-cr-cr-lf", "GM-ADMIN-020"),
    # h2 evicts h1 (a background job: nobody to tell) where the HIGH limit is reached
    Row("evict", "server/maxqueue.yaml::limits-per-priority", "GM-QUEUE-002"),
    Row("limit-counts-queued", "server/maxqueue.yaml::limit-one", "GM-QUEUE-004"),
]

#: cases the prefix-match mutant failed only because it matched case-sensitively too (GM-ADMIN-003)
CASE_ASIDE = ["admin/listings.yaml::empty-server", "codec/admin.yaml::status-upper-case"]

#: not failed here: n/a too (a case on a command the server may lack)
NOT_FAILED_HERE = NOT_FAILED | {Verdict.NOT_APPLICABLE}


_IDS = row_ids(ROWS)


@pytest.mark.parametrize("row", ROWS, ids=_IDS)
def test_not_failed_at_level_must(row: Row, registry: dict[str, Requirement]) -> None:
    assert mutation(row.mutant).rule == row.rule
    assert registry[row.rule].level == "SHOULD"
    model = judged_row(row, False, "must")
    assert model.verdict in NOT_FAILED_HERE, model.reason
    result = judged_row(row, True, "must")
    assert result.verdict in NOT_FAILED_HERE, (result.verdict, result.step, result.rules, result.reason)


@pytest.mark.parametrize("row", ROWS, ids=_IDS)
def test_failed_at_the_default_level_naming_the_should(row: Row, registry: dict[str, Requirement]) -> None:
    model = judged_row(row, False, DEFAULT_LEVEL)
    assert model.verdict in NOT_FAILED_HERE, model.reason
    result = judged_row(row, True, DEFAULT_LEVEL)
    assert result.verdict is Verdict.FAIL, (result.verdict, result.reason, result.notes)
    assert row.rule in result.rules, (result.step, result.rules, result.reason)
    # no MUST beside it: the maintainer is sent to the SHOULD's sentence alone
    assert [r for r in result.rules if registry[r].level == "MUST"] == [], result.rules


@pytest.mark.parametrize("ref", CASE_ASIDE)
def test_the_prefix_match_mutant_matches_regardless_of_case(ref: str, registry: dict[str, Requirement]) -> None:
    result = judged_row(Row("prefix-commands", ref), True, DEFAULT_LEVEL)
    assert result.verdict in (Verdict.PASS, Verdict.ACCEPTABLE), (result.verdict, result.rules, result.reason)
