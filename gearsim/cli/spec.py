"""``gearsim spec ...``: commands about the normative spec (glue: arguments, files, exit codes).

``gearsim spec coverage`` lists every requirement id with the vector cases
that cite it and, with ``--run``, the verdict of those cases per profile on
the reference model. It exits 1 when an active MUST has no vector. With
``--mutate`` it lists instead, per rule, whether breaking the model on that
rule makes a vector fail (gearsim.run.mutants), and exits 1 when a MUST's
mutant survives (a MUST's mutant is judged at --level must too).

``gearsim spec mutate`` runs the mutants themselves, one line each: the first
case that kills it and what the kills tell a maintainer (a FAIL naming the
mutant's rule at its failing step, the rules they name instead, or, for a
MUST's mutant, that it survives at --level must). It exits 1 when a mutant
raised or a MUST's mutant survives, at the default level or at --level must.
``--fast`` runs the few CI runs on every change.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gearsim.cli.common import EXIT_FAIL, EXIT_OK, check_outputs, profile_list, say_notes

if TYPE_CHECKING:
    from gearsim.run.mutants.mutation import Mutation

__all__ = ["add_spec_commands"]


def _cmd_coverage(args: argparse.Namespace) -> int:
    from gearsim.files import load_requirements, select
    from gearsim.report.coverage import compute_coverage, coverage_to_json, format_coverage, uncovered_musts
    from gearsim.run.model_peer import ModelPeerFactory
    from gearsim.run.runner import CaseResult, run_case

    profiles = profile_list(args.profiles) if args.run or args.profiles else []
    check_outputs([("--out", args.out)])
    selection = select(args.vectors)
    say_notes("spec coverage", selection.notes)
    requirements = load_requirements()
    if args.mutate:
        return _mutation_coverage(args, selection.files, requirements)
    results: dict[str, list[CaseResult]] | None = None
    if args.run:
        results = {}
        for profile in profiles:
            factory = ModelPeerFactory(profile=profile, seed=args.seed)
            results[profile] = [
                run_case(vf, vf.case(case_id), factory, profile)
                for vf in selection.files
                for case_id in selection.chosen(vf)
            ]
    rows = compute_coverage(selection.files, requirements, results)
    shown = list(results) if results is not None else []
    if args.json:
        doc: dict[str, Any] = coverage_to_json(rows, shown)
        text = json.dumps(doc, indent=2) + "\n"
    else:
        text = format_coverage(rows, shown, show_cases=not args.brief)
    if args.out:
        from gearsim.files import replace_text  # whole or not at all: a failed write keeps the old listing

        replace_text(Path(args.out), text)
    else:
        sys.stdout.write(text)
    missing = uncovered_musts(rows)
    if missing:
        print(
            f"gearsim spec coverage: {len(missing)} MUST id(s) without a vector: " + ", ".join(r.id for r in missing),
            file=sys.stderr,
        )
        return EXIT_FAIL
    return EXIT_OK


def _outcomes(args: argparse.Namespace, files: Any, requirements: Any, *, false_fails: bool = False) -> list[Any]:
    """Run the selected mutants over ``files``; their outcomes in registry order.

    A mutant of a MUST is judged at --level must too, so the model's verdicts
    at that level are played once per profile, when such a mutant needs them.
    With ``false_fails`` (spec mutate --exhaustive) a SHOULD's or MAY's mutant
    is played there as well, for the FAILs a must-level run must not give.
    """
    from gearsim.run.mutants.play import MUST_LEVEL, run_mutation, unmutated_verdicts
    from gearsim.run.mutants.registry import MUTATIONS

    chosen = _chosen(args, MUTATIONS)
    unmutated: dict[tuple[str, str | None], Any] = {}

    def held_against(profile: str, level: str | None) -> Any:
        if (profile, level) not in unmutated:
            unmutated[profile, level] = unmutated_verdicts(
                files, profile, args.seed, level=level, requirements=requirements
            )
        return unmutated[profile, level]

    outcomes = []
    for m in chosen:
        rule = requirements.get(m.rule)
        # a MUST's mutant is judged at --level must; exhaustively, a SHOULD's or MAY's is checked for false FAILs there
        judged_at_must = rule is not None and (rule.level == "MUST" or false_fails)
        must = held_against(m.profile, MUST_LEVEL) if judged_at_must else None
        outcomes.append(
            run_mutation(
                m,
                files,
                held_against(m.profile, None),
                seed=args.seed,
                exhaustive=args.exhaustive,
                requirements=requirements,
                unmutated_must=must,
            )
        )
    return outcomes


def _write(args: argparse.Namespace, text: str) -> None:
    if args.out:
        from gearsim.files import replace_text  # whole or not at all: a failed write keeps the old listing

        replace_text(Path(args.out), text)
    else:
        sys.stdout.write(text)


def _mutation_coverage(args: argparse.Namespace, files: Any, requirements: Any) -> int:
    from gearsim.report.coverage import format_mutation, mutation_rows, mutation_to_json, surviving_musts

    rows = mutation_rows(files, requirements, _outcomes(args, files, requirements))
    if args.json:
        text = json.dumps(mutation_to_json(rows), indent=2) + "\n"
    else:
        text = format_mutation(rows, show_killed=not args.brief)
    _write(args, text)
    missing = surviving_musts(rows)
    if missing:
        print(
            f"gearsim spec coverage: {len(missing)} MUST id(s) no vector kills: " + ", ".join(r.id for r in missing),
            file=sys.stderr,
        )
        return 1
    return 0


def _chosen(args: argparse.Namespace, mutations: Sequence[Mutation]) -> list[Mutation]:
    """The mutants ``--fast``, ``--mutation`` and ``--rule`` choose (every one without them)."""
    return [
        m
        for m in mutations
        if (not getattr(args, "fast", False) or m.fast)
        and (not getattr(args, "mutation", None) or m.id in args.mutation)
        and (not getattr(args, "rule", None) or m.rule in args.rule)
    ]


def _cmd_mutate(args: argparse.Namespace) -> int:
    from gearsim.files import load_requirements, select
    from gearsim.report.coverage import mutation_rows, mutation_summary, naming, surviving_musts
    from gearsim.run.mutants.registry import MUTATIONS

    known = {m.id for m in MUTATIONS}
    unknown = sorted(set(args.mutation or ()) - known)
    if unknown:
        print(f"gearsim spec mutate: unknown mutation(s) {', '.join(unknown)}", file=sys.stderr)
        return 3
    # a mistyped rule chose no mutant and passed as '0/0 mutants killed', exit 0: a check of nothing
    unruled = sorted(set(args.rule or ()) - {m.rule for m in MUTATIONS})
    if unruled:
        listed = "gearsim spec coverage --mutate lists the rules that have one"
        print(
            f"gearsim spec mutate: --rule {', '.join(unruled)}: no mutant breaks this rule ({listed})", file=sys.stderr
        )
        return 3
    if not _chosen(args, MUTATIONS):
        print(
            "gearsim spec mutate: no mutant is chosen by all of --fast, --mutation and --rule together", file=sys.stderr
        )
        return 3
    check_outputs([("--out", args.out)])
    selection = select(args.vectors)
    say_notes("spec mutate", selection.notes)
    requirements = load_requirements()
    outcomes = _outcomes(args, selection.files, requirements, false_fails=args.exhaustive)
    rows = mutation_rows(selection.files, requirements, outcomes)
    if args.json:
        doc = {
            "schema": "gearsim-mutants/1",
            "mutants": [
                {
                    "id": o.mutation.id,
                    "rule": o.mutation.rule,
                    "profile": o.mutation.profile,
                    "what": o.mutation.what,
                    "killed_by": list(o.killed_by),
                    "by_citing_case": o.by_citing_case,
                    "status": o.status,
                    "level": o.level,
                    "killed_at_must": None if o.killed_at_must is None else list(o.killed_at_must),
                    "named_by": o.named_by,
                    "names_instead": list(o.names_instead),
                    "failed_at_must": None if o.failed_at_must is None else list(o.failed_at_must),
                    "played": o.played,
                    "error": o.error,
                }
                for o in outcomes
            ],
            "summary": mutation_summary(rows),
        }
        text = json.dumps(doc, indent=2) + "\n"
    else:
        lines = []
        for o in outcomes:
            word = "ERROR" if o.error else "killed" if o.killed else "SURVIVED"
            by = o.error or (
                o.killed_by[0] + ("" if o.by_citing_case else " (a case not citing the rule)")
                if o.killed
                else f"{o.played} cases played"
            )
            named = naming(o)
            lines.append(f"{o.mutation.rule:<14} {o.mutation.id:<34} {word:<8} {by}" + (f"; {named}" if named else ""))
        killed = sum(1 for o in outcomes if o.killed)
        lines.append("")
        lines.append(f"{killed}/{len(outcomes)} mutants killed")
        musts = [o for o in outcomes if o.killed_at_must is not None]
        if musts:
            lines.append(
                f"{sum(1 for o in musts if o.killed_at_must)}/{len(musts)} MUST mutants killed at --level must,"
                f" {sum(1 for o in musts if o.killed_at_must and o.named_by)} by a FAIL naming their rule"
            )
        lessers = [o for o in outcomes if o.failed_at_must is not None]
        if lessers:
            lines.append(
                f"{sum(1 for o in lessers if o.failed_at_must)}/{len(lessers)} SHOULD and MAY mutants FAIL a case"
                " at --level must (each a false FAIL)"
            )
        text = "\n".join(lines) + "\n"
    _write(args, text)
    # a MUST's mutant surviving at --level must is a surviving MUST row too; said twice for clarity
    failing = [o for o in outcomes if o.error or o.survives_at_must or o.failed_at_must]
    failing += [r for r in surviving_musts(rows)]
    return 1 if failing else 0


def add_spec_commands(subparsers: Any) -> None:
    """Register ``spec`` (with its ``coverage`` sub-command) on the ``gearsim`` sub-parsers.

    ``subparsers`` is what ``ArgumentParser.add_subparsers()`` returned.
    """
    spec = subparsers.add_parser("spec", help="the normative spec: requirement coverage, and mutants of the model")
    spec_sub = spec.add_subparsers(dest="spec_command", required=True)
    cov = spec_sub.add_parser(
        "coverage",
        help="list each requirement id with the vectors citing it; exit 1 when a MUST has none",
    )
    cov.add_argument("vectors", nargs="*", help="vector selectors as for `gearsim run` (default: all bundled)")
    cov.add_argument("--json", action="store_true", help="write JSON (the input of tools/build_spec.py --coverage)")
    cov.add_argument("--run", action="store_true", help="also run the vectors on the reference model per profile")
    cov.add_argument("--profiles", metavar="P,...", help="profiles for --run (default: every profile)")
    cov.add_argument("--seed", type=int, default=0, help="simulator seed for --run (default 0)")
    cov.add_argument("--brief", action="store_true", help="text output without the case lists")
    cov.add_argument("--out", metavar="FILE", help="write the listing here instead of stdout")
    cov.add_argument(
        "--mutate",
        action="store_true",
        help="run the model's mutants and report per rule: killed, surviving (why), client, untestable",
    )
    cov.add_argument("--exhaustive", action="store_true", help="with --mutate: every case that kills each mutant")
    cov.set_defaults(func=_cmd_coverage)
    mut = spec_sub.add_parser(
        "mutate",
        help=(
            "break the model one rule at a time and run the vectors; exit 1 when a MUST's mutant survives"
            " (a MUST's mutant is judged at --level must too)"
        ),
    )
    mut.add_argument("vectors", nargs="*", help="vector selectors as for `gearsim run` (default: all bundled)")
    mut.add_argument("--fast", action="store_true", help="only the mutants CI runs on every change")
    mut.add_argument("--mutation", action="append", metavar="ID", help="only this mutant (repeatable)")
    mut.add_argument("--rule", action="append", metavar="GM-...", help="only the mutants of this rule (repeatable)")
    mut.add_argument(
        "--exhaustive",
        action="store_true",
        help=(
            "play every case, listing every case that kills; a SHOULD's or MAY's mutant is also played at"
            " --level must, where each FAIL is a false FAIL (exit 1)"
        ),
    )
    mut.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    mut.add_argument("--json", action="store_true", help="write JSON")
    mut.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    mut.set_defaults(func=_cmd_mutate)
