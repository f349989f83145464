"""``gearsim fuzz``: differential fuzzing of a real server against the model (glue: arguments, files, exit codes).

``gearsim fuzz --server HOST:PORT [--profile NAME] [--examples N] [--seed S]``
runs the differential machine (gearsim.fuzz) against a real server; a shrunk
failure is written to vectors/regressions/ as a lint-clean vector and reported
seed first, with the command that repeats the search and the one that replays
the vector (gearsim.report.repro). An address where something other than a
Gearman server answers is refused first (gearsim.io.preflight, exit 3).

A server that stops answering (or never does) ends the run at once, as
``gearsim run`` ends on one: "stopped early: server down since example N,
step K (...): ..." naming what went unanswered and for how long (every wait
is ``--timeout``), exit 2 (inconclusive); a failure found before it is still
written and reported (exit 1). Each example used to wait out every step and
every close instead, and ended as a DIVERGENCE charged to the server's first
step.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Any

from gearsim.cli.common import (
    EXIT_FAIL,
    EXIT_INCONCLUSIVE,
    EXIT_INPUT,
    EXIT_OK,
    add_profile_argument,
    address,
    check_outputs,
    counted,
    positive,
    seconds,
)
from gearsim.errors import GearsimError, InputError, ServerSilent
from gearsim.model.profiles import DEFAULT_PROFILE
from gearsim.report.repro import Target, reproduce_fuzz, reproduce_run

__all__ = ["DEFAULT_TIMEOUT", "add_fuzz_command"]

#: seconds each wait for the server may take (``--timeout``): as long as gearsim.io.preflight's probes
DEFAULT_TIMEOUT = 3.0


def _cmd_fuzz(args: argparse.Namespace) -> int:
    from gearsim.files import vector_root

    folder = Path(args.out) if args.out else vector_root() / "regressions"
    if not args.no_write:  # a finding is written after the whole search: a folder it cannot go in is refused first
        check_outputs(folders=[("--out", str(folder))], make_folders=True)
    from gearsim.fuzz.machine import ADMIN_RULES, RULES, run_machine
    from gearsim.fuzz.session import identify, model_vs_server
    from gearsim.fuzz.writer import case_id, content_hash, regression_vector
    from gearsim.vectors.parse import dump_vector_file

    unknown = sorted(set(args.exclude) - set(RULES))
    if unknown:  # refused before the server is asked anything (the machine would raise, a traceback)
        raise InputError(f"--exclude: unknown rules {unknown}; known: {', '.join(RULES)}")
    host, port = args.server
    profile = args.profile or DEFAULT_PROFILE
    headline = f"gearsim fuzz: seed {args.seed}, {args.examples} examples of up to {args.steps} steps"
    try:
        server = identify(host, port, args.timeout)
    except ServerSilent as silent:
        print(headline)
        print(f"stopped early: server down since first contact: {silent}; no example run, nothing written")
        return EXIT_INCONCLUSIVE
    identity = server.text
    exclude = list(args.exclude)
    if not server.admin:
        # no admin protocol: admin steps would only ever diverge; the profile is the user's to name
        exclude += [r for r in ADMIN_RULES if r not in exclude]
    nonce = f"{os.getpid() % 100000}{time.time_ns() % 100000}"
    command = reproduce_fuzz(
        f"{host}:{port}",
        profile=profile,
        examples=args.examples,
        steps=args.steps,
        seed=args.seed,
        exclude=exclude,
        known_bugs=args.known_bugs,
        timeout=None if args.timeout == DEFAULT_TIMEOUT else args.timeout,
    )
    print(headline)
    print(f"  server: {identity}; profile {profile}")
    if not server.admin:
        named = "as named" if args.profile else "the default: name the server's with --profile"
        print(f"  no admin protocol: rules {', '.join(ADMIN_RULES)} left out; profile {profile} ({named})")
    started = time.monotonic()
    make = model_vs_server(
        host,
        port,
        profile,
        nonce,
        timeout=args.timeout,
        identity=identity,
        excuse_known=not args.known_bugs,
        admin=server.admin,
        sync=server.sync,
    )
    from gearsim.cli.progress import progress

    with progress("gearsim fuzz", total=args.examples, unit="examples") as bar:
        outcome = run_machine(
            make,
            seed=args.seed,
            examples=args.examples,
            steps=args.steps,
            shrink=not args.no_shrink,
            exclude=frozenset(exclude),
            on_example=bar.advance,
        )
    spent = time.monotonic() - started
    print(f"  ran {outcome.examples} examples, {outcome.steps} steps in {spent:.1f} s")
    if outcome.known:
        # counted, not reported: said, so that nobody takes an example cut short for one fully compared
        met = ", ".join(f"{bug} in {counted(n, 'example')}" for bug, n in outcome.known)
        print(f"  known server bugs met (counted, not reported; --known-bugs reports them): {met}")
    stopped = ""
    if outcome.down:
        unrun = args.examples - outcome.examples  # none left when it stopped while shrinking (replays count too)
        stopped = f"stopped early: server down since {outcome.down}"
        stopped += f"; {counted(unrun, 'example')} not run" if unrun > 0 else ""
    if stopped and outcome.failure is None:
        print(stopped)
        if outcome.down_history:
            print("  that example's steps before it:")
            for step in outcome.down_history:
                print(f"    {step.index:3d} {step.action.describe()}")
        print("  no divergence or broken invariant before it; nothing written")
        print(f"  reproduce the search: {command}")
        return EXIT_INCONCLUSIVE
    if outcome.error is not None and outcome.failure is None:
        print(f"HARNESS seed {args.seed}: {type(outcome.error).__name__}: {outcome.error}")
        print(f"  reproduce: {command}")
        return EXIT_INPUT
    if outcome.failure is None:
        print("  no divergence, no broken invariant")
        return EXIT_OK
    history = list(outcome.history)
    cid = case_id(history)
    data = regression_vector(
        history,
        outcome.failure,
        namespace=outcome.namespace,
        seed=args.seed,
        server=identity,
        profile=profile,
        command=command,
    )
    text = dump_vector_file(data)
    path = folder / f"{cid}.yaml"
    unwritten = "--no-write" if args.no_write else ""
    if not args.no_write:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:  # the finding is still printed below: it is what the search was for
            unwritten = f"cannot write it: {exc.strerror or exc}"
    file_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
    kind = "INVARIANT" if type(outcome.failure).__name__ == "InvariantBroken" else "DIVERGENCE"
    print(f"{kind} seed {args.seed}: {outcome.failure}")
    if stopped:
        print(f"  note: then {stopped} (the conversation below is as far as it was shrunk)")
    elif isinstance(outcome.error, GearsimError):
        print(f"  note: then a harness error: {outcome.error}")
    elif outcome.error is not None:
        print(f"  note: hypothesis reported {type(outcome.error).__name__} (the server answered differently on replay)")
    print(f"  vector: {path}::{cid}{f' (not written: {unwritten})' if unwritten else ''}")
    print(f"  conversation hash: {content_hash(history)}; file sha256: {file_hash}")
    print(f"  server: {identity}")
    print("  shrunk conversation:")
    for step in history:
        print(f"    {step.index:3d} {step.action.describe()}")
    print(f"  reproduce the search: {command}")
    if not unwritten:  # a vector not written cannot be replayed: the search's command above finds it again
        replay = reproduce_run(f"{path}::{cid}", Target(profile=profile, server=f"{host}:{port}"))
        print(f"  replay the vector:    {replay}")
    if unwritten and not args.no_write:
        print(f"gearsim fuzz: {path}: {unwritten}", file=sys.stderr)
        return EXIT_INPUT
    return EXIT_FAIL


def add_fuzz_command(subparsers: Any) -> None:
    """Add ``gearsim fuzz`` to the ``gearsim`` command's subparsers."""
    said = "differential fuzzing: random conversations against the model and a real server at once"
    fuzz = subparsers.add_parser("fuzz", help=said, description=said[0].upper() + said[1:] + ".")
    fuzz.add_argument("--server", type=address, required=True, metavar="HOST:PORT", help="the real server")
    add_profile_argument(fuzz)
    fuzz.add_argument("--examples", type=positive, default=100, help="hypothesis examples (default 100)")
    fuzz.add_argument("--steps", type=positive, default=20, help="most steps per example (default 20)")
    fuzz.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0)")
    fuzz.add_argument("--out", metavar="DIR", help="where to write a regression vector (default vectors/regressions)")
    fuzz.add_argument("--no-write", action="store_true", help="report a failure without writing a vector")
    fuzz.add_argument("--exclude", action="append", default=[], metavar="RULE", help="never run this rule (repeatable)")
    fuzz.add_argument(
        "--known-bugs",
        action="store_true",
        help="report known server bugs (gearsim.fuzz.invariants.KNOWN_SERVER_BUGS) instead of counting them",
    )
    fuzz.add_argument("--no-shrink", action="store_true", help="report the first failure as found")
    fuzz.add_argument(
        "--timeout",
        type=seconds,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=(
            f"seconds each wait for the server may take: a first-contact probe, a step's reply, a close "
            f"(default {DEFAULT_TIMEOUT:g}). A wait that runs out is checked with a probe on a fresh connection: "
            f"a server that answers none stops the run at once, 'stopped early: server down since example N, "
            f"step K ...', exit 2 (a finding made before it is still written, exit 1)"
        ),
    )
    fuzz.set_defaults(func=_cmd_fuzz)
