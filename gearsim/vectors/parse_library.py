"""Who plays a case's actors other than scripts: a library through its driver, or programs.

PURE. This module owns the ``library`` part of a library case (the library,
its actors and scripted server faults) with the check that driver steps name
library actors and scripted steps the others, and the ``programs`` part of a
program case (each program's command and ``expect_exit``), with the check
that its output lines refer only to captured values.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from gearsim.protocol.packets import packet_type
from gearsim.vectors.cases import AdminLinePattern as AdminLinePattern
from gearsim.vectors.cases import Arg as Arg
from gearsim.vectors.cases import (
    ExitExpectation,
    LibrarySpec,
    OutputMatch,
    Program,
    Ref,
    ServerFault,
    ServerPlan,
    Step,
)
from gearsim.vectors.cases import OutputLine as OutputLine
from gearsim.vectors.parse_steps import StepError, build_packet_pattern
from gearsim.vectors.text import LIBRARY_ACTIONS
from gearsim.vectors.text import format_hex as format_hex


def _fault(raw: Mapping[str, Any]) -> ServerFault:
    types = raw["types"] if isinstance(raw["types"], list) else [raw["types"]]
    return ServerFault(
        types=tuple(int(packet_type(t)) for t in types),
        reply=tuple(build_packet_pattern(p) for p in raw.get("reply", [])),
        close=bool(raw.get("close", False)),
        times=raw.get("times"),
    )


def build_library(raw: Mapping[str, Any], actors: Mapping[str, str]) -> LibrarySpec:
    for actor in raw["actors"]:
        if actors.get(actor) not in ("client", "worker"):
            raise ValueError(f"library actor {actor!r} must be declared in actors as a client or a worker")
    servers = tuple(
        ServerPlan(
            down=bool(s.get("down", False)),
            delivery=s.get("delivery", "whole"),
            faults=tuple(_fault(f) for f in s.get("faults", [])),
        )
        for s in raw.get("servers", [{}])
    )
    if all(s.down for s in servers):
        raise ValueError("a library case needs at least one server that is not down")
    return LibrarySpec(actors=tuple(raw["actors"]), needs=tuple(raw.get("needs", [])), servers=servers)


def check_library_steps(steps: Sequence[Step], library: LibrarySpec | None) -> None:
    """Driver steps name library actors; scripted steps name the other actors; awaits follow nowait calls."""
    lib = set(library.actors) if library is not None else set()
    pending: set[str] = set()
    for step in steps:
        if step.action in LIBRARY_ACTIONS:
            if step.actor not in lib:
                raise StepError(f"{step.action} names {step.actor!r}, which is not a library actor", step.index)
        elif step.actor in lib:
            allowed = ", ".join(LIBRARY_ACTIONS)
            raise StepError(f"a library actor's steps are {allowed}, not {step.action}", step.index)
        if step.action == "call":
            if step.actor in pending:
                raise StepError(f"{step.actor} still has a call without its await", step.index)
            if step.call is not None and step.call.nowait:
                pending.add(step.actor)
        elif step.action == "await":
            if step.actor not in pending:
                raise StepError(f"await {step.actor}: no call of it waits (give the call nowait: true)", step.index)
            pending.discard(step.actor)
    if pending:
        raise ValueError(f"calls with nowait but no await: {', '.join(sorted(pending))}")


def _output_line(raw: Any) -> OutputLine:
    if isinstance(raw, str):
        return raw
    if "ref" in raw:
        return Ref(raw["ref"])
    try:
        re.compile(raw["match"])
    except re.error as exc:
        raise ValueError(f"bad regular expression {raw['match']!r}: {exc}") from None
    return OutputMatch(raw["match"])


def build_programs(raw: Mapping[str, Any], actors: Mapping[str, str]) -> dict[str, Program]:
    out: dict[str, Program] = {}
    for actor, prog in raw.items():
        if actor not in actors:
            raise ValueError(f"program actor {actor!r} is not declared in actors")
        ex = prog.get("expect_exit", {})
        out[actor] = Program(
            command=prog["command"],
            expect_exit=ExitExpectation(
                status=int(ex.get("status", 0)),
                stdout=tuple(_output_line(x) for x in ex["stdout"]) if "stdout" in ex else None,
                stdout_contains=tuple(ex.get("stdout_contains", [])),
            ),
        )
    return out


def check_output_refs(programs: Mapping[str, Program], captured: Collection[str]) -> None:
    for actor, prog in programs.items():
        for line in prog.expect_exit.stdout or ():
            if isinstance(line, Ref) and line.name not in captured:
                raise ValueError(f"{actor}: expect_exit refs {line.name!r}, which no step captures")
