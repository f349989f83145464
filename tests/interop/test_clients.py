"""Real client and worker programs against the served reference model, checked by program vectors.

Each program case of vectors/client/{php,gearman-cli,gear,perl}.yaml is
played with the command its vector gives (a program from vectors/client/programs/
or the gearman tool) by ``gearsim.io.programs``, from a folder that is not the
checkout (the vectors' program files are found beside them): the model runs
behind ``ServeShell`` on 127.0.0.1, the program is launched in its own session
and stopped by its PID, everything it sends is matched against the case, and
its exit status and output against the case's ``expect_exit``. A missing tool
skips, or fails under GEARSIM_REQUIRE_PEERS=1.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from gearsim.files import read_vector_file, vector_root
from gearsim.io.programs import ProgramOutcome, is_program_case, run_program_case
from gearsim.protocol.trace import Direction
from gearsim.report.html import chart_svg
from gearsim.run.model_peer import ModelPeerFactory
from gearsim.run.runner import CaseResult, Verdict, run_case
from gearsim.testing.peer_fixtures import REQUIRE_ENV, peers_required
from gearsim.vectors.parse import ExitExpectation, VectorFile

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "vectors" / "client" / "programs"
PY = sys.executable


@functools.cache
def _missing(tool: str) -> str | None:
    """None when ``tool`` works here, else why not."""
    if tool == "php-gearman":
        if shutil.which("php") is None:
            return "php not found (apt-get install php-cli php-gearman)"
        mods = subprocess.run(["php", "-m"], capture_output=True, text=True, timeout=30, check=False).stdout
        if "gearman" not in mods.split():
            return "the php gearman extension is missing (apt-get install php-gearman)"
        return None
    if tool == "perl-gearman":
        if shutil.which("perl") is None:
            return "perl not found"
        done = subprocess.run(
            ["perl", "-MGearman::Client", "-MGearman::Worker", "-e", "1"], capture_output=True, timeout=30, check=False
        )
        if done.returncode != 0:
            return "Gearman::Client/Worker missing (apt-get install libgearman-client-perl)"
        return None
    if tool == "gearman-cli":
        if shutil.which("gearman") is None:
            return "the gearman tool is missing (apt-get install gearman-tools)"
        return None if shutil.which("rev") else "rev is missing (util-linux)"
    if tool == "gear":
        done = subprocess.run([PY, "-c", "import gear"], capture_output=True, timeout=30, check=False)
        return None if done.returncode == 0 else f"gear is not importable by {PY} (pip install gear==0.16.0)"
    raise ValueError(tool)


def _require(tool: str) -> None:
    reason = _missing(tool)
    if reason is None:
        return
    if peers_required():
        pytest.fail(f"{tool}: {reason} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(f"{tool}: {reason}")


# (file, case, tool): every program case of these files, played with its vector's command
CASES: list[tuple[str, str, str]] = [
    ("php.yaml", "php-client-background", "php-gearman"),
    ("php.yaml", "php-client-foreground", "php-gearman"),
    ("php.yaml", "php-worker-grab-all", "php-gearman"),
    ("php.yaml", "php-worker-grab-job", "php-gearman"),
    ("gearman-cli.yaml", "cli-background", "gearman-cli"),
    ("gearman-cli.yaml", "cli-foreground", "gearman-cli"),
    ("gearman-cli.yaml", "cli-worker", "gearman-cli"),
    ("gear.yaml", "gear-client-background", "gear"),
    ("gear.yaml", "gear-client-foreground", "gear"),
    ("gear.yaml", "gear-worker", "gear"),
    ("perl.yaml", "perl-client-background", "perl-gearman"),
    ("perl.yaml", "perl-client-foreground", "perl-gearman"),
    ("perl.yaml", "perl-worker", "perl-gearman"),
]


@pytest.fixture(autouse=True)
def _elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Not the checkout: the vectors' commands find their programs relative to the vector files."""
    monkeypatch.chdir(tmp_path)


def _vf(file: str) -> VectorFile:
    return read_vector_file(vector_root() / "client" / file, f"client/{file}")


