"""Segmentation invariance against the model, the chunking plans, and the determinism self-check.

* Every bundled vector gets the same verdict from the reference model whether
  its bytes go out as written or re-chunked by seeds 0-5 (bytewise,
  header/body, coalesced, admin lines split mid-line, mixed).
* A plan is pure: its pieces join back to the bytes, none is empty, the same
  (seed, write, bytes) always gives the same cuts, and each mode cuts where it
  says it does.
* Determinism self-check: the same chunked run twice gives the same trace hash
  (so a changed verdict is the server's doing, not the harness's).
* The comparison can fail: a peer that cannot reassemble split packets changes
  verdicts, and ``verdict_changes`` reports them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gearsim.files import Selection, select
from gearsim.protocol.codec import encode
from gearsim.protocol.packets import Packet, PacketType
from gearsim.report.repro import Target, reproduce_run
from gearsim.run.chunked import ChunkedPeer, chunked_factory, trace_hash, verdict_changes
from gearsim.run.chunking import BYTEWISE_EDGE, Mode, boundaries, expand
from gearsim.run.model_peer import ModelPeerFactory
from gearsim.run.runner import CaseResult, PeerFactory, ServerPeer, Verdict, run_case
from gearsim.vectors.parse import Case

SEEDS = (0, 1, 2, 3, 4, 5)
PROFILE = "gearmand-1.1"


@cache
def _selection() -> Selection:
    return select([])


def _run(factory: PeerFactory) -> list[CaseResult]:
    sel = _selection()
    return [run_case(vf, vf.case(cid), factory, PROFILE) for vf in sel.files for cid in sel.chosen(vf)]


@cache
def _baseline() -> tuple[CaseResult, ...]:
    return tuple(_run(ModelPeerFactory(PROFILE, seed=0)))


@pytest.mark.parametrize("seed", SEEDS)
def test_every_vector_keeps_its_verdict_under_rechunking(seed: int) -> None:
    factory = chunked_factory(ModelPeerFactory(PROFILE, seed=0), seed, wall_clock=False)
    chunked = _run(factory)
    assert len(chunked) == len(_baseline()) > 100
    changes = verdict_changes(_baseline(), chunked)
    if changes:
        first = changes[0].partition(": ")[0]
        vector = first.partition("::")[0]
        pytest.fail(
            f"chunking seed {seed} ({expand(seed).describe()}) changed {len(changes)} verdicts:\n"
            + "\n".join(changes[:10])
            + "\ncuts: "
            + "; ".join(c.describe() for c in factory.cuts.get(first.partition("::")[2], [])[:5])
            + f"\nreproduce: {reproduce_run(vector, Target(profile=PROFILE, seed=0, chunking=seed))}"
        )
    # the plan really cut something: writes of more than one byte were split (or joined)
    assert any(len(c.sizes) > 1 for cuts in factory.cuts.values() for c in cuts) or seed == 2


def test_same_chunked_run_twice_gives_the_same_trace_hash() -> None:
    first = _run(chunked_factory(ModelPeerFactory(PROFILE, seed=0), 7, wall_clock=False))
    second = _run(chunked_factory(ModelPeerFactory(PROFILE, seed=0), 7, wall_clock=False))
    assert trace_hash(first) == trace_hash(second)
    assert trace_hash(first, with_ticks=False) == trace_hash(second, with_ticks=False)
    # and the hash sees a difference in what went over the wire
    other = _run(chunked_factory(ModelPeerFactory(PROFILE, seed=0), 0, wall_clock=False))
    assert trace_hash(first) != trace_hash(other)


# --------------------------------------------------------------------------- the comparison can fail


class _WholeWritesOnly:
    """A broken server: it drops any write that is not whole packets (a naive reader)."""

    def __init__(self, inner: ServerPeer) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Callable[..., object]:
        attr: Callable[..., object] = getattr(self.inner, name)
        return attr

    def send(self, actor: str, data: bytes) -> None:
        whole = all(end - start >= 12 or not binary for start, end, binary in boundaries(data))
        if data[:1] == b"\0" and whole and len(data) >= 12:
            self.inner.send(actor, data)


def test_a_chunk_sensitive_peer_changes_verdicts() -> None:
    model = ModelPeerFactory(PROFILE, seed=0)

    def fragile(case: Case) -> ServerPeer:
        return _WholeWritesOnly(model(case))  # type: ignore[return-value]

    sel = select(["server/coalesce.yaml"])
    vf = sel.files[0]
    # the cases the model passes outright (a known defect's case reads known-defect, not pass)
    cases = [c for c in vf.cases if run_case(vf, c, model, PROFILE).verdict is Verdict.PASS]
    baseline = [run_case(vf, c, fragile, PROFILE) for c in cases]
    bytewise = [run_case(vf, c, chunked_factory(fragile, 0, wall_clock=False), PROFILE) for c in cases]
    assert {r.verdict for r in baseline} == {Verdict.PASS}
    changes = verdict_changes(baseline, bytewise)
    assert changes and all("pass unchunked, fail chunked" in c for c in changes)


# --------------------------------------------------------------------------- plans

_STREAM = st.lists(
    st.one_of(
        st.binary(max_size=20).map(lambda b: encode(Packet.req(PacketType.ECHO_REQ, b))),
        st.sampled_from([b"status\n", b"workers\r\n", b"show jobs\n", b"version"]),
        st.binary(max_size=30),
    ),
    max_size=6,
).map(b"".join)


@given(data=_STREAM, seed=st.integers(min_value=0, max_value=50), index=st.integers(min_value=0, max_value=20))
def test_a_plan_cuts_deterministically_into_nonempty_pieces(data: bytes, seed: int, index: int) -> None:
    plan = expand(seed)
    pieces, cut = plan.cut(index, data)
    assert b"".join(pieces) == data
    assert all(pieces)
    assert cut.sizes == tuple(len(p) for p in pieces)
    assert plan.cut(index, data) == (pieces, cut)


def test_each_mode_cuts_where_it_says() -> None:
    packet = encode(Packet.req(PacketType.SUBMIT_JOB, b"reverse", b"", b"test"))
    two = packet + packet
    pieces, cut = expand(0).cut(0, two)
    assert cut.mode is Mode.BYTEWISE and all(len(p) == 1 for p in pieces)
    pieces, cut = expand(1).cut(0, two)
    ends = {sum(len(p) for p in pieces[: i + 1]) for i in range(len(pieces))}
    assert cut.mode is Mode.HEADER_BODY and {12, len(packet), len(packet) + 12} <= ends
    assert any(0 < e < 12 for e in ends)  # and once inside the header
    pieces, cut = expand(2).cut(0, two)
    assert cut.mode is Mode.COALESCE and pieces == [two] and expand(2).coalesce
    line = b"status\r\n"
    pieces, cut = expand(3).cut(0, line + line)
    ends = {sum(len(p) for p in pieces[: i + 1]) for i in range(len(pieces))}
    assert cut.mode is Mode.ADMIN_MIDLINE and {7, 8, 15} <= ends
    assert any(0 < e < 6 for e in ends)  # inside the text of the first line
    assert expand(4).mode is Mode.MIXED
    with pytest.raises(ValueError):
        expand(-1)


def test_a_long_write_goes_byte_by_byte_at_its_ends_and_whole_in_the_middle() -> None:
    """A 1 MiB body cut bytewise was a million simulator events: two LargeBody cases hit the step bound."""
    body = encode(Packet.req(PacketType.ECHO_REQ, b"x" * (1 << 20)))
    pieces, _ = expand(0).cut(0, body)
    assert b"".join(pieces) == body
    assert [len(p) for p in pieces] == [1] * BYTEWISE_EDGE + [len(body) - 2 * BYTEWISE_EDGE] + [1] * BYTEWISE_EDGE
    edge = b"\0" * (2 * BYTEWISE_EDGE)  # up to twice the edge: every byte still its own write
    assert expand(0).cut(0, edge)[0] == [b"\0"] * len(edge)


def test_held_sends_of_one_actor_go_out_as_one_write() -> None:
    sent: list[tuple[str, bytes]] = []

    class Recorder:
        def send(self, actor: str, data: bytes) -> None:
            sent.append((actor, data))

        def wait(self, until: int, ready: Callable[[], bool]) -> None:
            pass

        def now(self) -> int:
            return 0

    peer = ChunkedPeer(Recorder(), expand(2))  # type: ignore[arg-type]
    peer.send("c1", b"a")
    peer.send("c1", b"b")
    peer.send("w1", b"c")
    peer.wait(0, lambda: True)
    assert sent == [("c1", b"ab"), ("w1", b"c")]
    assert [c.index for c in peer.cuts] == [0, 1]
