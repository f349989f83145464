"""Client and worker libraries judged through drivers: the toy library, broken drivers, the reference drivers.

* tests/data/toy_client is a library none of the vectors were written for:
  built correctly it passes every library case; built broken it fails exactly
  the cases that make it send a fractional WORK_STATUS numerator (GM-FIELD-003)
  or its unique-status request as STATUS_RES_UNIQUE framed \\0REQ
  (GM-FRAME-003), on those rules only.
* tests/data/drivers/bad_driver.py breaks the driver protocol itself: each
  way ends in an INCONCLUSIVE naming what it did, in bounded time.
* the reference drivers (php, perl, gear) run every library case, their
  requests and replies logged and checked against spec/driver.schema.json,
  their verdicts compared with the committed baselines/driver-*.json. A
  missing library skips, or fails under GEARSIM_REQUIRE_PEERS=1.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from gearsim.cli.clients import available_drivers
from gearsim.files import Selection, data_dir, load_schema_text, read_baseline, select
from gearsim.io import driver as driver_module
from gearsim.io import library_cases
from gearsim.io.library_cases import run_library_case
from gearsim.report.baseline import compare, format_comparison
from gearsim.run.result import CaseResult, Verdict
from gearsim.testing.peer_fixtures import REQUIRE_ENV, peers_required
from gearsim.vectors.parse import Case, parse_vector_text

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
TOY = f"{{python}} {ROOT / 'tests' / 'data' / 'toy_client' / 'toy_driver.py'}"
BAD = ROOT / "tests" / "data" / "drivers" / "bad_driver.py"
TEE = ROOT / "tests" / "data" / "drivers" / "tee_driver.py"
BASELINES = ROOT / "baselines"


@functools.cache
def _selection() -> Selection:
    return select(["client/library-*"])


def _cases() -> list[tuple[str, Case]]:
    sel = _selection()
    return [(vf.name, vf.case(c)) for vf in sel.files for c in sel.chosen(vf)]


def _run_all(command: str) -> list[CaseResult]:
    sel = _selection()
    return [run_library_case(vf, vf.case(c), command) for vf in sel.files for c in sel.chosen(vf)]


def _detail(results: list[CaseResult]) -> str:
    return "\n".join(f"{r.id}: {r.verdict.value} {r.rules} {r.reason}" for r in results if r.verdict != Verdict.PASS)


# --------------------------------------------------------------------------- the toy library


@pytest.fixture(scope="module")
def toy_runs() -> dict[str, list[CaseResult]]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        good = pool.submit(_run_all, TOY)
        broken = pool.submit(_run_all, TOY + " --broken")
        return {"good": good.result(), "broken": broken.result()}


def test_the_toy_library_passes_every_library_case(toy_runs: dict[str, list[CaseResult]]) -> None:
    results = toy_runs["good"]
    assert len(results) == len(_cases()) >= 30
    assert all(r.verdict == Verdict.PASS for r in results), _detail(results)


def _exercises_a_defect(case: Case) -> str:
    """The rule the broken toy breaks in this case: it sends WORK_STATUS, or asks a status by unique."""
    for step in case.steps:
        call = step.call
        if call is None:
            continue
        if call.op == "status_unique":
            return "GM-FRAME-003"
        if call.op == "work" and any(action == "status" for action, _ in call.args.get("behaviour", ())):
            return "GM-FIELD-003"
    return ""


def test_the_broken_toy_fails_exactly_on_its_two_defects(toy_runs: dict[str, list[CaseResult]]) -> None:
    results = toy_runs["broken"]
    by_id = {r.case: r for r in results}
    expected = {case.id: _exercises_a_defect(case) for _, case in _cases()}
    assert set(expected.values()) == {"", "GM-FIELD-003", "GM-FRAME-003"}
    for case_id, rule in expected.items():
        result = by_id[case_id]
        if rule:
            assert result.verdict == Verdict.FAIL, _detail(results)
            assert result.rules == (rule,), _detail(results)
        else:
            assert result.verdict == Verdict.PASS, _detail(results)
    numerator = by_id["worker-job-with-updates"]
    why = "w: sent WORK_STATUS: numerator b'7.142857142857142' is not unsigned decimal (GM-FIELD-003)"
    assert numerator.reason == why
    assert "STATUS_RES_UNIQUE" in by_id["status-by-unique"].reason


# --------------------------------------------------------------------------- drivers that break the protocol

HANG_CASE = """schema: gearsim-vectors/1
area: client
title: t
header: [h]
notes: {}
cases:
- id: one-submit
  comment: one background submission, with a short timeout
  requirements: [GM-LIB-002]
  result: valid
  actors: {c: client}
  library:
    actors: [c]
  steps:
  - {call: c, op: submit, args: {function: f, payload: x, background: true}, timeout: 300, reply: {handle: {any: true}}}
