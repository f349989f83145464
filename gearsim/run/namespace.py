"""Cases on a long-lived server: a run-unique namespace per case, and which cases need a fresh server (PURE).

A server given by ``--server HOST:PORT`` keeps whatever earlier cases (and
earlier runs, and other users) left: functions, queued jobs, ``maxqueue``
limits, unique ids. So that no case sees another's state, each case is played
under its own *namespace*: every function name, unique id and client id the
case sends or expects is replaced by a name no other case or run uses
(``ls-a`` becomes ``gs-3f9a1c-17-ls-a``; a value of 32 bytes or more keeps its
length, its head replaced by the tag, so limit tests keep their meaning). The
vector files are unchanged: the mapping is applied to the parsed case, and
:func:`logical_result` maps every name in a result back, so reports show the
vector's own names.

What is mapped, by the packet table's argument names: ``function``,
``unique`` and ``client_id`` of every packet whose argument count matches the
table (a reducer is only a name the server hands on, and gearmand's handling
of it is itself under test) (a malformed layout is sent as written); the function word
of the admin commands that take one (``maxqueue``, ``create function``,
``drop function``); the rows of the admin listings a case expects (``status``
and ``prioritystatus`` by their function column, ``show unique jobs`` by the
unique, ``workers`` by client id and functions). The empty string and the
unique ``-`` keep their meaning and are never mapped. A codec case is mapped
only when its bytes decode and encode back to themselves.

A listing on a shared server also holds other cases' rows: the TCP peer keeps
only rows that carry the case's tag (:func:`owns_row`) or a handle the case
was given. A case whose verdict depends on the whole server cannot be judged
so; :func:`fresh_server_need` says why ("needs a fresh server: use
--server-command (...)"): server start-up options, the admin ``shutdown``, a
listing expected to be empty, or an expected listing row that names nothing
of the case's own (a worker row with no client id, a job with an empty unique,
a pattern).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from gearsim.errors import DecodeError
from gearsim.protocol.codec import decode_all, encode_many
from gearsim.protocol.packets import ADMIN_COMMANDS, SPECS, AdminCommandSpec, AdminLine, Message, Packet
from gearsim.protocol.trace import TraceRecord
from gearsim.run.result import CaseResult
from gearsim.vectors.cases import (
    AdminLinePattern,
    AdminPattern,
    Alternative,
    Case,
    Fragment,
    LineMatch,
    PacketPattern,
    Reaction,
    Step,
)

__all__ = [
    "FRESH_SERVER",
    "LISTING_COMMANDS",
    "Namespace",
    "case_names",
    "crash_defects",
    "fresh_server_need",
    "listing_command",
    "logical_result",
    "namespaced_case",
    "owns_row",
    "sends_shutdown",
]

#: the start of every "needs a fresh server" reason
FRESH_SERVER = "needs a fresh server: use --server-command"
#: packet and admin-row fields that name something a case owns
_NAMED_FIELDS = frozenset({"function", "unique", "client_id", "functions..."})
#: values of those fields that keep a meaning of their own
_KEEP = frozenset({b"", b"-"})
#: a value this long or longer is mapped to the same length (limits tests stay limits tests)
_LONG = 32

#: admin commands whose reply is a listing (rows, then ".")
LISTING_COMMANDS: tuple[AdminCommandSpec, ...] = tuple(c for c in ADMIN_COMMANDS if c.reply == "listing")


@dataclass(frozen=True)
class Namespace:
    """One case's namespace: ``tag`` is in every name it maps (``gs-3f9a1c-17-``).

    ``payloads`` are workloads mapped like names: those of ``-`` submissions
    that the case also uses as a literal unique (a server that keys ``-`` on
    the payload must see the same relation between the mapped values).
    """

    tag: bytes
    payloads: frozenset[bytes] = frozenset()

    @classmethod
    def for_case(cls, nonce: str, number: int) -> Namespace:
        """The namespace of case ``number`` of run ``nonce`` (letters and digits)."""
        return cls(f"gs-{nonce}-{number}-".encode("ascii"))

    def name(self, logical: bytes) -> bytes:
        """The run-unique name for ``logical`` (empty and ``-`` are returned as they are).

        A long value keeps its length: its head is replaced by the tag, so a
        server that cuts it at a limit cuts the mapped value the same way.
        """
        if logical in _KEEP:
            return logical
        if len(logical) >= _LONG:
            return self.tag + logical[len(self.tag) :]
        return self.tag + logical


# --------------------------------------------------------------------------- admin lines


def _command(line: bytes) -> tuple[AdminCommandSpec | None, list[bytes]]:
    """The admin command a sent line starts with (longest name first) and its words."""
    words = line.split()
    best: AdminCommandSpec | None = None
    for spec in ADMIN_COMMANDS:
        name = spec.name.encode("ascii").split()
        if [w.lower() for w in words[: len(name)]] == name and (best is None or len(name) > len(best.name.split())):
            best = spec
    return best, words


def listing_command(line: bytes) -> AdminCommandSpec | None:
    """The listing command (status, workers, ...) an admin line sends, or None."""
    spec, _ = _command(line)
    return spec if spec is not None and spec.reply == "listing" else None


def _map_sent_line(line: bytes, ns: Namespace, seen: set[bytes]) -> bytes:
    spec, words = _command(line)
    if spec is None or "function" not in spec.args:
        return line
    at = len(spec.name.split()) + spec.args.index("function")
    if at >= len(words):
        return line
    seen.add(words[at])
    mapped = list(words)
    mapped[at] = ns.name(words[at])
    # keep the line's own spacing: replace the word where it stands
    start = 0
    for i, word in enumerate(words):
        start = line.index(word, start)
        if i == at:
            return line[:start] + mapped[at] + line[start + len(word) :]
        start += len(word)
    return line


def _worker_row(row: bytes) -> tuple[list[bytes], list[bytes]] | None:
    """A workers row ``fd ip client-id : f1 f2`` as ([fd, ip, client id], functions), or None."""
    head, sep, rest = row.partition(b" :")
    parts = head.split(b" ")
    if not sep or len(parts) != 3 or (rest and not rest.startswith(b" ")):
        return None
    return parts, [f for f in rest.split(b" ") if f]


def _row_fields(spec: AdminCommandSpec, row: bytes) -> list[tuple[str, bytes]]:
    """(field name, value) pairs of a listing row, by the table's row layout."""
    if spec.name == "workers":
        parsed = _worker_row(row)
        if parsed is None:
            return []
        head, functions = parsed
        return list(zip(("fd", "ip", "client_id"), head, strict=True)) + [("functions...", f) for f in functions]
    if len(spec.row) > 1:
        return list(zip(spec.row, row.split(b"\t"), strict=False))
    return [(spec.row[0], row)] if spec.row else []


