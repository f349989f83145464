"""ERROR code words and admin ERR lines are labels under spec and under a profile with its own vocabulary.

The vectors write gearmand's words (JOB_NOT_FOUND, ERR UNKNOWN_COMMAND ...).
Perl answers with its own (not_worker, ERR unknown_command), which GM-ERROR-003
and GM-ADMIN-015 allow: under perl-1.130 the words match as labels, noted
against GM-ERROR-002; under gearmand's profile they are still held to the letter,
and an ERROR where another packet is due still fails.
"""

from __future__ import annotations

from gearsim.files import load_requirements, load_schema_text
from gearsim.run.model_peer import ModelPeerFactory
from gearsim.run.runner import CaseResult, Verdict, run_case
from gearsim.vectors.parse import parse_vector_text
from gearsim.vectors.rules import with_step_rules

HEAD = """\
schema: gearsim-vectors/1
area: server
title: error labels
header:
- Runner tests.
notes: {}
cases:
- id: c
  comment: a case
  requirements: [GM-WORK-002]
  result: valid
"""

NOT_HELD = """\
  actors: {w1: worker}
  steps:
  - {connect: w1}
  - {send: w1, packet: {type: WORK_COMPLETE, args: ['H:vm:9', r]}}
  - {expect: w1, packet: {type: ERROR, args: [JOB_NOT_FOUND, Job given in work result not found]}}
"""

UNKNOWN_ADMIN = """\
  actors: {a1: admin}
  steps:
  - {connect: a1}
  - {send: a1, admin: no_such_command}
  - {expect: a1, admin: {lines: ['ERR UNKNOWN_COMMAND Unknown+server+commandno_such_command'], eol: "\\r\\n"}}
"""

ECHO = """\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: WORK_COMPLETE, args: ['H:vm:9', r]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [x]}}
"""


def run(body: str, profile: str, model: str) -> CaseResult:
    vf = with_step_rules(parse_vector_text(HEAD + body, "labels.yaml", load_schema_text()), load_requirements())
    return run_case(vf, vf.cases[0], ModelPeerFactory(profile=model), profile)


def test_perl_s_own_error_word_is_acceptable_under_its_profile_and_noted() -> None:
    result = run(NOT_HELD, "perl-1.130", "perl-1.130")
    assert result.verdict is Verdict.ACCEPTABLE, result.reason
    assert any("b'not_worker'" in note and "GM-ERROR-002" in note for note in result.notes), result.notes


def test_gearmand_s_profile_still_holds_the_table_s_words() -> None:
    result = run(NOT_HELD, "gearmand-1.1", "perl-1.130")
    assert result.verdict is Verdict.FAIL
    assert run(NOT_HELD, "gearmand-1.1", "gearmand-1.1").verdict is Verdict.PASS


def test_an_admin_err_line_in_perl_s_words_matches_under_its_profile_only() -> None:
    assert run(UNKNOWN_ADMIN, "perl-1.130", "perl-1.130").verdict is Verdict.PASS
    assert run(UNKNOWN_ADMIN, "gearmand-1.1", "perl-1.130").verdict is Verdict.FAIL


def test_an_error_where_another_packet_is_due_still_fails_under_perl_s_profile() -> None:
    assert run(ECHO, "perl-1.130", "perl-1.130").verdict is Verdict.FAIL
