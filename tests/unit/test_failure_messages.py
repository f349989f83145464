"""A failed step carries the messages it received as data, and the runner judges those, never the display text.

``StepFailed.actual`` is what reports show: messages written out by ``show``,
arguments past 40 bytes cut, a bytes literal quoted with ``"`` when it holds a
``'``. The runner once read it back to decide whether the server refused a
request with ERROR (and with which code word) or answered an admin command with
ERR, so a reply whose text ``show`` writes another way was not recognised: an
optional admin command a server lacks, answered ``ERR ... it's ...``, failed
the case instead of making it n/a. Now every failure carries
``StepFailed.received``; these tests hold every place that raises one with
``actual`` made from messages to passing them, and every place that raises one
again with a new reason to carrying them over (a place that forgot would make
the runner miss a refusal, and charge GM-SERVER-001 or the step's own rule
where a known defect or an allowance was due).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import pytest
from mutant_judging import bundled_case

from gearsim import files as loading
from gearsim.model import Server, ServerOptions
from gearsim.model.profiles import Profile
from gearsim.protocol.node import ConnId, ServerNode
from gearsim.protocol.packets import AdminLine, Magic, Message, Packet, PacketType
from gearsim.run.expectations import show
from gearsim.run.mutants import mutation
from gearsim.run.mutants.building import Rewriting
from gearsim.run.mutants.mutation import Mutation
from gearsim.run.mutants.play import MutantFactory
from gearsim.run.refusals import is_err, is_error
from gearsim.run.result import CaseResult, StepFailed, Verdict
from gearsim.run.runner import run_case

ROOT = Path(__file__).resolve().parents[2]


def _case_result(ref: str, profile: str, build: Callable[[Profile, ServerOptions], ServerNode] | None) -> CaseResult:
    vf, case = bundled_case(ref)
    mutant = None if build is None else Mutation("rewritten", "GM-ADMIN-013", "ERR lines rewritten", build, profile)
    return run_case(vf, case, MutantFactory(mutant, profile), profile)


def _quoting_err(profile: Profile, options: ServerOptions) -> ServerNode:
    """The model, its ERR lines holding a ``'`` (so ``repr`` quotes them with ``"``)."""

    def rewrite(conn: ConnId, m: Message) -> tuple[Message, ...]:
        if isinstance(m, AdminLine) and m.text.startswith(b"ERR "):
            return (m._replace(text=m.text + b" (it's not here)"),)
        return (m,)

    return Rewriting(Server(profile, options), rewrite)


@pytest.mark.parametrize(
    "ref",
    # a lifecycle step, and a codec case's server reaction: the two places an ERR line is judged
    ["admin/commands.yaml::create-and-drop-function", "codec/admin.yaml::getpid"],
)
def test_an_err_line_holding_a_quote_still_says_the_admin_command_is_absent(ref: str) -> None:
    plain = _case_result(ref, "perl-1.130", None)
    assert plain.verdict is Verdict.NOT_APPLICABLE, (plain.verdict, plain.reason)
    assert "the server has no" in plain.reason
    quoted = _case_result(ref, "perl-1.130", _quoting_err)
    assert (quoted.verdict, quoted.reason) == (plain.verdict, plain.reason)


def test_refusals_are_recognised_from_messages() -> None:
    assert is_err(AdminLine(b"ERR unknown_command it's not here"))
    assert is_err(AdminLine(b"ERR", b"\r\n"))
    assert not is_err(AdminLine(b"ERROR x"))
    assert not is_err(AdminLine(b"OK"))
    assert not is_err(Packet(Magic.RES, PacketType.ERROR, (b"ERR", b"x")))
    assert not is_err(None)
    assert is_error(Packet(Magic.RES, PacketType.ERROR, (b"it's", b"x")))
    assert is_error(Packet(Magic.REQ, PacketType.ERROR, ()))
    assert not is_error(Packet(b"\0XYZ", PacketType.ERROR, (b"x",)))  # an illegal magic: no ERROR of the table
    assert not is_error(Packet(Magic.RES, PacketType.NOOP, ()))
    assert not is_error(AdminLine(b"ERR x"))
    assert not is_error(b"\0RES")
    assert not is_error(None)


# ---------------------------------------------------------------- every failure carries its messages

#: ``actual`` texts of raise sites that show no protocol messages: a driver's reply, a program's exit
_NOT_MESSAGES = {"reply.describe()", "outcome.describe()"}


def _raise_sites() -> list[tuple[str, int, ast.Call]]:
    sites = []
    for path in sorted((ROOT / "gearsim").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "StepFailed":
                sites.append((str(path.relative_to(ROOT)), node.lineno, node))
    return sites


def test_every_step_failed_with_an_actual_text_is_given_its_messages() -> None:
    """A static check of every ``StepFailed(...)`` in gearsim: one with an ``actual`` passes ``received=``."""
    sites = _raise_sites()
    assert len(sites) > 20, sites  # the walk found them
    missing = []
    for where, line, call in sites:
        actual = (
            call.args[3] if len(call.args) > 3 else next((k.value for k in call.keywords if k.arg == "actual"), None)
        )
        if actual is None or (isinstance(actual, ast.Constant) and actual.value == ""):
            continue
        if ast.unparse(actual) in _NOT_MESSAGES:
            continue
        if not any(k.arg == "received" for k in call.keywords):
            missing.append(f"{where}:{line}: actual={ast.unparse(actual)}")
    assert not missing, "\n".join(missing)


def _recording(monkeypatch: pytest.MonkeyPatch) -> list[StepFailed]:
    """Every StepFailed made from now on, as it was made (before any caller caught it)."""
    made: list[StepFailed] = []
    original = StepFailed.__init__

    def init(self: StepFailed, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(StepFailed, "__init__", init)
    return made


#: (profile, mutant) plays over every bundled case whose failures reach every place in gearsim.run that raises
#: or re-raises a StepFailed but one (a stray ERROR refusing a request: test_refusal_codes plays it), found by
#: playing every mutant under every profile: alternatives judged under spec and under a profile, an ERROR
#: differing only in its code word, rule and framing breaks, refusals (GM-SERVER-001; an ERR line for a SHOULD
#: admin command), silence (GM-SERVER-004), coalescing, stray messages after the last step
_PLAYS: Sequence[tuple[str, str | None]] = (
    ("gear-0.16", None),
    ("spec", "created-twice"),
    ("spec", "status-numbers-signed"),
    ("spec", "no-grab-job-uniq"),
    ("gear-0.16", "error-text-nul"),
    ("spec", "unique-cut-to-62"),
    ("spec", "no-version"),
)


def test_every_failure_played_carries_the_messages_its_actual_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    made = _recording(monkeypatch)
    files = loading.select([]).files
    for profile, mutant_id in _PLAYS:
        factory = MutantFactory(None if mutant_id is None else mutation(mutant_id), profile)
        for vf in files:
            for case in vf.cases:
                if case.applies_to(profile) and not (case.is_program or case.is_library):
                    run_case(vf, case, factory, profile)
    shown = [f for f in made if f.actual]
    assert len(shown) > 50, len(made)  # the plays failed steps, or this checks nothing
    wrong = [(f.reason, f.actual, f.received) for f in shown if show(cast(Any, f.received)) != f.actual]
    assert not wrong, wrong[:3]
    assert any(is_error(f.first) for f in shown) and any(is_err(f.first) for f in shown)
    assert any(f.step is None for f in shown)  # a stray message after the last step