def _map_row(spec: AdminCommandSpec, row: bytes, ns: Namespace) -> bytes:
    if row == b"." or row.startswith((b"OK", b"ERR")):
        return row
    if spec.name == "workers":
        parsed = _worker_row(row)
        if parsed is None:
            return row
        (fd, ip, client_id), functions = parsed
        return b" ".join([fd, ip, ns.name(client_id), b":", *(ns.name(f) for f in functions)])
    if len(spec.row) > 1:
        cells = row.split(b"\t")
        return b"\t".join(
            ns.name(c) if i < len(spec.row) and spec.row[i] in _NAMED_FIELDS else c for i, c in enumerate(cells)
        )
    if spec.row and spec.row[0] in _NAMED_FIELDS:
        return ns.name(row)
    return row


def _row_is_own(spec: AdminCommandSpec, line: AdminLinePattern, ns: Namespace) -> bool:
    """Whether an expected (mapped) listing row names something of the case's own."""
    if not isinstance(line, bytes):
        return False  # a pattern or parts: what it matches cannot be told from here
    if line == b"." or line.startswith((b"OK", b"ERR")):
        return True
    return ns.tag in line or any(name == "handle" for name, _ in _row_fields(spec, line))


# --------------------------------------------------------------------------- packets


def _map_args(type_: int, args: tuple[object, ...], ns: Namespace) -> tuple[object, ...] | None:
    spec = SPECS.get(int(type_))
    if spec is None or len(args) != len(spec.args):
        return None
    return tuple(
        ns.name(a)
        if isinstance(a, bytes) and (spec.args[i] in _NAMED_FIELDS or (spec.args[i] == "workload" and a in ns.payloads))
        else a
        for i, a in enumerate(args)
    )


