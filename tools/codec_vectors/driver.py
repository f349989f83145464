"""The generator and probe check of the codec vector files (tools/gen_codec_vectors.py).

Owns ``build`` (file name -> vector file data), ``render`` (file name ->
canonical text, gearsim.vectors.parse.dump_vector_file) and ``check_observed``
(every probe-backed reaction compared with a gearmand probe record). The
command line stays in tools/gen_codec_vectors.py.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import yaml
from codec_vectors.admin_cases import admin_cases
from codec_vectors.framing_cases import framing_cases
from codec_vectors.notes import COMMON_HEADER, HANDLE_HEADER, NOTES, SOURCE
from codec_vectors.packet_cases import packet_cases
from codec_vectors.peers import with_peer_alternatives
from codec_vectors.values import REQ, RES, CodecCase

from gearsim.vectors.parse import dump_vector_file

SCHEMA_ID: Final[str] = "gearsim-vectors/1"


def _file(title: str, header: Sequence[str], cases: Sequence[CodecCase]) -> dict[str, Any]:
    used = {f for c in cases for f in c.flags}
    return {
        "schema": SCHEMA_ID,
        "area": "codec",
        "title": title,
        "header": list(header),
        "notes": {k: v for k, v in NOTES.items() if k in used},
        "source": dict(SOURCE),
        "cases": [with_peer_alternatives(c.to_yaml()) for c in cases],
    }


def build() -> dict[str, dict[str, Any]]:
    """File name -> vector file data, for every file this tool owns."""
    packets = _file(
        "Every packet type in every direction",
        [
            *COMMON_HEADER,
            "One valid case per packet type 1..42 and direction of spec/packets.yaml: for each role in `req`, "
            "sent by that role with \\0REQ (id <type>-req-<role>); if `res` is not empty, sent by the server "
            "with \\0RES (id <type>-res-server). Blob types get a second case whose final argument holds NULs "
            "(-nul-in-blob). Argument values are one example per field name (function reverse, unique u1, "
            "workload 'this is a test', handle H:sim:1, ...).",
            HANDLE_HEADER,
            "A server reaction is given for requests only; on a fresh connection no job exists, so WORK_* "
            "requests meet ERROR JOB_NOT_FOUND and GET_STATUS meets an unknown handle.",
            "Also: server-to-client types sent as requests (-as-request), and SUBMIT_REDUCE_JOB(_BACKGROUND) "
            "in the PROTOCOL document's 3-NUL layout, which the table (4 NULs, empty aggregator) rejects.",
        ],
        packet_cases(),
    )
    framing = _file(
        "Framing: malformed, partial and borderline input",
        [
            *COMMON_HEADER,
            "Binary and admin framing: bad and wrong magic, undefined types, short and truncated messages, "
            "too few and too many arguments, NULs where none may be, lying lengths, pipelining, admin line "
            "ends, and text mixed with binary.",
            HANDLE_HEADER,
            "Bytes that are not a whole message are written as {raw: {hex: ...}} (short-header); an admin line "
            "still waiting for its newline is admin text with eol ''.",
        ],
        framing_cases(),
    )
    admin = _file(
        "Admin text commands",
        [
            *COMMON_HEADER,
            "One case per admin command of spec/packets.yaml (sender client, the command as an admin line), "
            "plus odd forms. Replies are admin lines with their exact end of line: gearmand ends OK/ERR lines "
            "with \\r\\n but version, getpid and verbose with \\n; listings end with a line holding '.'.",
            "Run-specific values (flag RunSpecific): a pid or an fd is matched by a regular expression "
            "({match: ...}); the reference model reports pid 4242 and numbers connection fds from 3.",
        ],
        admin_cases(),
    )
    return {"packets.yaml": packets, "framing.yaml": framing, "admin.yaml": admin}


def render() -> dict[str, str]:
    """File name -> canonical text."""
    return {name: dump_vector_file(data) for name, data in build().items()}


# --------------------------------------------------------------------------- observed check

_HANDLE = re.compile(rb"H:[^\x00:]*:[0-9]+")


def _mask(data: bytes) -> bytes:
    """Mask handles (host part and counter) and the pid of an 'OK <pid>' line."""
    return _HANDLE.sub(b"H:*", data)


def _split_replies(data: bytes) -> list[bytes]:
    """Cut reply bytes into messages (binary by length, text by line) so handles can be masked per message."""
    out: list[bytes] = []
    i = 0
    while i < len(data):
        if data[i] == 0 and len(data) - i >= 12:
            (size,) = struct.unpack(">I", data[i + 8 : i + 12])
            end = i + 12 + size
        else:
            nl = data.find(b"\n", i)
            end = len(data) if nl < 0 else nl + 1
        out.append(data[i:end])
        i = end
    return out


def _normalise(data: bytes) -> list[bytes]:
    """Reply messages with handles masked; a binary packet's length field is dropped (handles change it)."""
    out = []
    for m in _split_replies(data):
        out.append(m[:8] + _mask(m[12:]) if m[:1] == b"\0" and len(m) >= 12 else _mask(m))
    return out


def _kind(message: bytes) -> bytes:
    """A reply message reduced to what does not echo the request: its header type, or ERROR's body, or text."""
    if message[:1] != b"\0":
        return message
    return message if message[4:8] == struct.pack(">I", 19) else message[:8]


#: probe cases whose reply depends on the run (fd, pid) or on state left by earlier probe cases:
#: only open/close is compared
_RUN_SPECIFIC: Final[frozenset[str]] = frozenset({"admin-workers", "admin-getpid", "admin-status-upper-case"})


def check_observed(path: Path) -> list[str]:
    """Every probe-backed reaction that disagrees with the probe record at ``path`` (empty: all agree)."""
    record = yaml.safe_load(path.read_text(encoding="utf-8"))
    observed = {c["id"]: c for c in record["cases"]}
    problems: list[str] = []
    for fname, cases in (
        ("packets.yaml", packet_cases()),
        ("framing.yaml", framing_cases()),
        ("admin.yaml", admin_cases()),
    ):
        for case in cases:
            reaction = case.server
            if reaction is None or not reaction.evidence.startswith("probe:"):
                continue
            probe_id = reaction.evidence.removeprefix("probe:")
            obs = observed.get(probe_id)
            if obs is None:
                problems.append(f"{fname}::{case.id}: probe case {probe_id} is not in {path.name}")
                continue
            # a multi-step probe case backs a one-message vector case with its first step
            step = obs["steps"][min(len(case.messages), len(obs["steps"])) - 1]
            closed = step.get("outcome", "").startswith(("closed", "reply-then-closed"))
            then = "close" if closed else "open"
            if then != reaction.then:
                problems.append(f"{fname}::{case.id}: then {reaction.then}, probe {probe_id} shows {then}")
            if probe_id in _RUN_SPECIFIC or len(case.messages) > 1:
                continue  # the reply depends on the probe's earlier cases, or the probe sent fewer messages
            want = _normalise(b"".join(m.wire(RES) for m in reaction.replies))
            got = _normalise(bytes.fromhex(step.get("reply_hex", "")))
            if case.messages[0].wire(REQ) != bytes.fromhex(step["input_hex"]):
                # other argument values than the probe's: compare reply types (and fixed ERROR bodies)
                want, got = [_kind(m) for m in want], [_kind(m) for m in got]
            if want != got:
                problems.append(f"{fname}::{case.id}: replies {want!r}, probe {probe_id} got {got!r}")
    return problems
