"""Vector files: schema check, and parsing into typed objects.

PURE: it takes text (and a name to report errors by) and returns objects; the
caller reads the files. Owns the meaning of vector format v1, whose JSON Schema
is spec/vectors.schema.json; this module checks a file against the schema,
builds its cases and names where an error is. Steps and the messages and
patterns in them are built by ``gearsim.vectors.parse_steps``; who plays a
case's actors other than scripts (a library, programs) by
``gearsim.vectors.parse_library``.

* a file is Wycheproof-shaped: ``schema``, ``area``, ``title``, prose
  ``header``, ``notes`` explaining every flag, optional ``source``, ``cases``;
* a *codec case* gives exact bytes (``wire``, hex) and the same bytes as
  structured ``messages``, what the decoder must do with them, the validator
  findings, and how a server reacts;
* a *lifecycle case* names ``actors`` and plays ``steps`` (connect, send,
  expect, expect_silence, expect_close, advance, disconnect, and
  restart_server, which restarts the server and ends every connection) with
  captured values and per-profile accepted alternatives;
* a *program case* is a lifecycle case with ``programs``: the actors it names
  are real client or worker programs' connections (launched from a default
  command, judged by ``gearsim.io.programs``), and each program may
  have an ``expect_exit`` (status, standard output). Sends of program actors
  may capture (what the program sent); no run against a server applies.
* a *library case* is a lifecycle case with ``library``: the actors it names
  are played by a client or worker library through its driver
  (spec/driver.md, judged by ``gearsim.io.library_cases``); their steps are
  driver calls (``call``, ``await``), checks on what the library sent
  (``sent``) and scripted server actions (``server_close``, ``server_send``,
  ``server_die``).
  The other actors are scripted as in server vectors. No run against a
  server applies.

Bytes in YAML are text (printable ASCII, tab, CR, LF) or ``{hex: ...}``. The
typed objects (``Case``, ``Step``, the patterns...) live in
``gearsim.vectors.cases``; the canonical text of a file (``dump_vector_file``)
and the bytes helpers (``format_bytes``, ``format_hex``, ``hex_of``) live in
``gearsim.vectors.text``. This module re-exports all of them.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Final

import jsonschema

from gearsim.errors import VectorError
from gearsim.protocol.packets import Magic
from gearsim.safeyaml import YamlInputError, load_yaml
from gearsim.vectors.cases import AdminLinePattern as AdminLinePattern
from gearsim.vectors.cases import (
    AdminPattern,
    Alternative,
    AnyValue,
    Capture,
    Case,
    DecodeExpectation,
    ExitExpectation,
    Fragment,
    LineMatch,
    LineParts,
    OutputMatch,
    PacketPattern,
    Program,
    Reaction,
    Ref,
    Step,
    VectorFile,
)
from gearsim.vectors.cases import Arg as Arg
from gearsim.vectors.cases import OutputLine as OutputLine
from gearsim.vectors.parse_library import build_library, build_programs, check_library_steps, check_output_refs
from gearsim.vectors.parse_steps import (
    StepError,
    build_message,
    build_reaction,
    build_step,
    check_captures,
    check_connected,
    check_step_shape,
    describe_error,
    every_byte,
)
from gearsim.vectors.text import dump_vector_file, format_bytes, hex_of
from gearsim.vectors.text import format_hex as format_hex

__all__ = [
    "SCHEMA_ID",
    "AdminPattern",
    "Alternative",
    "AnyValue",
    "Capture",
    "Case",
    "DecodeExpectation",
    "ExitExpectation",
    "Fragment",
    "LineMatch",
    "LineParts",
    "OutputMatch",
    "PacketPattern",
    "Program",
    "Reaction",
    "Ref",
    "Step",
    "VectorFile",
    "dump_vector_file",
    "every_byte",
    "format_bytes",
    "hex_of",
    "parse_vector_file",
    "parse_vector_text",
]

SCHEMA_ID: Final[str] = "gearsim-vectors/1"


#: schema errors examined for the one reported (each message holds a repr of its data)
_MAX_SCHEMA_ERRORS: Final[int] = 100


@lru_cache(maxsize=1)
def _validator(schema_text: str) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_text)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def _where(path: Sequence[Any], data: Any) -> tuple[str, int | None]:
    """Case id and step number (1-based) of a JSON path, for error messages."""
    case = ""
    step: int | None = None
    if len(path) >= 2 and path[0] == "cases" and isinstance(path[1], int):
        cases = data.get("cases", []) if isinstance(data, dict) else []
        if path[1] < len(cases) and isinstance(cases[path[1]], dict):
            case = str(cases[path[1]].get("id", f"#{path[1] + 1}"))
        else:
            case = f"#{path[1] + 1}"
        if len(path) >= 4 and path[2] == "steps" and isinstance(path[3], int):
            step = path[3] + 1
    return case, step


def parse_vector_text(text: str, name: str, schema_text: str) -> VectorFile:
    """Parse and schema-check one vector file's text.

    Args:
        text: the YAML text.
        name: how to call the file in errors (its path).
        schema_text: spec/vectors.schema.json's text.

    Raises:
        VectorError: not YAML, not schema-valid, or inconsistent (unknown packet
            type name, duplicate case id, undefined flag or capture, bad hex);
            the message names the file, the case and the step.
    """
    try:
        data = load_yaml(text)
    except YamlInputError as exc:
        raise VectorError(str(exc), file=name) from None
    return parse_vector_file(data, name, schema_text)


def parse_vector_file(data: Any, name: str, schema_text: str) -> VectorFile:
    """Schema-check loaded YAML data and build the typed file (see parse_vector_text).

    Raises:
        VectorError: as parse_vector_text.
    """
    found = itertools.islice(_validator(schema_text).iter_errors(data), _MAX_SCHEMA_ERRORS)
    errors = sorted(found, key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        path = list(err.absolute_path)
        case, step = _where(path, data)
        at = "/".join(str(p) for p in path) or "(top)"
        raise VectorError(f"schema: {at}: {_short_schema_message(err)}", file=name, case=case, step=step)
    notes = data["notes"]
    seen: set[str] = set()
    cases: list[Case] = []
    for raw_case in data["cases"]:
        case_id = raw_case["id"]
        if case_id in seen:
            raise VectorError("duplicate case id", file=name, case=case_id)
        seen.add(case_id)
        for flag in raw_case.get("flags", []):
            if flag not in notes:
                raise VectorError(f"flag {flag!r} is not explained in notes", file=name, case=case_id)
        try:
            cases.append(_case(raw_case))
        except StepError as exc:
            raise VectorError(str(exc), file=name, case=case_id, step=exc.step) from None
        except (KeyError, ValueError) as exc:
            raise VectorError(describe_error(exc), file=name, case=case_id) from None
    return VectorFile(
        name=name,
        area=data["area"],
        title=data["title"],
        header=tuple(data["header"]),
        notes=notes,
        source=data.get("source", {}),
        cases=tuple(cases),
        raw=data,
        sha256=hashlib.sha256(dump_vector_file(data).encode("utf-8")).hexdigest(),
    )


def _short_schema_message(err: jsonschema.ValidationError) -> str:
    message = err.message
    if err.validator == "oneOf" and isinstance(err.instance, dict):
        message = f"matches none (or several) of the allowed shapes; keys: {sorted(err.instance)}"
    return message if len(message) < 300 else message[:300] + "..."


def _case(raw: Mapping[str, Any]) -> Case:
    common: dict[str, Any] = {
        "id": raw["id"],
        "comment": raw["comment"],
        "requirements": tuple(raw["requirements"]),
        "result": raw["result"],
        "flags": tuple(raw.get("flags", [])),
        "profiles": tuple(raw.get("profiles", [])),
        "timed": bool(raw.get("timed", False)),
    }
    if "wire" in raw:
        sender = raw["sender"]
        magic = Magic.RES if sender == "server" else Magic.REQ
        built = [build_message(m, magic) for m in raw["messages"]]
        dec = raw.get("decode", {})
        decode = DecodeExpectation(
            yields=int(dec.get("yields", len(built))),
            pending=int(dec.get("pending", 0)),
            error=dec.get("error", ""),
            offset=dec.get("offset"),
        )
        server = raw.get("server")
        return Case(
            **common,
            sender=sender,
            wire=hex_of(raw["wire"]),
            messages=tuple(m for m, _ in built),
            lengths=tuple(n for _, n in built),
            decode=decode,
            violations=tuple(raw["violations"]) if "violations" in raw else None,
            server=build_reaction(server) if server else None,
            server_accept=tuple(build_reaction(r) for r in server.get("accept", [])) if server else (),
        )
    actors = dict(raw["actors"])
    steps = []
    for i, s in enumerate(raw["steps"], start=1):
        step = build_step(i, s, actors)
        check_step_shape(step, s)
        steps.append(step)
    programs = build_programs(raw.get("programs", {}), actors)
    library = build_library(raw["library"], actors) if "library" in raw else None
    if library is not None and programs:
        raise ValueError("a case is a program case or a library case, not both")
    check_library_steps(steps, library)
    check_connected(steps, programs)
    check_output_refs(programs, check_captures(steps, programs))
    return Case(
        **common,
        actors=actors,
        options=dict(raw.get("options", {})),
        steps=tuple(steps),
        programs=programs,
        library=library,
    )
