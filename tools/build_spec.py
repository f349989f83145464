#!/usr/bin/env python3
"""Build the generated parts of spec/gearman.md, and render the spec as one HTML file.

spec/gearman.md is prose written by hand with generated blocks between marker
comments::

    <!-- begin:rules coalesce -->      the active rules of one or more areas (comma-separated)
    <!-- begin:rules retired -->       every retired rule, with the reason it was retired
    <!-- begin:table packets -->       the packet table (spec/packets.yaml)
    <!-- begin:table fields -->        the argument kinds and limits (spec/packets.yaml)
    <!-- begin:table admin -->         the admin commands (spec/packets.yaml)
    <!-- begin:table errors -->        the ERROR codes (spec/packets.yaml)
    <!-- begin:table profiles -->      where the profiles differ (gearsim/model/profiles/)
    <!-- begin:table defects -->       each profile's known server bugs (gearsim/model/profiles/)
    <!-- begin:table counts -->        ids per area and level
    <!-- begin:settles 4 -->           the rules that settle question (e)4 (section 19)
    ...generated text...
    <!-- end:KIND -->

The text between a begin and its end is replaced on every build; everything
else is kept. Rule lines read ``- [GM-AREA-NNN] **LEVEL**: sentence`` with the
sentence copied from spec/requirements.yaml, so the prose never states a rule
in words of its own.

spec/profiles.yaml, the language-neutral copy of the profile table, is
written from gearsim/model/profiles/ by the same run (its header comment is
kept).

This file owns the command (writing or checking the generated files);
tools/build_spec_rules.py reads the sources, tools/build_spec_markdown.py
generates the blocks, tools/build_spec_html.py renders the page.

Usage:
    python tools/build_spec.py                 rewrite spec/gearman.md and spec/profiles.yaml
    python tools/build_spec.py --check         exit 1 when either is stale
    python tools/build_spec.py --html OUT.html [--coverage COVERAGE.json]
        render one self-contained HTML file (inline CSS, no external fetches);
        beside each rule: the vector cases citing it and, with --coverage (from
        `gearsim spec coverage --run --json`), the verdict per profile.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

_TOOLS = Path(__file__).resolve().parent
# run as a script or loaded by path (tests/unit/test_spec.py): the siblings and gearsim must import
for _path in (str(_TOOLS.parent), str(_TOOLS)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from build_spec_html import coverage_summary, load_coverage, to_html  # noqa: E402
from build_spec_markdown import expand  # noqa: E402
from build_spec_rules import PROFILES_YAML, REGISTRY, SPEC_MD, load_context, load_rules  # noqa: E402


def build(text: str) -> str:
    return expand(text, load_context())


def build_profiles_yaml(current: str) -> str | None:
    """spec/profiles.yaml from the Python table, keeping the comment block that opens the file.

    None when the package cannot be imported.
    """
    try:
        from gearsim.model.profiles import PROFILE_TABLE
    except ImportError:
        return None
    head = "".join(line for line in current.splitlines(keepends=True) if line.startswith("#"))
    body = yaml.safe_dump(PROFILE_TABLE, sort_keys=False, width=100, allow_unicode=True)
    return (head + "\n" if head else "") + body


def _refresh(path: Path, fresh: str, current: str, check: bool, how: str) -> bool:
    """Write or check one generated file; True when it is (now) up to date."""
    if fresh == current:
        print(f"{path}: up to date")
        return True
    if check:
        print(f"{path}: stale; run: {how}", file=sys.stderr)
        return False
    path.write_text(fresh, encoding="utf-8")
    print(f"{path}: rewritten")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when spec/gearman.md is stale")
    parser.add_argument("--html", metavar="OUT", help="render one self-contained HTML file")
    parser.add_argument("--coverage", metavar="FILE", help="coverage JSON from `gearsim spec coverage --run --json`")
    parser.add_argument("--spec", metavar="FILE", default=str(SPEC_MD), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    path = Path(args.spec)
    current = path.read_text(encoding="utf-8")
    fresh = build(current)
    how = "python tools/build_spec.py"
    if not args.html:
        ok = _refresh(path, fresh, current, args.check, how)
        if args.spec == str(SPEC_MD):
            old = PROFILES_YAML.read_text(encoding="utf-8")
            table = build_profiles_yaml(old)
            if table is not None:
                ok = _refresh(PROFILES_YAML, table, old, args.check, how) and ok
        if not ok:
            return 1
    if args.html:
        ctx_rules = load_rules(REGISTRY.read_text(encoding="utf-8"))
        cov = load_coverage(Path(args.coverage) if args.coverage else None, ctx_rules)
        title_match = re.search(r"^# (.*)$", fresh, re.M)
        title = title_match[1] if title_match else "Gearman specification"
        Path(args.html).write_text(to_html(fresh, cov, title, coverage_summary(ctx_rules, cov)), encoding="utf-8")
        print(f"{args.html}: written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
