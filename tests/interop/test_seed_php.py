"""The seed for real: the unchanged PHP files of ../shared/seed against ``gearsim serve``, gearmand as control.

* client_status.php with worker_reverse.php prints ``Running: true`` lines
  whose numerators (of 14) rise, then ``Running: false, numerator: 0``, then
  ``done!``;
* client_dedup.php with worker_sleep.php prints H1, H2, H1, H1, then a new
  handle.

Each pair sleeps ~15 s, so one module fixture runs every variant at once in
threads: the two pairs against a ``gearsim serve`` child process, the two pairs
against C gearmand (started with ``start_peer('gearmand-c')``), and the two
program cases of vectors/client/seed-programs.yaml, played with their vector's
commands (the seed folder swapped for GEARSIM_SEED_DIR), which check the
packets, the exit statuses and the client's output too: the status lines by
pattern, the dedup handles against the handles the server sent. What the
vector format cannot say is checked here as well: that the numerators rise,
and that the fifth dedup handle is new. Every process is stopped by its
recorded PID. php with the gearman
extension and gearmand are needed: missing, the tests skip, or fail under
GEARSIM_REQUIRE_PEERS=1.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gearsim.files import read_vector_file, vector_root
from gearsim.io.peers import peer_available, start_peer, stop_peer
from gearsim.io.programs import ProgramOutcome, run_program_case
from gearsim.io.serve import start_serve_process
from gearsim.run.runner import CaseResult, Verdict
from gearsim.testing.peer_fixtures import REQUIRE_ENV, peers_required, require_peer
from gearsim.vectors.parse import VectorFile

pytestmark = [pytest.mark.interop, pytest.mark.slow]

#: where the vector's commands name the seed files: the project's ../shared/seed,
#: relative to the repository root, where gearsim runs them from
VECTOR_SEED = "../shared/seed"
_REPO = Path(__file__).resolve().parents[2]
SEED = Path(os.environ.get("GEARSIM_SEED_DIR", str((_REPO / VECTOR_SEED).resolve())))
CLIENT_TIMEOUT = 60.0
WORKER_TIMEOUT = 20.0
STATUS_LINE = re.compile(r"Running: true, numerator: (\d+), denomintor: 14")


def _php_missing() -> str | None:
    if shutil.which("php") is None:
        return "php not found (apt-get install php-cli php-gearman)"
    mods = subprocess.run(["php", "-m"], capture_output=True, text=True, timeout=30, check=False).stdout
    if "gearman" not in mods.split():
        return "the php gearman extension is missing (apt-get install php-gearman)"
    if not (SEED / "client_status.php").is_file():
        return f"the seed files are not in {SEED} (set GEARSIM_SEED_DIR)"
    return None


def _require_php() -> None:
    reason = _php_missing()
    if reason is None:
        return
    if peers_required():
        pytest.fail(f"php-gearman: {reason} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(f"php-gearman: {reason}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a child by its PID (it leads its own session), then reap it."""
    if proc.poll() is None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=3.0)
                break
            except subprocess.TimeoutExpired:
                continue
    proc.wait()


@dataclass
class PairRun:
    """What one client printed and how its worker ended."""

    client_out: str = ""
    client_status: int | None = None
    worker_status: int | None = None
    worker_out: str = ""
    error: str = ""

    def detail(self) -> str:
        return (
            f"client (exit {self.client_status}):\n{self.client_out}\n"
            f"worker (exit {self.worker_status}):\n{self.worker_out}\n{self.error}"
        )


