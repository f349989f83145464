"""``gearsim fuzz``, ``gearsim run --chunking SEED`` support, and seed-first failure reports (glue).

* ``add_fuzz_command(subparsers)`` adds ``gearsim fuzz --server HOST:PORT
  --profile NAME --examples N --seed S``: the differential machine
  (gearsim.fuzz) against a real server; a shrunk failure is written to
  vectors/regressions/ as a lint-clean vector and reported seed first.
* ``ChunkedPeer`` / ``chunked_factory`` wrap any runner ``PeerFactory`` so
  that every send goes out in the pieces a ``gearsim.run.chunking`` plan cuts:
  for the simulator each piece is its own write (a separate delivery to the
  model); for a real server each piece is its own ``send()`` on a socket that
  already has TCP_NODELAY (gearsim.io.tcp sets it), **and** the wrapper waits
  ``pause_ms`` (default 2 ms, wall clock, pumping replies meanwhile) between
  pieces. The pause is needed: on loopback the kernel queues back-to-back
  segments and the server's next read() drains them all at once, which would
  quietly undo the re-chunking. The simulator needs no pause (pause 0).
* ``repro_line(...)`` is the one-line command that reproduces a failure.
* ``verdict_changes`` and ``trace_hash`` compare runs: a chunked run against
  an unchunked one (the verdict must not change), and the same run twice (the
  determinism self-check: equal trace hashes, or the harness is at fault).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from gearsim.protocol.packets import Message
from gearsim.protocol.trace import TraceRecord, format_record
from gearsim.run.chunking import ChunkPlan, Cut, expand
from gearsim.run.runner import CaseResult, PeerFactory, ServerPeer
from gearsim.vectors.parse import Case

__all__ = [
    "TCP_PAUSE_MS",
    "ChunkedPeer",
    "add_chunking_argument",
    "add_fuzz_command",
    "chunked_factory",
    "chunking_report",
    "repro_line",
    "trace_hash",
    "verdict_changes",
]

#: wall-clock ms between the pieces of one write to a real server (see the module docstring)
TCP_PAUSE_MS = 2


# --------------------------------------------------------------------------- reports


def repro_line(
    command: str,
    *,
    seed: int | None = None,
    server: tuple[str, int] | str | None = None,
    profile: str | None = None,
    vector: str | None = None,
    chunking: int | None = None,
    examples: int | None = None,
    steps: int | None = None,
) -> str:
    """The shell line that reproduces a failure, e.g. ``gearsim run X --chunking 3 --seed 0``.

    ``command`` is ``run`` or ``fuzz``; only the options given appear.
    """
    words = ["gearsim", command]
    if vector:
        words.append(vector)
    if server:
        words += ["--server", server if isinstance(server, str) else f"{server[0]}:{server[1]}"]
    if profile:
        words += ["--profile", profile]
    if examples is not None:
        words += ["--examples", str(examples)]
    if steps is not None:
        words += ["--steps", str(steps)]
    if seed is not None:
        words += ["--seed", str(seed)]
    if chunking is not None:
        words += ["--chunking", str(chunking)]
    return shlex.join(words)


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


def chunking_report(
    changes: Sequence[str],
    *,
    plan: ChunkPlan,
    target: str,
    cuts: dict[str, list[Cut]],
    vectors: dict[str, str],
    repro: Callable[[str], str],
) -> str:
    """Seed-first text for verdicts that changed under a chunking plan.

    ``vectors`` maps a case id to the content hash of its file; ``cuts`` holds
    the cuts each case's writes got; ``repro`` gives a case's reproduce line.
    """
    lines = []
    for change in changes:
        case_id = change.partition(": ")[0]
        lines += [
            f"CHUNKING seed {plan.seed} changed a verdict: {change}",
            f"  vector: {case_id} (file content sha256 {vectors.get(case_id, '?')})",
            f"  against: {target}",
            f"  plan: {plan.describe()}",
        ]
        lines += [f"  {c.describe()}" for c in cuts.get(case_id, [])[:20]]
        lines.append(f"  reproduce: {repro(case_id)}")
    return "\n".join(lines) + ("\n" if lines else "")


# --------------------------------------------------------------------------- chunked peers


class ChunkedPeer:
    """A ``ServerPeer`` that re-chunks every write of the peer it wraps.

    With ``plan.coalesce``, consecutive sends of one actor are held and go out
    as one write when anything else happens (another actor sends, a wait, a
    connect or disconnect, a look at an inbox), so the order of bytes between
    connections is what the vector wrote.
    """

    def __init__(self, inner: ServerPeer, plan: ChunkPlan, pause_ms: int = 0) -> None:
        self.inner = inner
        self.plan = plan
        self.pause_ms = pause_ms
        self.cuts: list[Cut] = []
        self._held: tuple[str, bytearray] | None = None
        self._writes = 0

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

    def trace_tail(self, lines: int = 12) -> str:
        return self.inner.trace_tail(lines)

    def records(self) -> tuple[TraceRecord, ...]:
        return self.inner.records()

    def span(self, ms: int, kind: str) -> int:
        return self.inner.span(ms, kind)


class _ChunkedFactory:
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


def chunked_factory(inner: PeerFactory, seed: int, *, wall_clock: bool) -> _ChunkedFactory:
    """Wrap ``inner`` so every case's writes are re-chunked by ``expand(seed)``.

    ``wall_clock``: the peers are real servers (pause ``TCP_PAUSE_MS`` between
    pieces); False for the simulator (no pause). The returned factory's
    ``cuts`` maps each case id to the cuts its writes got, for reports.
    """
    return _ChunkedFactory(inner, expand(seed), TCP_PAUSE_MS if wall_clock else 0)


def add_chunking_argument(run_parser: argparse.ArgumentParser) -> None:
    """Add ``--chunking SEED`` to ``gearsim run``."""
    run_parser.add_argument(
        "--chunking",
        type=int,
        metavar="SEED",
        help="re-send every vector's bytes re-chunked by this seed (0 bytewise, 1 header/body, "
        "2 coalesced, 3 admin lines split mid-line, other seeds mixed); verdicts must not change",
    )


# --------------------------------------------------------------------------- gearsim fuzz


def _parse_server(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def _cmd_fuzz(args: argparse.Namespace) -> int:
    from gearsim.files import vector_root
    from gearsim.fuzz.machine import run_machine
    from gearsim.fuzz.session import model_vs_server, server_identity
    from gearsim.fuzz.writer import case_id, content_hash, regression_vector
    from gearsim.vectors.parse import dump_vector_file

    host, port = args.server
    identity = server_identity(host, port)
    nonce = f"{os.getpid() % 100000}{time.time_ns() % 100000}"
    command = repro_line(
        "fuzz", server=(host, port), profile=args.profile, examples=args.examples, steps=args.steps, seed=args.seed
    )
    command += "".join(f" --exclude {rule}" for rule in args.exclude) + (" --known-bugs" if args.known_bugs else "")
    print(f"gearsim fuzz: seed {args.seed}, {args.examples} examples of up to {args.steps} steps")
    print(f"  server: {identity}; profile {args.profile}")
    started = time.monotonic()
    make = model_vs_server(host, port, args.profile, nonce, identity=identity, excuse_known=not args.known_bugs)
    from gearsim.cli.progress import progress

    with progress("gearsim fuzz", total=args.examples, unit="examples") as bar:
        outcome = run_machine(
            make,
            seed=args.seed,
            examples=args.examples,
            steps=args.steps,
            shrink=not args.no_shrink,
            exclude=frozenset(args.exclude),
            on_example=bar.advance,
        )
    spent = time.monotonic() - started
    print(f"  ran {outcome.examples} examples, {outcome.steps} steps in {spent:.1f} s")
    if outcome.error is not None and outcome.failure is None:
        print(f"HARNESS seed {args.seed}: {type(outcome.error).__name__}: {outcome.error}")
        print(f"  reproduce: {command}")
        return 3
    if outcome.failure is None:
        print("  no divergence, no broken invariant")
        return 0
    history = list(outcome.history)
    cid = case_id(history)
    data = regression_vector(
        history,
        outcome.failure,
        namespace=outcome.namespace,
        seed=args.seed,
        server=identity,
        profile=args.profile,
        command=command,
    )
    text = dump_vector_file(data)
    folder = Path(args.out) if args.out else vector_root() / "regressions"
    path = folder / f"{cid}.yaml"
    if not args.no_write:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    file_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
    kind = "INVARIANT" if type(outcome.failure).__name__ == "InvariantBroken" else "DIVERGENCE"
    print(f"{kind} seed {args.seed}: {outcome.failure}")
    if outcome.error is not None:
        print(f"  note: hypothesis reported {type(outcome.error).__name__} (the server answered differently on replay)")
    print(f"  vector: {path}::{cid}{'' if not args.no_write else ' (not written: --no-write)'}")
    print(f"  conversation hash: {content_hash(history)}; file sha256: {file_hash}")
    print(f"  server: {identity}")
    print("  shrunk conversation:")
    for step in history:
        print(f"    {step.index:3d} {step.action.describe()}")
    print(f"  reproduce the search: {command}")
    print(f"  replay the vector:    {repro_line('run', vector=str(path), server=(host, port), profile=args.profile)}")
    return 1


def add_fuzz_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``gearsim fuzz`` to the ``gearsim`` command's subparsers."""
    fuzz = subparsers.add_parser(
        "fuzz", help="differential fuzzing: random conversations against the model and a real server at once"
    )
    fuzz.add_argument("--server", type=_parse_server, required=True, metavar="HOST:PORT", help="the real server")
    fuzz.add_argument("--profile", default="gearmand-1.1", help="implementation profile (default gearmand-1.1)")
    fuzz.add_argument("--examples", type=int, default=100, help="hypothesis examples (default 100)")
    fuzz.add_argument("--steps", type=int, default=20, help="most steps per example (default 20)")
    fuzz.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0)")
    fuzz.add_argument("--out", metavar="DIR", help="where to write a regression vector (default vectors/regressions)")
    fuzz.add_argument("--no-write", action="store_true", help="report a failure without writing a vector")
    fuzz.add_argument("--exclude", action="append", default=[], metavar="RULE", help="never run this rule (repeatable)")
    fuzz.add_argument(
        "--known-bugs",
        action="store_true",
        help="report known server bugs (gearsim.fuzz.invariants.KNOWN_SERVER_BUGS) instead of counting them",
    )
    fuzz.add_argument("--no-shrink", action="store_true", help="report the first failure as found")
    fuzz.set_defaults(func=_cmd_fuzz)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gearsim.cli.fuzz fuzz ...`` until gearsim.cli.main carries the hook."""
    parser = argparse.ArgumentParser(prog="gearsim")
    sub = parser.add_subparsers(dest="command", required=True)
    add_fuzz_command(sub)
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
