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
import html
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SPEC_MD = ROOT / "spec" / "gearman.md"
REGISTRY = ROOT / "spec" / "requirements.yaml"
PACKETS = ROOT / "spec" / "packets.yaml"
PROFILES_YAML = ROOT / "spec" / "profiles.yaml"

MARKER = re.compile(
    r"^<!-- begin:(?P<kind>[a-z]+)(?: (?P<arg>[^>]*?))? -->\n"  # the begin marker
    r"(?P<body>.*?)"  # the generated text
    r"^<!-- end:(?P=kind) -->$",
    re.M | re.S,
)
RULE_LINE = re.compile(
    r"^- \[(?P<id>GM-[A-Z]+-\d{3})\] "
    r"(?:\*\*(?P<level>MUST|SHOULD|MAY)\*\*|~~(?P<old>MUST|SHOULD|MAY)~~ retired): "
    r"(?P<text>.*)$"
)
ID_REF = re.compile(r"\[?(GM-[A-Z]+-\d{3})\]?")


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Rule:
    """A registry row with the optional fields the typed registry leaves out."""

    id: str
    level: str
    area: str
    text: str
    status: str
    settles: tuple[int, ...]
    reason: str
    retired: str


def load_rules(text: str) -> dict[str, Rule]:
    """The registry as Rules, in file order (checked by gearsim.protocol.requirements too)."""
    from gearsim.protocol.requirements import parse_requirements

    parse_requirements(text)  # raises on a malformed registry or a duplicate id
    rows = yaml.safe_load(text)["requirements"]
    out: dict[str, Rule] = {}
    for row in rows:
        settles = row.get("settles", [])
        out[row["id"]] = Rule(
            id=row["id"],
            level=row["level"],
            area=row["area"],
            text=row["text"],
            status=row.get("status", "active"),
            settles=tuple(int(s) for s in (settles if isinstance(settles, list) else [settles])),
            reason=str(row.get("reason", "")),
            retired=str(row.get("retired", "")),
        )
    return out


@dataclass(frozen=True)
class Context:
    rules: Mapping[str, Rule]
    packets: Mapping[str, Any]
    profiles: Mapping[str, Mapping[str, Any]] | None


def load_context() -> Context:
    rules = load_rules(REGISTRY.read_text(encoding="utf-8"))
    packets = yaml.safe_load(PACKETS.read_text(encoding="utf-8"))
    try:
        from gearsim.model.profiles import PROFILE_TABLE
    except ImportError:
        profiles = None
    else:
        profiles = PROFILE_TABLE
    return Context(rules, packets, profiles)


# --------------------------------------------------------------------------- markdown generators


def cell(value: object) -> str:
    """Text safe inside a markdown table cell: bars escaped, and ``<`` outside code spans."""
    parts = re.split(r"(`[^`]*`)", str(value).replace("|", "\\|").replace("\n", " "))
    return "".join(p if p.startswith("`") else p.replace("<", "\\<") for p in parts)


def code(value: str) -> str:
    return "`" + value.replace("`", "'") + "`"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def rule_line(rule: Rule) -> str:
    if rule.status == "retired":
        line = f"- [{rule.id}] ~~{rule.level}~~ retired: {rule.text}\n"
        if rule.retired:
            line += f"  _Retired because:_ {rule.retired}\n"
        return line
    line = f"- [{rule.id}] **{rule.level}**: {rule.text}\n"
    notes = []
    if rule.reason:
        notes.append(f"_Why:_ {rule.reason}")
    if rule.settles:
        notes.append("_Settles:_ " + ", ".join(f"(e){n}" for n in rule.settles) + ".")
    if notes:
        line += "  " + " ".join(notes) + "\n"
    return line


def gen_rules(ctx: Context, arg: str) -> str:
    if arg == "retired":
        retired = [r for r in ctx.rules.values() if r.status == "retired"]
        if not retired:
            return "No requirement has been retired yet.\n"
        return "".join(rule_line(r) for r in retired)
    areas = [a.strip() for a in arg.split(",") if a.strip()]
    known = {r.area for r in ctx.rules.values()}
    unknown = [a for a in areas if a not in known]
    if unknown:
        raise SystemExit(f"build_spec: marker names unknown area(s) {unknown}; known: {sorted(known)}")
    chosen = [r for r in ctx.rules.values() if r.area in areas and r.status == "active"]
    return "".join(rule_line(r) for r in chosen)


