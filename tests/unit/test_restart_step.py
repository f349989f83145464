"""The restart_server step: parsed, played on the model (state lost), refused where a server cannot restart.

The bundled vectors/server/restart.yaml must pass on the model, and must fail
when the restart is skipped or when the restarted model keeps what it held:
so the step and the model's restart can both be caught doing nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gearsim.files import read_vector_file, vector_root
from gearsim.model import Server, ServerOptions
from gearsim.run.batch import case_wall_bound, is_stateless
from gearsim.run.model_peer import ModelPeerFactory, SimPeer
from gearsim.run.mutants import MutantFactory, mutation
from gearsim.run.namespace import FRESH_SERVER, fresh_server_need
from gearsim.run.runner import Verdict, run_case
from gearsim.sim.simulator import Simulator
from gearsim.vectors.parse import Case, VectorFile

RESTART_FILE = vector_root() / "server" / "restart.yaml"


@pytest.fixture(scope="module")
def restart_file() -> VectorFile:
    return read_vector_file(Path(RESTART_FILE))


def test_the_step_parses_without_an_actor(restart_file: VectorFile) -> None:
    steps = [s for c in restart_file.cases for s in c.steps if s.action == "restart_server"]
    assert len(steps) == len(restart_file.cases)
    assert {s.actor for s in steps} == {""}


@pytest.mark.parametrize("profile", ["gearmand-1.1", "spec", "perl-1.130"])
def test_every_restart_case_passes_on_the_model(restart_file: VectorFile, profile: str) -> None:
    for case in restart_file.cases:
        result = run_case(restart_file, case, ModelPeerFactory(profile), profile)
        assert result.verdict in (Verdict.PASS, Verdict.ACCEPTABLE), (case.id, result.reason)


class _NoRestartFactory:
    """The model with a restart that does nothing: the same server keeps serving the same connections."""

    def __call__(self, case: Case) -> SimPeer:
        sim = Simulator(0)
        sim.add_server("gearmand", Server("gearmand-1.1", ServerOptions(**dict(case.options))))  # type: ignore[arg-type]
        peer = SimPeer(sim)
        peer.restart = lambda: None  # type: ignore[attr-defined]
        return peer


def test_a_skipped_restart_fails_every_case(restart_file: VectorFile) -> None:
    for case in restart_file.cases:
        result = run_case(restart_file, case, _NoRestartFactory(), "gearmand-1.1")
        assert result.verdict is Verdict.FAIL, case.id


@pytest.mark.parametrize(
    ("mutant", "case_id"),
    [("restart-keeps-registrations", "worker-registers-again"), ("restart-keeps-uniques", "unique-after-restart")],
)
def test_a_model_that_keeps_its_state_fails(restart_file: VectorFile, mutant: str, case_id: str) -> None:
    factory = MutantFactory(mutation(mutant), "spec")
    result = run_case(restart_file, restart_file.case(case_id), factory, "spec")
    assert result.verdict is Verdict.FAIL


def test_the_model_restart_cuts_connections_and_forgets_jobs() -> None:
    factory = ModelPeerFactory("gearmand-1.1")
    peer = factory(Case("x", "", (), "valid"))
    peer.connect("c")
    peer.send("c", b"\0REQ\x00\x00\x00\x12\x00\x00\x00\x04f\x00u\x00")  # SUBMIT_JOB_BG f u ''
    peer.wait(peer.now() + 10, lambda: bool(peer.inbox("c")))
    before = peer.sim.node("gearmand")
    peer.restart()  # type: ignore[attr-defined]
    assert peer.closed("c")
    after = peer.sim.node("gearmand")
    assert after is not before
    peer.connect("a")
    peer.send("a", b"status\n")
    peer.wait(peer.now() + 10, lambda: bool(peer.inbox("a")))
    assert [m.text for m in peer.inbox("a")] == [b"."]  # type: ignore[union-attr]


def test_a_peer_without_restart_makes_the_case_not_applicable(restart_file: VectorFile) -> None:
    def factory(case: Case) -> SimPeer:
        sim = Simulator(0)
        sim.add_server("gearmand", Server("gearmand-1.1", ServerOptions()))
        return SimPeer(sim)  # no restarted: the peer has no restart()

    result = run_case(restart_file, restart_file.cases[0], factory, "gearmand-1.1")
    assert result.verdict is Verdict.NOT_APPLICABLE
    assert "cannot be restarted" in result.reason


def test_a_shared_server_cannot_play_a_restart(restart_file: VectorFile) -> None:
    for case in restart_file.cases:
        need = fresh_server_need(case)
        assert need is not None and need.startswith(FRESH_SERVER) and "restarts the server" in need


def test_a_restart_case_is_never_stateless_and_its_bound_counts_the_restart(restart_file: VectorFile) -> None:
    case = restart_file.case("queued-job-lost")
    assert not is_stateless(case)
    steps = tuple(s for s in case.steps if s.action != "restart_server")
    without = Case(case.id, case.comment, case.requirements, case.result, actors=case.actors, steps=steps)
    assert case_wall_bound(case) >= case_wall_bound(without) + 20


def test_server_die_kills_the_server_the_library_last_sent_to() -> None:
    import asyncio

    from gearsim.io.library_server import LibraryServer
    from gearsim.vectors.cases import ServerPlan

    async def play() -> None:
        server = LibraryServer((ServerPlan(), ServerPlan()), ("c",), "gearmand-1.1", ServerOptions(), lambda r: None)
        await server.start()
        try:
            assert server.kill_server_of("c") is None  # it has sent nothing yet
            first, second = server.addresses("c")
            host, port = first.split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"\0REQ\x00\x00\x00\x10\x00\x00\x00\x02hi")  # ECHO_REQ 'hi'
            assert (await reader.readexactly(14))[-2:] == b"hi"
            assert server.kill_server_of("c") == 0
            assert await reader.read() == b""  # its connection is closed
            with pytest.raises(OSError):
                await asyncio.open_connection(host, int(port))  # and its port refuses
            host2, port2 = second.split(":")
            _, writer2 = await asyncio.open_connection(host2, int(port2))  # the other one serves
            writer2.close()
            writer.close()
        finally:
            await server.close()

    asyncio.run(play())
