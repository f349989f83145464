"""The runner's verdicts, judged by playing small vectors against the model in virtual time."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gearsim.errors import GearsimBug, HarnessError, InputError
from gearsim.files import load_requirements, load_schema_text
from gearsim.run.model_peer import ModelPeerFactory
from gearsim.run.runner import CaseResult, ServerPeer, Verdict, run_case
from gearsim.vectors.parse import Case, parse_vector_text
from gearsim.vectors.rules import with_step_rules

HEAD = """\
schema: gearsim-vectors/1
area: server
title: runner behaviour
header:
- Runner tests.
notes: {}
cases:
- id: c
  comment: a case
  requirements: [GM-ECHO-001]
  result: valid
"""


def run(body: str, profile: str = "gearmand-1.1") -> CaseResult:
    vf = parse_vector_text(HEAD + body, "runner.yaml", load_schema_text())
    return run_case(vf, vf.cases[0], ModelPeerFactory(profile=profile), profile)


def test_a_conversation_that_goes_as_written_passes() -> None:
    result = run("""\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: ECHO_REQ, args: [hello]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [hello]}}
""")
    assert result.verdict is Verdict.PASS, result.reason


def test_a_wrong_reply_fails_with_the_step_and_both_sides() -> None:
    result = run("""\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: ECHO_REQ, args: [hello]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [bye]}}
""")
    assert result.verdict is Verdict.FAIL
    assert result.step == 3
    assert "argument 1 is b'hello', expected b'bye'" in result.reason
    assert "ECHO_RES [b'bye']" in result.expected
    assert "ECHO_RES [b'hello']" in result.actual
    assert "ECHO_RES" in result.trace


def test_a_missing_reply_fails_after_the_wait() -> None:
    result = run("""\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: PRE_SLEEP}}
  - {expect: c1, packet: {type: NOOP}, within: 500}
""")
    assert result.verdict is Verdict.FAIL
    assert "got 0 of 1 packets within 500 ms" in result.reason


def test_an_unexpected_message_at_the_end_fails_the_case() -> None:
    result = run("""\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: ECHO_REQ, args: [a]}}
""")
    assert result.verdict is Verdict.FAIL
    assert "unexpected" in result.reason and "ECHO_RES" in result.reason


def test_a_captured_handle_must_come_back_the_same() -> None:
    result = run("""\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: SUBMIT_JOB_BG, args: [f, u1, x]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
  - {send: c1, packet: {type: SUBMIT_JOB_BG, args: [f, u2, x]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
""")
    assert result.verdict is Verdict.FAIL
    assert "but H was" in result.reason


ALTERNATIVE = """\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: SUBMIT_JOB_BG, args: [f, u1, x]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
  - {send: c1, packet: {type: GET_STATUS, args: [{ref: H}]}}
  - expect: c1
    packet: {type: STATUS_RES, args: [{ref: H}, '1', '0', '', '']}
    accept:
    - profiles: [%s]
      packet: {type: STATUS_RES, args: [{ref: H}, '1', '0', '0', '0']}
      note: zeros for no progress
"""


def test_an_alternative_allowed_for_the_profile_under_test_is_acceptable() -> None:
    result = run(ALTERNATIVE % "gearmand-1.1")
    assert result.verdict is Verdict.ACCEPTABLE
    assert result.notes == ("step 5: gearmand-1.1 behaviour (zeros for no progress)",)


def test_an_alternative_of_another_profile_still_fails_and_says_whose_it_is() -> None:
    result = run(ALTERNATIVE % "perl-1.130")
    assert result.verdict is Verdict.FAIL
    assert "matches the step 5: perl-1.130 behaviour" in result.reason


def test_expect_close_sees_the_server_close_on_bad_magic() -> None:
    result = run("""\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, wire: 0058595a 00000010 00000000}
  - {expect_close: c1}
""")
    assert result.verdict is Verdict.PASS, result.reason


def test_expect_silence_fails_on_any_reply() -> None:
    result = run("""\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: ECHO_REQ, args: [a]}}
  - {expect_silence: c1, ms: 1000}
