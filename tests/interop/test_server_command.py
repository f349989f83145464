"""A server gearsim has never seen, given only as a command line or as HOST:PORT, judged without false verdicts.

The server is tests/interop/toy_server.py, a small asyncio Gearman server
that can be told to crash (SIGSEGV) or hang on one packet type, to process one
packet type late, or to notice closed connections late. The cases are written
here, so each test knows what a correct verdict is:

* a crash is FAIL "server crashed" with the signal, the rule GM-SERVER-005 and
  the server's output, even for a case that expected the connection to close;
  a server gearsim starts is replaced for the next case; a long-lived one
  leaves the rest of the run INCONCLUSIVE "server down since CASE";
* a hang is FAIL "server hung";
* where the protocol gives no order between connections, gearsim waits for
  evidence (a round trip, the server's own close) instead of judging a race;
  without that wait the same cases fail, so the tests can fail.

The last tests run every bundled server-judging vector against long-lived C
gearmands (two halves of consecutive cases, each on one started once: 0 fail,
0 inconclusive) and gearmand's recorded crash (a known defect under
gearmand-1.1, FAIL under spec).
"""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from parts import consecutive

from gearsim.files import load_schema_text, select
from gearsim.fuzz.session import ServerIdentity, identify
from gearsim.io.launch import RunningServer, start_server, stop_server
from gearsim.io.managed import ManagedPeerFactory, UserServerFactory, play_case, run_cases
from gearsim.io.readiness import round_trip
from gearsim.io.serverdesc import ServerDescription, command_description
from gearsim.io.tcp import TcpPeer
from gearsim.run.batch import CaseRef, selected_cases
from gearsim.run.namespace import FRESH_SERVER
from gearsim.run.result import CaseResult
from gearsim.run.runner import Verdict, run_case
from gearsim.testing.peer_fixtures import require_peer
from gearsim.vectors.parse import Case, VectorFile, parse_vector_text

TOY = Path(__file__).with_name("toy_server.py")

CASES = """schema: gearsim-vectors/1
area: server
title: cases for the toy server
header: [written for tests/interop/test_server_command.py]
notes: {}
cases:
- id: crash-expecting-close
  comment: the toy dies on CAN_DO_TIMEOUT; the case expects a close, which a dead server also gives
  requirements: [GM-SERVER-005]
  result: invalid
  actors: {w1: worker}
  steps:
  - {connect: w1}
  - {send: w1, packet: {type: CAN_DO_TIMEOUT, args: [t-crash, '10']}}
  - {expect_close: w1}
- id: echo
  comment: a plain round trip
  requirements: [GM-ECHO-001]
  result: valid
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: ECHO_REQ, args: [hello]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [hello]}}
- id: ability-then-status
  comment: a worker's CAN_DO, then status on another connection; no reply on the worker's connection orders them
  requirements: [GM-ADMIN-005]
  result: valid
  actors: {w1: worker, a1: admin}
  steps:
  - {connect: w1}
  - {connect: a1}
  - {send: w1, packet: {type: CAN_DO, args: [t-order]}}
  - {send: a1, admin: status}
  - {expect: a1, admin: {lines: ["t-order\\t0\\t0\\t1", .]}}
- id: closed-worker-not-counted
  comment: a worker registers and leaves; status on another connection no longer counts it
  requirements: [GM-ADMIN-005]
  result: valid
  actors: {w1: worker, a1: admin}
  steps:
  - {connect: w1}
  - {send: w1, packet: {type: CAN_DO, args: [t-gone]}}
  - {send: w1, packet: {type: ECHO_REQ, args: [x]}}
  - {expect: w1, packet: {type: ECHO_RES, args: [x]}}
  - {disconnect: w1}
  - {connect: a1}
  - {send: a1, admin: status}
  - {expect: a1, admin: {lines: ["t-gone\\t0\\t0\\t0", .]}}
"""


@pytest.fixture(scope="module")
def cases() -> VectorFile:
    return parse_vector_text(CASES, "toy.yaml", load_schema_text())


def refs(vf: VectorFile, *ids: str) -> list[CaseRef]:
    return [(vf, vf.case(i)) for i in ids]


def toy(*flags: str) -> ServerDescription:
    return command_description(f"{sys.executable} {TOY} --port {{port}} {' '.join(flags)}")


