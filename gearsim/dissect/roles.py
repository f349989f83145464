"""Judging what the clients, workers and admin connections of a capture send, by their role's rules.

PURE: capture events in, findings out (no files, clocks or sockets). This
module owns the "other direction" of ``gearsim check``: the server's replies
are ``gearsim.dissect.check``'s; everything sent to the server is judged here.

A connection's role comes from what it sends: CAN_DO, GRAB_*, PRE_SLEEP or
WORK_* make it a worker, SUBMIT_* or GET_STATUS* a client, an admin text line
an admin connection; one connection may be several. Each packet is judged for
the role its type implies (a type both may send, such as ECHO_REQ, for the
role the connection has shown; a type neither may send for that role too):

* per packet, ``gearsim.run.library_judge.sent_violations`` (the validator
  ``gearsim.protocol.validate`` for that role: magic and direction
  GM-FRAME-002, type GM-FRAME-003, argument count GM-FRAME-004/006, NULs
  GM-FRAME-005, field limits GM-FIELD-001/002, unsigned decimals
  GM-FIELD-003), so a library under test, a program and a capture get the
  same rule for the same defect; plus an empty function name (GM-SUBMIT-007)
  and a client id over 127 bytes or with white space (GM-WORKER-014);
* bytes that do not frame as Gearman at all: GM-FRAME-001 (GM-FRAME-002 for
  a foreign magic);
* per worker connection: WORK_* only for a handle the connection was
  assigned (one it never received is not sent back as received,
  GM-FIELD-006), nothing for a job after its terminal packet (GM-WORK-014),
  PRE_SLEEP between NO_JOB and the next GRAB_*, and GRAB_* rather than
  another PRE_SLEEP after a NOOP (GM-SLEEP-008, once per connection);
* a message the peer's own stream ended inside: a binary packet
  (GM-FRAME-001) or an admin line without its newline (GM-ADMIN-001) when
  the peer closed with FIN; unknown when it reset (RST); nothing when the
  capture, not the peer, stopped.

What depends on history the capture did not see is *unknown*, reported but
never counted as broken: a WORK_* for a handle not assigned on its
connection when the server gave that handle to another connection (a worker
whose connection closed mid-job may finish the job on a new one; the server
ignores it, GM-WORK-001, and no rule binds the worker), when the server's
bytes to the connection were not all captured (a TCP gap), or when the
capture joined that server's session late (a connection seen mid-stream:
the job may predate the capture). A GET_STATUS for a
handle the connection never received is not judged at all: a status poller
commonly gets its handle from another process.

Requirement ids are those of spec/requirements.yaml; ``render_roles`` and
``roles_json`` take the parsed registry to show each rule's level and sentence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from gearsim.dissect.events import Event, EventKind
from gearsim.protocol.packets import SPECS, TERMINAL_TYPES, WORK_TYPES, AdminLine, Packet, PacketType, Role
from gearsim.protocol.requirements import Requirement
from gearsim.protocol.trace import Direction
from gearsim.run.library_judge.sent import sent_violations

__all__ = ["ADMIN", "PeerFinding", "PeerReport", "RoleJudge", "judge_roles", "render_roles", "roles_json"]

#: the role of a connection that sends admin text lines
ADMIN: Final[str] = "admin"
_OPEN: Final[str] = EventKind.OPEN
_FIN: Final[str] = EventKind.FIN
_C2S: Final[str] = Direction.C2S.value
_S2C: Final[str] = Direction.S2C.value
_WORK: Final[frozenset[int]] = frozenset(int(t) for t in WORK_TYPES)
_TERMINAL: Final[frozenset[int]] = frozenset(int(t) for t in TERMINAL_TYPES)
_ASSIGN: Final[frozenset[int]] = frozenset(
    int(t) for t in (PacketType.JOB_ASSIGN, PacketType.JOB_ASSIGN_UNIQ, PacketType.JOB_ASSIGN_ALL)
)
_GRAB: Final[frozenset[int]] = frozenset(
    int(t) for t in (PacketType.GRAB_JOB, PacketType.GRAB_JOB_UNIQ, PacketType.GRAB_JOB_ALL)
)
#: packets whose first argument names a function a peer submits or registers
_NAMES_FUNCTION: Final[frozenset[int]] = frozenset(
    int(t)
    for t in PacketType
    if t.name.startswith("SUBMIT_") or t in (PacketType.CAN_DO, PacketType.CAN_DO_TIMEOUT, PacketType.CANT_DO)
)
#: types whose first argument is a job handle
_CARRIES_HANDLE: Final[frozenset[int]] = frozenset(n for n, spec in SPECS.items() if spec.args[:1] == ("handle",))
#: types only one role sends (a worker, or a client) -> that role
_ONLY_SENDER: Final[dict[int, Role]] = {
    n: role for n, spec in SPECS.items() for role in (Role.WORKER, Role.CLIENT) if spec.req == {role}
}
#: a role's value, and the role of a value (an enum's ``.value`` and its call cost a microsecond each)
_VALUE: Final[dict[Role, str]] = {role: role.value for role in Role}
_ROLE: Final[dict[str, Role]] = {role.value: role for role in Role}
_CLIENT: Final = Role.CLIENT
_WORKER: Final = Role.WORKER
#: the roles a connection shows, in the order one wins over the next
_SHOWN: Final[tuple[str, ...]] = (Role.WORKER.value, Role.CLIENT.value, ADMIN)
_CLIENT_ID_MAX: Final[int] = 127
#: the problems of a direction after which what it carried is no longer all known
_LOSSES: Final[frozenset[str]] = frozenset({"gap", "lost", "skipped"})
#: the role label of what a connection sent before it showed its role
_PENDING: Final[str] = "?"

#: the rules this module cites beyond the validator's (checked against the registry by the tests)
RULE_FRAMING: Final[str] = "GM-FRAME-001"
RULE_MAGIC: Final[str] = "GM-FRAME-002"
RULE_NOT_RECEIVED: Final[str] = "GM-FIELD-006"
RULE_AFTER_TERMINAL: Final[str] = "GM-WORK-014"
RULE_SLEEP: Final[str] = "GM-SLEEP-008"
RULE_EMPTY_FUNCTION: Final[str] = "GM-SUBMIT-007"
RULE_CLIENT_ID: Final[str] = "GM-WORKER-014"
RULE_ADMIN_LINE: Final[str] = "GM-ADMIN-001"


@dataclass(frozen=True, slots=True)
class PeerFinding:
    """One rule a client, worker or admin connection broke (or may have: ``unknown``), and where."""

    requirement: str
    role: str
    conn: int
    frame: int
    #: since the capture's first event
    time_ns: int
    reason: str
    #: depends on history the capture does not hold: reported, never counted as broken
    unknown: bool = False


@dataclass(slots=True)
class PeerReport:
    """What one connection sent to the server, by role, and the rules it broke."""

    conn: int
    endpoints: str
    #: role -> messages sent in that role (client, worker, admin)
    roles: Counter[str] = field(default_factory=Counter)
    findings: list[PeerFinding] = field(default_factory=list)
    midstream: bool = False

    @property
    def broken(self) -> list[PeerFinding]:
        """The findings that count: not unknown."""
        return [f for f in self.findings if not f.unknown]


@dataclass(slots=True)
class _Conn:
    report: PeerReport
    #: handles assigned to this connection and not yet ended by it
    held: set[bytes] = field(default_factory=set)
    #: handles this connection ended with a terminal packet (and was not assigned again since)
    ended: set[bytes] = field(default_factory=set)
    #: every handle the server sent this connection
    received: set[bytes] = field(default_factory=set)
    #: the server's bytes to this connection are not all known (joined mid-stream, a gap)
    blind: bool = False
    #: the server it talks to (handles are that server's)
    server: str = ""
    #: (finding index, handle) of WORK_* for a handle not given to this connection: settled by ``reports``
    tentative: list[tuple[int, bytes]] = field(default_factory=list)
    after_no_job: bool = False
    #: sent PRE_SLEEP and no GRAB_* since; ``woken``: and a NOOP came since
    asleep: bool = False
    woken: bool = False
    sleep_flagged: bool = False
    #: how the connection's own direction ended, when it did: "FIN" or "RST"
    ended_by: str = ""


class RoleJudge:
    """Judges the events of one capture, fed in capture order; ``reports()`` at any time."""

    def __init__(self) -> None:
        self._conns: dict[int, _Conn] = {}
        self.origin_ns: int | None = None
        #: server -> handle -> the first connection the server sent it to
        self._given: dict[str, dict[bytes, int]] = {}
        #: servers with a connection the capture joined mid-stream: their session began before it
        self._joined_late: set[str] = set()

    def feed(self, event: Event) -> None:
        """Take one event (any kind; only those of Gearman connections matter)."""
        if self.origin_ns is None:
            self.origin_ns = event.time_ns
        kind = event.kind
        if kind == _OPEN:
            midstream = bool(event.info.midstream) if event.info is not None else False
            report = PeerReport(event.conn, event.note, midstream=midstream)
            server = event.info.server if event.info is not None else ""
            self._conns[event.conn] = _Conn(report, blind=midstream, server=server)
            if midstream:
                self._joined_late.add(server)
            return
        conn = self._conns.get(event.conn)
        if conn is None:
            return
        message = event.message
        direction = event.direction
        if direction == _S2C:
            if type(message) is Packet:
                self._received(conn, message)
            elif kind in _LOSSES:
                conn.blind = True
            return
        if direction != _C2S:
            return
        if kind == _FIN:
            conn.ended_by = event.note
        elif kind == "truncated":
            self._cut_short(conn, event)
        elif type(message) is Packet:
            self._sent(conn, event, message)
        elif type(message) is AdminLine:
            conn.report.roles[ADMIN] += 1
        elif event.kind == "error":
            rule = RULE_MAGIC if "magic" in event.note else RULE_FRAMING
            why = f"sent bytes [{event.offset}, {event.end}) that do not frame as Gearman: {event.note}"
            roles = conn.report.roles
            self._find(conn, event, rule, _role_of(roles) if _shown(roles) else _PENDING, why)

    def reports(self) -> list[PeerReport]:
        """One report per connection, by connection id.

        What a connection sent before it showed its role (ECHO_REQ, OPTION_REQ,
        SET_CLIENT_ID) is counted, with its findings, for the role it showed
        first (worker before client), or as a client's when it showed none.
        """
        out = []
        for key in sorted(self._conns):
            conn = self._conns[key]
            report = conn.report
            roles = Counter(report.roles)
            pending = roles.pop(_PENDING, 0)
            role = _role_of(roles)
            if pending:
                roles[role] += pending
            fixed = PeerReport(report.conn, report.endpoints, roles, midstream=report.midstream)
            fixed.findings = [replace(f, role=role) if f.role == _PENDING else f for f in report.findings]
            for index, handle in conn.tentative:
                why = self._unsettled(conn, handle)
                if why:
                    f = fixed.findings[index]
                    fixed.findings[index] = replace(f, unknown=True, reason=f"{f.reason} ({why})")
            out.append(fixed)
        return out

    # ------------------------------------------------------------------ internals

    def _unsettled(self, conn: _Conn, handle: bytes) -> str:
        """Why a WORK_* for a handle this connection was not given may still be no defect, or ""."""
        holder = self._given.get(conn.server, {}).get(handle)
        if holder is not None:
            # a worker whose connection closed mid-job may finish it on a new one (gear does): the
            # server ignores it (GM-WORK-001), and no rule binds the worker
            return f"the server gave that handle to c{holder}: the worker may have held it there"
        if conn.blind:
            return "the server's bytes to this connection are not all captured"
        if conn.server in self._joined_late:
            return "the capture joined this server's session late: the job may predate it"
        return ""

    def _find(self, conn: _Conn, event: Event, rule: str, role: str, reason: str, unknown: bool = False) -> None:
        since = event.time_ns - (self.origin_ns or 0)
        conn.report.findings.append(PeerFinding(rule, role, event.conn, event.frame, since, reason, unknown))

    def _cut_short(self, conn: _Conn, event: Event) -> None:
        """A message the peer's stream ended inside: its fault when it closed (FIN), unknown when it reset."""
        if not conn.ended_by:
            return  # the capture stopped, not the peer
        text = "admin line" in event.note
        rule = RULE_ADMIN_LINE if text else RULE_FRAMING
        roles = conn.report.roles
        role = ADMIN if text else _role_of(roles) if _shown(roles) else _PENDING
        how = "closed its side (FIN)" if conn.ended_by == "FIN" else f"ended its side ({conn.ended_by})"
        why = f"{how} inside a message, bytes [{event.offset}, {event.end}): {event.note}"
        self._find(conn, event, rule, role, why, unknown=conn.ended_by != "FIN")

    def _received(self, conn: _Conn, packet: Packet) -> None:
        number = int(packet.type)
        if number == PacketType.NO_JOB:
            conn.after_no_job = True
        elif number == PacketType.NOOP and conn.asleep:
            conn.woken = True
        if number not in _CARRIES_HANDLE or not packet.args:
            return
        handle = packet.args[0]
        conn.received.add(handle)
        given = self._given.get(conn.server)
        if given is None:
            given = self._given[conn.server] = {}
        given.setdefault(handle, conn.report.conn)
        if number in _ASSIGN:
            conn.held.add(handle)
            conn.ended.discard(handle)  # assigned again (after a time limit took it): a new history

    def _sent(self, conn: _Conn, event: Event, packet: Packet) -> None:
        number = int(packet.type)
        report = conn.report
        role = _ONLY_SENDER.get(number)
        if role is not None:
            label = _VALUE[role]
        else:
            shown = _role_of(report.roles)
            role = _ROLE[shown] if shown != ADMIN else _CLIENT
            # a type any peer may send, before the connection showed its role: counted for the role it shows later
            label = _VALUE[role] if _shown(report.roles) else _PENDING
        report.roles[label] += 1
        for v in sent_violations(packet, role):
            self._find(conn, event, v.requirement, label, f"{_name(packet)}: {v.reason}")
        args = packet.args
        if number in _NAMES_FUNCTION and args and args[0] == b"":
            self._find(conn, event, RULE_EMPTY_FUNCTION, label, f"{packet.name} with an empty function name")
        elif number == PacketType.SET_CLIENT_ID and args and _bad_client_id(args[0]):
            why = f"SET_CLIENT_ID {args[0][:40]!r}: {len(args[0])} bytes (at most {_CLIENT_ID_MAX}, no white space)"
            self._find(conn, event, RULE_CLIENT_ID, label, why)
        if role is not _WORKER:
            return
        if number in _WORK and args:
            self._work(conn, event, packet, number, args[0])
        elif number == PacketType.PRE_SLEEP:
            if conn.woken and not conn.sleep_flagged:
                conn.sleep_flagged = True
                self._find(conn, event, RULE_SLEEP, _VALUE[role], "PRE_SLEEP again after a NOOP, without GRAB_*")
            conn.after_no_job, conn.asleep, conn.woken = False, True, False
        elif number in _GRAB:
            if conn.after_no_job and not conn.sleep_flagged:
                conn.sleep_flagged = True
                self._find(
                    conn, event, RULE_SLEEP, _VALUE[role], f"{packet.name} right after NO_JOB, without PRE_SLEEP"
                )
            conn.after_no_job, conn.asleep, conn.woken = False, False, False

    def _work(self, conn: _Conn, event: Event, packet: Packet, number: int, handle: bytes) -> None:
        worker = _VALUE[_WORKER]
        if handle in conn.ended:
            why = f"{packet.name} for {handle!r} after this connection ended that job"
            self._find(conn, event, RULE_AFTER_TERMINAL, worker, why)
        elif handle not in conn.held:
            if handle in conn.received:
                return  # a handle it was given as a client: the server says whether it may (GM-WORK-001/002)
            why = f"{packet.name} for {handle!r}, a job this connection does not hold: never given that handle"
            # judged when the report is made: a loss found later (a gap shows when later bytes come) may hide it
            conn.tentative.append((len(conn.report.findings), handle))
            self._find(conn, event, RULE_NOT_RECEIVED, worker, why)
        elif number in _TERMINAL:
            conn.held.discard(handle)
            conn.ended.add(handle)