""")
    assert result.verdict is Verdict.FAIL
    assert result.step == 3


@pytest.mark.parametrize(
    ("profiles", "verdict"), [("[gear-0.16]", Verdict.NOT_APPLICABLE), ("[gearmand-1.1]", Verdict.PASS)]
)
def test_a_case_for_other_profiles_is_not_applicable(profiles: str, verdict: Verdict) -> None:
    body = f"""\
  profiles: {profiles}
  actors: {{c1: client}}
  steps:
  - {{connect: c1}}
"""
    assert run(body).verdict is verdict


def test_advance_costs_no_wall_time_and_moves_virtual_time() -> None:
    import time

    start = time.perf_counter()
    result = run("""\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {advance: 3600000}
  - {send: c1, packet: {type: ECHO_REQ, args: [late]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [late]}}
""")
    assert result.verdict is Verdict.PASS
    assert time.perf_counter() - start < 1.0  # an hour of virtual time


# --------------------------------------------------------------------------- the rule broken, at the step


def run_with_rules(body: str, requirements: str = "[GM-ECHO-001]") -> CaseResult:
    text = (HEAD + body).replace("requirements: [GM-ECHO-001]", f"requirements: {requirements}")
    vf = with_step_rules(parse_vector_text(text, "runner.yaml", load_schema_text()), load_requirements())
    return run_case(vf, vf.cases[0], ModelPeerFactory(), "gearmand-1.1")


def test_a_failure_carries_the_rules_of_its_step_as_data() -> None:
    # GM-STATUS-001 is about STATUS_RES; GM-ECHO-001 about ECHO_RES: the failing ECHO_RES step names only its own
    result = run_with_rules(
        """\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: ECHO_REQ, args: [hello]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [bye]}}
""",
        "[GM-STATUS-001, GM-ECHO-001]",
    )
    assert result.verdict is Verdict.FAIL
    assert result.rules == ("GM-ECHO-001",)
    assert result.cited == ("GM-ECHO-001", "GM-STATUS-001")
    assert not any("cites" in n for n in result.notes)


def test_a_step_that_names_its_requirements_reports_those() -> None:
    result = run_with_rules("""\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: ECHO_REQ, args: [hello]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [bye]}, requirements: [GM-ECHO-002]}