def play(vf: VectorFile, case: Case, server: RunningServer, **tcp: Any) -> CaseResult:
    """One case on a running server through a TcpPeer with these settings; its sockets closed after."""
    peers: list[TcpPeer] = []

    def factory(_case: Case) -> TcpPeer:
        peers.append(TcpPeer(server.host, server.port, **tcp))
        return peers[-1]

    try:
        return run_case(vf, case, factory, "gearmand-1.1")
    finally:
        for peer in peers:
            peer.close_all()


@pytest.fixture
def running_toy(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    server = start_server(toy(*request.param), tmp_path / "toy")
    try:
        yield server
    finally:
        stop_server(server)


# --------------------------------------------------------------------------- crashes and hangs


def test_a_crash_is_fail_with_the_signal_even_where_a_close_was_expected(cases: VectorFile, tmp_path: Path) -> None:
    factory = ManagedPeerFactory(toy("--crash-on CAN_DO_TIMEOUT"), tmp_path / "run")
    results = run_cases(refs(cases, "crash-expecting-close", "echo"), lambda _i: factory, "gearmand-1.1", jobs=1)
    crash, echo = results
    assert crash.verdict is Verdict.FAIL
    assert crash.reason == "server crashed: toy_server killed by signal SIGSEGV (11) during this case"
    assert crash.rules == ("GM-SERVER-005",)
    assert "--- server output ---" in crash.trace and "toy gearman server on 127.0.0.1" in crash.trace
    assert "the case itself gave pass" in crash.notes[-1]  # the close it expected did come
    assert echo.verdict is Verdict.PASS, echo.reason  # on a fresh server
    assert factory.starts == 2


def test_a_hang_is_fail_and_the_next_case_gets_a_fresh_server(cases: VectorFile, tmp_path: Path) -> None:
    factory = ManagedPeerFactory(toy("--hang-on CAN_DO"), tmp_path / "run")
    hung, echo = run_cases(refs(cases, "ability-then-status", "echo"), lambda _i: factory, "gearmand-1.1", jobs=1)
    assert hung.verdict is Verdict.FAIL
    assert hung.reason.startswith("server hung: toy_server no reply to ECHO_REQ within"), hung.reason
    assert echo.verdict is Verdict.PASS, echo.reason
    assert factory.starts == 2


SHUTDOWN = (
    CASES.split("cases:")[0]
    + """cases:
- id: shutdown
  comment: the admin shutdown, answered OK; the server may then exit, as asked
  requirements: [GM-ADMIN-001]
  result: valid
  actors: {a1: admin}
  steps:
  - {connect: a1}
  - {send: a1, admin: shutdown}
  - {expect: a1, admin: OK}
"""
)


def shutdown_then_echo(vf: VectorFile, factory: ManagedPeerFactory) -> tuple[CaseResult, CaseResult]:
    """The shutdown case, the server's exit awaited after its final check, then echo on the same factory."""
    shutdown_file = parse_vector_text(SHUTDOWN, "toy-shutdown.yaml", load_schema_text())
    shutdown = play_case(shutdown_file, shutdown_file.case("shutdown"), factory, "gearmand-1.1")
    server = factory.running
    assert server is not None and server.process is not None, "the toy exits only after the check"
    server.process.wait(timeout=10)
    return shutdown, play_case(vf, vf.case("echo"), factory, "gearmand-1.1")


def test_a_server_that_exits_as_asked_after_the_check_fails_neither_case(cases: VectorFile, tmp_path: Path) -> None:
    factory = ManagedPeerFactory(toy("--shutdown-delay 500"), tmp_path / "run")
    try:
        shutdown, echo = shutdown_then_echo(cases, factory)
    finally:
        factory.close()
    assert (shutdown.verdict, echo.verdict) == (Verdict.PASS, Verdict.PASS), (shutdown.reason, echo.reason)
    assert factory.starts == 2


def test_a_server_that_closed_its_port_to_exit_as_asked_is_not_hung(cases: VectorFile, tmp_path: Path) -> None:
    factory = ManagedPeerFactory(toy("--shutdown-delay 1000 --shutdown-closes-port"), tmp_path / "run")
    shutdown_file = parse_vector_text(SHUTDOWN, "toy-shutdown.yaml", load_schema_text())
    try:
        shutdown = play_case(shutdown_file, shutdown_file.case("shutdown"), factory, "gearmand-1.1")
        echo = play_case(cases, cases.case("echo"), factory, "gearmand-1.1")
    finally:
        factory.close()
    assert (shutdown.verdict, echo.verdict) == (Verdict.PASS, Verdict.PASS), (shutdown.reason, echo.reason)


def test_a_crash_between_cases_is_still_fail_and_names_the_case_it_followed(cases: VectorFile, tmp_path: Path) -> None:
    factory = ManagedPeerFactory(toy("--shutdown-delay 500 --shutdown-status 3"), tmp_path / "run")
    try:
        shutdown, echo = shutdown_then_echo(cases, factory)
    finally:
        factory.close()
    assert shutdown.verdict is Verdict.PASS
    assert echo.verdict is Verdict.FAIL
    assert echo.reason == (
        "server crashed: toy_server exited with status 3 after case shutdown, before this case started"
    )


@pytest.mark.parametrize("running_toy", [("--crash-on", "CAN_DO_TIMEOUT")], indirect=True)
def test_a_long_lived_server_that_crashed_leaves_the_rest_inconclusive(
    cases: VectorFile, running_toy: RunningServer
) -> None:
    factory = UserServerFactory(*running_toy.address())
    chosen = refs(cases, "echo", "crash-expecting-close", "echo", "ability-then-status")
    first, crash, *rest = run_cases(chosen, lambda _i: factory, "gearmand-1.1", jobs=1)
    assert first.verdict is Verdict.PASS, first.reason
    assert crash.verdict is Verdict.FAIL and crash.reason.startswith("server crashed or stopped answering")
    assert crash.rules == ("GM-SERVER-005",)
    assert [(r.verdict, r.reason) for r in rest] == [
        (Verdict.INCONCLUSIVE, "server down since toy.yaml::crash-expecting-close: not run")
    ] * 2
    assert running_toy.death() == "killed by signal SIGSEGV (11)"


# --------------------------------------------------------------------------- causality, not sleeps


@pytest.mark.parametrize("running_toy", [("--delay-on", "CAN_DO", "--delay", "400")], indirect=True)
def test_sends_on_one_connection_are_processed_before_the_next_connection_sends(
    cases: VectorFile, running_toy: RunningServer
) -> None:
    vf, case = refs(cases, "ability-then-status")[0]
    ordered = play(vf, case, running_toy, sync="ECHO_REQ")
    assert ordered.verdict is Verdict.PASS, ordered.reason
    assert any(r.note == "gearsim sync" for r in ordered.records)
    racing = play(vf, case, running_toy, sync="")
    assert racing.verdict is Verdict.FAIL  # the status ran before the late CAN_DO: the race the sync removes


@pytest.mark.parametrize("running_toy", [("--close-delay", "400")], indirect=True)
def test_a_disconnect_waits_until_the_server_closed_its_end(cases: VectorFile, running_toy: RunningServer) -> None:
    vf, case = refs(cases, "closed-worker-not-counted")[0]
    waited = play(vf, case, running_toy)
    assert waited.verdict is Verdict.PASS, waited.reason
    assert any(r.note == "the server closed its end" for r in waited.records)
    hasty = play(vf, case, running_toy, close_wait=0)
    assert hasty.verdict is Verdict.FAIL  # the worker was still counted


@pytest.mark.parametrize("running_toy", [("--close-delay", "400")], indirect=True)
def test_a_probe_leaves_no_connection_behind_for_the_next_case_s_listing(running_toy: RunningServer) -> None:
    # the readiness probe and the check after each case run just before a case; a server that
    # notices their close late would still list them in that case's "workers"
    assert round_trip(running_toy.host, running_toy.port, "ECHO_REQ", 3.0) is None
    with socket.create_connection(running_toy.address(), timeout=3.0) as admin:
        admin.sendall(b"workers\n")
        listing = b""
        while not listing.endswith(b".\n"):
            listing += admin.recv(4096)
    assert len(listing.splitlines()) == 2, listing  # the asking connection's row, then "."


def test_a_server_that_cannot_start_is_inconclusive_with_its_output_and_not_retried_forever(
    cases: VectorFile, tmp_path: Path
) -> None:
    factory = ManagedPeerFactory(toy("--no-such-flag"), tmp_path / "run")
    results = run_cases(refs(cases, "echo", "echo", "echo"), lambda _i: factory, "gearmand-1.1", jobs=1)
    assert [r.verdict for r in results] == [Verdict.INCONCLUSIVE] * 3
    assert "toy_server exited with status 2 during start-up" in results[0].reason
    assert "unrecognized arguments: --no-such-flag" in results[0].reason
    assert "not started again after 2 failed starts" in results[2].reason


# --------------------------------------------------------------------------- what the spec leaves open

#: cases whose step expects a close that only a MAY rule (GM-FRAME-013) permits, or a sender rule the test client breaks
UNKNOWN_TYPES = [
    "server/errors.yaml::type-43-closes",
    "server/errors.yaml::type-99-closes",
    "codec/framing.yaml::unknown-type-43",
    "codec/framing.yaml::unknown-type-999",
]


def test_an_error_where_a_may_rule_permits_a_close_is_a_behaviour_the_spec_leaves_open(tmp_path: Path) -> None:
    selection = select(UNKNOWN_TYPES)
    factory = ManagedPeerFactory(toy(), tmp_path / "run")
    results = run_cases(selected_cases(selection.files, selection.chosen), lambda _i: factory, "spec", jobs=1)
    assert [r.verdict for r in results] == [Verdict.ACCEPTABLE] * len(UNKNOWN_TYPES), [r.reason for r in results]
    # the toy's ERROR is also Perl's recorded reaction: accepted as the spec leaves it open, or as that alternative
    allowed = ("a behaviour the spec leaves open", "which the spec allows", "server reacts as perl-1.130")
    assert all(any(words in " ".join(r.notes) for words in allowed) for r in results), [r.notes for r in results]
    # under gearmand's own profile the same answer is not gearmand's, and no rule is named as broken
    gearmand = run_cases(selected_cases(selection.files, selection.chosen), lambda _i: factory, "gearmand-1.1", jobs=1)
    assert [r.verdict for r in gearmand] == [Verdict.FAIL] * len(UNKNOWN_TYPES)
    other = ("not the gearmand-1.1 behaviour", "perl-1.130 behaviour")  # Perl's recorded reaction is the toy's
    assert all(r.rules == () and any(words in r.reason for words in other) for r in gearmand), gearmand


def test_a_malformed_error_at_the_same_step_fails_naming_the_must_it_breaks(tmp_path: Path) -> None:
    selection = select(UNKNOWN_TYPES)
    factory = ManagedPeerFactory(toy("--bare-unknown-error"), tmp_path / "run")
    results = run_cases(selected_cases(selection.files, selection.chosen), lambda _i: factory, "spec", jobs=1)
    assert [r.verdict for r in results] == [Verdict.FAIL] * len(UNKNOWN_TYPES), [r.reason for r in results]
    assert all(r.rules == ("GM-FRAME-004",) for r in results), [(r.id, r.rules) for r in results]
    assert all("ERROR breaks GM-FRAME-004" in r.reason for r in results)


# --------------------------------------------------------------------------- real gearmand


def _on_one_long_lived_gearmand(chosen: list[CaseRef], run_dir: Path) -> list[CaseResult]:
    """``chosen``, in order, on one gearmand started once (as ``--server`` plays them)."""
    from gearsim.io.peers import start_peer, stop_peer

    server = start_peer("gearmand-c", run_dir)
    try:
        factory = UserServerFactory(*server.address())
        return run_cases(chosen, lambda _i: factory, "gearmand-1.1", jobs=1)
    finally:
        stop_peer(server)


@pytest.mark.interop
def test_a_long_lived_gearmand_gives_no_false_verdict(tmp_path: Path) -> None:
    require_peer("gearmand-c")
    selection = select(["codec/*", "server/*", "worker/*", "admin/*", "regressions/*"])
    chosen = selected_cases(selection.files, selection.chosen)
    # two halves of consecutive cases, each on a gearmand of its own started once, side by side (as
    # tests/interop/test_long_lived_peers.py does): the run mostly waits on quiet sockets, and every
    # server still plays well over a hundred cases in order, so a leak of one case's state into a
    # later one still shows unless across the one cut
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [
            pool.submit(_on_one_long_lived_gearmand, part, tmp_path / f"gearmand-{n}")
            for n, part in enumerate(consecutive(chosen, 2))
        ]
        results = [r for run in runs for r in run.result()]
    bad = [(r.id, r.verdict.value, r.reason) for r in results if r.verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE)]
    assert bad == []
    fresh_only = [r for r in results if r.reason.startswith(FRESH_SERVER)]
    assert 5 <= len(fresh_only) <= 30, [r.id for r in fresh_only]
    assert sum(r.verdict is Verdict.PASS for r in results) > 200


