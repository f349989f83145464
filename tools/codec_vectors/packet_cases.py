"""packets.yaml cases of the codec vector generator (tools/gen_codec_vectors.py).

Owns ``packet_cases``: every packet type 1..42 in every direction the packet
table gives it, blob types with NULs in the final blob, server-to-client types
sent as requests, and SUBMIT_REDUCE_JOB(_BACKGROUND) in the PROTOCOL
document's 3-NUL layout, each with gearmand 1.1.20's reaction and its evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from codec_vectors.values import (
    BLOB_WITH_NULS,
    INVALID_COMMAND,
    JOB_NOT_FOUND_DATA,
    JOB_NOT_FOUND_EXCEPTION,
    JOB_NOT_FOUND_RESULT,
    MODEL_HANDLE,
    SILENT_NOTE,
    VALUES,
    CodecCase,
    Deviation,
    P,
    Reaction,
    react,
    type_number,
)

from gearsim.protocol.packets import SPECS, PacketSpec, Role


def _slug(name: str) -> str:
    return name.lower().replace("_", "-")


def _args_for(spec: PacketSpec, names: Sequence[str], nul_blob: bool = False) -> tuple[bytes, ...]:
    values = [VALUES[n] for n in names]
    if nul_blob:
        values[-1] = BLOB_WITH_NULS
    return tuple(values)


def _request_reaction(spec: PacketSpec, args: tuple[bytes, ...]) -> Reaction | None:
    """gearmand's answer to a well-formed request of this type on a fresh connection."""
    name = spec.name
    if (name.startswith("SUBMIT_JOB") and name != "SUBMIT_JOB_SCHED") or name.startswith("SUBMIT_REDUCE"):
        evidence = {
            "SUBMIT_JOB_BG": "probe:submit-job-bg",
            "SUBMIT_JOB_EPOCH": "probe:submit-job-epoch",
            "SUBMIT_REDUCE_JOB": "probe:submit-reduce-job-4nul",
        }.get(name, "evidence:B-U9,B-U10")
        return react(P("JOB_CREATED", (MODEL_HANDLE,)), evidence=evidence)
    no_job = "this connection holds no job"
    if name == "GET_STATUS":
        return react(
            P("STATUS_RES", (args[0], b"0", b"0", b"0", b"0")),
            evidence="probe:get-status-unknown",
            note="unknown handle",
        )
    if name == "GET_STATUS_UNIQUE":
        return react(
            P("STATUS_RES_UNIQUE", (args[0], b"0", b"0", b"0", b"0", b"0")),
            evidence="probe:get-status-unique-unknown",
            note="no job has this unique",
        )
    table: dict[str, Reaction] = {
        "CAN_DO": react(evidence="probe:can-do-then-grab-job", note=SILENT_NOTE),
        "CANT_DO": react(evidence="probe:cant-do", note=SILENT_NOTE),
        "RESET_ABILITIES": react(evidence="probe:reset-abilities-no-functions", note=SILENT_NOTE),
        "PRE_SLEEP": react(evidence="probe:pre-sleep-no-functions", note="nothing is queued: no NOOP"),
        "SET_CLIENT_ID": react(evidence="probe:set-client-id", note=SILENT_NOTE),
        "CAN_DO_TIMEOUT": react(evidence="probe:can-do-timeout", note=SILENT_NOTE),
        "GRAB_JOB": react(P("NO_JOB"), evidence="probe:grab-job-no-functions"),
        "GRAB_JOB_UNIQ": react(P("NO_JOB"), evidence="probe:grab-job-uniq-no-functions"),
        "GRAB_JOB_ALL": react(P("NO_JOB"), evidence="probe:grab-job-all-no-functions"),
        "ALL_YOURS": react(INVALID_COMMAND, evidence="probe:all-yours", note="reserved, refused"),
        "SUBMIT_JOB_SCHED": react(INVALID_COMMAND, evidence="probe:submit-job-sched", note="parsed, then refused"),
        "ECHO_REQ": react(P("ECHO_RES", args), evidence="probe:echo-hi"),
        "OPTION_REQ": react(P("OPTION_RES", args), evidence="probe:option-exceptions"),
        "WORK_COMPLETE": react(JOB_NOT_FOUND_RESULT, evidence="probe:work-complete-empty-result", note=no_job),
        "WORK_STATUS": react(JOB_NOT_FOUND_RESULT, evidence="evidence:B-P10", note=no_job),
        "WORK_FAIL": react(JOB_NOT_FOUND_RESULT, evidence="evidence:B-P10", note=no_job),
        "WORK_DATA": react(JOB_NOT_FOUND_DATA, evidence="evidence:B-P10", note=no_job),
        "WORK_WARNING": react(JOB_NOT_FOUND_DATA, evidence="evidence:B-P10", note=no_job),
        "WORK_EXCEPTION": react(JOB_NOT_FOUND_EXCEPTION, evidence="evidence:B-P10", note=no_job),
    }
    return table.get(name)


_DIRECTION_REQS: Final[list[str]] = ["GM-FRAME-001", "GM-FRAME-002", "GM-FRAME-003", "GM-FRAME-004"]

#: extra requirement ids per packet type, for its valid cases
_TYPE_REQS: Final[dict[str, list[str]]] = {
    "ECHO_REQ": ["GM-ECHO-001"],
    "ECHO_RES": ["GM-ECHO-001"],
    "OPTION_REQ": ["GM-OPTION-001"],
    "OPTION_RES": ["GM-OPTION-001"],
    "ERROR": ["GM-ERROR-001"],
    "STATUS_RES": ["GM-FIELD-003", "GM-FIELD-004"],
    "STATUS_RES_UNIQUE": ["GM-FIELD-003", "GM-FIELD-004"],
    "WORK_STATUS": ["GM-FIELD-003"],
    "CAN_DO_TIMEOUT": ["GM-FIELD-003"],
    "SUBMIT_JOB_EPOCH": ["GM-FIELD-003"],
    "ALL_YOURS": ["GM-FRAME-012"],
    "SUBMIT_JOB_SCHED": ["GM-FRAME-012"],
}


