"""spec/gearman.md rendered as one self-contained HTML page, with the coverage beside each rule.

This module owns ``to_html`` (inline CSS, a table of contents, no external
fetches), how one rule line is rendered with the vector cases citing it and
the verdicts per profile (``render_rule``), inline Markdown (``inline``), and
reading the coverage JSON of ``gearsim spec coverage --run --json``
(``Coverage``, ``load_coverage``, ``coverage_summary``).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from build_spec_rules import ID_REF, REGISTRY, RULE_LINE, Rule

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
