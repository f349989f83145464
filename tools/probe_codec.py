#!/usr/bin/env python3
"""Probe a real Gearman server with valid, odd and malformed input; write what it did as YAML.

Each case runs on a fresh TCP connection to a server started by
gearsim.io.peers on 127.0.0.1. For each step of a case the probe sends the
step's bytes and records what came back within the wait window: the reply
bytes (hex and decoded), and whether the connection was closed or stayed
open. "waits" means nothing came back within the window and the connection
is still open. Then, if the connection is still open, a valid GET_STATUS for
the handle ``H:followup:1`` is sent on the same connection, and its answer is
recorded the same way. After each case the probe checks that the server
process is still alive and accepts a new connection; a server that died is
restarted for the next case, and the YAML says so.

Usage (from the repository root):

    python tools/probe_codec.py                       # C gearmand -> spec/observed/gearmand-1.1.20-codec.yaml
    python tools/probe_codec.py --peer perl-gearman-server
    python tools/probe_codec.py --peer gear --out /tmp/gear.yaml --wait 1.0

The cases themselves (what is sent, in which order) are in
tools/probe_codec_cases.py; this file runs them and writes the YAML.

Only the standard library, PyYAML and gearsim.io.peers are used. Every socket
operation has a timeout, so no case can hang the probe.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

try:
    from gearsim.io.peers import PEERS, RunningPeer, start_peer, stop_peer
except ModuleNotFoundError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from gearsim.io.peers import PEERS, RunningPeer, start_peer, stop_peer

# the case table lives beside this file, in tools/probe_codec_cases.py
_TOOLS = str(Path(__file__).resolve().parent)
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)

from probe_codec_cases import (  # noqa: E402
    FOLLOWUP,
    FOLLOWUP_HANDLE,
    REQ,
    RES,
    TYPE_NAMES,
    Case,
    build_cases,
    escape,
)

FORMAT = "gearsim-observed-codec/1"

DEFAULT_OUT = {
    "gearmand-c": "spec/observed/gearmand-1.1.20-codec.yaml",
    "perl-gearman-server": "spec/observed/perl-gearman-server-1.130-codec.yaml",
    "gear": "spec/observed/gear-0.16-codec.yaml",
}


# --- byte rendering --------------------------------------------------------------------


def decode_stream(data: bytes) -> list[dict[str, Any]]:
    """Split bytes into binary packets and runs of admin text lines, the way the servers do.

    A message starting with 0x00 is read as a 12-byte header and a body;
    anything else as text up to a newline. Nothing is validated beyond that.
    """
    items: list[dict[str, Any]] = []
    i = 0
    text = b""

    def flush_text() -> None:
        nonlocal text
        if text:
            items.append({"text": escape(text)})
            text = b""

    while i < len(data):
        if data[i] != 0:
            end = data.find(b"\n", i)
            if end < 0:
                flush_text()
                items.append({"text_unterminated": escape(data[i:])})
                break
            text += data[i : end + 1]
            i = end + 1
            continue
        flush_text()
        if len(data) - i < 12:
            items.append({"partial_header": escape(data[i:])})
            break
        magic = data[i : i + 4]
        ptype, size = struct.unpack(">II", data[i + 4 : i + 12])
        if magic not in (REQ, RES):
            items.append({"bad_magic": escape(data[i:])})
            break
        body = data[i + 12 : i + 12 + size]
        name = TYPE_NAMES.get(ptype, "UNKNOWN")
        item: dict[str, Any] = {"packet": f"{magic[1:].decode()} {name} ({ptype})", "size": size, "body": escape(body)}
        if b"\0" in body:
            item["split_at_nul"] = [escape(part) for part in body.split(b"\0")]
        if len(body) < size:
            item["body_incomplete"] = f"{len(body)} of {size} bytes"
        items.append(item)
        i += 12 + len(body)
    flush_text()
    return items


def is_job_created(item: dict[str, Any]) -> bool:
    """Whether a decoded item is a JOB_CREATED packet."""
    return str(item.get("packet", "")).endswith(" JOB_CREATED (8)")


def handle_format(handle: str, node: str) -> str:
    """The shape of a handle: the node name becomes <node>, a trailing counter <n>."""
    head, sep, tail = handle.rpartition(":")
    shape = f"{head}{sep}<n>" if sep and tail.isdigit() else handle
    if node and shape.startswith(f"H:{node}:"):
        shape = "H:<node>:" + shape[len(f"H:{node}:") :]
    return shape


# --- running a case ----------------------------------------------------------------------


@dataclass
class Exchange:
    """What came back after one send."""

    sent: bytes
    reply: bytes = b""
    end: str = "open"  # open | eof | reset
    send_error: str = ""
    seconds: float = 0.0

    @property
    def outcome(self) -> str:
        if self.send_error:
            return "send-failed"
        if self.end != "open":
            return f"reply-then-closed ({self.end})" if self.reply else f"closed ({self.end})"
        return "reply" if self.reply else "waits"

    def to_yaml(self, node: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "input_hex": self.sent.hex(),
            "input": decode_stream(self.sent),
            "outcome": self.outcome,
        }
        if self.send_error:
            out["send_error"] = self.send_error
        out["reply_hex"] = self.reply.hex()
        if self.reply:
            out["reply"] = decode_stream(self.reply)
        handle_tag = f"H:{node}:".encode()
        if node and handle_tag in self.reply:
            out["handle_note"] = (
                f"a handle in this reply contains the node name {node!r} of the machine that ran the probe"
            )
        formats = [handle_format(item["body"], node) for item in out.get("reply", []) if is_job_created(item)]
        if formats:
            out["handle_format"] = formats[0] if len(formats) == 1 else formats
        return out


@dataclass
class Timing:
    """Reply windows, seconds."""

    wait: float = 1.0  # nothing within this: "waits"
    idle: float = 0.3  # after some bytes, stop once this long passes without more
    cap: float = 3.0  # never read longer than this after a send
    connect: float = 3.0


def collect(sock: socket.socket, timing: Timing) -> tuple[bytes, str]:
    """Read until the window closes, or EOF/reset; return (bytes, "open"|"eof"|"reset")."""
    start = time.monotonic()
    last = start
    data = b""
    while True:
        now = time.monotonic()
        limit = min(last + timing.idle, start + timing.cap) if data else start + timing.wait
        if now >= limit:
            return data, "open"
        sock.settimeout(limit - now)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return data, "open"
        except ConnectionResetError:
            return data, "reset"
        if not chunk:
            return data, "eof"
        data += chunk
        last = time.monotonic()


def exchange(sock: socket.socket, payload: bytes, timing: Timing) -> Exchange:
    """Send payload and collect the reply window."""
    ex = Exchange(sent=payload)
    started = time.monotonic()
    sock.settimeout(timing.cap)
    try:
        sock.sendall(payload)
    except (BrokenPipeError, ConnectionResetError, TimeoutError) as exc:
        ex.send_error = f"{type(exc).__name__}: {exc}"
        ex.end = "reset"
        return ex
    ex.reply, ex.end = collect(sock, timing)
    ex.seconds = round(time.monotonic() - started, 3)
    return ex


@dataclass
class Probe:
    """A server under probe, restarted if a case kills it."""

    name: str
    rundir: Path
    timing: Timing
    extra_args: tuple[str, ...] = ()
    peer: RunningPeer | None = None
    starts: list[dict[str, Any]] = field(default_factory=list)

    def ensure_running(self, before_case: str) -> RunningPeer:
        if self.peer is not None and self.peer.process is not None and self.peer.process.poll() is None:
            return self.peer
        if self.peer is not None:
            stop_peer(self.peer)
        self.peer = start_peer(self.name, self.rundir / f"run{len(self.starts)}", self.extra_args)
        self.starts.append(
            {"before_case": before_case, "port": self.peer.port, "command": shlex.join(self.peer.command)}
        )
        return self.peer

    def alive(self) -> bool:
        """Whether the server still runs and answers admin ``status`` on a new connection."""
        peer = self.peer
        if peer is None or peer.process is None or peer.process.poll() is not None:
            return False
        deadline = time.monotonic() + self.timing.cap
        reply = b""
        try:
            with socket.create_connection(peer.address(), timeout=self.timing.connect) as sock:
                sock.sendall(b"status\n")
                while not reply.endswith(b".\n") and time.monotonic() < deadline:
                    sock.settimeout(max(0.01, deadline - time.monotonic()))
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    reply += chunk
        except OSError:
            return False
        return reply.endswith(b".\n")

    def log_sizes(self) -> dict[Path, int]:
        peer = self.peer
        if peer is None:
            return {}
        paths = [peer.log_file]
        if self.name == "gearmand-c":
            paths.append(peer.rundir / "gearmand.log")
        return {p: (p.stat().st_size if p.exists() else 0) for p in paths}

    def run_case(self, case: Case, node: str) -> dict[str, Any]:
        peer = self.ensure_running(case.id)
        sizes = self.log_sizes()
        record: dict[str, Any] = {"id": case.id, "group": case.group, "title": case.title}
        if case.note:
            record["note"] = case.note
        steps: list[dict[str, Any]] = []
        with socket.create_connection(peer.address(), timeout=self.timing.connect) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            open_ = True
            for payload in case.sends:
                if not open_:
                    steps.append({"input_hex": payload.hex(), "skipped": "connection already closed"})
                    continue
                ex = exchange(sock, payload, self.timing)
                steps.append(ex.to_yaml(node))
                open_ = ex.outcome in ("reply", "waits")
            record["steps"] = steps
            if case.followup and open_:
                ex = exchange(sock, FOLLOWUP, self.timing)
                follow = ex.to_yaml(node)
                answered = any(
                    item.get("packet", "").startswith("RES STATUS_RES (20)")
                    and item.get("body", "").startswith(escape(FOLLOWUP_HANDLE + b"\0"))
                    for item in follow.get("reply", [])
                )
                record["followup"] = {"answered": answered, **follow}
            elif case.followup:
                record["followup"] = {"answered": False, "skipped": "connection closed by the server"}
        record["server_alive_after"] = self.alive()
        log_lines = self.new_log_lines(sizes)
        if log_lines:
            record["server_log"] = log_lines
        return record

    def new_log_lines(self, sizes: dict[Path, int]) -> list[str]:
        lines: list[str] = []
        for path, size in sizes.items():
            try:
                with path.open("rb") as fh:
                    fh.seek(size)
                    data = fh.read(65536)
            except OSError:
                continue
            for raw in data.decode("utf-8", errors="replace").splitlines():
                if raw.strip() and not raw.startswith("=== gearsim start_peer"):
                    lines.append(raw.rstrip())
        return lines[:20]


def version_output(command: Sequence[str]) -> str:
    """The first line of ``<server executable> --version`` (empty if it fails)."""
    try:
        done = subprocess.run([command[0], "--version"], capture_output=True, timeout=10.0, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    text = (done.stdout or done.stderr).decode("utf-8", errors="replace").strip()
    return text.splitlines()[0] if text else ""


NOTES = [
    "Each case runs on a fresh TCP connection to 127.0.0.1. A case has one or more steps; each step "
    "sends input_hex and records what came back.",
    "outcome: 'reply' = bytes came back and the connection stayed open; 'waits' = no byte within "
    "timing.wait seconds and the connection still open; 'closed (eof)' / 'closed (reset)' = the server "
    "closed (FIN) or reset the connection with no reply; 'reply-then-closed (...)' = bytes, then a close.",
    "After the last step, if the connection was still open, a valid GET_STATUS for H:followup:1 "
    "(the bytes of followup_hex) was sent on it; followup.answered is true when a STATUS_RES for that "
    "handle came back.",
    "Decoded text: printable ASCII as is; \\0 is one NUL byte (never an octal escape: \\00 is a NUL "
    "followed by the digit 0), \\t \\n \\r \\\\ as in C; other bytes as \\xNN. A packet body that "
    "holds NULs is also shown split at every NUL (split_at_nul), whatever its argument layout. The hex "
    "fields are the authority.",
    "A reply window ends timing.idle seconds after the last byte received, at the latest timing.cap "
    "seconds after the send.",
    "Handles are recorded exactly as seen. gearmand and the Perl server put the node name of the machine "
    "that ran the probe into handles (H:<node>:<n>; node_name below); gear puts the client's IP address. "
    "Handle counters depend on the cases run before. handle_note marks replies that hold such a handle; "
    "handle_format gives the shape of a JOB_CREATED handle (<node> = node name, <n> = counter).",
    "server_log: lines the server wrote to its log files during the case (timestamps included). "
    "server_alive_after: the server process still runs and answers admin 'status' on a new connection.",
    "Cases run in the order listed; state left by a case (queued jobs, functions, options on the server) "
    "is visible to later cases, e.g. in admin status.",
]


def probe(name: str, out: Path, timing: Timing, extra_args: Sequence[str], node: str) -> Path:
    """Run every case against a fresh instance of peer ``name``; write the YAML to ``out``."""
    cases = build_cases()
    with tempfile.TemporaryDirectory(prefix=f"probe-{name}-") as tmp:
        prober = Probe(name=name, rundir=Path(tmp), timing=timing, extra_args=tuple(extra_args))
        peer = prober.ensure_running(cases[0].id)
        header: dict[str, Any] = {
            "format": FORMAT,
            "peer": name,
            "peer_description": PEERS[name].description,
            "version": peer.version(),
            "version_command": f"{peer.command[0]} --version",
            "version_output": version_output(peer.command),
            "date": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "server_command": shlex.join(peer.command),
            "server_command_note": "the port and the run directory change from run to run",
            "probe_command": shlex.join([Path(sys.executable).name, *sys.argv]),
            "node_name": node,
            "timing": {"wait": timing.wait, "idle": timing.idle, "cap": timing.cap},
            "followup_hex": FOLLOWUP.hex(),
            "notes": NOTES,
        }
        records = []
        for case in cases:
            print(f"[{name}] {case.id}", file=sys.stderr, flush=True)
            records.append(prober.run_case(case, node))
        if prober.peer is not None:
            stop_peer(prober.peer)
        if len(prober.starts) > 1:
            header["restarts"] = prober.starts[1:]
    doc = {**header, "cases": records}
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        fh.write(f"# Observed by tools/probe_codec.py against {name}; regenerate, do not edit by hand.\n")
        yaml.safe_dump(doc, fh, sort_keys=False, allow_unicode=False, width=120, default_flow_style=False)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--peer", choices=sorted(PEERS), default="gearmand-c")
    parser.add_argument(
        "--out", type=Path, help="YAML file to write (default: spec/observed/<peer>-<version>-codec.yaml)"
    )
    parser.add_argument("--wait", type=float, default=1.0, help="seconds of silence that count as 'waits'")
    parser.add_argument("--extra-arg", action="append", default=[], help="extra server argument (repeatable)")
    args = parser.parse_args(argv)
    out = args.out or Path(__file__).resolve().parents[1] / DEFAULT_OUT[args.peer]
    timing = Timing(wait=args.wait)
    written = probe(args.peer, out, timing, args.extra_arg, os.uname().nodename)
    print(f"wrote {written}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
