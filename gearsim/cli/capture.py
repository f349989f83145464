"""The capture subcommands of ``gearsim``: decode, jobs, check, record.

Glue only: argument parsing, output formatting and exit codes. The work is in
``gearsim.dissect`` (reading captures, annotating, tracking jobs, checking
against the model, writing vectors). ``add_capture_commands`` registers the
four subcommands on the main parser's subparsers.

Exit codes are ``gearsim.cli.common``'s: 0 success, 1 findings (``check``: a broken
requirement), 2 inconclusive (``check`` with nothing to judge), 3 an input error
(unreadable or corrupt capture; ``record`` with nothing to record), reported as
one line on stderr naming the file and byte offset, never a traceback.

Without ``--port`` the commands find Gearman on any port (``gearsim.dissect.capture``);
when a capture holds none, each says so in one line on stderr.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final, TextIO

from gearsim.cli.common import (
    EXIT_FAIL,
    EXIT_INCONCLUSIVE,
    EXIT_INPUT,
    EXIT_OK,
    add_profile_argument,
    check_outputs,
    port,
)
from gearsim.dissect.annotate import annotate
from gearsim.dissect.capture import read_capture
from gearsim.dissect.events import CaptureStats, ConnInfo, Event, EventKind
from gearsim.dissect.pcapfile import CaptureError
from gearsim.errors import GearsimError, InputError
from gearsim.model.profiles import DEFAULT_PROFILE
from gearsim.protocol.packets import AdminLine, Magic, Packet
from gearsim.protocol.requirements import Requirement
from gearsim.protocol.trace import quote
from gearsim.protocol.validate import Violation

__all__ = ["add_capture_commands", "escape", "format_event"]


_ESCAPES: Final[dict[int, str]] = {
    b: ("\\\\" if b == 0x5C else chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}") for b in range(256)
}


def escape(data: bytes) -> str:
    """``data`` as text, losslessly: printable ASCII as is, backslash and every other byte escaped."""
    return data.decode("latin-1").translate(_ESCAPES)


def _ports(values: list[int] | None) -> tuple[int, ...] | None:
    """The forced server ports, or None: find Gearman on any port."""
    return tuple(values) if values else None


def _found_or_say(args: argparse.Namespace, stats: CaptureStats, name: str) -> bool:
    """True when the capture held Gearman; otherwise print the one line that says it did not.

    Frames of a link type gearsim does not read (802.11, an unknown number)
    are named in a note each, after what was read from the others.

    Raises:
        InputError: every frame was of a link type gearsim does not read.
    """
    sys.stdout.flush()
    for note in stats.skipped():
        print(f"gearsim {name}: {args.capture}: {note}", file=sys.stderr)
    refusal = stats.unreadable()
    if refusal is not None:
        raise InputError(refusal)  # the capture is not one gearsim can read: an input error, exit 3
    if stats.gearman_connections:
        return True
    print(f"gearsim {name}: {args.capture}: {stats.nothing_found(_ports(args.port))}", file=sys.stderr)
    return False


def _magic(packet: Packet) -> str:
    return packet.magic.name if isinstance(packet.magic, Magic) else quote(bytes(packet.magic))


def format_event(event: Event, findings: list[Violation], origin_ns: int) -> str:
    """One text line for an event: time, frame, connection, direction, what, findings."""
    head = f"{(event.time_ns - origin_ns) / 1e9:.6f} #{event.frame} c{event.conn}"
    message = event.message
    if event.kind == EventKind.OPEN:
        return f"{head} open {event.note}"
    if event.kind == EventKind.CLOSE:
        return f"{head} close"
    if event.kind == EventKind.FIN:
        return f"{head} {event.direction} {event.note}"
    if message is None:
        return f"{head} {event.direction} {event.kind.upper()} bytes [{event.offset}, {event.end}): {event.note}"
    if isinstance(message, Packet):
        body = f"{_magic(message)} {message.name}"
        if message.args:
            body += " " + " ".join(quote(a) for a in message.args)
    else:
        eol = "" if message.eol == b"\n" else " crlf" if message.eol == b"\r\n" else f" eol={quote(message.eol)}"
        body = f"TXT {quote(message.text)}{eol}"
    line = f"{head} {event.direction} {body}"
    if findings:
        line += "  !! " + "; ".join(str(f) for f in findings)
    return line


def _json_event(event: Event, findings: list[Violation], info: ConnInfo | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "time": f"{event.time_ns // 1_000_000_000}.{event.time_ns % 1_000_000_000:09d}",
        "frame": event.frame,
        "conn": event.conn,
        "client": info.client if info else None,
        "server": info.server if info else None,
        "direction": event.direction or None,
        "kind": event.kind,
    }
    message = event.message
    if isinstance(message, Packet):
        out.update(
            offset=event.offset,
            magic=_magic(message),
            type=int(message.type),
            name=message.name,
            args=[escape(a) for a in message.args],
        )
    elif isinstance(message, AdminLine):
        out.update(offset=event.offset, magic="TXT", name="TEXT", args=[escape(message.text)], eol=escape(message.eol))
    elif event.kind in EventKind.PROBLEMS:
        out.update(offset=event.offset, end=event.end, note=event.note)
    elif event.kind == EventKind.OPEN and info is not None:
        out["midstream"] = info.midstream
    out["violations"] = [{"id": f.requirement, "reason": f.reason, "argument": f.argument} for f in findings]
    return out


def _stream(path: str, ports: tuple[int, ...] | None, stats: CaptureStats) -> Iterator[Event]:
    """The capture's events, with a progress bar on a terminal (messages counted as they come)."""
    from gearsim.cli.progress import progress

    with progress(f"reading {Path(path).name}", unit="events") as bar:
        for event in read_capture(path, ports, stats):
            yield event
            bar.advance()


