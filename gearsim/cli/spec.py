"""``gearsim spec ...``: commands about the normative spec (glue: arguments, files, exit codes).

``gearsim spec coverage`` lists every requirement id with the vector cases
that cite it and, with ``--run``, the verdict of those cases per profile on
the reference model. It exits 1 when an active MUST has no vector.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from gearsim.cli.common import EXIT_FAIL, EXIT_OK, profile_list

__all__ = ["add_spec_commands"]


def _cmd_coverage(args: argparse.Namespace) -> int:
    from gearsim.files import load_requirements, select
    from gearsim.report.coverage import compute_coverage, coverage_to_json, format_coverage, uncovered_musts
    from gearsim.run.model_peer import ModelPeerFactory
    from gearsim.run.runner import CaseResult, run_case

    profiles = profile_list(args.profiles) if args.run or args.profiles else []
    selection = select(args.vectors)
    requirements = load_requirements()
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
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
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


def add_spec_commands(subparsers: Any) -> None:
    """Register ``spec`` (with its ``coverage`` sub-command) on the ``gearsim`` sub-parsers.

    ``subparsers`` is what ``ArgumentParser.add_subparsers()`` returned.
    """
    spec = subparsers.add_parser("spec", help="the normative spec: requirement coverage")
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
    cov.set_defaults(func=_cmd_coverage)
