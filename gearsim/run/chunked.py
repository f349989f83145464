"""Re-chunked peers, and comparing runs: a chunked run against an unchunked one, the same run twice (PURE).

``gearsim run --chunking SEED`` and the chunking tests play every case with
its bytes cut into the pieces a ``gearsim.run.chunking`` plan gives; the
verdicts must not change. This module owns the wrapper that does it:

* :class:`ChunkedPeer` / :func:`chunked_factory` wrap any runner
  ``PeerFactory`` so that every send goes out in the plan's pieces. For the
  simulator each piece is its own write (a separate delivery to the model);
  for a real server each piece is its own ``send()`` on a socket that already
  has TCP_NODELAY (gearsim.io.tcp sets it), **and** the wrapper waits
  :data:`TCP_PAUSE_MS` (through the peer's own ``wait``, pumping replies
  meanwhile) between pieces. The pause is needed: on loopback the kernel
  queues back-to-back segments and the server's next read() drains them all
  at once, which would quietly undo the re-chunking. The simulator needs no
  pause.
* :func:`verdict_changes` and :func:`trace_hash` compare runs: a chunked run
  against an unchunked one (the verdict must not change), and the same run
  twice (the determinism self-check: equal trace hashes, or the harness is
  at fault).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from gearsim.protocol.packets import Message
from gearsim.protocol.trace import TraceRecord, format_record
from gearsim.run.chunking import ChunkPlan, Cut, expand
from gearsim.run.peer import PeerFactory, ServerPeer
from gearsim.run.result import CaseResult
from gearsim.vectors.parse import Case

__all__ = ["TCP_PAUSE_MS", "ChunkedFactory", "ChunkedPeer", "chunked_factory", "trace_hash", "verdict_changes"]

#: wall-clock ms between the pieces of one write to a real server (see the module docstring)
TCP_PAUSE_MS: Final[int] = 2


class ChunkedPeer:
    """A ``ServerPeer`` that re-chunks every write of the peer it wraps.

    With ``plan.coalesce``, consecutive sends of one actor are held and go out
    as one write when anything else happens (another actor sends, a wait, a
    connect or disconnect, a look at an inbox), so the order of bytes between
    connections is what the vector wrote.

    It can restart the server exactly when the peer it wraps can: the runner
    asks ``getattr(peer, "restart", None)``, so the attribute exists only then.
    """

    #: set only when the wrapped peer can restart its server
    restart: Callable[[], None]

    def __init__(self, inner: ServerPeer, plan: ChunkPlan, pause_ms: int = 0) -> None:
        self.inner = inner
        self.plan = plan
        self.pause_ms = pause_ms
        self.cuts: list[Cut] = []
        self._held: tuple[str, bytearray] | None = None
        self._writes = 0
        inner_restart: Callable[[], None] | None = getattr(inner, "restart", None)
        if inner_restart is not None:

            def restart() -> None:
                self.flush()  # bytes written before the restart reach the old server
                inner_restart()

            self.restart = restart

    def _write(self, actor: str, data: bytes) -> None:
        pieces, cut = self.plan.cut(self._writes, data)
        self._writes += 1
        self.cuts.append(cut)
        for i, piece in enumerate(pieces):
            if i and self.pause_ms:
                self.inner.wait(self.inner.now() + self.pause_ms, lambda: False)
            self.inner.send(actor, piece)

    def flush(self) -> None:
        """Write whatever consecutive sends are being held."""
        held, self._held = self._held, None
        if held is not None:
            self._write(held[0], bytes(held[1]))

    def now(self) -> int:
        return self.inner.now()

    def connect(self, actor: str) -> None:
        self.flush()
        self.inner.connect(actor)

    def send(self, actor: str, data: bytes) -> None:
        if not self.plan.coalesce:
            self._write(actor, data)
            return
        if self._held is not None and self._held[0] != actor:
            self.flush()
        if self._held is None:
            self._held = (actor, bytearray())
        self._held[1].extend(data)

    def disconnect(self, actor: str) -> None:
        self.flush()
        self.inner.disconnect(actor)

    def wait(self, until: int, ready: Callable[[], bool]) -> None:
        self.flush()
        self.inner.wait(until, ready)

    def inbox(self, actor: str) -> deque[Message]:
        self.flush()
        return self.inner.inbox(actor)

    def closed(self, actor: str) -> bool:
        self.flush()
        return self.inner.closed(actor)

    def held(self, actor: str) -> str:
        self.flush()
        return self.inner.held(actor)

    def trace_tail(self, lines: int = 12) -> str:
        return self.inner.trace_tail(lines)

    def records(self) -> tuple[TraceRecord, ...]:
        return self.inner.records()

    def span(self, ms: int, kind: str) -> int:
        return self.inner.span(ms, kind)


class ChunkedFactory:
    """A PeerFactory whose peers re-chunk every write; ``cuts`` holds what each case's writes got."""

    def __init__(self, inner: PeerFactory, plan: ChunkPlan, pause_ms: int) -> None:
        self.inner = inner
        self.plan = plan
        self.pause_ms = pause_ms
        #: the cuts of every case built so far, by case id
        self.cuts: dict[str, list[Cut]] = {}

    def __call__(self, case: Case) -> ChunkedPeer:
        peer = ChunkedPeer(self.inner(case), self.plan, self.pause_ms)
        self.cuts[case.id] = peer.cuts
        return peer

    def close(self) -> None:
        """Close the wrapped factory, if it holds anything."""
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


def chunked_factory(inner: PeerFactory, seed: int, *, wall_clock: bool) -> ChunkedFactory:
    """Wrap ``inner`` so every case's writes are re-chunked by ``expand(seed)``.

    ``wall_clock``: the peers are real servers (pause ``TCP_PAUSE_MS`` between
    pieces); False for the simulator (no pause). The returned factory's
    ``cuts`` maps each case id to the cuts its writes got, for reports.
    """
    return ChunkedFactory(inner, expand(seed), TCP_PAUSE_MS if wall_clock else 0)


# --------------------------------------------------------------------------- comparing runs


def _content_hash(records: Iterable[TraceRecord]) -> str:
    h = hashlib.sha256()
    for r in records:
        # wall-clock ticks vary between runs against a real server: hash everything else
        h.update(f"{r.conn} {r.label} {r.direction} {r.kind} {r.message!r} {r.data.hex()} {r.note}\n".encode())
    return h.hexdigest()


def trace_hash(results: Iterable[CaseResult], *, with_ticks: bool = True) -> str:
    """One SHA-256 over every case's id, verdict and trace (ticks left out when ``with_ticks`` is False)."""
    h = hashlib.sha256()
    for r in results:
        h.update(f"{r.id} {r.verdict.value}\n".encode())
        if with_ticks:
            h.update("".join(format_record(x) + "\n" for x in r.records).encode())
        else:
            h.update(_content_hash(r.records).encode())
    return h.hexdigest()


def verdict_changes(baseline: Sequence[CaseResult], chunked: Sequence[CaseResult]) -> list[str]:
    """One line per case whose verdict differs between the two runs (matched by id)."""
    before = {r.id: r for r in baseline}
    out = []
    for r in chunked:
        b = before.get(r.id)
        if b is None:
            out.append(f"{r.id}: not in the baseline run")
        elif b.verdict is not r.verdict:
            out.append(f"{r.id}: {b.verdict.value} unchunked, {r.verdict.value} chunked ({r.reason})")
    return out
