#!/usr/bin/env python3
"""Client-side mutation test of ``gearsim check``: corrupt what clients and workers sent, one defect at a time.

usage: python tools/mutate_client_captures.py [CAPTURE ...] [--per-operator N] [--seed S] [--operator NAME ...]
                                              [--show-missed]

Each capture (default: every one listed in tests/data/captures.yaml, the
committed race recordings included) is read
and rebuilt as a synthesized pcap with the same connections, times and
messages; the rebuilt original must give no client or worker finding (else
the capture is reported and left out: a false alarm is not a detection).
Then, for each operator, up to N packets a client or worker sent are
corrupted, one per mutant, and the mutant is judged by what ``gearsim check``
runs on what peers send (``gearsim.dissect.roles``). A mutant is *detected*
when a finding that counts (not ``unknown``) on the mutated connection cites
one of the rules the defect breaks; a finding under another rule is counted
apart ("wrong rule"), as is silence ("missed").

Operators (the rules a detection must cite; where the wire cannot tell two
readings apart, either: an argument too many is, split by the table's count,
a NUL inside the last one):

    fraction          a decimal field (numerator, timeout, epoch) made fractional  GM-FIELD-003
    server-type       the packet's type replaced by a server-only type             GM-FRAME-003
    unknown-type      the packet's type replaced by 77, in no table                GM-FRAME-003
    res-magic         \\0REQ replaced by \\0RES                                       GM-FRAME-002
    foreign-magic     \\0REQ replaced by \\0REX                                       GM-FRAME-002
    missing-argument  the last argument (and its NUL) dropped                      GM-FRAME-004 / GM-FRAME-006
    extra-argument    a NUL and an argument added after a non-blob last argument   GM-FRAME-004 / GM-FRAME-005
    nul-in-function   a NUL inside the function name of CAN_DO, CANT_DO or         GM-FRAME-005
                      CAN_DO_TIMEOUT (before a blob, as in SUBMIT_*, a NUL only
                      moves the boundaries: a well-formed packet, no mutant)
    oversize-handle   a handle made 64 bytes longer                                GM-FIELD-001
    oversize-unique   a unique made longer than 63 bytes                           GM-FIELD-002
    empty-function    the function name of a submission or registration emptied    GM-SUBMIT-007
    handle-not-held   a worker's WORK_* for a handle it was never given            GM-FIELD-006

Not a mutant: a worker's WORK_* for the handle of a job another connection
of the capture was given. A worker whose connection closed mid-job may
finish the job on a new one (gear does); the server ignores it (GM-WORK-001)
and no rule binds the worker, so check reports it as unknown.
    twice-terminal    a worker's terminal packet sent twice                        GM-WORK-014
    after-terminal    a WORK_STATUS sent after the worker's terminal packet        GM-WORK-014
    no-pre-sleep      the PRE_SLEEP between NO_JOB and the next GRAB_* left out     GM-SLEEP-008
    noop-no-grab      the GRAB_* that answers a NOOP replaced by PRE_SLEEP          GM-SLEEP-008
    cut-short         a connection's last message cut one byte short, then its     GM-FRAME-001 / GM-ADMIN-001
                      FIN (a binary packet, or an admin line without its newline)

It prints one line per operator and ends with

    client-side mutations: N mutants, D detected with the matching rule (P%), W wrong rule, M missed

and exits 1 when the share is below --target (95%). This is a tool, not a test
(tests/dissect/test_mutate_client_captures.py runs a few mutants of one capture).
"""

from __future__ import annotations

import argparse
import io
import random
import struct
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gearsim.dissect.capture import Event, EventKind, read_capture  # noqa: E402
from gearsim.dissect.pcapfile import PcapWriter  # noqa: E402
from gearsim.dissect.roles import judge_roles  # noqa: E402
from gearsim.dissect.synth import TcpConversation  # noqa: E402
from gearsim.protocol.codec import wire  # noqa: E402
from gearsim.protocol.packets import FIELDS, SPECS, TERMINAL_TYPES, WORK_TYPES, AdminLine, Packet, PacketType  # noqa: E402
from gearsim.protocol.trace import Direction  # noqa: E402