"""


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("hang", "driver hung: driver {python} .* \\(PID \\d+, actor c\\) wrote no reply to submit within 1.3 s"),
        ("die", "driver died: .* exited \\(status 7\\) without replying to submit; stderr: bad driver: giving up"),
        ("garbage", "driver garbage: .* stdout line 2 is not JSON: 'this is not JSON'"),
        ("stdout-chatter", "driver garbage: .* stdout line 2 is not JSON: 'submitting now...'"),
        ("wrong-id", "driver garbage: .* answers id 43, expected 2 \\(submit\\)"),
        ("bad-kind", "driver garbage: .* an error reply needs error.kind, one of library, lost, timeout, unsupported"),
        ("missing-field", "driver garbage: driver of c \\(PID \\d+\\): the reply to submit is malformed: no handle"),
    ],
)
def test_a_driver_that_breaks_the_protocol_is_inconclusive_in_bounded_time(
    mode: str, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    monkeypatch.setattr(driver_module, "GRACE", 1.0)
    vf = parse_vector_text(HANG_CASE, "hang.yaml", load_schema_text())
    started = time.monotonic()
    result = run_library_case(vf, vf.case("one-submit"), f"{{python}} {BAD} {mode}")
    assert time.monotonic() - started < 10
    assert result.verdict == Verdict.INCONCLUSIVE, result.reason
    import re

    assert re.search(reason.replace("{python}", re.escape(sys.executable)), result.reason), result.reason


@pytest.mark.parametrize("mode", ["wrong-id", "missing-field"])
def test_a_driver_broken_on_a_nowait_call_makes_the_case_inconclusive_not_a_library_fail(mode: str) -> None:
    """The library sent nothing because its driver broke the protocol: no FAIL may be charged to the library.

    foreground-fail submits without waiting, then expects the SUBMIT_JOB on the wire; the
    driver's broken reply to that submit came first, and the wire step's timeout was a FAIL.
    """
    import time

    vf = next(f for f in _selection().files if any(c.id == "foreground-fail" for c in f.cases))
    started = time.monotonic()
    result = run_library_case(vf, vf.case("foreground-fail"), f"{{python}} {BAD} {mode}")
    assert result.verdict == Verdict.INCONCLUSIVE, (result.verdict, result.reason)
    assert "driver" in result.reason, result.reason
    # the wire step stops waiting when the driver breaks: not its 5 s for a NOOP that cannot come
    assert time.monotonic() - started < 4


NOWAIT_CASE = """schema: gearsim-vectors/1
area: client
title: t
header: [h]
notes: {}
cases:
- id: nowait-submit
  comment: a foreground submission made without waiting, which a worker then takes and fails; short timeouts
  requirements: [GM-WORK-005, GM-LIB-003]
  result: valid
  actors: {c: client, w1: worker}
  library:
    actors: [c]
  steps:
  - {connect: w1}
  - {send: w1, packet: {type: CAN_DO, args: [reverse]}}
  - {send: w1, packet: {type: PRE_SLEEP}}
  - {call: c, op: submit, args: {function: reverse, payload: hello}, nowait: true, timeout: 800}
  - {expect: w1, packet: {type: NOOP}}
  - {send: w1, packet: {type: GRAB_JOB}}
  - {expect: w1, packet: {type: JOB_ASSIGN, args: [{capture: H}, reverse, hello]}}
  - {send: w1, packet: {type: WORK_FAIL, args: [{ref: H}]}}
  - {await: c, reply: {outcome: fail}}