def _flow(packet: Mapping[str, Any]) -> str:
    parts = []
    if packet["req"]:
        parts.append(" / ".join(packet["req"]) + " → server")
    if packet["res"]:
        parts.append("server → " + " / ".join(packet["res"]))
    return "; ".join(parts) or "never on the wire"


def gen_packets(ctx: Context) -> str:
    rows = []
    for p in ctx.packets["packets"]:
        magic = "/".join(m for m, side in (("REQ", p["req"]), ("RES", p["res"])) if side) or "–"
        args = " NUL ".join(p["args"]) or "(none)"
        rows.append([p["number"], code(p["name"]), magic, _flow(p), args, "yes" if p["blob"] else "no", p["summary"]])
    return table(["#", "name", "magic", "sent", "arguments, in order", "blob last", "meaning"], rows)


def gen_fields(ctx: Context) -> str:
    rows = []
    for name, f in ctx.packets["fields"].items():
        rows.append([code(name), f["kind"], f.get("max", "–"), f["summary"]])
    return table(["argument", "kind", "max bytes", "meaning"], rows)


def gen_admin(ctx: Context) -> str:
    rows = []
    for a in ctx.packets["admin"]:
        args = " ".join(a["args"]) or "–"
        eol = a.get("eol")
        reply = a["reply"] + (f", ends {code(eol.encode('unicode_escape').decode())}" if eol else "")
        rows.append([code(a["name"]), args, reply, a["summary"]])
    return table(["command", "arguments", "reply", "meaning"], rows)


def gen_errors(ctx: Context) -> str:
    rows = [[code(e["code"]), code(e["text"]), e["trigger"]] for e in ctx.packets["errors"]]
    return table(["code", "text (gearmand 1.1.20)", "sent for"], rows)


#: which rules each profile switch bears on (shown in the profile table)
SWITCH_RULES: Mapping[str, tuple[str, ...]] = {
    "bad_magic": ("GM-FRAME-008", "GM-FRAME-016"),
    "res_magic_request": ("GM-FRAME-011",),
    "unknown_type": ("GM-FRAME-013",),
    "short_body": ("GM-FRAME-007", "GM-FRAME-015"),
    "submit_header": ("GM-FRAME-015", "GM-SUBMIT-008"),
    "implemented": ("GM-SERVER-001", "GM-SERVER-002", "GM-SERVER-003"),
    "unimplemented": ("GM-SERVER-004", "GM-FRAME-012"),
    "error_vocabulary": ("GM-ERROR-002", "GM-ERROR-003"),
    "coalesce_uniques": ("GM-COAL-001",),
    "dash_unique": ("GM-COAL-010", "GM-COAL-011"),
    "dash_empty_payload": ("GM-COAL-005", "GM-COAL-010"),
    "fixed_buffers": ("GM-FIELD-001", "GM-FIELD-002"),
    "unique_max": ("GM-LIMIT-002",),
    "unique_stored_max": ("GM-LIMIT-001",),
    "handle_host": ("GM-LIMIT-006",),
    "status_empty_numbers": ("GM-FIELD-005",),
    "status_numbers": ("GM-STATUS-007", "GM-STATUS-008"),
    "status_nul_handle": ("GM-STATUS-001", "GM-FIELD-001"),
    "option_match": ("GM-OPTION-003",),
    "work_exception": ("GM-WORK-008", "GM-WORK-009", "GM-WORK-010", "GM-WORK-011"),
    "non_owner_work": ("GM-WORK-001", "GM-WORK-002"),
    "priorities": ("GM-PRIO-004",),
    "round_robin": ("GM-PRIO-004",),
    "high_lifo": ("GM-PRIO-003",),
    "stale_queue_entry": ("GM-SLEEP-001", "GM-SLEEP-002"),
    "epoch_wakeup_noop": ("GM-SLEEP-006",),
    "job_retries_zero": ("GM-DISC-004",),
    "worker_disconnect": ("GM-DISC-001", "GM-DISC-002"),
    "disconnect_fail_magic": ("GM-FRAME-002",),
    "client_disconnect": ("GM-DISC-006",),
    "background_keeps_abandoned": ("GM-DISC-008",),
    "can_do_timeout": ("GM-TIMEOUT-001", "GM-TIMEOUT-004"),
    "can_do_timeout_timer": ("GM-TIMEOUT-004",),
    "can_do_timeout_overflow": ("GM-SERVER-005", "GM-ERROR-006"),
    "epoch_blocks_lower": ("GM-WORKER-007",),
    "reduce_unique_check": ("GM-LIMIT-002",),
    "resubmit_abandoned": ("GM-COAL-007",),
    "admin_drop_queued": ("GM-ADMIN-013",),
    "duplicate_can_do_counts": ("GM-WORKER-002",),
    "cantdo_unknown": ("GM-WORKER-004",),
    "cantdo_held": ("GM-WORKER-006",),
    "maxqueue": ("GM-QUEUE-001", "GM-QUEUE-002", "GM-QUEUE-003"),
    "admin_commands": ("GM-ADMIN-012", "GM-ADMIN-013"),
    "admin_match": ("GM-ADMIN-003", "GM-ADMIN-020"),
    "admin_unknown_reply": ("GM-ADMIN-006",),
    "admin_version_reply": ("GM-ADMIN-009", "GM-ADMIN-015"),
    "version": ("GM-ADMIN-009",),
    "admin_ok": ("GM-ADMIN-014", "GM-ADMIN-015"),
    "admin_order": ("GM-ADMIN-016",),
    "admin_status_rows": ("GM-ADMIN-005",),
    "admin_workers_trailing_space": ("GM-ADMIN-017",),
    "admin_max_words": ("GM-ADMIN-007",),
    "admin_cancel": ("GM-ADMIN-018",),
    "admin_cancel_eol": ("GM-ADMIN-014",),
}