C2S, S2C = Direction.C2S.value, Direction.S2C.value
T = PacketType
#: one captured message: (event index, connection, direction, wire bytes)
Item = tuple[int, int, str, bytes]


@dataclass(frozen=True)
class Capture:
    """A capture read once: its events and the server port it used."""

    path: Path
    port: int | None
    events: list[Event]


@dataclass(frozen=True)
class Mutant:
    operator: str
    capture: str
    conn: int
    at: int
    what: str


# --------------------------------------------------------------------------- rebuilding


def rebuild(events: list[Event], replace: dict[int, list[bytes]]) -> bytes:
    """The capture as a synthesized pcap: same connections, times and messages; ``replace`` swaps a message's bytes.

    ``replace`` maps an event index to the byte strings sent instead of that message (none: left out).
    """
    out = io.BytesIO()
    writer = PcapWriter(out)
    convs: dict[int, TcpConversation] = {}
    first_fin: dict[int, str] = {}
    for index, event in enumerate(events):
        if event.kind == EventKind.OPEN and event.info is not None:
            client = _endpoint(event.info.client)
            server = _endpoint(event.info.server)
            conv = convs[event.conn] = TcpConversation(writer, client, server)
            conv.open(event.time_ns)
            continue
        conv = convs.get(event.conn)
        if conv is None:
            continue
        if event.kind == EventKind.MESSAGE and event.message is not None:
            for data in replace.get(index, [wire(event.message)]):
                conv.send(event.direction, data, event.time_ns)
        elif event.kind == EventKind.FIN:
            first_fin.setdefault(event.conn, event.direction or C2S)
        elif event.kind == EventKind.CLOSE:
            conv.close(event.time_ns, first_fin.get(event.conn, C2S))
            del convs[event.conn]
    for conn, conv in convs.items():
        conv.close(events[-1].time_ns, first_fin.get(conn, C2S))
    return out.getvalue()


def _endpoint(text: str) -> tuple[str, int]:
    host, port = text.rsplit(":", 1)
    return host.strip("[]"), int(port)


def judge(data: bytes, port: int | None, work: Path) -> list[tuple[int, str, bool]]:
    """(connection, rule, unknown) of every client or worker finding in the capture ``data``."""
    path = work / "mutant.pcap"
    path.write_bytes(data)
    ports = (port,) if port else None
    return [(f.conn, f.requirement, f.unknown) for r in judge_roles(read_capture(path, ports)) for f in r.findings]


# --------------------------------------------------------------------------- operators


def _pack(magic: bytes, number: int, args: tuple[bytes, ...]) -> bytes:
    body = b"\0".join(args)
    return struct.pack(">4sII", magic, number, len(body)) + body


def _arg_index(packet: Packet, name: str) -> int:
    spec = SPECS.get(int(packet.type))
    names = spec.args if spec is not None else ()
    return names.index(name) if name in names and names.index(name) < len(packet.args) else -1


def _with_arg(packet: Packet, index: int, value: bytes) -> bytes:
    args = (*packet.args[:index], value, *packet.args[index + 1 :])
    return _pack(bytes(packet.magic), int(packet.type), args)


Mutate = Callable[[Packet, "Context"], "list[bytes] | None"]


@dataclass
class Context:
    """What an operator may look at: the packet's place in its connection's history."""

    held: set[bytes]
    after_no_job: bool
    grabs_later: bool
    rng: random.Random
    #: a NOOP came since the connection's last PRE_SLEEP or GRAB_*
    woken: bool = False
    #: the last message the connection sent
    last: bool = False


_SERVER_ONLY = [t for t, s in SPECS.items() if s.on_wire and s.res and not s.req]
_DECIMALS = [n for n, f in FIELDS.items() if f.kind == "decimal"]
_SUBMIT_OR_REGISTER = {int(t) for t in T if t.name.startswith("SUBMIT_")} | {
    int(T.CAN_DO),
    int(T.CAN_DO_TIMEOUT),
    int(T.CANT_DO),
}
_TERMINAL = {int(t) for t in TERMINAL_TYPES}
_WORK = {int(t) for t in WORK_TYPES}
_GRAB = {int(T.GRAB_JOB), int(T.GRAB_JOB_UNIQ), int(T.GRAB_JOB_ALL)}
_ASSIGN = {int(T.JOB_ASSIGN), int(T.JOB_ASSIGN_UNIQ), int(T.JOB_ASSIGN_ALL)}