def _valid_case(spec: PacketSpec, sender: str, nul_blob: bool) -> CodecCase:
    direction = "res" if sender == "server" else "req"
    args = _args_for(spec, spec.args, nul_blob)
    suffix = "-nul-in-blob" if nul_blob else ""
    what = f"{spec.name} sent by the {sender}" if sender != "server" else f"{spec.name} sent by the server"
    comment = f"{what}: {spec.summary}"
    if nul_blob:
        comment += f"; the final blob argument {spec.args[-1]!r} holds NUL bytes, kept because it runs to the end"
    reqs = list(_DIRECTION_REQS)
    if nul_blob:
        reqs += ["GM-FRAME-005", "GM-FRAME-007"]
    reqs += _TYPE_REQS.get(spec.name, [])
    if any(a == "handle" for a in spec.args):
        reqs.append("GM-FIELD-001")
    if any(a == "unique" for a in spec.args):
        reqs.append("GM-FIELD-002")
    flags = ["NulInBlob"] if nul_blob else []
    server = _request_reaction(spec, args) if sender != "server" else None
    return CodecCase(
        id=f"{_slug(spec.name)}-{direction}-{sender}{suffix}",
        comment=comment,
        requirements=sorted(set(reqs), key=reqs.index),
        result="valid",
        sender=sender,
        messages=[P(spec.name, args)],
        flags=flags,
        server=server,
        deviations=[_refused(spec)] if server is not None and spec.implement == "GM-SERVER-002" else [],
    )


def _refused(spec: PacketSpec) -> Deviation:
    """A request a server SHOULD implement (GM-SERVER-002), refused with ERROR as GM-SERVER-004 asks of one it lacks.

    That breaks the SHOULD alone, not the MUSTs on the reply of a server that
    implements the request (GM-STATUS-009 for GET_STATUS_UNIQUE).
    """
    return Deviation((spec.implement,), (INVALID_COMMAND,), f"{spec.name} not implemented: refused with ERROR")


_S2C_PROBES: Final[dict[str, str]] = {
    "NOOP": "s2c-noop-as-request",
    "JOB_CREATED": "s2c-job-created-as-request",
    "NO_JOB": "s2c-no-job-as-request",
    "JOB_ASSIGN": "s2c-job-assign-as-request",
    "ECHO_RES": "s2c-echo-res-as-request",
    "ERROR": "s2c-error-as-request",
    "STATUS_RES": "s2c-status-res-as-request",
    "OPTION_RES": "s2c-option-res-as-request",
    "JOB_ASSIGN_UNIQ": "s2c-job-assign-uniq-as-request",
    "JOB_ASSIGN_ALL": "s2c-job-assign-all-as-request",
    "STATUS_RES_UNIQUE": "s2c-status-res-unique-as-request",
}


def packet_cases() -> list[CodecCase]:
    """packets.yaml: every type in every direction, NUL blobs, wrong directions, REDUCE layouts."""
    cases: list[CodecCase] = []
    for number in range(1, 43):
        spec = SPECS[number]
        senders = [r.value for r in (Role.CLIENT, Role.WORKER) if r in spec.req]
        if spec.res:
            senders.append("server")
        for sender in senders:
            cases.append(_valid_case(spec, sender, nul_blob=False))
            if spec.blob:
                cases.append(_valid_case(spec, sender, nul_blob=True))
    for number in range(1, 43):
        spec = SPECS[number]
        if spec.req or not spec.res:
            continue
        cases.append(
            CodecCase(
                id=f"{_slug(spec.name)}-as-request",
                comment=f"{spec.name}, a server-to-client type, sent to the server with \\0REQ (well formed otherwise)",
                requirements=["GM-FRAME-003", "GM-FRAME-012"],
                flags=["WrongDirection"],
                result="invalid",
                sender="client",
                messages=[P(spec.name, _args_for(spec, spec.args))],
                violations=["GM-FRAME-003"],
                server=react(INVALID_COMMAND, evidence=f"probe:{_S2C_PROBES[spec.name]}"),
            )
        )
    for name in ("SUBMIT_REDUCE_JOB", "SUBMIT_REDUCE_JOB_BACKGROUND"):
        spec = SPECS[type_number(name)]
        layout = spec.variants["protocol-document"]
        evidence = "probe:submit-reduce-job-3nul" if name == "SUBMIT_REDUCE_JOB" else "evidence:B-P6,(e)1"
        cases.append(
            CodecCase(
                id=f"{_slug(name)}-req-client-protocol-document-layout",
                comment=(
                    f"{name} in the PROTOCOL document's layout ({', '.join(layout)}: 3 NULs, no aggregator). "
                    "The packet table follows gearmand and libgearman (4 NULs, empty aggregator), so the "
                    "workload lands in the aggregator's place and one argument is missing"
                ),
                requirements=["GM-FRAME-004", "GM-FRAME-007"],
                flags=["ProtocolDocumentLayout", "ReadsPastBody"],
                result="invalid",
                sender="client",
                messages=[P(name, _args_for(spec, layout))],
                violations=["GM-FRAME-004"],
                server=react(
                    evidence=evidence,
                    note=(
                        "gearmand waits for a 4th NUL beyond the declared body: no JOB_CREATED; the next "
                        "bytes sent are swallowed and the connection is closed"
                    ),
                ),
            )
        )
    return cases