def _shown(roles: Counter[str]) -> bool:
    return any(roles[role] for role in _SHOWN)


def _role_of(roles: Counter[str]) -> str:
    """The role a connection has shown so far (worker before client), client when it has shown none."""
    for role in _SHOWN:
        if roles[role]:
            return role
    return _VALUE[_CLIENT]


def _bad_client_id(value: bytes) -> bool:
    return len(value) > _CLIENT_ID_MAX or any(c in value for c in b" \t\r\n")


def _name(packet: Packet) -> str:
    magic = bytes(packet.magic)
    return packet.name if magic == b"\0REQ" else f"{packet.name} framed {magic!r}"


def judge_roles(events: Iterable[Event]) -> list[PeerReport]:
    """Judge every event; one report per Gearman connection."""
    judge = RoleJudge()
    for event in events:
        judge.feed(event)
    return judge.reports()


def _roles_text(report: PeerReport) -> str:
    if not report.roles:
        return "sent nothing"
    return ", ".join(f"{role} ({count})" for role, count in sorted(report.roles.items()))


def render_roles(reports: list[PeerReport], requirements: Mapping[str, Requirement] | None = None) -> str:
    """The text section: per connection its roles and each rule it broke, with frame and time.

    With ``requirements`` it ends with the level and sentence of every rule broken.
    """
    lines = ["clients and workers (what each connection sent, by its role's rules):"]
    for r in reports:
        verdict = "BROKEN" if r.broken else "ok"
        lines.append(f"c{r.conn} {r.endpoints}: {_roles_text(r)}: {verdict}")
        for f in r.findings:
            what = "unknown" if f.unknown else "broke"
            at = f"frame {f.frame}, {f.time_ns / 1e9:.6f} s"
            lines.append(f"  {what} {f.requirement} as {f.role} at {at}: {f.reason}")
    broken = [f for r in reports for f in r.broken]
    if requirements and broken:
        lines.append("client and worker rules broken:")
        for rid in sorted({f.requirement for f in broken}):
            rule = requirements.get(rid)
            lines.append(f"  {rid} ({rule.level}): {rule.text}" if rule else f"  {rid}: (not in the registry)")
    by_role = Counter(f.role for f in broken)
    per_role = ", ".join(f"{role} {by_role[role]}" for role in (Role.CLIENT.value, Role.WORKER.value, ADMIN))
    unknown = sum(1 for r in reports for f in r.findings if f.unknown)
    lines.append(
        f"{len(reports)} connections, {len(broken)} broken client/worker requirements ({per_role})"
        + (f", {unknown} unknown" if unknown else "")
    )
    return "\n".join(lines) + "\n"


def roles_json(
    reports: list[PeerReport], requirements: Mapping[str, Requirement] | None = None
) -> list[dict[str, Any]]:
    """The reports as JSON values: per connection, its roles and findings (with the rule's level when known)."""
    out: list[dict[str, Any]] = []
    for r in reports:
        findings = []
        for f in r.findings:
            rule = requirements.get(f.requirement) if requirements else None
            findings.append(
                {
                    "id": f.requirement,
                    "level": rule.level if rule else None,
                    "role": f.role,
                    "frame": f.frame,
                    "time": round(f.time_ns / 1e9, 6),
                    "reason": f.reason,
                    "unknown": f.unknown,
                }
            )
        out.append(
            {
                "conn": r.conn,
                "endpoints": r.endpoints,
                "midstream": r.midstream,
                "roles": dict(sorted(r.roles.items())),
                "verdict": "broken" if r.broken else "ok",
                "findings": findings,
            }
        )
    return out