def m_fraction(p: Packet, ctx: Context) -> list[bytes] | None:
    for name in _DECIMALS:
        i = _arg_index(p, name)
        if i >= 0 and p.args[i].isdigit():
            return [_with_arg(p, i, p.args[i] + b".5")]
    return None


def m_server_type(p: Packet, ctx: Context) -> list[bytes] | None:
    return [_pack(bytes(p.magic), int(ctx.rng.choice(_SERVER_ONLY)), p.args)]


def m_unknown_type(p: Packet, ctx: Context) -> list[bytes] | None:
    return [_pack(bytes(p.magic), 77, p.args)]


def m_res_magic(p: Packet, ctx: Context) -> list[bytes] | None:
    return [_pack(b"\0RES", int(p.type), p.args)]


def m_foreign_magic(p: Packet, ctx: Context) -> list[bytes] | None:
    return [_pack(b"\0REX", int(p.type), p.args)]


def m_missing_argument(p: Packet, ctx: Context) -> list[bytes] | None:
    return [_pack(bytes(p.magic), int(p.type), p.args[:-1])] if len(p.args) >= 2 else None


def m_extra_argument(p: Packet, ctx: Context) -> list[bytes] | None:
    spec = SPECS.get(int(p.type))
    if spec is None or not p.args or spec.blob:
        return None
    return [_pack(bytes(p.magic), int(p.type), (*p.args, b"extra"))]