def _detail(result: CaseResult, programs: list[ProgramOutcome]) -> str:
    return "\n".join([result.reason, result.expected, result.actual, result.trace, *result.notes])


@pytest.mark.parametrize(("file", "case_id", "tool"), CASES, ids=[c[1] for c in CASES])
def test_program_sends_and_prints_what_the_vector_says(file: str, case_id: str, tool: str) -> None:
    """The vector's own command (no --client): packets both ways, exit status and output all checked by the case."""
    _require(tool)
    vf = _vf(file)
    case = vf.case(case_id)
    assert list(case.programs) == ["prog"]
    assert case.programs["prog"].expect_exit.stdout is not None, "every program case here checks its output"
    result, programs = run_program_case(vf, case)
    assert result.verdict == Verdict.PASS, _detail(result, programs)
    assert [p.returncode for p in programs] == [0], _detail(result, programs)
    assert programs[0].actors == ("prog",)


def test_a_command_given_replaces_the_vector_s() -> None:
    """--client: the given command runs instead of the vector's, {python} is this interpreter."""
    _require("gear")
    vf = _vf("gear.yaml")
    command = f"{{python}} {CLIENTS}/gear_client.py {{host}} {{port}} fg"
    result, programs = run_program_case(vf, vf.case("gear-client-foreground"), [command])
    assert result.verdict == Verdict.PASS, _detail(result, programs)
    assert programs[0].command[0] == PY
    assert programs[0].command[1] == str(CLIENTS / "gear_client.py")


def test_every_program_case_has_a_test_here() -> None:
    """A program case that no test plays (here or in test_seed_php) is never played in CI."""
    covered = {(f, c) for f, c, _ in CASES} | {
        ("seed-programs.yaml", "seed-status-poll"),
        ("seed-programs.yaml", "seed-user-note-dedup"),
    }
    found: set[tuple[str, str]] = set()
    for path in sorted((vector_root() / "client").glob("*.yaml")):
        vf = read_vector_file(path, f"client/{path.name}")
        found |= {(path.name, case.id) for case in vf.cases if is_program_case(case)}
        assert all(case.is_program == bool(case.programs) for case in vf.cases)
    assert found == covered


def test_program_cases_are_not_applicable_against_a_server() -> None:
    """A plain run (the model, a server) launches nothing and says how to run the case."""
    vf = _vf("php.yaml")
    result = run_case(vf, vf.case("php-client-background"), ModelPeerFactory(), "gearmand-1.1")
    assert result.verdict == Verdict.NOT_APPLICABLE
    assert result.reason == "a program case: run it with gearsim run --client"


def test_a_program_that_sends_something_else_fails_with_the_step() -> None:
    """The plain-GRAB_JOB worker against the GRAB_JOB_ALL case: FAIL at the grab, the worker stopped."""
    _require("php-gearman")
    vf = _vf("php.yaml")
    command = f"php {CLIENTS}/php_worker.php {{host}} {{port}} plain 1"
    result, programs = run_program_case(vf, vf.case("php-worker-grab-all"), [command], within_floor=3000)
    assert result.verdict == Verdict.FAIL
    assert result.reason == "prog: expected GRAB_JOB_ALL, got GRAB_JOB"
    assert result.step == 5
    assert programs and programs[0].returncode is not None


@pytest.mark.parametrize(
    ("file", "case_id", "tool", "command", "reason"),
    [
        (
            "php.yaml",
            "php-client-background",
            "php-gearman",
            f"php {CLIENTS}/php_client.php {{host}} {{port}} fg",
            "prog: expected SUBMIT_JOB_BG, got SUBMIT_JOB",
        ),
        (
            "gearman-cli.yaml",
            "cli-background",
            "gearman-cli",
            "gearman -h {host} -p {port} -f reverse hello",
            "prog: expected SUBMIT_JOB_BG, got SUBMIT_JOB",
        ),
        (
            "php.yaml",
            "php-client-foreground",
            "php-gearman",
            f"php {CLIENTS}/php_client.php {{host}} {{port}} bg",
            "prog: expected SUBMIT_JOB, got SUBMIT_JOB_BG",
        ),
    ],
    ids=["php-fg-for-bg", "cli-fg-for-bg", "php-bg-for-fg"],
)
def test_a_wrong_command_is_a_fail_with_a_reason(file: str, case_id: str, tool: str, command: str, reason: str) -> None:
    """A foreground client for a background case (and the reverse): FAIL with the reason, never an exception."""
    _require(tool)
    vf = _vf(file)
    result, programs = run_program_case(vf, vf.case(case_id), [command], within_floor=3000)
    assert result.verdict == Verdict.FAIL, _detail(result, programs)
    assert result.reason.startswith(reason), _detail(result, programs)
    assert programs and all(p.returncode is not None for p in programs)


