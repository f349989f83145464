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
    "LineMatch",
    "LineParts",
    "OutputLine",
    "OutputMatch",
    "PacketPattern",
    "Program",
    "Reaction",
    "Ref",
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


Arg = bytes | Capture | Ref | AnyValue


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
    """An admin line made of literal text and captured values (``{parts: [...]}``)."""

    parts: tuple[Arg, ...]


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


@dataclass(frozen=True, slots=True)
class Alternative:
    """Another outcome of an expect step that the named profiles show."""

    profiles: tuple[str, ...]
    packet: PacketPattern | None = None
    packets: tuple[PacketPattern, ...] = ()
    admin: AdminPattern | None = None
    wire: bytes | None = None
    close: bool = False
    silence: bool = False
    skip: bool = False
    note: str = ""


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
    # lifecycle cases
    actors: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, int | bool] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()
    #: program cases: actor -> the program whose connection it is (declaration order kept)
    programs: Mapping[str, Program] = field(default_factory=dict)

    @property
    def is_codec(self) -> bool:
        return self.wire is not None

    @property
    def is_program(self) -> bool:
        """True for a program case (it has ``programs``): it judges programs, not a server."""
        return bool(self.programs)

    def applies_to(self, profile: str) -> bool:
        """True when a run against a server or the model under ``profile`` plays this case (never a program case)."""
        return not self.programs and (not self.profiles or profile in self.profiles)


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
