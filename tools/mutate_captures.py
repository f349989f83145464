#!/usr/bin/env python3
"""Mutation test of ``gearsim check``: corrupt one server reply at a time, count the defects it finds.

usage: python tools/mutate_captures.py [CAPTURE ...] [--race] [--sites N] [--race-sites N] [--seed S]
       [--class NAME ...] [-v]

Each capture (default: the reference servers' captures and the committed
race recordings in tests/data; with ``--race`` also the race scenarios
race1 and race2, recorded afresh against gearmand by
tools/record_captures.py into a temporary directory) is first checked
unmutated: it must give 0 broken requirements. Then, for each defect class,
up to N sites are chosen (seeded) and each is corrupted alone in the
capture's decoded event stream (the server's replies as ``check`` reads
them; the requests and all timing are left as captured), and the capture
is checked again. A mutant is *detected* when check reports a broken
requirement from the class's rule set, anywhere in the capture; one broken
under another rule is counted apart (*wrong rule*).

Defect classes (the server's side):

* ``wrong-handle``: a JOB_CREATED gives a handle no job has (GM-SUBMIT-001),
  where a later packet names the job (otherwise nothing could tell); when a
  later submission coalesces onto the job, GM-COAL-001 names it as well
  (the same observations read as "that submission got another handle");
* ``coalescing``: a submission the server coalesced gets a new job's
  handle instead (GM-COAL-001), or one it must not coalesce (empty unique)
  gets the handle of the job created just before it (GM-COAL-003);
* ``lost-assign`` / ``dup-assign``: a JOB_ASSIGN* is dropped, or sent twice
  (GM-WORKER-007..011);
* ``status-counts``: a STATUS_RES reports a numerator no worker sent
  (GM-STATUS-*);
* ``missing-complete``: a WORK_COMPLETE forward to a listener is dropped
  (GM-WORK-004);
* ``error-reply``: an ERROR stands where a JOB_CREATED, STATUS_RES,
  JOB_ASSIGN*, NO_JOB or ECHO_RES was due (the rule of the reply due).

It prints one line per class and ends with

    mutation: D of N server-side mutants detected (P%), W under another rule, in C captures

A tool, not a test (tests/dissect/test_mutations.py runs a few mutants).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from gearsim.dissect.capture import Event, read_capture  # noqa: E402
from gearsim.dissect.check import check_events  # noqa: E402
from gearsim.protocol.packets import Packet, PacketType  # noqa: E402

T = PacketType
_S2C: Final[str] = "s>c"
_C2S: Final[str] = "c>s"
ASSIGNS: Final[frozenset[int]] = frozenset({T.JOB_ASSIGN, T.JOB_ASSIGN_UNIQ, T.JOB_ASSIGN_ALL})
WORKER_RULES: Final[frozenset[str]] = frozenset(f"GM-WORKER-{n:03d}" for n in range(7, 12))
#: the profile each reference server is judged under
PROFILES: Final[dict[str, str]] = {
    "gearmand-c": "gearmand-1.1",
    "perl-gearman-server": "perl-1.130",
    "gear": "gear-0.16",
}
#: reply type -> the rule an ERROR in its place breaks
DUE_RULES: Final[dict[int, str]] = {
    T.JOB_CREATED: "GM-SUBMIT-001",
    T.STATUS_RES: "GM-STATUS-001",
    T.JOB_ASSIGN: "GM-WORKER-008",
    T.JOB_ASSIGN_UNIQ: "GM-WORKER-009",
    T.JOB_ASSIGN_ALL: "GM-WORKER-010",
    T.NO_JOB: "GM-WORKER-007",
    T.ECHO_RES: "GM-ECHO-001",
}


@dataclass(frozen=True)
class Mutant:
    """One corrupted event stream, the rules that would name its defect, and where it was made."""

    kind: str
    events: list[Event]
    rules: frozenset[str]
    frame: int
    what: str


@dataclass(frozen=True)
class Result:
    mutant: Mutant
    detected: bool
    broken: tuple[str, ...]


def _s2c(events: Sequence[Event], types: frozenset[int] | set[int]) -> Iterator[int]:
    for i, e in enumerate(events):
        m = e.message
        if e.direction == _S2C and type(m) is Packet and int(m.type) in types:
            yield i


def _request_before(events: Sequence[Event], at: int, types: frozenset[int]) -> Event | None:
    """The last request of ``types`` the same connection sent before event ``at``."""
    conn = events[at].conn
    for i in range(at - 1, -1, -1):
        e = events[i]
        m = e.message
        if e.conn == conn and e.direction == _C2S and type(m) is Packet and int(m.type) in types:
            return e
    return None


SUBMITS: Final[frozenset[int]] = frozenset(
    int(t)
    for t in (
        T.SUBMIT_JOB,
        T.SUBMIT_JOB_BG,
        T.SUBMIT_JOB_HIGH,
        T.SUBMIT_JOB_HIGH_BG,
        T.SUBMIT_JOB_LOW,
        T.SUBMIT_JOB_LOW_BG,
        T.SUBMIT_JOB_EPOCH,
    )
)


def _with_message(events: list[Event], at: int, message: Packet) -> list[Event]:
    out = list(events)
    out[at] = out[at]._replace(message=message)
    return out


def wrong_handle(events: list[Event]) -> Iterator[Mutant]:
    given: set[bytes] = set()
    for n, i in enumerate(_s2c(events, {T.JOB_CREATED})):
        m = events[i].message
        assert isinstance(m, Packet) and m.args
        if m.args[0] in given:
            continue  # a coalesced submission: a new handle there is a coalescing mutant
        given.add(m.args[0])
        if not _named_later(events, i, m.args[0]):
            continue  # a handle nothing names again: no observation could tell a wrong one
        bad = m._replace(args=(b"H:mutant:%d" % n,))
        rules = {"GM-SUBMIT-001"}
        what = ""
        if _created_again(events, i, m.args[0]):
            # handles are opaque: "the job got a wrong handle here" and "the submission coalesced onto it
            # later got another" are the same observations, so either rule names the defect
            rules.add("GM-COAL-001")
            what = "(coalesced later)"
        yield Mutant("wrong-handle", _with_message(events, i, bad), frozenset(rules), events[i].frame, what)


def _created_again(events: Sequence[Event], at: int, handle: bytes) -> bool:
    """Does a later JOB_CREATED give ``handle`` again (a submission coalesced onto the job)?"""
    for e in events[at + 1 :]:
        m = e.message
        if e.direction == _S2C and type(m) is Packet and m.type == T.JOB_CREATED and m.args[:1] == (handle,):
            return True
    return False


def _named_later(events: Sequence[Event], at: int, handle: bytes) -> bool:
    """Does any packet after event ``at`` carry ``handle`` as its first argument?"""
    for e in events[at + 1 :]:
        m = e.message
        if type(m) is Packet and m.args and m.args[0] == handle:
            return True
    return False


def coalescing(events: list[Event]) -> Iterator[Mutant]:
    given: dict[bytes, int] = {}  # handle -> times given in a JOB_CREATED so far
    last: bytes | None = None
    for n, i in enumerate(_s2c(events, {T.JOB_CREATED})):
        m = events[i].message
        assert isinstance(m, Packet) and m.args
        handle = m.args[0]
        request = _request_before(events, i, SUBMITS)
        unique = request.message.args[1] if request is not None and isinstance(request.message, Packet) else b""
        if handle in given and unique:
            bad = m._replace(args=(b"H:fresh:%d" % n,))
            what = "a coalesced submission got a new job"
            yield Mutant("coalescing", _with_message(events, i, bad), frozenset({"GM-COAL-001"}), events[i].frame, what)
        elif handle not in given and not unique and last is not None and last != handle:
            bad = m._replace(args=(last,))
            what = "an empty-unique submission got the previous job's handle"
            rules = frozenset({"GM-COAL-003"})
            yield Mutant("coalescing", _with_message(events, i, bad), rules, events[i].frame, what)
        given[handle] = given.get(handle, 0) + 1
        last = handle


def lost_assign(events: list[Event]) -> Iterator[Mutant]:
    for i in _s2c(events, ASSIGNS):
        yield Mutant("lost-assign", events[:i] + events[i + 1 :], WORKER_RULES, events[i].frame, "")


def dup_assign(events: list[Event]) -> Iterator[Mutant]:
    for i in _s2c(events, ASSIGNS):
        yield Mutant("dup-assign", events[: i + 1] + events[i:], WORKER_RULES, events[i].frame, "")


def status_counts(events: list[Event]) -> Iterator[Mutant]:
    for i in _s2c(events, {T.STATUS_RES}):
        m = events[i].message
        assert isinstance(m, Packet)
        if len(m.args) != 5:
            continue
        bad = m._replace(args=(*m.args[:3], b"987654", m.args[4]))
        rules = frozenset(f"GM-STATUS-{n:03d}" for n in range(1, 14))
        yield Mutant("status-counts", _with_message(events, i, bad), rules, events[i].frame, "")


def missing_complete(events: list[Event]) -> Iterator[Mutant]:
    for i in _s2c(events, {T.WORK_COMPLETE}):
        yield Mutant("missing-complete", events[:i] + events[i + 1 :], frozenset({"GM-WORK-004"}), events[i].frame, "")


def error_reply(events: list[Event]) -> Iterator[Mutant]:
    for i in _s2c(events, frozenset(DUE_RULES)):
        m = events[i].message
        assert isinstance(m, Packet)
        bad = Packet.res(T.ERROR, b"ERR_MUTANT", b"an error where a reply was due")
        rules = WORKER_RULES if m.type in ASSIGNS or m.type == T.NO_JOB else frozenset({DUE_RULES[int(m.type)]})
        yield Mutant("error-reply", _with_message(events, i, bad), rules, events[i].frame, m.name)


CLASSES: Final[dict[str, Callable[[list[Event]], Iterator[Mutant]]]] = {
    "wrong-handle": wrong_handle,
    "coalescing": coalescing,
    "lost-assign": lost_assign,
    "dup-assign": dup_assign,
    "status-counts": status_counts,
    "missing-complete": missing_complete,
    "error-reply": error_reply,
}


def broken_rules(events: list[Event], profile: str) -> list[str]:
    """The rules ``check`` reports broken on ``events``."""
    return [f.requirement for r in check_events(events, profile) for f in r.broken]


def run_capture(
    events: list[Event], profile: str, classes: Sequence[str], sites: int, rng: random.Random
) -> tuple[list[Result], list[str]]:
    """The mutants of one capture and what check found in each; plus what it found in the original."""
    baseline = broken_rules(events, profile)
    results: list[Result] = []
    for name in classes:
        mutants = list(CLASSES[name](events))
        if len(mutants) > sites:
            mutants = rng.sample(mutants, sites)
        for mutant in mutants:
            broken = tuple(broken_rules(mutant.events, profile))
            results.append(Result(mutant, bool(mutant.rules & set(broken)), broken))
    return results, baseline


def reference_captures(race: bool, workdir: Path) -> list[tuple[Path, str]]:
    """(capture, profile) of every reference capture and committed race recording; fresh races with ``race``."""
    data = ROOT / "tests" / "data"
    manifest = yaml.safe_load((data / "captures.yaml").read_text())
    rows = manifest["captures"] + manifest.get("races", [])
    out = [(data / r["file"], PROFILES[r["server"]]) for r in rows if r["server"] in PROFILES]
    if race:
        import subprocess

        cmd = [sys.executable, str(ROOT / "tools" / "record_captures.py"), "--out", str(workdir)]
        cmd += ["--server", "gearmand-c", "--scenario", "race1", "--scenario", "race2"]
        subprocess.run(cmd, check=True, timeout=300, stdout=subprocess.DEVNULL)
        out += [(p, "gearmand-1.1") for p in sorted(workdir.glob("*.race*.pcap*"))]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("captures", nargs="*", type=Path, help="captures of gearmand (default: tests/data's)")
    parser.add_argument("--race", action="store_true", help="also record and mutate the race scenarios")
    parser.add_argument("--sites", type=int, default=12, help="mutants per class and capture (default 12)")
    parser.add_argument("--race-sites", type=int, help="mutants per class in a race recording (default: --sites)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--class", dest="classes", action="append", choices=sorted(CLASSES))
    parser.add_argument("-v", "--verbose", action="store_true", help="print every mutant that was missed")
    args = parser.parse_args(argv)
    classes = args.classes or list(CLASSES)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="gearsim-mutate-") as tmp:
        if args.captures:
            captures = [(p, "gearmand-1.1") for p in args.captures]
        else:
            captures = reference_captures(args.race, Path(tmp))
        totals: dict[str, list[int]] = {name: [0, 0, 0] for name in classes}
        false_broken = 0
        for path, profile in captures:
            events = list(read_capture(path, None))
            sites = args.race_sites if args.race_sites is not None and ".race" in path.name else args.sites
            started = time.monotonic()
            results, baseline = run_capture(events, profile, classes, sites, rng)
            # the totals come at the end, about an hour in: without this nothing said the tool was working
            n = len(results)
            print(f"{path.name}: {n} mutant{'s' * (n != 1)} in {time.monotonic() - started:.0f} s", file=sys.stderr)
            false_broken += len(baseline)
            if baseline:
                print(f"{path.name}: the unmutated capture breaks {sorted(set(baseline))}")
            for r in results:
                row = totals[r.mutant.kind]
                row[0] += 1
                row[1] += r.detected
                row[2] += bool(r.broken) and not r.detected
                if args.verbose and not r.detected:
                    found = ", ".join(sorted(set(r.broken))) or "nothing"
                    want = "/".join(sorted(r.mutant.rules))
                    print(
                        f"  missed {r.mutant.kind} at {path.name} frame {r.mutant.frame} {r.mutant.what}: "
                        f"want {want}, check broke {found}"
                    )
    n = d = w = 0
    for name, (total, found, wrong) in totals.items():
        share = f"{100 * found / total:.0f}%" if total else "-"
        print(f"{name:17} {found:4} of {total:4} detected ({share}), {wrong} under another rule")
        n, d, w = n + total, d + found, w + wrong
    print(f"unmutated: {false_broken} broken requirements in {len(captures)} captures")
    share = 100 * d / n if n else 0.0
    print(
        f"mutation: {d} of {n} server-side mutants detected ({share:.1f}%), {w} under another rule, "
        f"in {len(captures)} captures"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
