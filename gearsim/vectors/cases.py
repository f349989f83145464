"""The typed objects of vector files: cases, steps, patterns, expectations.

PURE data (frozen dataclasses and the unions over them), built by
gearsim.vectors.parse from schema-checked YAML and read by the runner, the matcher,
the coverage and the program judge. Owns what each field of a case means once
parsed; parsing, the schema check and the canonical text are elsewhere
(gearsim.vectors.parse, gearsim.vectors.text). gearsim.vectors.parse re-exports every name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gearsim.protocol.packets import Magic, Message, PacketType

__all__ = [
    "AdminLinePattern",
    "AdminPattern",
    "Alternative",
    "AnyValue",
    "Arg",
    "Capture",
    "Case",
    "DecodeExpectation",
    "ExitExpectation",
    "Fragment",
    "LibraryCall",
    "LibrarySpec",
    "LineMatch",
    "LineParts",
    "OutputLine",
    "OutputMatch",
    "PacketPattern",
    "Program",
    "Reaction",
    "Ref",
    "ReplyExpectation",
    "ServerFault",
    "ServerPlan",
    "Step",
    "VectorFile",
]


@dataclass(frozen=True, slots=True)
class Capture:
    """An expected argument whose value is remembered under ``name``."""

    name: str


@dataclass(frozen=True, slots=True)
class Ref:
    """An argument whose value was captured earlier under ``name``."""

    name: str


@dataclass(frozen=True, slots=True)
class AnyValue:
    """An expected argument that may hold anything."""


@dataclass(frozen=True, slots=True)
class PacketPattern:
    """A packet to send or expect; ``magic`` None means the direction's magic."""

    type: PacketType | int
    args: tuple[Arg, ...] = ()
    magic: Magic | bytes | None = None
    length: int | None = None

    @property
    def name(self) -> str:
        return self.type.name if isinstance(self.type, PacketType) else f"UNKNOWN({self.type})"


@dataclass(frozen=True, slots=True)
class Fragment:
    """Bytes in a codec case that are not a whole message (a header cut short)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class LineParts:
    """Literal text and captured values joined (``{parts: [...]}``): an admin line, or one packet argument."""

    parts: tuple[Arg, ...]


#: one argument of a packet pattern (refs and literal bytes may be joined with ``parts``)
Arg = bytes | Capture | Ref | AnyValue | LineParts


@dataclass(frozen=True, slots=True)
class LineMatch:
    """An expected admin line: a regular expression the whole line must match."""

    pattern: str


#: one admin line of a vector: exact bytes, parts with refs, or (expected) a regex
AdminLinePattern = bytes | LineParts | LineMatch


@dataclass(frozen=True, slots=True)
class AdminPattern:
    """Admin text lines (without their ends of line) and the end of line they use."""

    lines: tuple[AdminLinePattern, ...]
    eol: bytes = b"\n"
    unordered: bool = False
    #: an unordered listing only: rows beyond ``lines``, any number of them (none too), each matching this
    #: pattern (rows of other connections a server may list, GM-ADMIN-017); the listing is then read up to its
    #: closing "." however many rows it has
    extra: LineMatch | None = None


@dataclass(frozen=True, slots=True)
class Alternative:
    """Another outcome of an expect step that the named profiles show.

    An alternative that breaks no rule is one the spec allows: the ``spec``
    profile accepts it whatever profiles it names. ``breaks`` lists the rules
    an alternative breaks; one that breaks a MUST is a known ``defect`` of the
    profiles it names (lint checks that each has that defect), never an
    acceptable outcome. ``crash`` is the outcome "the server process died".
    """

    profiles: tuple[str, ...]
    packet: PacketPattern | None = None
    packets: tuple[PacketPattern, ...] = ()
    admin: AdminPattern | None = None
    wire: bytes | None = None
    close: bool = False
    silence: bool = False
    skip: bool = False
    note: str = ""
    #: rules this outcome breaks (SHOULD or MUST ids)
    breaks: tuple[str, ...] = ()
    #: id of the named profiles' defect this outcome is (required when a MUST is broken)
    defect: str = ""
    #: the server crashed: the connection closed and no new connection is served
    crash: bool = False
    #: a path through the case: taking this alternative commits later steps to their
    #: alternatives of the same branch, and passing a step otherwise rules the branch out
    branch: str = ""
    #: the server refused what the case tests, which a rule lets it leave out: the case ends n/a
    unsupported: bool = False


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a lifecycle case; ``index`` counts from 1 in the case."""

    index: int
    action: str
    actor: str = ""
    packet: PacketPattern | None = None
    packets: tuple[PacketPattern, ...] = ()
    admin: AdminPattern | None = None
    wire: bytes | None = None
    ms: int = 0
    within: int | None = None
    #: the rule ids the vector gives for this step
    requirements: tuple[str, ...] = ()
    comment: str = ""
    accept: tuple[Alternative, ...] = ()
    #: the rule ids this expectation checks: ``requirements``, else derived (gearsim.vectors.rules)
    rules: tuple[str, ...] = ()
    #: of ``rules``, those a server breaks by not meeting this expectation (MUST or SHOULD rules binding
    #: a server); None until derived. Empty with ``rules`` given: the expectation rests on rules no
    #: server behaviour breaks (MAY rules, other roles' rules), so the spec leaves the outcome open
    server_rules: tuple[str, ...] | None = None
    #: library cases: the driver call of a ``call`` step
    call: LibraryCall | None = None
    #: library cases: what the reply of a ``call`` (or of the call an ``await`` waits for) must be
    reply: ReplyExpectation | None = None


@dataclass(frozen=True, slots=True)
class DecodeExpectation:
    """What the decoder does with a codec case's wire bytes."""

    yields: int
    pending: int = 0
    error: str = ""
    offset: int | None = None


