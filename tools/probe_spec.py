#!/usr/bin/env python3
"""Probe a real Gearman server with whole scenarios, several times each; write the outcomes as YAML.

tools/probe_codec.py sends one message on a fresh connection. The findings of
the spec audit (issue 15) need more: several connections, job state, timers
and a server that may die. Each probe here is a short scenario played against
a *fresh* server (started by gearsim.io.peers on a free 127.0.0.1 port in a
temporary directory, stopped by its PID afterwards), repeated ``runs`` times.
Every run yields a transcript (what each connection sent and received, in
order) and the server's state at the end (running, or how its process ended).
Identical transcripts are counted together, so a race shows up as two
outcomes with their counts, and a crash as an exit status.

Handles carry the node name of the machine (``H:<node>:<n>``); transcripts
write ``<node>`` instead, so they compare across machines. spec/evidence.md
quotes these files by probe id.

Usage (from the repository root):

    python tools/probe_spec.py                     # every probe for gearmand-c
    python tools/probe_spec.py --only timeout-     # probes whose id starts so
    python tools/probe_spec.py --peer perl-gearman-server

This file owns the command and running a probe on fresh servers;
tools/probe_spec_lab.py owns a run (connections and transcripts, a restart of
the server) and tools/probe_spec_probes.py and tools/probe_restart.py the
probes themselves.

Only the standard library, PyYAML and gearsim.io.peers. Every socket
operation has a timeout, so no probe can hang.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

try:
    from gearsim.io.peers import PEERS, RunningPeer, start_peer, stop_peer
except ModuleNotFoundError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from gearsim.io.peers import PEERS, RunningPeer, start_peer, stop_peer

_TOOLS = str(Path(__file__).resolve().parent)
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)

from probe_restart import RESTART_PROBES  # noqa: E402
from probe_spec_lab import Lab  # noqa: E402
from probe_spec_probes import PROBES, Probe  # noqa: E402

FORMAT = "gearsim-observed-spec/1"


DEFAULT_OUT = {
    "gearmand-c": "spec/observed/gearmand-1.1.20-spec.yaml",
    "perl-gearman-server": "spec/observed/perl-gearman-server-1.130-spec.yaml",
    "gear": "spec/observed/gear-0.16-spec.yaml",
}


def _server_state(peer: RunningPeer) -> str:
    proc = peer.process
    if proc is None:
        return "unknown"
    code = proc.poll()
    if code is None:
        return "running"
    if code < 0:
        return f"killed by signal {-code}"
    return f"exited with status {code}"


def _log_excerpt(peer: RunningPeer) -> list[str]:
    """Non-empty lines of the server's own output other than gearsim's start line (first 3)."""
    lines: list[str] = []
    for path in (peer.log_file, peer.rundir / "gearmand.log"):
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        lines += [ln.rstrip() for ln in text.splitlines() if ln.strip() and not ln.startswith("=== gearsim")]
    return lines[:3]


def run_probe(probe: Probe, peer_name: str, node: str, workdir: Path) -> dict[str, Any]:
    """Play ``probe`` ``runs`` times, each on a fresh server; tally identical outcomes."""
    tally: Counter[tuple[tuple[str, ...], str]] = Counter()
    logs: dict[tuple[tuple[str, ...], str], list[str]] = {}
    for run in range(probe.runs):
        rundir = workdir / f"{probe.id}-{run}"
        extra = tuple(arg.replace("{rundir}", str(rundir.resolve())) for arg in probe.extra_args)
        lab = Lab(start_peer(peer_name, rundir, extra), node, extra=extra)
        try:
            probe.play(lab)
        except (OSError, RuntimeError) as exc:  # a LaunchError of a restart is a RuntimeError
            lab.say(f"probe stopped: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        finally:
            for conn in lab.conns:
                conn.close()
            time.sleep(0.1)
            peer = lab.peer  # a restart replaced the one started above
            state = _server_state(peer)
            key = (tuple(lab.lines), state)
            tally[key] += 1
            if state != "running":
                logs.setdefault(key, _log_excerpt(peer))
            stop_peer(peer)
    outcomes = []
    for (lines, state), count in tally.most_common():
        item: dict[str, Any] = {"count": count, "server_after": state, "transcript": list(lines)}
        if logs.get((lines, state)):
            item["server_output"] = logs[(lines, state)]
        outcomes.append(item)
    return {
        "id": probe.id,
        "finding": probe.finding,
        "about": probe.about,
        "source": list(probe.source),
        "runs": probe.runs,
        "outcomes": outcomes,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--peer", choices=sorted(PEERS), default="gearmand-c")
    parser.add_argument("--only", metavar="PREFIX", help="run only the probes whose id starts with PREFIX")
    parser.add_argument(
        "--out", type=Path, help="YAML file to write (default: spec/observed/<peer>-<version>-spec.yaml)"
    )
    args = parser.parse_args(argv)
    every = PROBES + RESTART_PROBES
    probes = [p for p in every if args.peer in p.peers and (not args.only or p.id.startswith(args.only))]
    if not probes:
        print(
            f"probe_spec: no probe for {args.peer}" + (f" starting with {args.only!r}" if args.only else ""),
            file=sys.stderr,
        )
        return 3
    out = args.out or Path(__file__).resolve().parents[1] / DEFAULT_OUT[args.peer]
    node = os.uname().nodename
    records = []
    with tempfile.TemporaryDirectory(prefix="probe-spec-") as tmp:
        first = start_peer(args.peer, Path(tmp) / "version")
        version, command = first.version(), shlex.join(first.command)
        stop_peer(first)
        for probe in probes:
            print(f"[{args.peer}] {probe.id} x{probe.runs}", file=sys.stderr, flush=True)
            records.append(run_probe(probe, args.peer, node, Path(tmp)))
    previous: list[dict[str, Any]] = []
    if args.only and out.exists():
        previous = [
            r
            for r in (yaml.safe_load(out.read_text()) or {}).get("probes", [])
            if r["id"] not in {p.id for p in probes}
        ]
    order = {p.id: i for i, p in enumerate(every)}
    merged = sorted(previous + records, key=lambda r: order.get(r["id"], len(order)))
    doc = {
        "format": FORMAT,
        "peer": args.peer,
        "peer_description": PEERS[args.peer].description,
        "version": version,
        "date": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "server_command": command,
        "server_command_note": "a fresh server for every run; the port and the run directory change from run to run",
        "probe_command": "python tools/probe_spec.py" + (f" --peer {args.peer}" if args.peer != "gearmand-c" else ""),
        "notes": [
            "Each probe is played runs times, every run against a freshly started server. Identical runs "
            "are counted together (count); server_after is the state of the server process after the run.",
            "Transcripts: 'NAME > ...' is what connection NAME sent, 'NAME < ...' what it received within the "
            "read window (0.4 s, longer for large replies). Packets are TYPE [arguments split at NULs]; "
            "admin lines are quoted with their line ends. Handles read H:<node>:<n> whatever the machine's "
            "node name. Long byte strings are shortened to their first bytes, length and sha256 prefix.",
            "source: the gearmand 1.1.20 lines (git tag 1.1.20 of github.com/gearman/gearmand) that explain "
            "the outcome, as read for spec/evidence.md.",
        ],
        "probes": merged,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        fh.write(f"# Observed by tools/probe_spec.py against {args.peer}; regenerate, do not edit by hand.\n")
        yaml.safe_dump(doc, fh, sort_keys=False, allow_unicode=False, width=110, default_flow_style=False)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