def m_nul_in_function(p: Packet, ctx: Context) -> list[bytes] | None:
    i = _arg_index(p, "function")
    spec = SPECS.get(int(p.type))
    if i < 0 or not p.args[i] or spec is None or spec.blob:
        # before a blob the NUL only moves the argument boundaries: SUBMIT_JOB "f\0n" "u" "w" is, on the
        # wire, SUBMIT_JOB "f" "n" "u\0w", a well-formed packet; no reader can tell, so it is no mutant
        return None
    name = p.args[i]
    cut = max(1, len(name) // 2)
    return [_with_arg(p, i, name[:cut] + b"\0" + name[cut:])]


def m_oversize_handle(p: Packet, ctx: Context) -> list[bytes] | None:
    i = _arg_index(p, "handle")
    return [_with_arg(p, i, p.args[i] + b"x" * 64)] if i >= 0 else None


def m_oversize_unique(p: Packet, ctx: Context) -> list[bytes] | None:
    i = _arg_index(p, "unique")
    return [_with_arg(p, i, (p.args[i] + b"u" * 64)[:80])] if i >= 0 else None


def m_empty_function(p: Packet, ctx: Context) -> list[bytes] | None:
    i = _arg_index(p, "function")
    return [_with_arg(p, i, b"")] if i >= 0 and int(p.type) in _SUBMIT_OR_REGISTER and p.args[i] else None


def m_handle_not_held(p: Packet, ctx: Context) -> list[bytes] | None:
    if int(p.type) not in _WORK or not p.args or p.args[0] not in ctx.held:
        return None
    return [_with_arg(p, 0, b"H:mutant:" + str(ctx.rng.randrange(10**6)).encode())]


def m_twice_terminal(p: Packet, ctx: Context) -> list[bytes] | None:
    if int(p.type) not in _TERMINAL or not p.args or p.args[0] not in ctx.held:
        return None
    return [wire(p), wire(p)]


def m_after_terminal(p: Packet, ctx: Context) -> list[bytes] | None:
    if int(p.type) not in _TERMINAL or not p.args or p.args[0] not in ctx.held:
        return None
    return [wire(p), _pack(b"\0REQ", int(T.WORK_STATUS), (p.args[0], b"1", b"2"))]


def m_noop_no_grab(p: Packet, ctx: Context) -> list[bytes] | None:
    return [_pack(bytes(p.magic), int(T.PRE_SLEEP), ())] if int(p.type) in _GRAB and ctx.woken else None


def m_cut_short(p: Packet, ctx: Context) -> list[bytes] | None:
    return [wire(p)[:-1]] if ctx.last else None


def m_no_pre_sleep(p: Packet, ctx: Context) -> list[bytes] | None:
    return [] if p.type == T.PRE_SLEEP and ctx.after_no_job and ctx.grabs_later else None


OPERATORS: dict[str, tuple[Mutate, frozenset[str]]] = {
    "fraction": (m_fraction, frozenset({"GM-FIELD-003"})),
    "server-type": (m_server_type, frozenset({"GM-FRAME-003"})),
    "unknown-type": (m_unknown_type, frozenset({"GM-FRAME-003"})),
    "res-magic": (m_res_magic, frozenset({"GM-FRAME-002"})),
    "foreign-magic": (m_foreign_magic, frozenset({"GM-FRAME-002"})),
    "missing-argument": (m_missing_argument, frozenset({"GM-FRAME-004", "GM-FRAME-006"})),
    "extra-argument": (m_extra_argument, frozenset({"GM-FRAME-004", "GM-FRAME-005"})),
    "nul-in-function": (m_nul_in_function, frozenset({"GM-FRAME-005"})),
    "oversize-handle": (m_oversize_handle, frozenset({"GM-FIELD-001"})),
    "oversize-unique": (m_oversize_unique, frozenset({"GM-FIELD-002"})),
    "empty-function": (m_empty_function, frozenset({"GM-SUBMIT-007"})),
    "handle-not-held": (m_handle_not_held, frozenset({"GM-FIELD-006"})),
    "twice-terminal": (m_twice_terminal, frozenset({"GM-WORK-014"})),
    "after-terminal": (m_after_terminal, frozenset({"GM-WORK-014"})),
    "no-pre-sleep": (m_no_pre_sleep, frozenset({"GM-SLEEP-008"})),
    "noop-no-grab": (m_noop_no_grab, frozenset({"GM-SLEEP-008"})),
    "cut-short": (m_cut_short, frozenset({"GM-FRAME-001", "GM-ADMIN-001"})),
}


def sites(events: list[Event], mutate: Mutate, rng: random.Random) -> Iterator[tuple[int, int, list[bytes]]]:
    """(event index, connection, replacement bytes) for every client or worker packet the operator applies to."""
    held: dict[int, set[bytes]] = {}
    after_no_job: dict[int, bool] = {}
    last_grab: dict[int, int] = {}
    woken: dict[int, bool] = {}
    last_sent: dict[int, int] = {}
    for index, e in enumerate(events):
        if e.direction == C2S and e.message is not None:
            last_sent[e.conn] = index
        if not isinstance(e.message, Packet):
            continue
        if e.direction == C2S and int(e.message.type) in _GRAB:
            last_grab[e.conn] = index
    for index, e in enumerate(events):
        p = e.message
        if isinstance(p, AdminLine) and e.direction == C2S and mutate is m_cut_short and last_sent[e.conn] == index:
            yield index, e.conn, [wire(p)[:-1]]
        if not isinstance(p, Packet):
            continue
        number = int(p.type)
        if e.direction == S2C:
            if number == T.NO_JOB:
                after_no_job[e.conn] = True
            if number == T.NOOP:
                woken[e.conn] = True
            if number in _ASSIGN and p.args:
                held.setdefault(e.conn, set()).add(p.args[0])
            continue
        grabs_later = last_grab.get(e.conn, -1) > index
        mine = held.setdefault(e.conn, set())
        ctx = Context(mine, after_no_job.get(e.conn, False), grabs_later, rng)
        ctx.woken = woken.get(e.conn, False)
        ctx.last = last_sent[e.conn] == index
        replacement = mutate(p, ctx)
        if replacement is not None:
            yield index, e.conn, replacement
        if number in _GRAB or number == T.PRE_SLEEP:
            after_no_job[e.conn] = False
            woken[e.conn] = False
        if number in _TERMINAL and p.args:
            ctx.held.discard(p.args[0])


# --------------------------------------------------------------------------- driver


def reference_captures() -> list[tuple[Path, int | None]]:
    """Every capture in tests/data/captures.yaml, the committed race recordings included."""
    manifest = ROOT / "tests" / "data" / "captures.yaml"
    data = yaml.safe_load(manifest.read_text())
    rows = data["captures"] + data.get("races", [])
    return [(manifest.parent / r["file"], int(r["port"])) for r in rows]


def run(
    captures: list[tuple[Path, int | None]],
    operators: list[str],
    per_operator: int,
    seed: int,
    show_missed: bool,
    out: Callable[[str], None] = print,
) -> Counter[str]:
    """Mutate, judge and print; returns the totals (mutants, detected, wrong, missed, per operator too)."""
    totals: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        loaded: list[Capture] = []
        for path, port in captures:
            events = list(read_capture(path, (port,) if port else None))
            if any(e.kind in EventKind.PROBLEMS for e in events):
                out(f"skipped {path.name}: it has gaps or damage, so it cannot be rebuilt faithfully")
                continue
            baseline = judge(rebuild(events, {}), port, work)
            if baseline:
                out(f"skipped {path.name}: the rebuilt original already has findings {baseline}")
                totals["false alarms"] += len(baseline)
                continue
            loaded.append(Capture(path, port, events))
        for name in operators:
            mutate, rules = OPERATORS[name]
            counts: Counter[str] = Counter()
            for cap in loaded:
                rng = random.Random(f"{seed}:{name}:{cap.path.name}")
                found = list(sites(cap.events, mutate, rng))
                for index, conn, replacement in rng.sample(found, min(per_operator, len(found))):
                    findings = judge(rebuild(cap.events, {index: replacement}), cap.port, work)
                    here = [rule for c, rule, unknown in findings if c == conn and not unknown]
                    counts["mutants"] += 1
                    if rules & set(here):
                        counts["detected"] += 1
                        continue
                    counts["wrong rule" if here else "missed"] += 1
                    if show_missed:
                        message = cap.events[index].message
                        shown = message.name if isinstance(message, Packet) else "?"
                        out(f"  {name}: {cap.path.name} c{conn} {shown} at event {index}: found {here or 'nothing'}")
            totals.update(counts)
            share = 100.0 * counts["detected"] / counts["mutants"] if counts["mutants"] else 0.0
            out(
                f"{name:20} {counts['mutants']:4} mutants, {counts['detected']:4} detected ({share:5.1f}%), "
                f"{counts['wrong rule']} wrong rule, {counts['missed']} missed  [{' / '.join(sorted(rules))}]"
            )
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("captures", nargs="*", type=Path, help="pcap files (default: tests/data/captures.yaml)")
    parser.add_argument("--port", type=int, help="the server port of the captures given (default: find Gearman)")
    parser.add_argument("--per-operator", type=int, default=25, metavar="N", help="mutants per operator and capture")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--operator", action="append", choices=sorted(OPERATORS), help="only these (repeatable)")
    parser.add_argument("--target", type=float, default=95.0, help="the share to reach, in percent (default 95)")
    parser.add_argument("--show-missed", action="store_true", help="one line per mutant not detected")
    args = parser.parse_args(argv)
    captures = [(p, args.port) for p in args.captures] if args.captures else reference_captures()
    totals = run(captures, args.operator or list(OPERATORS), args.per_operator, args.seed, args.show_missed)
    n, d = totals["mutants"], totals["detected"]
    share = 100.0 * d / n if n else 0.0
    print(
        f"client-side mutations: {n} mutants, {d} detected with the matching rule ({share:.1f}%), "
        f"{totals['wrong rule']} wrong rule, {totals['missed']} missed"
        + (f", {totals['false alarms']} false alarms on rebuilt originals" if totals["false alarms"] else "")
    )
    return 0 if n and share >= args.target and not totals["false alarms"] else 1


if __name__ == "__main__":
    sys.exit(main())