@dataclass(frozen=True, slots=True)
class Reaction:
    """How a server answers a codec case's bytes on a fresh connection."""

    replies: tuple[PacketPattern | AdminPattern, ...]
    then: str
    profiles: tuple[str, ...] = ()
    note: str = ""
    #: as Alternative.breaks and Alternative.defect, for an alternative reaction
    breaks: tuple[str, ...] = ()
    defect: str = ""


@dataclass(frozen=True, slots=True)
class OutputMatch:
    """An output line that must fully match the regular expression ``pattern``."""

    pattern: str


#: one expected line of a program's output: the exact text, a captured value, or a pattern
OutputLine = str | Ref | OutputMatch


@dataclass(frozen=True, slots=True)
class ExitExpectation:
    """How a program must end: exit status, and its whole output (``stdout``) or texts in it."""

    status: int = 0
    stdout: tuple[OutputLine, ...] | None = None
    stdout_contains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Program:
    """The program playing an actor of a program case: a default command line and how it must end."""

    command: str
    expect_exit: ExitExpectation = ExitExpectation()


@dataclass(frozen=True, slots=True)
class LibraryCall:
    """A driver operation (spec/driver.md) a library actor is asked to perform.

    ``args`` holds the request's fields in driver terms, bytes still as bytes
    and handles possibly as ``Ref`` (resolved when played); ``nowait`` leaves
    the reply for a later ``await`` step; ``timeout`` (ms) is what the library
    may wait on the server.
    """

    op: str
    args: Mapping[str, Any] = field(default_factory=dict)
    nowait: bool = False
    timeout: int = 5000


@dataclass(frozen=True, slots=True)
class ReplyExpectation:
    """What a driver's reply must say: success with these fields, or an error of one of ``errors``.

    ``fields`` maps a reply field to its expected value: bytes, a bool, an
    int, a ``Capture``/``Ref``/``AnyValue``, a tuple of allowed strings
    (``outcome``), a tuple of events (each a (kind, value) pair), or for
    ``job`` a mapping of the same.
    """

    ok: bool = True
    #: the error kinds allowed when ``ok`` is False (empty: any kind)
    errors: tuple[str, ...] = ()
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ServerFault:
    """Scripted server behaviour: what the server does instead of acting on some packets from the library."""

    #: the packet types it acts on
    types: tuple[int, ...]
    #: packets sent in answer (the packet never reaches the model)
    reply: tuple[PacketPattern, ...] = ()
    #: close the connection instead
    close: bool = False
    #: how many times the fault fires (None: every time)
    times: int | None = None


@dataclass(frozen=True, slots=True)
class ServerPlan:
    """One server a library case gives the library: down, or the reference model with a delivery and faults."""

    down: bool = False
    #: ``whole`` (each reply in one write), ``bytewise`` (one byte per write) or ``pipelined`` (held, then together)
    delivery: str = "whole"
    faults: tuple[ServerFault, ...] = ()


@dataclass(frozen=True, slots=True)
class LibrarySpec:
    """What makes a case a library case: the actors a library under test plays (through a driver each)."""

    actors: tuple[str, ...]
    #: driver capabilities the case needs beyond those its calls imply
    needs: tuple[str, ...] = ()
    servers: tuple[ServerPlan, ...] = (ServerPlan(),)


@dataclass(frozen=True, slots=True)
class Case:
    """One vector case: a codec case (``wire``) or a lifecycle case (``steps``)."""

    id: str
    comment: str
    requirements: tuple[str, ...]
    result: str
    flags: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    #: advances and silences must really pass on a wall clock (server timers under test)
    timed: bool = False
    # codec cases
    sender: str = ""
    wire: bytes | None = None
    messages: tuple[Message | Fragment, ...] = ()
    lengths: tuple[int | None, ...] = ()
    decode: DecodeExpectation | None = None
    violations: tuple[str, ...] | None = None
    server: Reaction | None = None
    server_accept: tuple[Reaction, ...] = ()
    #: of ``requirements``, those a server's reaction to ``wire`` can break (as Step.server_rules)
    server_rules: tuple[str, ...] | None = None
    # lifecycle cases
    actors: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, int | bool] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()
    #: program cases: actor -> the program whose connection it is (declaration order kept)
    programs: Mapping[str, Program] = field(default_factory=dict)
    #: library cases: the actors played by a library through its driver, and the servers it is given
    library: LibrarySpec | None = None

    @property
    def is_codec(self) -> bool:
        return self.wire is not None

    @property
    def is_program(self) -> bool:
        """True for a program case (it has ``programs``): it judges programs, not a server."""
        return bool(self.programs)

    @property
    def is_library(self) -> bool:
        """True for a library case (it has ``library``): it judges a client or worker library through a driver."""
        return self.library is not None

    def applies_to(self, profile: str) -> bool:
        """True when a run against a server or the model under ``profile`` plays this case.

        Never a program or library case: those judge clients, not servers.
        """
        return not self.programs and self.library is None and (not self.profiles or profile in self.profiles)


@dataclass(frozen=True, slots=True)
class VectorFile:
    """A parsed vector file. ``raw`` keeps the loaded YAML for the formatter."""

    name: str
    area: str
    title: str
    header: tuple[str, ...]
    notes: Mapping[str, Mapping[str, Any]]
    source: Mapping[str, Any]
    cases: tuple[Case, ...]
    raw: Mapping[str, Any]
    #: sha256 of the file's canonical text: the same for the same vectors, however formatted
    sha256: str = ""

    def case(self, case_id: str) -> Case:
        """The case with this id.

        Raises:
            KeyError: no such case.
        """
        for c in self.cases:
            if c.id == case_id:
                return c
        raise KeyError(case_id)