def test_a_program_that_prints_something_else_fails_at_the_end() -> None:
    """Right packets, other output: the foreground client prints 'result: olleh' where the case wants 2 lines."""
    _require("php-gearman")
    vf = _vf("php.yaml")
    case = vf.case("php-client-foreground")
    other = replace(
        case,
        programs={"prog": replace(case.programs["prog"], expect_exit=ExitExpectation(stdout=("result: hello",)))},
    )
    result, programs = run_program_case(vf, other)
    assert result.verdict == Verdict.FAIL, _detail(result, programs)
    assert result.reason == "prog: output line 1 is 'result: olleh', expected 'result: hello'"
    assert result.step is None


def test_a_program_that_hangs_is_stopped_at_the_time_limit() -> None:
    """A program that connects and then sends nothing, past the case's time limit: FAIL, the program killed by PID."""
    vf = _vf("gear.yaml")
    hang = "{python} -c \"import socket,sys,time; s=socket.create_connection(('{host}', {port})); time.sleep(60)\""
    started = time.monotonic()
    result, programs = run_program_case(vf, vf.case("gear-client-background"), [hang], time_limit=2.0)
    assert time.monotonic() - started < 15
    assert result.verdict == Verdict.FAIL, _detail(result, programs)
    assert result.reason == "the case did not end within its time limit of 2 s"
    assert result.step == 2
    assert programs and programs[0].stopped and programs[0].returncode is not None


def test_a_program_that_cannot_start_is_inconclusive() -> None:
    vf = _vf("php.yaml")
    result, _ = run_program_case(vf, vf.case("php-client-background"), ["/nonexistent/program {host} {port}"])
    assert result.verdict == Verdict.INCONCLUSIVE
    assert "cannot run /nonexistent/program" in result.reason


def test_a_command_count_that_does_not_fit_is_inconclusive() -> None:
    vf = _vf("seed-programs.yaml")
    result, programs = run_program_case(vf, vf.case("seed-status-poll"), ["true", "true", "true"])
    assert result.verdict == Verdict.INCONCLUSIVE
    assert "2 program actors" in result.reason
    assert programs == []


def _gearsim(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "gearsim", *args], capture_output=True, text=True, timeout=300, cwd=cwd, check=False
    )