@pytest.mark.interop
@pytest.mark.parametrize(("profile", "verdict"), [("gearmand-1.1", Verdict.KNOWN_DEFECT), ("spec", Verdict.FAIL)])
def test_gearmand_s_recorded_crash_is_its_known_defect_and_a_failure_under_spec(
    profile: str, verdict: Verdict, tmp_path: Path
) -> None:
    require_peer("gearmand-c")
    selection = select(["worker/timeout.yaml::overflowing-timeout", "worker/grab.yaml::nothing-runnable"])
    factory = ManagedPeerFactory("gearmand-c", tmp_path / "run")
    crashed, after = run_cases(selected_cases(selection.files, selection.chosen), lambda _i: factory, profile, jobs=1)
    assert crashed.verdict is verdict, crashed.reason
    said = crashed.reason if verdict is Verdict.FAIL else crashed.notes[-1]
    assert said == "server crashed: gearmand-c exited with status 1 during this case"
    assert "--- server output ---" in crashed.trace
    assert after.verdict in (Verdict.PASS, Verdict.ACCEPTABLE), after.reason
    assert factory.starts == 2


# --------------------------------------------------------------------------- the command line


def gearsim(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gearsim", *args], capture_output=True, text=True, timeout=300, check=False, cwd=cwd
    )