def _cmd_decode(args: argparse.Namespace) -> int:
    out: TextIO = sys.stdout
    origin: int | None = None
    infos: dict[int, ConnInfo] = {}
    write = out.write
    stats = CaptureStats()
    for event, findings in annotate(_stream(args.capture, _ports(args.port), stats)):
        if origin is None:
            origin = event.time_ns
        if event.info is not None:
            infos[event.conn] = event.info
        if args.json:
            write(json.dumps(_json_event(event, findings, infos.get(event.conn))) + "\n")
        else:
            write(format_event(event, findings, origin) + "\n")
        if event.kind == EventKind.CLOSE:
            infos.pop(event.conn, None)
    _found_or_say(args, stats, "decode")
    return EXIT_OK


def _cmd_jobs(args: argparse.Namespace) -> int:
    from gearsim.dissect.jobs import JobTracker, latency_table, render_jobs

    tracker = JobTracker()
    origin: int | None = None
    stats = CaptureStats()

    def report() -> None:
        if not stats.gearman_connections:
            return
        if args.json:
            for job in tracker.jobs:
                sys.stdout.write(json.dumps({"job": job.to_json()}) + "\n")
            for row in latency_table(tracker.jobs):
                sys.stdout.write(json.dumps({"latency": row}) + "\n")
        else:
            sys.stdout.write(render_jobs(tracker, origin or 0))

    try:
        for event in _stream(args.capture, _ports(args.port), stats):
            if origin is None:
                origin = event.time_ns
            tracker.feed(event)
    except CaptureError:
        report()  # a damaged capture still reports the jobs read before the damage
        raise
    report()
    _found_or_say(args, stats, "jobs")
    return EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    from gearsim.dissect.check import check_events, in_batches, render_check
    from gearsim.dissect.roles import RoleJudge, render_roles, roles_json

    stats = CaptureStats()
    profile = args.profile or DEFAULT_PROFILE
    peers = RoleJudge()  # the other direction: what clients and workers sent, by their role's rules

    def judged(events: Iterator[Event]) -> Iterator[Event]:
        # a batch at a time, as check_events takes them (see gearsim.dissect.check.BATCH)
        feed = peers.feed
        for batch in in_batches(events):
            for event in batch:
                feed(event)
            yield from batch

    reports = check_events(judged(_without_collections(read_capture(args.capture, _ports(args.port), stats))), profile)
    if not _found_or_say(args, stats, "check"):
        return EXIT_INCONCLUSIVE
    roles = peers.reports()
    # the registry (a YAML parse, 0.15 s) only names the rules found broken: none to name, none read
    findings = any(r.broken for r in reports) or any(p.findings for p in roles)
    requirements: Mapping[str, Requirement] = {}
    if findings:
        from gearsim.files import load_requirements  # with the vector parser, jsonschema: ~0.25 s

        requirements = load_requirements()
    if args.json:
        server = [
            {
                "conn": r.conn,
                "endpoints": r.endpoints,
                "met": dict(sorted(r.met.items())),
                "broken": [{"id": f.requirement, "frame": f.frame, "reason": f.reason} for f in r.broken],
                "unsettled": [
                    {"id": f.requirement, "frame": f.frame, "status": f.status, "reason": f.reason} for f in r.unsettled
                ],
                "notes": r.notes,
            }
            for r in reports
        ]
        body = {"server": server, "peers": roles_json(roles, requirements)}
        sys.stdout.write(json.dumps(body) + "\n")
    else:
        sys.stdout.write(render_check(reports, requirements))
        sys.stdout.write(render_roles(roles, requirements))
    # a rule broken by a client or worker counts as one broken by the server: exit 1
    broken = any(r.broken for r in reports) or any(p.broken for p in roles)
    return EXIT_FAIL if broken else EXIT_OK