def test_programs_run_from_any_folder_and_write_their_trace_when_they_pass(tmp_path: Path) -> None:
    """gearsim run --programs outside the checkout: the vector's programs are found beside it; --trace is written."""
    _require("gear")
    trace = tmp_path / "trace.txt"
    done = _gearsim(
        "run", "--programs", "client/gear.yaml::gear-client-background", "--trace", str(trace), cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    text = trace.read_text(encoding="utf-8")
    assert text.startswith("# client/gear.yaml::gear-client-background pass\n")
    assert 'prog>server SUBMIT_JOB_BG "reverse"' in text  # each connection labelled by its actor


def test_a_missing_program_file_is_an_input_error_naming_it(tmp_path: Path) -> None:
    vf = _vf("gear.yaml")
    raw = dict(vf.raw)
    case = dict(raw["cases"][0])
    case["programs"] = {"prog": {"command": "{python} programs/no_such_client.py {host} {port}"}}
    raw["cases"] = [case]
    import yaml

    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    done = _gearsim("run", "--programs", str(path), cwd=tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "program file programs/no_such_client.py not found" in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


RULE_BREAKERS = """schema: gearsim-vectors/1
area: client
title: programs whose packets break rules the steps do not look at
header: [h]
notes: {}
cases:
- id: fractional-numerator
  comment: a worker program sends WORK_STATUS 7.142857142857142/100; the step takes any numerator
  requirements: [GM-FIELD-003]
  result: valid
  actors: {c1: client, prog: worker}
  programs:
    prog: {command: '{python} %(dir)s/raw.py {host} {port} worker'}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: SUBMIT_JOB_BG, args: [reverse, '', hello]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
  - {connect: prog}
  - {send: prog, packet: {type: CAN_DO, args: [reverse]}}
  - {send: prog, packet: {type: GRAB_JOB}}
  - {expect: prog, packet: {type: JOB_ASSIGN, args: [{ref: H}, reverse, hello]}}
  - {send: prog, packet: {type: WORK_STATUS, args: [{ref: H}, {any: true}, {any: true}]}}
  - {send: prog, packet: {type: WORK_COMPLETE, args: [{ref: H}, olleh]}}
  - {disconnect: prog}
- id: server-only-type
  comment: a client program sends STATUS_RES_UNIQUE framed \\0REQ; the step takes it as written
  requirements: [GM-FRAME-003]
  result: valid
  actors: {prog: client}
  programs:
    prog: {command: '{python} %(dir)s/raw.py {host} {port} client'}
  steps:
  - {connect: prog}
  - {send: prog, packet: {type: STATUS_RES_UNIQUE, magic: REQ, args: [u1]}}
  - {disconnect: prog}
"""

RAW = """import socket, struct, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
def send(t, *args):
    body = b"\\0".join(args)
    s.sendall(b"\\0REQ" + struct.pack(">II", t, len(body)) + body)
def read():
    head = b""
    while len(head) < 12:
        head += s.recv(12 - len(head))
    _, t, n = struct.unpack(">4sII", head)
    body = b""
    while len(body) < n:
        body += s.recv(n - len(body))
    return t, body.split(b"\\0")
if sys.argv[3] == "worker":
    send(1, b"reverse")
    send(9)
    t, args = read()
    send(12, args[0], b"7.142857142857142", b"100")
    send(13, args[0], b"olleh")
else:
    send(42, b"u1")
s.close()
"""


def test_what_a_program_sends_is_checked_against_the_rules(tmp_path: Path) -> None:
    """Issue 13: both programs passed their cases before; now each fails on exactly the rule it breaks."""
    from gearsim.files import load_schema_text
    from gearsim.vectors.parse import parse_vector_text

    (tmp_path / "raw.py").write_text(RAW, encoding="utf-8")
    vf = parse_vector_text(RULE_BREAKERS % {"dir": tmp_path}, "breakers.yaml", load_schema_text())
    for case_id, rule in (("fractional-numerator", "GM-FIELD-003"), ("server-only-type", "GM-FRAME-003")):
        result, programs = run_program_case(vf, vf.case(case_id), within_floor=3000)
        assert result.verdict == Verdict.FAIL, _detail(result, programs)
        assert result.rules == (rule,), _detail(result, programs)
        assert result.reason.startswith("prog: sent "), _detail(result, programs)
        assert not [n for n in result.notes if n.startswith("then step")], "the steps themselves pass"


# --------------------------------------------------------------------------- after the last step

AFTER_LAST = """schema: gearsim-vectors/1
area: client
title: a client program that does what its case says, and then something more
header: [h]
notes: {}
cases:
- id: submit-and-leave
  comment: a client program submits one background job and closes
  requirements: [GM-SUBMIT-004]
  result: valid
  actors: {prog: client}
  programs:
    prog: {command: '{python} %(dir)s/after.py {host} {port} %(mode)s'}
  steps:
  - {connect: prog}
  - {send: prog, packet: {type: SUBMIT_JOB_BG, args: [reverse, '', hello]}}
  - {expect: prog, packet: {type: JOB_CREATED, args: [{capture: H}]}}
  - {disconnect: prog}
"""

AFTER = """import socket, struct, sys, time
def connect():
    return socket.create_connection((sys.argv[1], int(sys.argv[2])))
def send(s, t, *args):
    body = b"\\0".join(args)
    s.sendall(b"\\0REQ" + struct.pack(">II", t, len(body)) + body)
def read(s):
    data = b""
    while len(data) < 12 or len(data) < 12 + struct.unpack(">I", data[8:12])[0]:
        data += s.recv(4096)
s = connect()
send(s, 18, b"reverse", b"", b"hello")
read(s)
mode = sys.argv[3]
if mode == "stray":
    send(s, 16, b"ping")  # ECHO_REQ, which no step expects
    time.sleep(0.3)
elif mode == "second-connection":
    other = connect()
    send(other, 16, b"ping")
    time.sleep(0.3)
    other.close()
s.close()
if mode == "linger":
    time.sleep(60)
"""


def _marked(svg: str) -> set[int]:
    """The seqs of the message arrows a chart draws on a red band."""
    return {int(seq) for seq, body in re.findall(r'<g class="msg" data-seq="(\d+)">(.*?)</g>', svg) if "hl" in body}


def _after_last(tmp_path: Path, mode: str) -> tuple[CaseResult, list[ProgramOutcome]]:
    from gearsim.files import load_schema_text
    from gearsim.vectors.parse import parse_vector_text

    (tmp_path / "after.py").write_text(AFTER, encoding="utf-8")
    vf = parse_vector_text(AFTER_LAST % {"dir": tmp_path, "mode": mode}, "after.yaml", load_schema_text())
    return run_program_case(vf, vf.case("submit-and-leave"), within_floor=3000)


def test_a_program_that_does_just_what_its_case_says_passes(tmp_path: Path) -> None:
    result, programs = _after_last(tmp_path, "plain")
    assert result.verdict == Verdict.PASS, _detail(result, programs)


def test_a_program_that_sends_more_after_its_last_step_fails_showing_what(tmp_path: Path) -> None:
    result, programs = _after_last(tmp_path, "stray")
    assert result.verdict == Verdict.FAIL, _detail(result, programs)
    assert result.reason == 'prog: the program sent ECHO_REQ "ping" after its last step', _detail(result, programs)
    assert result.step is None
    # the report's chart marks that packet on the program's lane: carried as data, not read back from the text
    assert result.actor == "prog"
    assert [(m.name, m.args) for m in result.received] == [("ECHO_REQ", (b"ping",))]
    stray = [r for r in result.records if r.message in result.received]
    assert [r.direction for r in stray] == [Direction.C2S]
    svg = chart_svg(result)
    assert _marked(svg) == {stray[0].seq}, "the stray ECHO_REQ is marked"
    assert svg.count('<rect class="hl"') == 2  # that message and the failure row, nothing else


def test_a_program_that_opens_a_connection_no_step_expects_fails(tmp_path: Path) -> None:
    result, programs = _after_last(tmp_path, "second-connection")
    assert result.verdict == Verdict.FAIL, _detail(result, programs)
    assert result.reason.startswith("a program opened connection c"), _detail(result, programs)
    assert result.reason.endswith('that no step expects and sent ECHO_REQ "ping"'), _detail(result, programs)
    assert result.step is None
    # the connection's lane in the chart (no actor of the case: the server's recorder names it "peer")
    stray = [r for r in result.records if r.message in result.received]
    assert [(r.label, r.direction) for r in stray] == [(result.actor, Direction.C2S)]
    assert _marked(chart_svg(result)) == {stray[0].seq}


def test_a_program_that_does_not_exit_after_its_last_step_fails_and_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gearsim.io import programs as programs_module

    monkeypatch.setattr(programs_module, "EXIT_GRACE", 1.0)
    started = time.monotonic()
    result, programs = _after_last(tmp_path, "linger")
    assert time.monotonic() - started < 15
    assert result.verdict == Verdict.FAIL, _detail(result, programs)
    assert result.reason.endswith(": it did not exit 1 s after the last step"), _detail(result, programs)
    assert programs and programs[0].stopped and programs[0].returncode is not None
