"""An optional admin command a server lacks, answered ERR, is never a MUST failure (issue 12's audit).

Perl has only workers, status, maxqueue and version. A case about getpid or
create function is n/a against it (GM-ADMIN-013 is a MAY); under spec one
about cancel fails naming the SHOULD GM-ADMIN-018 alone. A server that has
the command (gearmand's profile) is still held to its reply, and the
required status and workers never count as optional.
"""

from __future__ import annotations

from gearsim.files import load_requirements, load_schema_text
from gearsim.run.model_peer import ModelPeerFactory
from gearsim.run.runner import CaseResult, Verdict, run_case
from gearsim.run.unanswered import absent_admin
from gearsim.vectors.parse import parse_vector_text
from gearsim.vectors.rules import with_step_rules

HEAD = """\
schema: gearsim-vectors/1
area: admin
title: absent admin commands
header:
- Runner tests.
notes: {}
cases:
- id: c
  comment: a case
  requirements: [GM-ADMIN-001, GM-ADMIN-013, GM-ADMIN-018]
  result: valid
  actors: {a1: admin}
  steps:
  - {connect: a1}
"""

GETPID = """\
  - {send: a1, admin: getpid}
  - {expect: a1, admin: {lines: [{match: 'OK [0-9]+'}], eol: "\\n"}}
"""

CANCEL = """\
  - {send: a1, admin: cancel job H:vm:9}
  - {expect: a1, admin: {lines: ['ERR UNKNOWN_JOB'], eol: "\\r\\n"}}
  - {send: a1, admin: cancel job H:vm:9}
  - {expect: a1, admin: {lines: ['OK'], eol: "\\r\\n"}}
"""


def run(body: str, profile: str, model: str) -> CaseResult:
    vf = with_step_rules(parse_vector_text(HEAD + body, "absent.yaml", load_schema_text()), load_requirements())
    return run_case(vf, vf.cases[0], ModelPeerFactory(profile=model), profile)


def test_a_may_command_perl_lacks_is_not_applicable_under_its_profile_and_spec() -> None:
    for profile in ("perl-1.130", "spec"):
        result = run(GETPID, profile, "perl-1.130")
        assert result.verdict is Verdict.NOT_APPLICABLE, (profile, result.reason)
        assert "no 'getpid' admin command (GM-ADMIN-013 is a MAY)" in result.reason


def test_a_server_whose_profile_has_the_command_is_still_held_to_it() -> None:
    result = run(GETPID, "gearmand-1.1", "perl-1.130")
    assert result.verdict is Verdict.FAIL
    assert run(GETPID, "gearmand-1.1", "gearmand-1.1").verdict is Verdict.PASS


def test_under_spec_a_missing_should_command_breaks_that_should_alone() -> None:
    # the first ERR matches as a label; the second line is due OK, and Perl has no cancel
    result = run(CANCEL, "spec", "perl-1.130")
    assert result.verdict is Verdict.FAIL
    assert result.rules == ("GM-ADMIN-018",)


def test_required_commands_and_capitals_are_never_optional() -> None:
    assert absent_admin("spec", b"status") is None
    assert absent_admin("spec", b"workers") is None
    assert absent_admin("spec", b"GETPID") is None  # GM-ADMIN-003 judges that one
    assert absent_admin("perl-1.130", b"version") is None  # Perl has it
    assert absent_admin("gearmand-1.1", b"getpid") is None
    assert absent_admin("perl-1.130", b"show jobs") == ("show", "GM-ADMIN-013", "MAY")
    assert absent_admin("spec", b"maxqueue f 1") == ("maxqueue", "GM-ADMIN-010", "SHOULD")


SILENT_DEFECT = """\
  - {send: a1, admin: getpid}
  - expect: a1
    admin: {lines: [{match: 'OK [0-9]+'}], eol: "\\n"}
    accept:
    - profiles: [gear-0.16]
      defect: some-wedge
      breaks: [GM-FRAME-016]
      silence: true
"""


def test_an_unanswered_admin_line_that_an_alternative_judged_keeps_that_alternative_s_rules() -> None:
    # gear answers getpid with nothing; the vector records that silence as a defect breaking GM-FRAME-016
    result = run(SILENT_DEFECT, "spec", "gear-0.16")
    assert result.verdict is Verdict.FAIL
    assert result.rules == ("GM-FRAME-016",)