def _show(value: Any, universe: frozenset[str] | None = None) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "none"
    if isinstance(value, (list, tuple, set, frozenset)):
        items = frozenset(str(v) for v in value)
        if universe is not None and items == universe:
            return f"all {len(items)}"
        if universe is not None and len(items) > len(universe) / 2:
            return f"{len(items)}; not " + ", ".join(sorted(universe - items))
        return ", ".join(sorted(items))
    if isinstance(value, str):
        return code(value.encode("unicode_escape").decode())
    return str(value)


def gen_profiles(ctx: Context) -> str:
    if ctx.profiles is None:
        return "_The profile table (gearsim/model/profiles/) is not available in this build._\n"
    names = list(ctx.profiles)
    rows_data = [ctx.profiles[n] for n in names]
    lines = [f"- `{n}`: {ctx.profiles[n]['summary']}\n" for n in names]
    out = "".join(lines) + "\n"
    skip = {"name", "summary", "notes", "defects"}  # defects: their own table
    rows = []
    for key in rows_data[0]:
        if key in skip:
            continue
        values = [d[key] for d in rows_data]
        as_sets = [frozenset(map(str, v)) if isinstance(v, (list, tuple, set, frozenset)) else None for v in values]
        comparable = [s if s is not None else v for s, v in zip(as_sets, values, strict=True)]
        if all(c == comparable[0] for c in comparable):
            continue
        universe = frozenset().union(*[s for s in as_sets if s is not None]) if as_sets[0] is not None else None
        refs = ", ".join(f"[{r}]" for r in SWITCH_RULES.get(key, ()) if r in ctx.rules)
        rows.append([code(key), *(_show(v, universe) for v in values), refs or "–"])
    out += table(["switch", *names, "rules"], rows)
    return out


def gen_defects(ctx: Context) -> str:
    if ctx.profiles is None:
        return "_The profile table (gearsim/model/profiles/) is not available in this build._\n"
    # a defect several profiles share word for word is one row naming them all
    shared: dict[str, list[str]] = {}
    entries: dict[str, Mapping[str, Any]] = {}
    for name, data in ctx.profiles.items():
        for d in data.get("defects", ()):
            key = json.dumps(d, sort_keys=True)
            shared.setdefault(key, []).append(name)
            entries[key] = d
    rows = []
    for key, names in shared.items():
        d = entries[key]
        refs = ", ".join(f"[{r}] ({ctx.rules[r].level})" if r in ctx.rules else f"{r} (unknown id)" for r in d["rules"])
        rows.append([", ".join(code(n) for n in names), code(d["id"]), d["summary"], refs, d["repro"], d["found"]])
    if not rows:
        return "_No profile records a defect._\n"
    return table(["profile", "defect", "what goes wrong", "rules broken", "minimal bytes or steps", "found by"], rows)