- id: nowait-submit-sent
  comment: a background submission made without waiting, then looked for on the wire; short timeouts
  requirements: [GM-LIB-001, GM-LIB-002]
  result: valid
  actors: {c: client}
  library:
    actors: [c]
  steps:
  - {call: c, op: submit, args: {function: reverse, payload: hello, background: true}, nowait: true, timeout: 800}
  - {sent: c, packet: {type: SUBMIT_JOB_BG, args: [reverse, {capture: U}, hello]}}
  - {await: c, reply: {handle: {any: true}}}
"""


def _nowait_case(
    command: str, monkeypatch: pytest.MonkeyPatch | None = None, case: str = "nowait-submit"
) -> CaseResult:
    """Play NOWAIT_CASE; with ``monkeypatch``, its wire steps wait 200 ms (not 5 s), less than the call's 800 ms."""
    if monkeypatch is not None:
        monkeypatch.setattr(library_cases, "SENT_WITHIN", 200)
    vf = parse_vector_text(NOWAIT_CASE, "nowait.yaml", load_schema_text())
    return run_library_case(vf, vf.case(case), command)


@pytest.mark.parametrize("case", ["nowait-submit", "nowait-submit-sent"])
def test_the_nowait_cases_pass_with_a_working_library(case: str) -> None:
    result = _nowait_case(TOY, case=case)
    assert result.verdict == Verdict.PASS, result.reason


def test_a_driver_hung_on_a_nowait_call_is_inconclusive_like_one_hung_on_a_waited_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The library sent nothing and its driver never answered: which of the two is stuck is unknown.

    The wire step after the call fails first (no NOOP: no submission); the case
    waits for the call's own deadline (timeout_ms plus GRACE, spec/driver.md)
    and is unjudged, as a hang on a call the case waits for is.
    """
    import time

    monkeypatch.setattr(driver_module, "GRACE", 1.0)
    started = time.monotonic()
    result = _nowait_case(f"{{python}} {BAD} hang", monkeypatch)
    assert time.monotonic() - started < 10
    assert result.verdict == Verdict.INCONCLUSIVE, (result.verdict, result.reason)
    assert "driver hung: " in result.reason and "wrote no reply to submit within 1.8 s" in result.reason, result.reason


def test_a_library_that_sends_nothing_and_times_out_fails_saying_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver keeps to the protocol (a timeout error by timeout_ms): the library sent no submission, a FAIL.

    Its reply comes after the wire step failed; the reason still quotes it.
    """
    result = _nowait_case(f"{{python}} {BAD} silent-timeout", monkeypatch)
    assert result.verdict == Verdict.FAIL, (result.verdict, result.reason)
    assert result.step == 5, result
    assert "(meanwhile c's submit failed: error timeout" in result.reason, result.reason