def _map_pattern(pattern: PacketPattern, ns: Namespace) -> PacketPattern:
    if pattern.length is not None:
        return pattern
    args = _map_args(int(pattern.type), pattern.args, ns)
    return pattern if args is None else replace(pattern, args=args)  # type: ignore[arg-type]


def _map_message(message: Message, ns: Namespace, seen: set[bytes]) -> Message:
    if isinstance(message, AdminLine):
        return AdminLine(_map_sent_line(message.text, ns, seen), message.eol)
    args = _map_args(int(message.type), message.args, ns)
    return message if args is None else Packet(message.magic, message.type, args)  # type: ignore[arg-type]


def _map_wire(data: bytes, ns: Namespace, seen: set[bytes]) -> bytes:
    """``data`` with names mapped, when it decodes and encodes back to itself; else as it is."""
    try:
        messages = decode_all(data)
        if encode_many(messages) != data:
            return data
        return encode_many([_map_message(m, ns, seen) for m in messages])
    except (DecodeError, ValueError):
        return data


# --------------------------------------------------------------------------- cases


@dataclass
class _Mapper:
    ns: Namespace
    #: per actor: the listing command its last admin send issued
    listing: dict[str, AdminCommandSpec]
    sent_functions: set[bytes]

    def admin_sent(self, actor: str, lines: Iterable[bytes]) -> None:
        for line in lines:
            spec = listing_command(line)
            if spec is not None:
                self.listing[actor] = spec

    def admin(self, actor: str, pattern: AdminPattern, *, expected: bool) -> AdminPattern:
        if not expected:
            lines: list[AdminLinePattern] = [
                _map_sent_line(x, self.ns, self.sent_functions) if isinstance(x, bytes) else x for x in pattern.lines
            ]
            self.admin_sent(actor, (x for x in pattern.lines if isinstance(x, bytes)))
            return replace(pattern, lines=tuple(lines))
        spec = self.listing.get(actor)
        if spec is None:
            return pattern
        return replace(
            pattern, lines=tuple(_map_row(spec, x, self.ns) if isinstance(x, bytes) else x for x in pattern.lines)
        )

    def alternative(self, actor: str, alt: Alternative) -> Alternative:
        return replace(
            alt,
            packet=_map_pattern(alt.packet, self.ns) if alt.packet is not None else None,
            packets=tuple(_map_pattern(p, self.ns) for p in alt.packets),
            admin=self.admin(actor, alt.admin, expected=True) if alt.admin is not None else None,
            wire=_map_wire(alt.wire, self.ns, set()) if alt.wire is not None else None,
        )

    def step(self, step: Step) -> Step:
        expected = step.action.startswith("expect")
        admin = step.admin
        if admin is not None:
            admin = self.admin(step.actor, admin, expected=expected)
        wire = step.wire
        if wire is not None:
            wire = _map_wire(wire, self.ns, self.sent_functions)
            if not expected:
                self._note_wire(step.actor, step.wire or b"")
        return replace(
            step,
            packet=_map_pattern(step.packet, self.ns) if step.packet is not None else None,
            packets=tuple(_map_pattern(p, self.ns) for p in step.packets),
            admin=admin,
            wire=wire,
            accept=tuple(self.alternative(step.actor, a) for a in step.accept),
        )

    def _note_wire(self, actor: str, data: bytes) -> None:
        try:
            messages = decode_all(data)
        except DecodeError:
            return
        self.admin_sent(actor, (m.text for m in messages if isinstance(m, AdminLine)))

    def reaction(self, reaction: Reaction) -> Reaction:
        replies: list[PacketPattern | AdminPattern] = []
        for reply in reaction.replies:
            if isinstance(reply, PacketPattern):
                replies.append(_map_pattern(reply, self.ns))
            else:
                replies.append(self.admin("c", reply, expected=True))
        return replace(reaction, replies=tuple(replies))


def _sent_packets(case: Case) -> list[tuple[int, tuple[object, ...]]]:
    """(type, args) of every packet a case sends, as far as they can be read."""
    found: list[tuple[int, tuple[object, ...]]] = []
    if case.is_codec:
        return [(int(m.type), m.args) for m in case.messages if isinstance(m, Packet)]
    for step in case.steps:
        if step.action == "send" and step.packet is not None:
            found.append((int(step.packet.type), step.packet.args))
    return found