""")
    assert result.rules == ("GM-ECHO-002",)
    assert result.also_cited == ("GM-ECHO-001",)


# the model answers ECHO_REQ with ECHO_RES hello; the step expects bye, resting on the rule it pins
MAY_STEP = """\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: ECHO_REQ, args: [hello]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [bye]}, requirements: [RULE]}
"""


@pytest.mark.parametrize("rule", ["GM-FRAME-014", "GM-ERROR-003", "GM-FRAME-004"])
def test_a_step_resting_on_no_rule_a_server_breaks_names_none_as_broken(rule: str) -> None:
    # a MAY permits; GM-ERROR-003 binds clients; GM-FRAME-004 binds the bytes sent, which break nothing here
    result = run_with_rules(MAY_STEP.replace("RULE", rule))
    assert result.verdict is Verdict.FAIL  # gearmand-1.1 records one behaviour
    assert result.rules == ()
    assert "not the gearmand-1.1 behaviour the vector records" in result.reason
    assert f"the spec leaves it open: {rule}" in result.reason


def test_under_spec_a_step_resting_on_a_may_rule_accepts_what_the_server_did() -> None:
    text = (HEAD + MAY_STEP.replace("RULE", "GM-FRAME-014")).replace("[GM-ECHO-001]", "[GM-FRAME-014]")
    vf = with_step_rules(parse_vector_text(text, "runner.yaml", load_schema_text()), load_requirements())
    result = run_case(vf, vf.cases[0], ModelPeerFactory(), "spec")
    assert result.verdict is Verdict.ACCEPTABLE, result.reason
    assert "a behaviour the spec leaves open" in result.notes[0] and "GM-FRAME-014" in result.notes[0]


def test_under_spec_a_step_resting_on_a_must_still_fails_naming_it() -> None:
    text = HEAD + MAY_STEP.replace("RULE", "GM-ECHO-001")
    vf = with_step_rules(parse_vector_text(text, "runner.yaml", load_schema_text()), load_requirements())
    result = run_case(vf, vf.cases[0], ModelPeerFactory(), "spec")
    assert result.verdict is Verdict.FAIL and result.rules == ("GM-ECHO-001",)


def test_a_codec_reaction_failure_cites_the_codec_case() -> None:
    # the model answers ECHO_REQ; the vector claims no reply: the codec case's own rules are the step's
    text = HEAD.replace("requirements: [GM-ECHO-001]", "requirements: [GM-FRAME-001]") + (
        "  sender: client\n"
        "  wire: 00524551 00000010 00000001 61\n"
        "  messages:\n"
        "  - {packet: {type: ECHO_REQ, args: [a]}}\n"
        "  violations: []\n"
        "  server: {then: open}\n"
    )
    vf = parse_vector_text(text, "runner.yaml", load_schema_text())
    result = run_case(vf, vf.cases[0], ModelPeerFactory(), "gearmand-1.1")
    assert result.verdict is Verdict.FAIL and result.reason.startswith("server reaction:")
    assert result.rules == ("GM-FRAME-001",)
    assert "ECHO_RES" in result.trace and result.records


# --------------------------------------------------------------------------- gearsim bugs are not verdicts


class _BrokenPeerFactory:
    """The model as a peer, but ``send`` raises ``error`` (a bug inside gearsim, or a harness error)."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.model = ModelPeerFactory()

    def __call__(self, case: Case) -> ServerPeer:
        peer = self.model(case)
        error = self.error

        def send(actor: str, data: bytes) -> None:
            raise error

        peer.send = send  # type: ignore[method-assign]
        return peer


ECHO = """\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: ECHO_REQ, args: [hello]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [hello]}}
"""


def test_a_key_error_inside_a_case_is_a_gearsim_bug_not_a_verdict() -> None:
    vf = parse_vector_text(HEAD + ECHO, "runner.yaml", load_schema_text())
    with pytest.raises(GearsimBug, match=r"runner.yaml::c step 2: KeyError: 'oops'.*please report it") as info:
        run_case(vf, vf.cases[0], _BrokenPeerFactory(KeyError("oops")), "gearmand-1.1")
    assert isinstance(info.value.__cause__, KeyError)


def test_a_harness_error_inside_a_case_stays_inconclusive() -> None:
    vf = parse_vector_text(HEAD + ECHO, "runner.yaml", load_schema_text())
    result = run_case(vf, vf.cases[0], _BrokenPeerFactory(HarnessError("the server stopped reading")), "gearmand-1.1")
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.reason == "harness: the server stopped reading"


def test_an_unknown_profile_is_refused_before_any_peer_is_built() -> None:
    vf = parse_vector_text(HEAD + ECHO, "runner.yaml", load_schema_text())
    built: list[Case] = []

    def factory(case: Case) -> ServerPeer:
        built.append(case)
        raise AssertionError("no peer may be built for an unknown profile")

    with pytest.raises(InputError, match=r"unknown profile .gearmand-9.; known profiles: .*gearmand-1\.1"):
        run_case(vf, vf.cases[0], factory, "gearmand-9")
    with pytest.raises(InputError, match="unknown profile"):
        ModelPeerFactory(profile="gearmand-9")
    assert built == []


def test_a_key_error_while_programs_play_is_a_gearsim_bug_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from gearsim.files import select
    from gearsim.io import programs

    async def broken(self: object) -> None:
        raise KeyError("stream")

    monkeypatch.setattr(programs._Session, "play", broken)
    vf = select(["client/gear.yaml::gear-client-background"]).files[0]
    with pytest.raises(GearsimBug, match=r"gear-client-background: KeyError: 'stream'.*please report it"):
        programs.run_program_case(vf, vf.case("gear-client-background"), ["true"])