def test_a_library_step_that_finds_no_submission_quotes_the_call_that_failed_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A ``sent`` step (the library's own packet) gets the same "meanwhile" as a scripted actor's step."""
    result = _nowait_case(f"{{python}} {BAD} silent-timeout", monkeypatch, case="nowait-submit-sent")
    assert result.verdict == Verdict.FAIL, (result.verdict, result.reason)
    assert result.step == 2, result
    assert result.reason.startswith("c: the library sent no SUBMIT_JOB_BG like this within 200 ms"), result.reason
    meanwhile = "(meanwhile c's submit failed: error timeout: no reply from the server)"
    assert result.reason.endswith(meanwhile), result.reason


def test_a_driver_that_cannot_start_is_inconclusive() -> None:
    vf = parse_vector_text(HANG_CASE, "hang.yaml", load_schema_text())
    result = run_library_case(vf, vf.case("one-submit"), "/nonexistent/driver")
    assert result.verdict == Verdict.INCONCLUSIVE
    assert "cannot run /nonexistent/driver" in result.reason


def test_a_case_needing_what_the_driver_lacks_is_not_applicable() -> None:
    vf = _selection().files[0]
    epoch = next(vf for vf in _selection().files if any(c.id == "epoch-jobs-wait-for-their-time" for c in vf.cases))
    result = run_library_case(epoch, epoch.case("epoch-jobs-wait-for-their-time"), f"{{python}} {BAD} hang")
    assert result.verdict == Verdict.NOT_APPLICABLE
    assert result.reason == "the driver does not offer epoch"
    assert vf is not None


# --------------------------------------------------------------------------- the reference drivers


@functools.cache
def _availability() -> dict[str, str]:
    return available_drivers()


@pytest.fixture(scope="module")
def reference_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[list[CaseResult], Path]]]:
    logs = tmp_path_factory.mktemp("driver-logs")
    runnable = [name for name, why in _availability().items() if not why]

    def run(name: str) -> tuple[list[CaseResult], Path]:
        log = logs / f"{name}.jsonl"
        return _run_all(f"{{python}} {TEE} {log} -- {_reference_command(name)}"), log

    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(run, name) for name in runnable}
        yield {name: f.result() for name, f in futures.items()}


def _reference_command(name: str) -> str:
    from gearsim.drivers import REFERENCE

    return REFERENCE[name].command


def _require_driver(name: str) -> None:
    why = _availability()[name]
    if not why:
        return
    if peers_required():
        pytest.fail(f"driver {name}: {why} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(f"driver {name}: {why}")


DRIVERS = ["php", "perl", "gear"]


@pytest.mark.parametrize("name", DRIVERS)
def test_a_reference_driver_keeps_its_baseline(name: str, reference_runs: dict) -> None:
    _require_driver(name)
    results, _ = reference_runs[name]
    cmp = compare(read_baseline(BASELINES / f"driver-{name}.json"), results)
    assert cmp.ok, format_comparison(cmp)
    assert not [r for r in results if r.verdict == Verdict.INCONCLUSIVE], _detail(results)


@pytest.mark.parametrize("name", DRIVERS)
def test_the_seed_runs_through_every_reference_driver(name: str, reference_runs: dict) -> None:
    _require_driver(name)
    results, _ = reference_runs[name]
    seed = {r.case: r for r in results if r.case.startswith("seed-")}
    assert set(seed) == {"seed-background-status-poll", "seed-unique-dedup"}
    assert all(r.verdict == Verdict.PASS for r in seed.values()), _detail(list(seed.values()))


@pytest.mark.parametrize("name", DRIVERS)
def test_a_reference_driver_speaks_the_schema(name: str, reference_runs: dict) -> None:
    """Every request gearsim wrote and every reply the driver wrote is valid against spec/driver.schema.json."""
    _require_driver(name)
    _, log = reference_runs[name]
    schema = json.loads((data_dir("spec") / "driver.schema.json").read_text(encoding="utf-8"))
    defs = schema["$defs"]
    resolver = jsonschema.validators.validator_for(schema)
    pending: dict[int, str] = {}
    count = 0
    for raw in log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(raw)
        message = json.loads(entry["line"])
        if entry["to"] == "driver":
            resolver({**schema, "$ref": "#/$defs/request"}).validate(message)
            pending[message["id"]] = message["op"]
        else:
            resolver({**schema, "$ref": "#/$defs/reply"}).validate(message)
            op = pending.pop(message["id"])
            if message["ok"] and f"{op}_reply" in defs:
                resolver({**schema, "$ref": f"#/$defs/{op}_reply"}).validate(message)
        count += 1
    assert count > 100


# --------------------------------------------------------------------------- the command line


def _gearsim(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gearsim", *args], capture_output=True, text=True, timeout=300, cwd=cwd, check=False
    )


def test_gearsim_run_driver_exit_codes_and_rules(tmp_path: Path) -> None:
    good = _gearsim("run", "--driver", TOY, "client/library-client.yaml::seed-*", cwd=tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "2 passed, 0 failed" in good.stdout
    bad = _gearsim("run", "--driver", TOY + " --broken", "client/library-worker.yaml::worker-job-with-updates")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "GM-FIELD-003" in bad.stdout and "--driver" in bad.stdout  # the rule, and a reproduce line with the driver
    both = _gearsim("run", "--driver", TOY, "--server", "127.0.0.1:4730")
    assert both.returncode == 3 and "exclude each other" in both.stderr


def test_a_passing_driver_case_writes_its_trace(tmp_path: Path) -> None:
    trace = tmp_path / "t.txt"
    done = _gearsim("run", "--driver", TOY, "client/library-client.yaml::seed-unique-dedup", "--trace", str(trace))
    assert done.returncode == 0, done.stdout + done.stderr
    text = trace.read_text(encoding="utf-8")
    assert text.startswith("# client/library-client.yaml::seed-unique-dedup pass\n")
    assert 'c>server SUBMIT_JOB_BG "sleep" "123" "3"' in text
    assert "c call # submit" in text


def test_gearsim_clients_writes_the_matrix_and_baselines(tmp_path: Path) -> None:
    md, base = tmp_path / "clients.md", tmp_path / "base"
    done = _gearsim(
        "clients", "client/library-client.yaml::status-*", "--driver", TOY, "--out-md", str(md), "--write-baselines",
        str(base),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    text = md.read_text(encoding="utf-8")
    assert text.startswith("# Client compatibility matrix")
    assert "`client/library-client.yaml::status-by-unique`" in text
    stem = next(base.glob("driver-*.json"))
    again = _gearsim("clients", "client/library-client.yaml::status-*", "--driver", TOY, "--baselines", str(base))
    assert again.returncode == 0 and stem.is_file(), again.stdout + again.stderr


def test_a_driver_case_draws_its_calls_in_the_html_report() -> None:
    from gearsim.files import load_requirements
    from gearsim.report.html import ReportRun, render_html

    vf = next(vf for vf in _selection().files if vf.name.endswith("library-client.yaml"))
    result = run_library_case(vf, vf.case("seed-unique-dedup"), TOY)
    page = render_html([ReportRun("toy", [result], "gearmand-1.1", "toy", "wall")], load_requirements(), "t")
    assert result.verdict == Verdict.PASS
    assert "call (submit function" in page and "reply (submit: ok" in page


def test_the_client_suite_benchmark_runs_and_prints_its_ratios() -> None:
    bench = ROOT / "tools" / "bench" / "clients.py"
    done = subprocess.run(
        [sys.executable, str(bench), "--quick", "--driver", TOY],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "client suite per driver: 2 library cases" in done.stdout
    assert "vs target" in done.stdout and "1.00x" in done.stdout


def test_a_newcomer_s_driver_copied_from_a_template_gets_a_report(tmp_path: Path) -> None:
    """README: copy the gear driver, run it from your own folder, keep its verdicts as a baseline."""
    _require_driver("gear")
    from gearsim.drivers import drivers_dir

    (tmp_path / "my_driver.py").write_text((drivers_dir() / "python_gear.py").read_text(encoding="utf-8"))
    command = f"{sys.executable} my_driver.py"
    first = _gearsim(
        "run", "--driver", command, "client/library-client.yaml::seed-*", "--write-baseline", "b.json", cwd=tmp_path
    )
    assert first.returncode == 0 and "2 passed, 0 failed" in first.stdout, first.stdout + first.stderr
    assert json.loads((tmp_path / "b.json").read_text())["peer"] == f"driver:{command}"
    again = _gearsim(
        "run", "--driver", command, "client/library-client.yaml::seed-*", "--baseline", "b.json", cwd=tmp_path
    )
    assert again.returncode == 0 and "0 regressions" in again.stdout, again.stdout + again.stderr