def _dash_payloads(case: Case) -> frozenset[bytes]:
    """Workloads of ``-`` submissions that the case also sends as a literal unique."""
    dash: set[bytes] = set()
    uniques: set[bytes] = set()
    for type_, args in _sent_packets(case):
        spec = SPECS.get(type_)
        if spec is None or len(args) != len(spec.args) or "unique" not in spec.args:
            continue
        unique = args[spec.args.index("unique")]
        if unique == b"-" and "workload" in spec.args:
            workload = args[spec.args.index("workload")]
            if isinstance(workload, bytes):
                dash.add(workload)
        elif isinstance(unique, bytes):
            uniques.add(unique)
    return frozenset((dash & uniques) - _KEEP)


def namespaced_case(case: Case, ns: Namespace) -> Case:
    """``case`` with every name it owns mapped into ``ns`` (see the module docstring). Never raises."""
    ns = replace(ns, payloads=_dash_payloads(case))
    mapper = _Mapper(ns, {}, set())
    if case.is_codec:
        wire = case.wire or b""
        if any(n is not None for n in case.lengths) or any(isinstance(m, Fragment) for m in case.messages):
            return case
        mapped_wire = _map_wire(wire, ns, mapper.sent_functions)
        if mapped_wire == wire:
            return case
        mapper._note_wire("c", wire)
        messages = tuple(_map_message(m, ns, set()) for m in case.messages if not isinstance(m, Fragment))
        return replace(
            case,
            wire=mapped_wire,
            messages=messages,
            server=mapper.reaction(case.server) if case.server is not None else None,
            server_accept=tuple(mapper.reaction(r) for r in case.server_accept),
        )
    return replace(case, steps=tuple(mapper.step(s) for s in case.steps))


# --------------------------------------------------------------------------- fresh servers


def fresh_server_need(case: Case, ns: Namespace | None = None) -> str | None:
    """Why ``case`` cannot be judged on a long-lived shared server, or None when it can.

    The reason starts with :data:`FRESH_SERVER`. Never raises.
    """
    ns = ns or Namespace(b"gs-check-0-")
    crash = crash_defects(case)
    if crash:
        return f"{FRESH_SERVER} (the case may end the server: known defect {', '.join(sorted(crash))})"
    if case.options:
        options = ", ".join(f"{k}={v}" for k, v in sorted(case.options.items()))
        return f"{FRESH_SERVER} (server options {options})"
    if any(step.action == "restart_server" for step in case.steps):
        return f"{FRESH_SERVER} (the case restarts the server)"
    mapped = namespaced_case(case, ns)
    if case.is_codec:
        if _sends_shutdown(_admin_texts(case.wire or b"")):
            return f"{FRESH_SERVER} (admin shutdown)"
        last = _last_listing(_admin_texts(case.wire or b""))
        if last is not None and mapped.server is not None:
            # a codec reaction lists one reply per line: judge them as one listing
            lines = tuple(x for r in mapped.server.replies if isinstance(r, AdminPattern) for x in r.lines)
            return _listing_need(last, [AdminPattern(lines)], ns)
        return None
    listing: dict[str, AdminCommandSpec] = {}
    for step in mapped.steps:
        if step.action == "send":
            texts = _step_admin_texts(step)
            if _sends_shutdown(texts):
                return f"{FRESH_SERVER} (admin shutdown)"
            spec = _last_listing(texts)
            if spec is not None:
                listing[step.actor] = spec
        elif step.action == "expect" and step.admin is not None and step.actor in listing:
            need = _listing_need(listing[step.actor], [step.admin], ns)
            if need is not None:
                return need
    return None


def _step_admin_texts(step: Step) -> list[bytes]:
    if step.admin is not None:
        return [x for x in step.admin.lines if isinstance(x, bytes)]
    if step.wire is not None:
        return _admin_texts(step.wire)
    return []


def _admin_texts(data: bytes) -> list[bytes]:
    try:
        return [m.text for m in decode_all(data) if isinstance(m, AdminLine)]
    except DecodeError:
        return []


def _sends_shutdown(texts: Iterable[bytes]) -> bool:
    return any(t.split()[:1] and t.split()[0].lower() == b"shutdown" for t in texts)