def _run_pair(address: tuple[str, int], worker: str, worker_jobs: str, client: str) -> PairRun:
    host, port = address[0], str(address[1])
    run = PairRun()
    wproc = subprocess.Popen(
        ["php", str(SEED / worker), host, port, worker_jobs],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        time.sleep(0.5)  # the worker registers and sleeps, as in the manual's set-up
        try:
            done = subprocess.run(
                ["php", str(SEED / client), host, port],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=CLIENT_TIMEOUT,
                check=False,
                start_new_session=True,
            )
            run.client_out = done.stdout.decode("utf-8", "replace") + done.stderr.decode("utf-8", "replace")
            run.client_status = done.returncode
        except subprocess.TimeoutExpired as exc:
            run.error = f"the client did not finish within {CLIENT_TIMEOUT} s"
            run.client_out = (exc.stdout or b"").decode("utf-8", "replace")
        try:
            out, _ = wproc.communicate(timeout=WORKER_TIMEOUT)
            run.worker_out = out.decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            run.error += f" the worker did not exit within {WORKER_TIMEOUT} s after the client"
    finally:
        _stop(wproc)
        run.worker_status = wproc.returncode
    return run


@dataclass
class SeedRuns:
    """Every variant's outcome, by name; a variant that could not run has a reason instead."""

    pairs: dict[str, PairRun] = field(default_factory=dict)
    cases: dict[str, tuple[CaseResult, list[ProgramOutcome]]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


def _commands(vf: VectorFile, case_id: str) -> list[str]:
    """The case's own commands (worker first), with the seed folder of this machine."""
    commands = [p.command for p in vf.case(case_id).programs.values()]
    assert len(commands) == 2 and all(VECTOR_SEED in c for c in commands), commands
    return [c.replace(VECTOR_SEED, str(SEED)) for c in commands]


@pytest.fixture(scope="module")
def seed_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeedRuns]:
    runs = SeedRuns()
    if _php_missing() is not None:
        yield runs
        return
    rundir = tmp_path_factory.mktemp("seed")
    served = start_serve_process(log=rundir / "gearsim-serve.log")
    gearmand = None
    reason = peer_available("gearmand-c")
    if reason is None:
        gearmand = start_peer("gearmand-c", rundir / "gearmand")
    else:
        runs.missing["gearmand"] = reason
    vf = read_vector_file(vector_root() / "client" / "seed-programs.yaml", "client/seed-programs.yaml")
    jobs: dict[str, Callable[[], object]] = {
        "gearsim-status": lambda: _run_pair(served.address(), "worker_reverse.php", "1", "client_status.php"),
        "gearsim-dedup": lambda: _run_pair(served.address(), "worker_sleep.php", "3", "client_dedup.php"),
        "case-status": lambda: run_program_case(vf, vf.case("seed-status-poll"), _commands(vf, "seed-status-poll")),
        "case-dedup": lambda: run_program_case(
            vf, vf.case("seed-user-note-dedup"), _commands(vf, "seed-user-note-dedup")
        ),
    }
    if gearmand is not None:
        address = gearmand.address()
        jobs["gearmand-status"] = lambda: _run_pair(address, "worker_reverse.php", "1", "client_status.php")
        jobs["gearmand-dedup"] = lambda: _run_pair(address, "worker_sleep.php", "3", "client_dedup.php")
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            futures = {name: pool.submit(job) for name, job in jobs.items()}
            for name, future in futures.items():
                value = future.result()
                if isinstance(value, PairRun):
                    runs.pairs[name] = value
                else:
                    assert isinstance(value, tuple)
                    runs.cases[name] = value
        yield runs
    finally:
        served.stop()
        if gearmand is not None:
            stop_peer(gearmand)


def _check_status(run: PairRun) -> None:
    lines = run.client_out.strip().splitlines()
    assert run.client_status == 0 and run.worker_status == 0 and not run.error, run.detail()
    assert lines[-2:] == ["Running: false, numerator: 0, denomintor: 0", "done!"], run.detail()
    numerators = []
    for line in lines[:-2]:
        match = STATUS_LINE.fullmatch(line)
        assert match is not None, run.detail()
        numerators.append(int(match.group(1)))
    assert len(numerators) >= 3, run.detail()
    assert numerators == sorted(set(numerators)) and numerators[0] >= 1 and numerators[-1] <= 14, run.detail()


def _check_dedup(run: PairRun) -> None:
    lines = run.client_out.strip().splitlines()
    assert run.client_status == 0 and run.worker_status == 0 and not run.error, run.detail()
    assert len(lines) == 5 and all(line.startswith("H:") for line in lines), run.detail()
    h1, h2, h3, h4, h5 = lines
    assert h1 == h3 == h4, run.detail()
    assert h2 != h1, run.detail()
    assert h5 not in (h1, h2), run.detail()


def _pair(runs: SeedRuns, name: str) -> PairRun:
    _require_php()
    if name.startswith("gearmand"):
        require_peer("gearmand-c")
    return runs.pairs[name]


def test_status_example_against_gearsim_serve(seed_runs: SeedRuns) -> None:
    _check_status(_pair(seed_runs, "gearsim-status"))


def test_status_example_against_gearmand(seed_runs: SeedRuns) -> None:
    _check_status(_pair(seed_runs, "gearmand-status"))


def test_dedup_note_against_gearsim_serve(seed_runs: SeedRuns) -> None:
    _check_dedup(_pair(seed_runs, "gearsim-dedup"))


def test_dedup_note_against_gearmand(seed_runs: SeedRuns) -> None:
    _check_dedup(_pair(seed_runs, "gearmand-dedup"))


@pytest.mark.parametrize("name", ["case-status", "case-dedup"])
def test_seed_program_cases_pass(seed_runs: SeedRuns, name: str) -> None:
    _require_php()
    result, programs = seed_runs.cases[name]
    detail = "\n".join([result.reason, result.expected, result.actual, result.trace, *result.notes])
    assert result.verdict == Verdict.PASS, detail
    assert [p.actors for p in programs] == [("prog_worker",), ("prog_client",)], detail
    outputs = [p.stdout.decode("utf-8", "replace") for p in programs]
    if name == "case-status":
        _check_status(
            PairRun(client_out=outputs[1], client_status=programs[1].returncode, worker_status=programs[0].returncode)
        )
    else:
        _check_dedup(
            PairRun(client_out=outputs[1], client_status=programs[1].returncode, worker_status=programs[0].returncode)
        )
