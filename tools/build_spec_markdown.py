"""The generated blocks of spec/gearman.md: rule lists and tables, written between marker comments.

This module owns the generators (``gen_rules``, ``gen_packets``,
``gen_fields``, ``gen_admin``, ``gen_errors``, ``gen_profiles``,
``gen_defects``, ``gen_counts``, ``gen_settles``), which switch each profile
row stands for (``SWITCH_RULES``), the Markdown table helpers, and ``expand``,
which replaces the text between every begin and end marker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from build_spec_rules import Context, Rule

MARKER = re.compile(
    r"^<!-- begin:(?P<kind>[a-z]+)(?: (?P<arg>[^>]*?))? -->\n"  # the begin marker
    r"(?P<body>.*?)"  # the generated text
    r"^<!-- end:(?P=kind) -->$",
    re.M | re.S,
)


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