def crash_defects(case: Case) -> set[str]:
    """The defects a case's crash outcomes record (``crash: true`` alternatives): the server may die in it."""
    return {alt.defect or "crash" for step in case.steps for alt in step.accept if alt.crash}


def sends_shutdown(case: Case) -> bool:
    """Whether ``case`` sends the admin ``shutdown`` command (a server may then exit, as asked)."""
    if case.is_codec:
        return _sends_shutdown(_admin_texts(case.wire or b""))
    return any(_sends_shutdown(_step_admin_texts(s)) for s in case.steps if s.action == "send")


def _last_listing(texts: Iterable[bytes]) -> AdminCommandSpec | None:
    found = None
    for t in texts:
        spec = listing_command(t)
        if spec is not None:
            found = spec
    return found


def _listing_need(spec: AdminCommandSpec, patterns: Iterable[AdminPattern], ns: Namespace) -> str | None:
    for pattern in patterns:
        rows = [x for x in pattern.lines if not (isinstance(x, bytes) and (x == b"." or x.startswith((b"OK", b"ERR"))))]
        if pattern.extra is not None:
            rows.append(pattern.extra)  # rows of other connections: seen only on a server of the case's own
        if not rows and any(x == b"." for x in pattern.lines):
            return f"{FRESH_SERVER} (an empty-server {spec.name} listing)"
        for row in rows:
            if not _row_is_own(spec, row, ns):
                shown = row.pattern if isinstance(row, LineMatch) else repr(row)
                return f"{FRESH_SERVER} (a {spec.name} row that names nothing of the case's own: {shown})"
    return None


# --------------------------------------------------------------------------- the peer's side


def owns_row(row: bytes, ns: Namespace, handles: Iterable[bytes] = ()) -> bool:
    """Whether a received listing row belongs to the case of ``ns`` (its tag, or a handle it was given)."""
    if ns.tag in row:
        return True
    fields = set(re.split(rb"[\t ]", row))
    return any(h in fields for h in handles)


# --------------------------------------------------------------------------- back to logical names


def logical_result(result: CaseResult, ns: Namespace, names: Iterable[bytes] = ()) -> CaseResult:
    """``result`` with every mapped name shown as the vector's own (``names``: the long ones' logical values)."""
    pairs = [(ns.name(n), n) for n in names if len(n) >= _LONG and n not in _KEEP]

    def text(s: str) -> str:
        for mapped, logical in pairs:
            s = s.replace(mapped.decode("latin-1"), logical.decode("latin-1"))
        return s.replace(ns.tag.decode("ascii"), "")

    def raw(b: bytes) -> bytes:
        for mapped, logical in pairs:
            b = b.replace(mapped, logical)
        return b.replace(ns.tag, b"")

    def record(r: TraceRecord) -> TraceRecord:
        message = r.message
        if isinstance(message, Packet):
            message = Packet(message.magic, message.type, tuple(raw(a) for a in message.args))
        elif isinstance(message, AdminLine):
            message = AdminLine(raw(message.text), message.eol)
        return r._replace(message=message, data=raw(r.data), note=text(r.note))

    return replace(
        result,
        reason=text(result.reason),
        expected=text(result.expected),
        actual=text(result.actual),
        trace=text(result.trace),
        notes=tuple(text(n) for n in result.notes),
        records=tuple(record(r) for r in result.records),
    )


def case_names(case: Case) -> set[bytes]:
    """Every literal name-field value a case sends or expects (for :func:`logical_result`)."""
    found: set[bytes] = set()

    def pattern(p: PacketPattern | None) -> None:
        spec = SPECS.get(int(p.type)) if p is not None else None
        if p is None or spec is None or len(p.args) != len(spec.args):
            return
        found.update(a for i, a in enumerate(p.args) if isinstance(a, bytes) and spec.args[i] in _NAMED_FIELDS)

    for step in case.steps:
        pattern(step.packet)
        for p in step.packets:
            pattern(p)
        for alt in step.accept:
            pattern(alt.packet)
            for p in alt.packets:
                pattern(p)
    for m in case.messages:
        if isinstance(m, Packet):
            pattern(PacketPattern(m.type, m.args))
    return found