def _without_collections(events: Iterator[Event]) -> Iterator[Event]:
    """``events``, read with the cyclic garbage collector paused, and what was built meanwhile frozen after.

    Why: ``check`` keeps every message of the capture (the histories it
    judges), and each full collection scans all of them, which cost about a
    quarter of a large check (tools/bench/pcap.py). What reading builds holds
    no reference cycles, so nothing is left for the collector to find; once
    read, it is frozen (never scanned again) and collections resume for the
    search, whose restored models may make cycles.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield from events
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _cmd_record(args: argparse.Namespace) -> int:
    from gearsim.dissect.record import record_events, slug
    from gearsim.files import replace_text

    check_outputs([("--output", args.output)])  # before reading a capture, which can take minutes
    stats = CaptureStats()
    events = list(read_capture(args.capture, _ports(args.port), stats))
    if not _found_or_say(args, stats, "record"):
        return EXIT_INPUT
    path = Path(args.capture)
    try:
        title, case_id = f"recorded from {path.name}", slug(args.name or path.stem)
        text = record_events(events, title=title, case_id=case_id, conns=args.conn)
    except ValueError as exc:
        print(f"gearsim record: {args.capture}: {exc}", file=sys.stderr)
        return EXIT_INPUT
    try:
        replace_text(Path(args.output), text)  # whole or not at all: a failed write keeps the old file
    except OSError as exc:
        # the capture was read: the fault is the output's, and the line says so (not the capture's name)
        print(f"gearsim record: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INPUT
    print(f"gearsim record: wrote {args.output}")
    return EXIT_OK


def _guarded(func: Any, name: str) -> Any:
    """Wrap a command so capture and input errors become one line on stderr and exit 3."""

    def run(args: argparse.Namespace) -> int:
        try:
            result: int = func(args)
        except BrokenPipeError:
            # the reader went away (``| head``): stop quietly
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaces a closed stdout for interpreter exit
            return EXIT_OK
        except CaptureError as exc:
            sys.stdout.flush()
            print(f"gearsim {name}: {exc}", file=sys.stderr)
            return EXIT_INPUT
        except (GearsimError, OSError) as exc:
            sys.stdout.flush()
            print(f"gearsim {name}: {args.capture}: {exc}", file=sys.stderr)
            return EXIT_INPUT
        return result

    return run


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("capture", help="a pcap or pcapng file")
    parser.add_argument(
        "--port",
        type=port,  # a number a TCP header can carry: -1 or 99999 is a typo, not a port with no traffic
        action="append",
        metavar="N",
        help="read only this Gearman server port (repeatable; default: find Gearman on any port)",
    )


def add_capture_commands(subparsers: Any) -> None:
    """Register ``decode``, ``jobs``, ``check`` and ``record`` on ``parser.add_subparsers()``.

    Each sets ``func`` to a callable taking the parsed namespace and returning
    an exit code; capture errors are already turned into a stderr line and 3.
    """
    decode = subparsers.add_parser("decode", help="one line per Gearman message in a capture, with findings")
    _common(decode)
    decode.add_argument("--json", action="store_true", help="JSON Lines instead of text")
    decode.set_defaults(func=_guarded(_cmd_decode, "decode"))

    jobs = subparsers.add_parser("jobs", help="job lifecycles and latency percentiles from a capture")
    _common(jobs)
    jobs.add_argument("--json", action="store_true", help="JSON Lines instead of text")
    jobs.set_defaults(func=_guarded(_cmd_jobs, "jobs"))

    check = subparsers.add_parser(
        "check",
        help="judge a capture: server replies against the model, client and worker packets by their role's rules",
    )
    _common(check)
    add_profile_argument(check)
    check.add_argument("--json", action="store_true", help="one JSON object: server replies and peers' packets")
    check.set_defaults(func=_guarded(_cmd_check, "check"))

    record = subparsers.add_parser("record", help="turn a captured conversation into a vector file")
    _common(record)
    record.add_argument("-o", "--output", required=True, metavar="VECTOR.yaml", help="the vector file to write")
    record.add_argument("--name", default="", help="vector file name stem (default: from the capture)")
    record.add_argument(
        "--conn", type=int, action="append", metavar="ID", help="only these connection ids (repeatable)"
    )
    record.set_defaults(func=_guarded(_cmd_record, "record"))