LIBRARY_FILE = """\
schema: gearsim-vectors/1
area: client
title: runner behaviour
header: [Runner tests.]
notes: {}
cases:
"""
LIBRARY_CASE = (
    LIBRARY_FILE
    + """\
- id: lib
  comment: a library case
  requirements: [GM-LIB-001]
  result: valid
  actors: {w: worker}
  library: {actors: [w]}
  steps:
  - {call: w, op: register, args: {function: f}}
  - {call: w, op: register, args: {function: g}, reply: {}}
"""
)


def test_a_key_error_while_a_library_case_plays_is_a_gearsim_bug_not_an_inconclusive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """issue #11: a KeyError inside gearsim is a bug to report; it was INCONCLUSIVE "harness: KeyError: ..."."""
    from pathlib import Path

    from gearsim.io import library_cases

    def broken(*args: object) -> str:
        raise KeyError("capture")

    # a driver answering every request {"ok": true}; the second step's reply is the first one matched
    driver = Path(__file__).parents[1] / "data" / "drivers" / "hostile_json.py"
    monkeypatch.setattr(library_cases, "match_reply", broken)
    vf = parse_vector_text(LIBRARY_CASE, "library.yaml", load_schema_text())
    with pytest.raises(GearsimBug, match=r"library.yaml::lib step 2: KeyError: 'capture'.*please report it") as info:
        library_cases.run_library_case(vf, vf.case("lib"), f"{{python}} {driver} none none")
    assert isinstance(info.value.__cause__, KeyError)


def test_a_library_case_result_carries_the_library_its_driver_named_as_data() -> None:
    """issue #11: gearsim clients named a column's library by parsing "driver for c: NAME, PID n" out of a note."""
    from pathlib import Path

    from gearsim.cli.clients import _library_of
    from gearsim.io.library_cases import run_library_case

    driver = Path(__file__).parents[1] / "data" / "drivers" / "bad_driver.py"
    vf = parse_vector_text(LIBRARY_CASE, "library.yaml", load_schema_text())
    result = run_library_case(vf, vf.case("lib"), f"{{python}} {driver} die")
    assert result.library == "bad (die)"  # said in its hello (the case is n/a then: it offers no register)
    assert _library_of([result]) == "bad (die)"
    # a note that reads like a hello is a note: the column's library is what a driver said, or nothing
    said = replace(result, library="", notes=("driver for w: forged, PID 1",))
    assert _library_of([said]) == ""


SILENCE_BROKEN = (
    LIBRARY_FILE
    + """\
- id: silence-broken
  comment: the job completes while the scripted client expects silence
  requirements: [GM-WORK-014]
  result: valid
  actors: {w: worker, c1: client}
  library: {actors: [w]}
  steps:
  - {call: w, op: register, args: {function: reverse}}
  - {connect: c1}
  - {send: c1, packet: {type: SUBMIT_JOB, args: [reverse, '', hello]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
  - {call: w, op: work, args: {behaviour: [{sleep: 100}, {complete: olleh}]}, nowait: true}
  - {expect_silence: c1, ms: 1500}
  - {await: w}
"""
)


def test_a_scripted_actor_s_silence_is_broken_by_what_the_server_sends_during_it() -> None:
    """The scripted path's expect_silence failure: no bundled case has the server speak during one."""
    from pathlib import Path

    from gearsim.io.library_cases import run_library_case

    driver = Path(__file__).parents[1] / "data" / "toy_client" / "toy_driver.py"
    vf = parse_vector_text(SILENCE_BROKEN, "library.yaml", load_schema_text())
    result = run_library_case(vf, vf.case("silence-broken"), f"{{python}} {driver}")
    assert result.verdict is Verdict.FAIL and result.step == 6, result
    assert result.reason.startswith("c1: the server sent WORK_COMPLETE"), result.reason
    assert result.expected == "silence 1500 ms"
