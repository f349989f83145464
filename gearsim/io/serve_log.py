"""What ``gearsim serve`` writes about a run: the log (text or JSONL), its run header, and live findings.

This module owns the formats of serve's log and the judging of what peers send:

* ``ServeLog`` writes one line per trace record: the canonical trace text
  (``gearsim.protocol.trace.format_record``), or one JSON object per line
  (``jsonl``) in the shape of ``gearsim decode --json`` (``args`` escaped
  losslessly, ``violations`` as ``{id, reason, argument}``). A run begins
  with a header (text: a line starting ``#``; JSONL: ``{"kind": "run", ...}``)
  that says when, where, with which profile and options, and how many bytes
  of earlier runs the log already held: appending is never silent.
* ``Checker`` judges every message a peer sends with the capture rules
  (``gearsim.dissect.annotate``: magic and type for the sender's role, argument
  count, field syntax, nothing for a handle after its terminal packet) and
  gives the violations with their rule ids.
* ``violation_line`` is the one-line alert serve prints on stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, TextIO

from gearsim.dissect.annotate import Annotator
from gearsim.dissect.events import Event, EventKind
from gearsim.errors import BadMagic, DecodeError, HarnessError, UnknownType
from gearsim.protocol.codec import Decoder
from gearsim.protocol.node import Send
from gearsim.protocol.packets import ASSIGN_TYPES, AdminLine, Magic, Message, Packet
from gearsim.protocol.trace import Direction, Kind, TraceRecord, format_message, format_record
from gearsim.protocol.validate import Violation

__all__ = ["LOG_FORMATS", "VIOLATION", "Checker", "Observer", "Recorder", "ServeLog", "escape"]

#: the formats ``--log-format`` takes
LOG_FORMATS: Final[tuple[str, ...]] = ("text", "jsonl")
#: the ``kind`` of the trace record that carries one violation (text log, recorders)
VIOLATION: Final[str] = "violation"
#: the label of every connection in log lines
LABEL: Final[str] = "peer"

#: receives every record serve observes
Recorder = Callable[[TraceRecord], None]

_ESCAPES: Final[dict[int, str]] = {
    b: ("\\\\" if b == 0x5C else chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}") for b in range(256)
}


def escape(data: bytes) -> str:
    """``data`` as text, losslessly: printable ASCII as is, backslash and every other byte escaped."""
    return data.decode("latin-1").translate(_ESCAPES)


class Checker:
    """Judges what peers send, connection by connection (rule ids of spec/requirements.yaml)."""

    __slots__ = ("_annotator",)

    def __init__(self) -> None:
        self._annotator = Annotator()

    def received(self, conn: int, message: Message) -> list[Violation]:
        """Every rule ``message``, sent by the peer on ``conn``, breaks (admin lines: none)."""
        if not isinstance(message, Packet):
            return []
        event = Event(0, 0, conn, Direction.C2S.value, EventKind.MESSAGE, message.offset, 0, message, "")
        return self._annotator.findings(event)

    def sent(self, conn: int, message: Message) -> None:
        """A server reply: only job starts matter (a handle assigned again starts a new history)."""
        # an assignment (re)starts a worker's history of a handle for the lifecycle rules (JOB_CREATED
        # starts a listener's, which only the server's own packets could break)
        if isinstance(message, Packet) and message.type in ASSIGN_TYPES:
            event = Event(0, 0, conn, Direction.S2C.value, EventKind.MESSAGE, message.offset, 0, message, "")
            self._annotator.findings(event)

    def closed(self, conn: int) -> None:
        """``conn`` ended: forget its history."""
        self._annotator.findings(Event(0, 0, conn, "", EventKind.CLOSE, 0, 0, None, ""))


class Observer:
    """Turns what serve sees into records: numbered, logged, recorded, judged and alerted.

    Args:
        log: where every record is written, or None.
        recorder: called with every record (and a ``violation`` record per violation).
        checker: judges each message a peer sends, or None (no checking).
        alerts: where each violation is printed as one line, or None.
    """

    def __init__(
        self, log: ServeLog | None, recorder: Recorder | None, checker: Checker | None, alerts: TextIO | None
    ) -> None:
        self.log = log
        self.recorder = recorder
        self.checker = checker
        self.alerts = alerts
        self.seq = 0
        #: violations seen, by rule id
        self.violations: dict[str, int] = {}
        # records are made only for someone: checking alone judges without them
        self._records = log is not None or recorder is not None

    def _emit(self, record: TraceRecord, peer: str, found: Sequence[Violation] = ()) -> None:
        if self.log is not None:
            self.log.record(record, peer, found)
        if self.recorder is not None:
            self.recorder(record)

    def event(self, now: int, conn: int, peer: str, kind: str, note: str) -> None:
        """A connection event (accept, close, decode error) with its note."""
        self.seq += 1
        self._emit(TraceRecord(now, self.seq, conn, LABEL, Direction.EVENT, kind, None, b"", note), peer)

    def message(
        self, now: int, conn: int, peer: str, direction: str, message: Message | None, data: bytes,
        found: Sequence[Violation] = (),
    ) -> None:  # fmt: skip
        """A message (or, when it did not decode, its raw bytes) and what it breaks."""
        self.seq += 1
        record = TraceRecord(now, self.seq, conn, LABEL, direction, Kind.SEND, message, data, "")
        if self._records:
            self._emit(record, peer, found)
        if found:
            self._alert(now, conn, peer, record, found)

    def received(self, now: int, conn: int, peer: str, messages: Iterable[Message]) -> None:
        """Messages a peer sent, each judged when checking."""
        checker = self.checker
        for m in messages:
            found = checker.received(conn, m) if checker is not None else ()
            if found or self._records:
                self.message(now, conn, peer, Direction.C2S, m, b"", found)

    def undecodable(self, now: int, conn: int, peer: str, data: bytes, error: DecodeError) -> None:
        """Bytes that cannot be framed: the error, then the raw bytes.

        A bad magic breaks GM-FRAME-002, a type out of range GM-FRAME-003;
        a body over the limit or an endless admin line break no rule.
        """
        self.event(now, conn, peer, Kind.DECODE_ERROR, str(error))
        rules = {BadMagic: "GM-FRAME-002", UnknownType: "GM-FRAME-003"}
        rule = rules.get(type(error), "")
        found = [Violation(rule, str(error))] if rule and self.checker else []
        self.message(now, conn, peer, Direction.C2S, None, data, found)

    def sent(self, now: int, conn: int, peer: str, output: Send) -> None:
        """What the server wrote (its messages, or decoded from its bytes)."""
        messages: Iterable[Message] = output.messages
        if not self._records:
            if self.checker is not None:
                for m in messages:
                    self.checker.sent(conn, m)
            return
        if not messages:
            try:
                messages = Decoder(max_body=2**32).feed(output.data)
            except DecodeError:
                self.message(now, conn, peer, Direction.S2C, None, output.data)
                return
        checker = self.checker
        for m in messages:
            if checker is not None:
                checker.sent(conn, m)
            self.message(now, conn, peer, Direction.S2C, m, b"")

    def closed(self, conn: int) -> None:
        """``conn`` ended (the records of its close are events)."""
        if self.checker is not None:
            self.checker.closed(conn)

    def _alert(self, now: int, conn: int, peer: str, record: TraceRecord, found: Sequence[Violation]) -> None:
        for v in found:
            self.violations[v.requirement] = self.violations.get(v.requirement, 0) + 1
            if self.alerts is not None:
                shown = format_message(record.message) if record.message is not None else f"{len(record.data)} bytes"
                self.alerts.write(f"gearsim serve: c{conn} {peer}: {v} in {shown}\n")
            if self.recorder is not None:
                self.seq += 1
                self.recorder(TraceRecord(now, self.seq, conn, LABEL, Direction.EVENT, VIOLATION, None, b"", str(v)))
        if self.alerts is not None:
            self.alerts.flush()


def _magic(packet: Packet) -> str:
    return packet.magic.name if isinstance(packet.magic, Magic) else escape(bytes(packet.magic))


class ServeLog:
    """One stream of serve's records, as canonical trace text or JSON lines.

    Args:
        stream: where the lines go (a file opened for appending, or stderr).
        fmt: ``text`` or ``jsonl``.
        name: the log as the user named it, for errors (default: the stream's name).

    A write that fails (a full disk) ends the log: ``error`` keeps the
    one-line error ("cannot write log NAME: why"), ``on_error`` is called once
    (``serve_forever`` stops serving), and nothing more is written. Raising
    instead would fail the connection callback that logged, not the run.

    Raises:
        ValueError: ``fmt`` is not one of ``LOG_FORMATS``.
    """

    __slots__ = ("error", "fmt", "name", "on_error", "stream")

    def __init__(self, stream: TextIO, fmt: str = "text", name: str | None = None) -> None:
        if fmt not in LOG_FORMATS:
            raise ValueError(f"unknown log format {fmt!r} (one of {', '.join(LOG_FORMATS)})")
        self.stream = stream
        self.fmt = fmt
        self.name = name if name is not None else str(getattr(stream, "name", "the log"))
        self.error: HarnessError | None = None
        self.on_error: Callable[[], None] | None = None

    def header(self, fields: Mapping[str, object]) -> None:
        """The run header: ``fields`` (when, where, profile, options, bytes already in the log).

        Raises:
            HarnessError: the log cannot be written (``error``).
        """
        if self.fmt == "jsonl":
            self._write(json.dumps({"kind": "run", **fields}, sort_keys=False) + "\n")
        else:
            text = " ".join(f"{k}={_plain(v)}" for k, v in fields.items())
            self._write(f"# gearsim serve run: {text}\n")
        self.flush()
        if self.error is not None:
            raise self.error

    def record(self, record: TraceRecord, peer: str = "", violations: Sequence[Violation] = ()) -> None:
        """One record and the violations of its message."""
        if self.fmt == "jsonl":
            self._write(json.dumps(_json_record(record, peer, violations)) + "\n")
            return
        self._write(format_record(record) + "\n")
        for v in violations:
            note = f"{v} in {format_message(record.message)}" if record.message is not None else str(v)
            line = TraceRecord(record.tick, record.seq, record.conn, record.label, Direction.EVENT, VIOLATION,
                               None, b"", note)  # fmt: skip
            self._write(format_record(line) + "\n")

    def flush(self) -> None:
        self._write("")

    def failed(self, exc: OSError) -> HarnessError:
        """The one-line error for ``exc`` raised writing the log: it names the log, which ``exc`` may not."""
        return HarnessError(f"cannot write log {self.name}: {exc.strerror or exc}")

    def _write(self, text: str) -> None:
        if self.error is not None:
            return
        try:
            if text:
                self.stream.write(text)
            else:
                self.stream.flush()
        except OSError as exc:
            # a full disk's OSError names no file: "[Errno 28] No space left on device" alone
            self.error = self.failed(exc)
            if self.on_error is not None:
                self.on_error()


def _plain(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if text and " " not in text else json.dumps(text)


def _json_record(record: TraceRecord, peer: str, violations: Sequence[Violation]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "tick": record.tick,
        "seq": record.seq,
        "conn": record.conn,
        "peer": peer or None,
        "direction": record.direction,
        "kind": record.kind,
    }
    message = record.message
    if isinstance(message, Packet):
        out.update(magic=_magic(message), type=int(message.type), name=message.name,
                   args=[escape(a) for a in message.args])  # fmt: skip
    elif isinstance(message, AdminLine):
        out.update(magic="TXT", name="TEXT", args=[escape(message.text)], eol=escape(message.eol))
    elif record.data:
        out["data"] = escape(record.data)
    if record.note:
        out["note"] = record.note
    if record.direction == Direction.C2S.value:
        out["violations"] = [{"id": v.requirement, "reason": v.reason, "argument": v.argument} for v in violations]
    return out