def test_run_server_command_reports_the_crash_and_its_reproduce_line_reproduces_it(tmp_path: Path) -> None:
    command = f"{sys.executable} {TOY} --port {{port}} --crash-on CAN_DO_TIMEOUT"
    vectors = tmp_path / "toy.yaml"
    vectors.write_text(CASES, encoding="utf-8")
    done = gearsim("run", f"{vectors}::crash-*", f"{vectors}::echo", "--server-command", command)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"FAIL {vectors}::crash-expecting-close" in done.stdout
    assert "server crashed: toy_server killed by signal SIGSEGV (11) during this case" in done.stdout
    assert "rule broken: GM-SERVER-005" in done.stdout and "toy gearman server on 127.0.0.1" in done.stdout
    assert "profile spec" in done.stdout  # a server gearsim does not know is judged by the spec alone
    line = next(x.strip() for x in done.stdout.splitlines() if x.strip().startswith("reproduce: "))
    argv = shlex.split(line.removeprefix("reproduce: "))
    assert argv[:2] == ["gearsim", "run"] and "--server-command" in argv
    again = gearsim(*argv[1:])
    assert again.returncode == 1 and "killed by signal SIGSEGV" in again.stdout, again.stdout + again.stderr


def test_run_server_description_spells_options_and_says_which_it_cannot(tmp_path: Path) -> None:
    description = tmp_path / "toy.toml"
    description.write_text(
        f'name = "toy"\ncommand = ["{sys.executable}", "{TOY}", "--port", "{{port}}"]\nprofile = "spec"\n'
        '[options]\nexceptions = {unsupported = "the toy forwards exceptions only to clients that ask"}\n',
        encoding="utf-8",
    )
    done = gearsim(
        "run",
        "server/exceptions.yaml::server-option-exceptions",
        "server/disconnect.yaml::retry-limit-reached",
        "--server-description",
        str(description),
        "--profile",
        "gearmand-1.1",
        "--format",
        "json",
        "--out",
        str(tmp_path / "r.json"),
        "--write-baseline",
        str(tmp_path / "b.json"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # the baseline names the server it was written against (it said model:PROFILE, as if the model had run)
    assert json.loads((tmp_path / "b.json").read_text())["peer"] == "toy"
    reasons = {r["case"]: r["reason"] for r in json.loads((tmp_path / "r.json").read_text())["results"]}
    assert reasons == {
        "server-option-exceptions": "needs server option exceptions=true: toy: the toy forwards exceptions only "
        "to clients that ask",
        "retry-limit-reached": f"needs server option job_retries=2, which the description of toy ({description}) "
        "does not spell",
    }


@pytest.mark.parametrize("running_toy", [("--crash-on", "CAN_DO_TIMEOUT")], indirect=True)
def test_run_against_a_long_lived_server_stops_early_after_a_crash(running_toy: RunningServer, tmp_path: Path) -> None:
    vectors = tmp_path / "toy.yaml"
    vectors.write_text(CASES, encoding="utf-8")
    host, port = running_toy.address()
    done = gearsim("run", str(vectors), "--server", f"{host}:{port}")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.rstrip().splitlines()[-1] == (
        f"stopped early: server down since {vectors}::crash-expecting-close; 3 cases not run"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--server", "127.0.0.1:9"], "gearsim run: cannot connect to 127.0.0.1:9"),
        (["--server-command", "./nowhere --port 4730"], "gearsim run: --server-command: must contain {port}"),
        (["--server-command", "./nowhere --port {port}"], "gearsim run: nowhere: ./nowhere not found"),
        (["--server-description", "/nonexistent.toml"], "gearsim run: cannot read server description"),
    ],
)
def test_a_server_that_cannot_be_used_is_one_line_and_exit_3(args: list[str], message: str) -> None:
    done = gearsim("run", "codec/admin.yaml::version", *args)
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stderr.startswith(message) and done.stderr.count("\n") == 1, done.stderr


def test_matrix_takes_a_server_command_as_one_more_column(tmp_path: Path) -> None:
    vectors = tmp_path / "toy.yaml"
    vectors.write_text(CASES, encoding="utf-8")
    command = f"{sys.executable} {TOY} --port {{port}}"
    out = tmp_path / "m.json"
    args = ["matrix", f"{vectors}", "--no-model", "--peers", "", "--server-command", command, "--out-json", f"{out}"]
    done = gearsim(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    # a healthy toy keeps the connection that the crash case expects closed: that one case fails
    assert "toy_server             fail=1 pass=3" in done.stdout
    matrix = json.loads(out.read_text())
    assert "toy_server" in json.dumps(matrix) and "0.1-toy" in json.dumps(matrix)


# --------------------------------------------------------------------------- gearsim fuzz without admin


@pytest.mark.parametrize("running_toy", [("--no-admin",)], indirect=True)
def test_fuzz_runs_against_a_server_without_the_admin_protocol(running_toy: RunningServer) -> None:
    host, port = running_toy.address()
    assert identify(host, port) == ServerIdentity(
        f"a server without the admin protocol at {host}:{port} (answers ECHO_REQ)", False, "ECHO_REQ"
    )
    done = gearsim("fuzz", "--server", f"{host}:{port}", "--examples", "5", "--steps", "8", "--no-write")
    assert done.returncode in (0, 1), done.stdout + done.stderr  # a search, not a harness error (was exit 3)
    assert "no admin protocol: rules admin_listing, admin_maxqueue, admin_cancel, admin_function left out" in (
        done.stdout
    )
    assert " admin '" not in done.stdout  # no admin step was played


@pytest.mark.parametrize("running_toy", [()], indirect=True)
def test_fuzz_with_no_write_offers_no_replay_of_a_vector_it_did_not_write(running_toy: RunningServer) -> None:
    host, port = running_toy.address()
    # the toy has no 'cancel job' admin command: the model's answer differs at once
    done = gearsim("fuzz", "--server", f"{host}:{port}", "--examples", "10", "--steps", "8", "--no-write")
    assert done.returncode == 1 and "DIVERGENCE seed 0:" in done.stdout, done.stdout + done.stderr
    assert "(not written: --no-write)" in done.stdout
    assert "reproduce the search: gearsim fuzz" in done.stdout
    assert "replay the vector" not in done.stdout  # was a 'gearsim run' of a file that does not exist


@pytest.mark.parametrize("running_toy", [()], indirect=True)
def test_a_server_with_admin_is_named_by_its_version_line(running_toy: RunningServer) -> None:
    host, port = running_toy.address()
    assert identify(host, port) == ServerIdentity(f"OK 0.1-toy at {host}:{port}", True, "ECHO_REQ")


@pytest.mark.interop
@pytest.mark.parametrize(("named", "profile"), [((), "perl-1.130"), (("--profile", "spec"), "spec")])
def test_a_built_in_peer_is_judged_under_its_own_profile_unless_one_is_named(
    named: tuple[str, ...], profile: str, tmp_path: Path
) -> None:
    require_peer("perl-gearman-server")
    out = tmp_path / "r.json"
    done = gearsim(
        "run",
        "codec/admin.yaml::status",
        "--peer",
        "perl-gearman-server",
        *named,
        "--format",
        "json",
        "--out",
        str(out),
    )
    assert done.returncode < 3, done.stdout + done.stderr
    assert json.loads(out.read_text())["meta"]["profile"] == profile