def gen_counts(ctx: Context) -> str:
    areas: dict[str, dict[str, int]] = {}
    retired = 0
    for r in ctx.rules.values():
        if r.status == "retired":
            retired += 1
            continue
        row = areas.setdefault(r.area, {"MUST": 0, "SHOULD": 0, "MAY": 0})
        row[r.level] += 1
    rows: list[list[object]] = [[a, c["MUST"], c["SHOULD"], c["MAY"], sum(c.values())] for a, c in areas.items()]
    total = {lv: sum(c[lv] for c in areas.values()) for lv in ("MUST", "SHOULD", "MAY")}
    rows.append(["**all**", total["MUST"], total["SHOULD"], total["MAY"], sum(total.values())])
    return table(["area", "MUST", "SHOULD", "MAY", "ids"], rows) + f"\nRetired ids: {retired}.\n"


def gen_settles(ctx: Context, arg: str) -> str:
    number = int(arg)
    found = [r for r in ctx.rules.values() if number in r.settles and r.status == "active"]
    if not found:
        raise SystemExit(f"build_spec: no active rule settles ambiguity {number}")
    return "Rules: " + ", ".join(f"[{r.id}] ({r.level})" for r in found) + ".\n"


GENERATORS: Mapping[str, Callable[[Context, str], str]] = {
    "rules": gen_rules,
    "settles": gen_settles,
    "table": lambda ctx, arg: TABLES[arg](ctx),
}
TABLES: Mapping[str, Callable[[Context], str]] = {
    "packets": gen_packets,
    "fields": gen_fields,
    "admin": gen_admin,
    "errors": gen_errors,
    "profiles": gen_profiles,
    "defects": gen_defects,
    "counts": gen_counts,
}


def expand(text: str, ctx: Context) -> str:
    """Regenerate every marked block of the spec's text."""

    def one(m: re.Match[str]) -> str:
        kind, arg = m["kind"], (m["arg"] or "").strip()
        if kind not in GENERATORS or (kind == "table" and arg not in TABLES):
            raise SystemExit(f"build_spec: unknown marker begin:{kind} {arg}")
        head = f"<!-- begin:{kind}{' ' + arg if arg else ''} -->\n"
        return head + GENERATORS[kind](ctx, arg) + f"<!-- end:{kind} -->"

    return MARKER.sub(one, text)


# --------------------------------------------------------------------------- html


CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:1.5em 2em 4em;background:#fff}
h1{font-size:1.8em;border-bottom:2px solid #333}h2{margin-top:2em;border-bottom:1px solid #ccc}
code{font:13px/1.4 ui-monospace,Menlo,Consolas,monospace;background:#f2f2f2;padding:0 .2em;border-radius:3px}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;border:1px solid #e2e2e2}pre code{background:none;padding:0}
table{border-collapse:collapse;margin:.8em 0;font-size:13px}
th,td{border:1px solid #d0d0d0;padding:.25em .5em;vertical-align:top}
th{background:#f0f0f0;text-align:left}
.rule{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:1em;border-left:4px solid #999;
 padding:.4em .8em;margin:.5em 0;background:#fcfcfc}
.rule.MUST{border-color:#b3261e}.rule.SHOULD{border-color:#c77700}.rule.MAY{border-color:#2e6bb8}.rule.retired{opacity:.6}
.rid{font-weight:600;font-family:ui-monospace,Menlo,monospace;text-decoration:none;color:inherit}
.lvl{font-size:11px;font-weight:700;padding:0 .4em;border-radius:3px;color:#fff;margin:0 .3em}
.lvl.MUST{background:#b3261e}.lvl.SHOULD{background:#c77700}.lvl.MAY{background:#2e6bb8}
.why{color:#555;font-size:13px;margin-top:.2em}
.cov{font-size:12px;color:#333}.cov details summary{cursor:pointer}.cov ul{margin:.2em 0;padding-left:1.2em}
.none{color:#b3261e;font-weight:600}
.chip{display:inline-block;padding:0 .35em;margin:.1em;border-radius:3px;border:1px solid #ccc}
.chip.pass{background:#dff3e0}.chip.acceptable{background:#eef6d5}.chip.fail{background:#f9d6d3}
.chip.inconclusive{background:#fbeacc}.chip.na{background:#eee}
.summary{background:#f4f7fb;border:1px solid #d7e0ea;padding:.6em 1em}
.toc ul{columns:2;font-size:14px}.toc a{text-decoration:none}
"""


TOC_MARK = "<!--toc-->"


@dataclass(frozen=True)
class Coverage:
    cases: Mapping[str, tuple[str, ...]]
    profiles: tuple[str, ...]
    #: id -> profile -> (summary, {case: verdict})
    verdicts: Mapping[str, Mapping[str, tuple[str, Mapping[str, str]]]]


def load_coverage(path: Path | None, rules: Mapping[str, Rule]) -> Coverage:
    """Cases per id from the bundled vectors; verdicts from a coverage JSON when given."""
    from gearsim.files import select
    from gearsim.protocol.requirements import parse_requirements
    from gearsim.report.coverage import compute_coverage, coverage_from_json

    registry = parse_requirements(REGISTRY.read_text(encoding="utf-8"))
    try:
        files = select([]).files
    except Exception:  # no vectors yet, or a broken file: the spec still renders
        files = ()
    rows = compute_coverage(files, registry)
    cases = {r.id: r.cases for r in rows}
    profiles: tuple[str, ...] = ()
    verdicts: dict[str, dict[str, tuple[str, Mapping[str, str]]]] = {}
    if path is not None:
        names, cov_rows = coverage_from_json(json.loads(path.read_text(encoding="utf-8")))
        profiles = tuple(names)
        for row in cov_rows:
            verdicts[row.id] = {p: (v.summary, v.cases) for p, v in row.verdicts.items()}
            if row.cases and not cases.get(row.id):
                cases[row.id] = row.cases
    return Coverage(cases, profiles, verdicts)


def inline(text: str) -> str:
    """The inline subset: `code`, **bold**, _italic_, ~~strike~~, [GM-...] links."""
    parts = re.split(r"(`[^`]*`)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) >= 2:
            out.append("<code>" + html.escape(part[1:-1]) + "</code>")
            continue
        s = html.escape(part, quote=False).replace("\\&lt;", "&lt;")
        s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
        s = re.sub(r"~~(.+?)~~", r"<del>\1</del>", s)
        s = re.sub(r"(?<![\w])_(.+?)_(?![\w])", r"<em>\1</em>", s)
        s = ID_REF.sub(lambda m: f'<a class="rid" href="#{m[1]}">{m[0]}</a>', s)
        out.append(s)
    return "".join(out)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _split_row(line: str) -> list[str]:
    """The cells of a markdown table row; ``\\|`` is a literal bar."""
    inner = line.strip()[1:]
    if inner.endswith("|") and not inner.endswith("\\|"):
        inner = inner[:-1]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]


def render_rule(m: re.Match[str], extra: list[str], cov: Coverage) -> str:
    rid = m["id"]
    level = m["level"] or m["old"]
    retired = m["old"] is not None
    cls = f"rule {level}" + (" retired" if retired else "")
    left = (
        f'<div><a class="rid" href="#{rid}">{rid}</a><span class="lvl {level}">{level}</span>'
        + ("<em>retired</em> " if retired else "")
        + inline(m["text"])
        + "".join(f'<div class="why">{inline(e)}</div>' for e in extra)
        + "</div>"
    )
    cases = cov.cases.get(rid, ())
    right = ['<div class="cov">']
    if retired:
        right.append("retired: needs no vector")
    elif not cases:
        right.append(f'<span class="{"none" if level == "MUST" else ""}">no vector cites this rule</span>')
    else:
        right.append(f"<details><summary>{len(cases)} vector case{'s' if len(cases) != 1 else ''}</summary><ul>")
        right += [f"<li><code>{html.escape(c)}</code></li>" for c in cases]
        right.append("</ul></details>")
    per = cov.verdicts.get(rid, {})
    if cov.profiles and not retired:
        chips: list[str] = []
        fails: list[str] = []
        for p in cov.profiles:
            summary, by_case = per.get(p, ("", {}))
            word = summary or "not run"
            css = {"n/a": "na", "": "na"}.get(summary, summary)
            failing = [c for c, v in by_case.items() if v == "fail"]
            title = html.escape("; ".join(f"{c}: {v}" for c, v in by_case.items()) or "no case ran", quote=True)
            chips.append(f'<span class="chip {css}" title="{title}">{html.escape(p)}: {html.escape(word)}</span>')
            if failing:
                listed = ", ".join(f"<code>{html.escape(c)}</code>" for c in failing)
                fails.append(f'<div class="why">{html.escape(p)} fails: {listed}</div>')
        right.append("<div>" + "".join(chips) + "</div>" + "".join(fails))
    right.append("</div>")
    return f'<div class="{cls}" id="{rid}">{left}{"".join(right)}</div>'


def to_html(markdown: str, cov: Coverage, title: str, summary: str) -> str:
    """Render the markdown subset spec/gearman.md uses, with rules as two-column blocks."""
    lines = markdown.split("\n")
    body: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.startswith("<!--"):
            i += 1
            continue
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            body.append("<pre><code>" + html.escape("\n".join(lines[i + 1 : j])) + "</code></pre>")
            i = j + 1
            continue
        heading = re.match(r"^(#{1,6}) (.*)$", line)
        if heading:
            n, text = len(heading[1]), heading[2]
            body.append(f'<h{n} id="{slug(text)}">{inline(text)}</h{n}>')
            if n == 1:
                body.append(summary + TOC_MARK)
            i += 1
            continue
        if line.startswith("|"):
            j = i
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            rows = [_split_row(x) for x in lines[i:j]]
            out = ["<table><thead><tr>" + "".join(f"<th>{inline(c)}</th>" for c in rows[0]) + "</tr></thead><tbody>"]
            for row in rows[2:]:
                out.append("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in row) + "</tr>")
            body.append("".join(out) + "</tbody></table>")
            i = j
            continue
        if line.startswith("- "):
            items: list[tuple[str, list[str]]] = []
            while i < len(lines) and (lines[i].startswith("- ") or (lines[i].startswith("  ") and items)):
                if lines[i].startswith("- "):
                    items.append((lines[i][2:], []))
                else:
                    items[-1][1].append(lines[i].strip())
                i += 1
            plain: list[str] = []
            for first, extra in items:
                m = RULE_LINE.match("- " + first)
                if m:
                    if plain:
                        body.append("<ul>" + "".join(plain) + "</ul>")
                        plain = []
                    body.append(render_rule(m, extra, cov))
                else:
                    plain.append("<li>" + inline(" ".join([first, *extra])) + "</li>")
            if plain:
                body.append("<ul>" + "".join(plain) + "</ul>")
            continue
        j = i
        para = []
        while j < len(lines) and lines[j].strip() and not re.match(r"^(#{1,6} |- |\||```|<!--)", lines[j]):
            para.append(lines[j].strip())
            j += 1
        body.append("<p>" + inline(" ".join(para)) + "</p>")
        i = j
    toc = "".join(f'<li><a href="#{slug(t)}">{inline(t)}</a></li>' for t in re.findall(r"^## (.*)$", markdown, re.M))
    page = "\n".join(body).replace(TOC_MARK, f'<nav class="toc"><ul>{toc}</ul></nav>', 1)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n<body><main>\n"
        + page
        + "\n</main></body></html>\n"
    )


def coverage_summary(rules: Mapping[str, Rule], cov: Coverage) -> str:
    active = [r for r in rules.values() if r.status == "active"]
    musts = [r for r in active if r.level == "MUST"]
    covered = [r for r in musts if cov.cases.get(r.id)]
    missing = [r.id for r in musts if not cov.cases.get(r.id)]
    text = (
        f'<div class="summary"><strong>{len(active)}</strong> active requirements '
        f"({len(rules) - len(active)} retired); <strong>{len(covered)}/{len(musts)}</strong> MUSTs cited by a vector."
    )
    if cov.profiles:
        text += " Verdicts from the reference model under: " + ", ".join(html.escape(p) for p in cov.profiles) + "."
    else:
        text += (
            " No verdicts: build with <code>--coverage</code> (from <code>gearsim spec coverage --run --json</code>)."
        )
    if missing:
        text += (
            "<details><summary>MUSTs without a vector</summary>"
            + ", ".join(f'<a class="rid" href="#{m}">{m}</a>' for m in missing)
            + "</details>"
        )
    return text + "</div>"


# --------------------------------------------------------------------------- main


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
