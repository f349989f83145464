"""One self-contained HTML page of runner verdicts, with a sequence chart per case (PURE).

``render_html(runs, requirements, title)`` turns the results of one or more
runs (one target under one profile each: ``gearsim run`` gives one, ``gearsim
matrix`` one per column) into a single HTML document: a summary per area and
profile, the list of failures, then every case with its verdict, the rules it
checks (for a failure: the rule broken, expected and actual) and a message
sequence chart of its conversation drawn as inline SVG.

A chart has one vertical lane per actor of the case (clients on the left, the
server in the middle, workers and others on the right) and one row per thing
that happened, top to bottom: every message is an arrow labelled with its
packet name and key arguments, connects and closes are marks on their lane,
and the time of each row (virtual or wall milliseconds, as the run says) is
written in the left margin. For a failure the messages that were received
instead of the expected ones are drawn red, and a last red row shows what was
expected. Hovering an arrow shows the record's full canonical trace line.

The page needs nothing from the network: styles are inline, there are no
scripts, fonts or images, and every chart is an ``<svg>`` element in the
document. Output depends only on the arguments (no clock, no randomness).
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gearsim.protocol.packets import SPECS, AdminLine, Message, Packet, Role, type_name
from gearsim.protocol.requirements import Requirement
from gearsim.protocol.trace import Direction, Kind, TraceRecord, format_record, quote, terminal_text
from gearsim.run.runner import CaseResult, Verdict
from gearsim.words import counted

__all__ = ["MAX_ROWS", "ReportRun", "chart_svg", "render_html"]

#: charts with more rows than this draw the first and last ones and say how many were left out
MAX_ROWS = 240
_HEAD_ROWS = 80

_ORDER = (
    Verdict.FAIL,
    Verdict.INCONCLUSIVE,
    Verdict.KNOWN_DEFECT,
    Verdict.ACCEPTABLE,
    Verdict.PASS,
    Verdict.NOT_APPLICABLE,
)
#: the verdicts in report order (the order Verdict declares them)
_COLUMNS = tuple(Verdict)
_BAD = (Verdict.FAIL, Verdict.INCONCLUSIVE)

# chart geometry, in SVG user units (pixels)
_GUTTER = 64
_LANE_GAP = 230
_MARGIN = 24
_HEAD = 54
_ROW = 24
_CHAR = 6.6  # width of one 11px monospace character
_LABEL_MAX = 72
_MIN_WIDTH = 600

#: events drawn as marks on a lane; the rest (deliveries, accepts, timers, eofs) only repeat what arrows show
_EVENT_KINDS = frozenset(
    {Kind.CONNECT, Kind.CLOSE, Kind.CUT, Kind.REFUSED, Kind.PARTITION, Kind.HEAL, Kind.RESTART, "program"}
    | {"call", "reply"}  # a library's driver calls and replies (gearsim.io.library_cases), on the library's lane
)
_SERVER_LANE = "server"
#: the directions of messages on the wire (a chart's arrows; the rest of its rows are events)
_WIRE = (Direction.C2S, Direction.S2C)


@dataclass(frozen=True)
class ReportRun:
    """The results of one run: one target under one profile.

    Attributes:
        label: the run's name in the report (a matrix column), e.g. the profile.
        results: the verdicts, in run order.
        profile: the profile under test.
        target: what was tested, in words (``the reference model (seed 0)``).
        clock: ``virtual`` or ``wall``: what the times in the charts are.
    """

    label: str
    results: Sequence[CaseResult] = field(default=())
    profile: str = ""
    target: str = ""
    clock: str = "virtual"


# --------------------------------------------------------------------------- text helpers


def _e(text: object) -> str:
    # a peer's words (a reason, a note, a log tail) may hold a bidi override or isolate that would reorder the
    # report around it, or an invisible character: shown as escapes (\\u202e), as in the text report
    return html.escape(terminal_text(str(text)), quote=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


def _arg_text(arg: bytes, limit: int = 18) -> str:
    try:
        text = arg.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    if arg and text.isprintable() and " " not in text and '"' not in text and len(arg) <= 64:
        return _short(text, limit)
    return _short(quote(arg), limit)


def _message_label(message: Message) -> str:
    """Packet name and key arguments (each shortened), or the admin line."""
    if isinstance(message, Packet):
        name = type_name(message.type)
        if not message.args:
            return name
        return name + " " + ", ".join(_arg_text(a) for a in message.args)
    return "TEXT " + _arg_text(message.text, 40)


# --------------------------------------------------------------------------- lanes


def _role(records: Sequence[TraceRecord], label: str) -> str:
    worker = admin = False
    for r in records:
        if r.label != label or r.direction != Direction.C2S or r.message is None:
            continue
        if isinstance(r.message, AdminLine):
            admin = True
            continue
        spec = SPECS.get(int(r.message.type))
        if spec is not None and spec.req == frozenset({Role.WORKER}):
            worker = True
    if worker:
        return "worker"
    if admin:
        return "admin"
    return "client"


def _lanes(records: Sequence[TraceRecord]) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """(lanes as (name, role), lane index by actor): clients, server, workers, admin."""
    actors: list[str] = []
    for r in records:
        if r.conn != 0 and r.label not in actors and r.label != _SERVER_LANE:
            actors.append(r.label)
    roles = {a: _role(records, a) for a in actors}
    left = [a for a in actors if roles[a] == "client"]
    right = [a for a in actors if roles[a] == "worker"] + [a for a in actors if roles[a] == "admin"]
    lanes = [(a, "client") for a in left] + [(_SERVER_LANE, "server")] + [(a, roles[a]) for a in right]
    return lanes, {name: i for i, (name, _) in enumerate(lanes)}


# --------------------------------------------------------------------------- the failing step


def _failing_actor(result: CaseResult, index: Mapping[str, int]) -> str | None:
    """The lane of the actor the failure is about (``CaseResult.actor``), if it has one in the chart."""
    actor = result.actor
    return actor if actor in index and actor != _SERVER_LANE else None


def _highlighted(result: CaseResult, drawn: Sequence[TraceRecord], actor: str | None) -> set[int]:
    """The seqs of the messages received instead of the expected ones: the last ones ``result.received`` holds.

    On the failing actor's lane, either way: a scripted actor's step receives
    from a server under test (server to actor), while a program's or library's
    step looks at what the implementation under test sent (actor to server).
    Packets of the two directions never compare equal (their magics differ).
    """
    if result.verdict not in _BAD or actor is None:
        return set()
    wanted = Counter(m for m in result.received if not isinstance(m, bytes))
    out: set[int] = set()
    for r in reversed(drawn):
        if not wanted:
            break
        if r.label == actor and r.direction in _WIRE and r.message is not None and wanted[r.message] > 0:
            wanted[r.message] -= 1
            out.add(r.seq)
    return out


# --------------------------------------------------------------------------- charts


def _drawn(records: Sequence[TraceRecord]) -> list[TraceRecord]:
    out = []
    for r in records:
        if r.direction in (Direction.C2S, Direction.S2C):
            if r.kind in (Kind.SEND, Kind.DECODE_ERROR, Kind.DISCARD):
                out.append(r)
        elif r.kind in _EVENT_KINDS:
            out.append(r)
    return out


def _arrow(x1: float, x2: float, y: float, cls: str) -> str:
    head = 7 if x2 > x1 else -7
    back = x2 - head
    return (
        f'<line class="{cls}" x1="{x1:.0f}" y1="{y:.0f}" x2="{back:.0f}" y2="{y:.0f}"/>'
        f'<polygon class="{cls} head" points="{x2:.0f},{y:.0f} {back:.0f},{y - 4:.0f} {back:.0f},{y + 4:.0f}"/>'
    )


def _room(x1: float, x2: float, width: float) -> int:
    """How many characters a label centred between ``x1`` and ``x2`` may have (it may overhang both)."""
    mid = (x1 + x2) / 2
    return max(12, min(_LABEL_MAX, int(2 * min(mid - _GUTTER, width - mid) / _CHAR) - 2))


def _band(y: float, width: float, rows: int) -> str:
    """The red background of highlighted rows (the row ending at ``y`` and ``rows - 1`` more)."""
    top, wide = y - _ROW + 3, width - _GUTTER - 4
    return f'<rect class="hl" x="{_GUTTER}" y="{top:.0f}" width="{wide:.0f}" height="{_ROW * rows - 2}"/>'


def chart_svg(result: CaseResult, *, clock: str = "virtual", chart_id: str = "") -> str:
    """The message sequence chart of one case as an ``<svg>`` element (see the module docstring).

    A case without a conversation (a codec-only check, a case for other
    profiles) gets a small chart saying so, so that every case has one.
    """
    records = result.records
    drawn = _drawn(records)
    attrs = f'class="msc" data-case-id="{_e(result.id)}" role="img"' + (f' id="{_e(chart_id)}"' if chart_id else "")
    if not drawn:
        why = "no conversation: " + (
            "the case is for other profiles"
            if result.verdict is Verdict.NOT_APPLICABLE
            else "a codec check without a server"
            if not records
            else "nothing was sent"
        )
        width = 520
        body = f'<text class="empty" x="{_MARGIN}" y="28">{_e(why)}</text>'
        if result.verdict in _BAD:
            body += f'<text class="fail-text" x="{_MARGIN}" y="50">✗ {_e(_short(result.reason, 80))}</text>'
        height = 64 if result.verdict in _BAD else 44
        label = f"sequence chart of {result.id}: {why}"
        return (
            f'<svg {attrs} aria-label="{_e(label)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">{body}</svg>'
        )

    lanes, index = _lanes(drawn)
    actor = _failing_actor(result, index)
    marked = _highlighted(result, drawn, actor)
    rows: list[TraceRecord | int] = list(drawn)
    if len(drawn) > MAX_ROWS:
        tail = MAX_ROWS - _HEAD_ROWS
        rows = [*drawn[:_HEAD_ROWS], len(drawn) - MAX_ROWS, *drawn[-tail:]]
    failure_rows = 2 if result.verdict in _BAD else 0
    width = max(_MIN_WIDTH, _GUTTER + _MARGIN + _LANE_GAP * (len(lanes) - 1) + 2 * _MARGIN + 60)
    if any(r.kind in ("call", "reply") for r in drawn if isinstance(r, TraceRecord)):
        width += 240  # room for a driver's call labels beside the last lane
    height = _HEAD + _ROW * (len(rows) + failure_rows) + _MARGIN

    def lane_x(name: str) -> float:
        return _GUTTER + _MARGIN + 30 + _LANE_GAP * index.get(name, index[_SERVER_LANE])

    parts: list[str] = []
    unit = "wall" if clock == "wall" else "virtual"
    parts.append(f'<text class="axis" x="4" y="16">ms</text><text class="axis" x="4" y="28">({unit})</text>')
    for name, role in lanes:
        x = lane_x(name)
        box = 11 + _CHAR * max(len(name), len(role))
        parts.append(
            f'<g class="lane lane-{role}"><rect x="{x - box / 2:.0f}" y="6" width="{box:.0f}" height="34" rx="4"/>'
            f'<text class="lane-name" x="{x:.0f}" y="20">{_e(name)}</text>'
            f'<text class="lane-role" x="{x:.0f}" y="34">{_e(role)}</text>'
            f'<line class="life" x1="{x:.0f}" y1="40" x2="{x:.0f}" y2="{height - 8}"/></g>'
        )
    last_tick: int | None = None
    y = float(_HEAD)
    for row in rows:
        y += _ROW
        if isinstance(row, int):
            parts.append(f'<text class="elided" x="{width / 2:.0f}" y="{y - 6:.0f}">⋯ {row} records not drawn ⋯</text>')
            last_tick = None
            continue
        r = row
        if r.tick != last_tick:
            parts.append(f'<text class="tick" x="{_GUTTER - 6}" y="{y - 4:.0f}">{r.tick}</text>')
            last_tick = r.tick
        title = f"<title>{_e(format_record(r))}</title>"
        bad = r.seq in marked
        if r.direction in (Direction.C2S, Direction.S2C):
            ax, sx = lane_x(r.label), lane_x(_SERVER_LANE)
            x1, x2 = (ax, sx) if r.direction == Direction.C2S else (sx, ax)
            if r.message is not None:
                text = _message_label(r.message)
            else:
                text = f"{len(r.data)} bytes" + (f" ({r.note})" if r.note else "")
            cls = "c2s" if r.direction == Direction.C2S else "s2c"
            if r.kind == Kind.DECODE_ERROR:
                cls, text = "bad", f"undecodable: {r.note or len(r.data)}"
            elif r.kind == Kind.DISCARD:
                cls += " discard"
                text = "discarded: " + text
            if bad:
                cls = "bad"
            limit = _room(x1, x2, width)
            band = _band(y, width, 1) if bad else ""
            label = _e(_short(text, limit))
            parts.append(
                f'<g class="msg" data-seq="{r.seq}">{title}{band}{_arrow(x1, x2, y - 3, cls)}'
                f'<text class="label {cls}" x="{(x1 + x2) / 2:.0f}" y="{y - 7:.0f}">{label}</text></g>'
            )
        else:
            x = lane_x(r.label)
            note = f" ({r.note})" if r.note and r.kind != Kind.CONNECT else ""
            cls = "ev-close" if r.kind in (Kind.CLOSE, Kind.CUT, Kind.REFUSED) else "ev"
            parts.append(
                f'<g class="event" data-seq="{r.seq}">{title}'
                f'<text class="{cls}" x="{x + 8:.0f}" y="{y - 6:.0f}">{_e(_short(r.kind + note, 44))}</text>'
                f'<circle class="{cls}" cx="{x:.0f}" cy="{y - 10:.0f}" r="3"/></g>'
            )
    if failure_rows:
        y += _ROW
        step = f"step {result.step}: " if result.step else ""
        expected = result.expected or result.reason
        if actor is not None:
            x1, x2 = lane_x(_SERVER_LANE), lane_x(actor)
            room = _room(x1, x2, width)
            parts.append(
                f'<g class="failure" data-step="{result.step or ""}"><title>{_e(result.reason)}</title>'
                f"{_band(y, width, 2)}"
                f"{_arrow(x1, x2, y - 3, 'expected')}"
                f'<text class="label bad" x="{(x1 + x2) / 2:.0f}" y="{y - 7:.0f}">'
                f"{_e(_short('✗ expected ' + expected, room))}</text>"
                f'<text class="fail-text" x="{_GUTTER + 6}" y="{y + _ROW - 7:.0f}">'
                f"{_e(_short(step + result.reason, int((width - _GUTTER) / _CHAR) - 2))}</text></g>"
            )
        else:
            parts.append(
                f'<g class="failure" data-step="{result.step or ""}"><title>{_e(result.reason)}</title>'
                f"{_band(y, width, 2)}"
                f'<text class="fail-text" x="{_GUTTER + 6}" y="{y - 7:.0f}">'
                f"{_e(_short('✗ ' + step + result.reason, int((width - _GUTTER) / _CHAR) - 2))}</text></g>"
            )
        y += _ROW
    label = f"sequence chart of {result.id}: {len(drawn)} records, {len(lanes)} lanes"
    return (
        f'<svg {attrs} aria-label="{_e(label)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">{"".join(parts)}</svg>'
    )


# --------------------------------------------------------------------------- the page

_CSS = """
:root { --pass:#15803d; --acc:#0e7490; --fail:#b91c1c; --inc:#b45309; --na:#6b7280; }
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 24px 48px; color: #111827; background: #fff; }
h1 { font-size: 22px; margin: 20px 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; }
h3 { font-size: 15px; margin: 18px 0 6px; color: #374151; }
.meta { color: #4b5563; margin: 0 0 12px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #d1d5db; padding: 3px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f3f4f6; }
tr.total td { font-weight: 600; background: #f9fafb; }
td.zero { color: #9ca3af; }
.v-pass { color: var(--pass); } .v-acceptable { color: var(--acc); } .v-fail { color: var(--fail); }
.v-inconclusive { color: var(--inc); } .v-n-a { color: var(--na); } .v-known-defect { color: #a21caf; }
td.cell-fail { background: #fee2e2; } td.cell-inconclusive { background: #fef3c7; }
td.cell-pass, td.cell-acceptable { background: #dcfce7; }
.badge { display: inline-block; min-width: 92px; text-align: center; font-weight: 600; font-size: 12px;
  border-radius: 4px; padding: 1px 6px; color: #fff; margin-right: 8px; }
.badge.v-pass { background: var(--pass); color: #fff; } .badge.v-acceptable { background: var(--acc); color: #fff; }
.badge.v-fail { background: var(--fail); color: #fff; } .badge.v-inconclusive { background: var(--inc); color: #fff; }
.badge.v-n-a { background: var(--na); color: #fff; } .badge.v-known-defect { background: #a21caf; color: #fff; }
details.case { border: 1px solid #e5e7eb; border-radius: 6px; margin: 6px 0; padding: 4px 10px; }
details.case[open] { padding-bottom: 10px; }
details.case.v-fail, details.case.v-inconclusive { border-color: #fca5a5; background: #fffbfb; }
details.case > summary { cursor: pointer; }
.reqs { color: #6b7280; font-size: 12px; margin-left: 6px; }
.reason { font-weight: 600; }
.rule { margin: 2px 0; } .rule code { font-weight: 600; }
pre { background: #f3f4f6; padding: 6px 8px; border-radius: 4px; overflow-x: auto; margin: 4px 0;
  white-space: pre-wrap; word-break: break-all; }
dl.ea { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 6px 0; }
dl.ea dt { font-weight: 600; } dl.ea dd { margin: 0; font-family: ui-monospace, monospace; font-size: 12px; }
figure.chart { margin: 8px 0 0; overflow-x: auto; }
figure.chart figcaption { font-size: 12px; color: #6b7280; }
ul.failures li { margin: 2px 0; }
svg.msc { font: 11px ui-monospace, SFMono-Regular, Menlo, monospace; background: #fff; }
svg.msc text { dominant-baseline: auto; }
svg.msc .lane rect { fill: #f3f4f6; stroke: #9ca3af; }
svg.msc .lane-server rect { fill: #e0e7ff; stroke: #6366f1; }
svg.msc .lane-worker rect { fill: #fef3c7; stroke: #d97706; }
svg.msc .lane-admin rect { fill: #f5f3ff; stroke: #8b5cf6; }
svg.msc .lane-name { text-anchor: middle; font-weight: 700; }
svg.msc .lane-role { text-anchor: middle; fill: #6b7280; font-size: 10px; }
svg.msc line.life { stroke: #d1d5db; stroke-dasharray: 4 3; }
svg.msc .tick, svg.msc .axis { fill: #6b7280; font-size: 10px; }
svg.msc .tick { text-anchor: end; }
svg.msc line.c2s { stroke: #2563eb; stroke-width: 1.4; } svg.msc polygon.c2s { fill: #2563eb; }
svg.msc line.s2c { stroke: #047857; stroke-width: 1.4; } svg.msc polygon.s2c { fill: #047857; }
svg.msc line.discard { stroke-dasharray: 3 3; }
svg.msc line.bad { stroke: #dc2626; stroke-width: 2; } svg.msc polygon.bad { fill: #dc2626; }
svg.msc line.expected { stroke: #dc2626; stroke-width: 1.6; stroke-dasharray: 6 4; }
svg.msc polygon.expected { fill: none; stroke: #dc2626; }
svg.msc text.label { text-anchor: middle; }
svg.msc text.label.c2s { fill: #1e3a8a; } svg.msc text.label.s2c { fill: #064e3b; }
svg.msc text.label.bad { fill: #b91c1c; font-weight: 700; }
svg.msc rect.hl { fill: #fee2e2; }
svg.msc .fail-text { fill: #b91c1c; font-weight: 700; }
svg.msc text.ev { fill: #374151; } svg.msc circle.ev { fill: #10b981; }
svg.msc text.ev-close { fill: #7f1d1d; } svg.msc circle.ev-close { fill: #ef4444; }
svg.msc .elided, svg.msc .empty { fill: #6b7280; font-style: italic; }
svg.msc .elided { text-anchor: middle; }
"""


def _verdict_class(v: Verdict) -> str:
    return "v-" + _slug(v.value)


def _count_cells(counts: Counter[Verdict]) -> str:
    cells = []
    for v in _COLUMNS:
        n = counts[v]
        cls = _verdict_class(v) if n else "zero"
        cells.append(f'<td class="{cls}">{n}</td>')
    return "".join(cells)


def _summary_table(run: ReportRun) -> str:
    results = run.results
    areas = sorted({r.area for r in results})
    head = "".join(f'<th class="{_verdict_class(v)}">{_e(v.value)}</th>' for v in _COLUMNS)
    rows = []
    for area in areas:
        counts = Counter(r.verdict for r in results if r.area == area)
        rows.append(f"<tr><td>{_e(area)}</td>{_count_cells(counts)}</tr>")
    total = Counter(r.verdict for r in results)
    rows.append(f'<tr class="total"><td>total</td>{_count_cells(total)}</tr>')
    return (
        f'<table class="summary" data-run="{_e(run.label)}"><thead><tr><th>area</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _matrix_table(runs: Sequence[ReportRun]) -> str:
    areas = sorted({r.area for run in runs for r in run.results})
    head = "".join(f"<th>{_e(run.label)}</th>" for run in runs)
    rows = []
    for area in [*areas, None]:
        cells = []
        for run in runs:
            rs = [r for r in run.results if area is None or r.area == area]
            counts = Counter(r.verdict for r in rs)
            ok = counts[Verdict.PASS] + counts[Verdict.ACCEPTABLE]
            judged = len(rs) - counts[Verdict.NOT_APPLICABLE]
            worst = next((v for v in _ORDER if counts[v]), Verdict.NOT_APPLICABLE)
            bad = f", {counts[Verdict.FAIL]} fail" if counts[Verdict.FAIL] else ""
            bad += f", {counts[Verdict.INCONCLUSIVE]} inconclusive" if counts[Verdict.INCONCLUSIVE] else ""
            cells.append(f'<td class="cell-{_slug(worst.value)}">{ok}/{judged} ok{bad}</td>')
        name = "total" if area is None else _e(area)
        cls = ' class="total"' if area is None else ""
        rows.append(f"<tr{cls}><td>{name}</td>{''.join(cells)}</tr>")
    return f'<table class="matrix"><thead><tr><th>area</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _rules(result: CaseResult, requirements: Mapping[str, Requirement]) -> str:
    full = result.verdict in _BAD
    out = []
    for rid in result.cited:
        req = requirements.get(rid)
        if full:
            text = f"{req.level}: {req.text}" if req else "(not in the registry)"
            label = "rule broken" if rid in result.rules else ("also cites" if result.rules else "rule")
            out.append(f'<div class="rule">{label} <code>{_e(rid)}</code> {_e(text)}</div>')
        else:
            tip = f' title="{_e(req.level + ": " + req.text)}"' if req else ""
            out.append(f"<code{tip}>{_e(rid)}</code>")
    if full:
        return "".join(out)
    return f'<div class="rule">checks {" ".join(out)}</div>' if out else ""


def _case_block(result: CaseResult, run: ReportRun, anchor: str, requirements: Mapping[str, Requirement]) -> str:
    v = result.verdict
    vc = _verdict_class(v)
    bad = v in _BAD
    reqs = " ".join(result.rules or result.requirements)
    body: list[str] = []
    if result.reason:
        step = f"step {result.step}: " if result.step else ""
        body.append(f'<p class="reason {vc}">{_e(step + result.reason)}</p>')
    body.append(_rules(result, requirements))
    if result.expected or result.actual:
        body.append(
            f'<dl class="ea"><dt>expected</dt><dd>{_e(result.expected or "—")}</dd>'
            f"<dt>actual</dt><dd>{_e(result.actual or 'nothing')}</dd></dl>"
        )
    notes = list(result.notes)
    if notes:
        body.append("<ul class='notes'>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    if bad and result.trace:
        body.append(f"<details><summary>trace (last records)</summary><pre>{_e(result.trace)}</pre></details>")
    chart = chart_svg(result, clock=run.clock, chart_id=f"chart-{anchor}")
    caption = f"{run.clock} time, ms" if result.records else ""
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    body.append(f'<figure class="chart">{chart}{cap}</figure>')
    return (
        f'<details class="case {vc}" id="{_e(anchor)}" data-case-id="{_e(result.id)}" data-verdict="{_e(v.value)}"'
        f"{' open' if bad else ''}><summary><span class='badge {vc}'>{_e(v.value.upper())}</span>"
        f"<code>{_e(result.id)}</code><span class='reqs'>{_e(reqs)}</span></summary>{''.join(body)}</details>"
    )


def render_html(
    runs: Sequence[ReportRun],
    requirements: Mapping[str, Requirement],
    title: str,
    *,
    meta: Mapping[str, str] | None = None,
) -> str:
    """The whole report page (see the module docstring) as one HTML string.

    ``meta`` adds lines to the page header (``seed: 0``, a date the caller
    chose); the page itself carries no time stamp.
    """
    total = sum(len(run.results) for run in runs)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{_e(title)}</h1>",
        f'<p class="meta">{counted(total, "case result")} in {counted(len(runs), "run")}</p>',
    ]
    for key, value in (meta or {}).items():
        parts.append(f'<p class="meta">{_e(key)}: {_e(value)}</p>')
    parts.append('</header><section id="summary"><h2>Summary</h2>')
    if len(runs) > 1:
        parts.append("<h3>by area and profile</h3>" + _matrix_table(runs))
    for i, run in enumerate(runs):
        what = " · ".join(x for x in (run.profile and f"profile {run.profile}", run.target) if x)
        parts.append(f'<h3><a href="#run-{i}">{_e(run.label)}</a> <span class="reqs">{_e(what)}</span></h3>')
        parts.append(_summary_table(run))
    anchors: list[list[str]] = []
    for i, run in enumerate(runs):
        seen: Counter[str] = Counter()
        names = []
        for r in run.results:
            base = f"r{i}-{_slug(r.id)}"
            seen[base] += 1
            names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
        anchors.append(names)
    failures = [
        (run, r, anchors[i][j]) for i, run in enumerate(runs) for j, r in enumerate(run.results) if r.verdict in _BAD
    ]
    parts.append(f"<h3>failures and inconclusive cases ({len(failures)})</h3>")
    if failures:
        parts.append('<ul class="failures">')
        for run, r, anchor in failures:
            where = f" [{run.label}]" if len(runs) > 1 else ""
            parts.append(
                f'<li><span class="badge {_verdict_class(r.verdict)}">{_e(r.verdict.value.upper())}</span>'
                f'<a href="#{_e(anchor)}"><code>{_e(r.id)}</code></a>{_e(where)} {_e(_short(r.reason, 160))}</li>'
            )
        parts.append("</ul>")
    else:
        parts.append("<p>none</p>")
    parts.append("</section>")
    for i, run in enumerate(runs):
        what = " · ".join(x for x in (run.profile and f"profile {run.profile}", run.target, f"{run.clock} time") if x)
        parts.append(f'<section class="run" id="run-{i}"><h2>{_e(run.label)}</h2><p class="meta">{_e(what)}</p>')
        order = sorted(range(len(run.results)), key=lambda j: run.results[j].area)
        area = None
        for j in order:
            r = run.results[j]
            if r.area != area:
                area = r.area
                parts.append(f"<h3>{_e(area)}</h3>")
            parts.append(_case_block(r, run, anchors[i][j], requirements))
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
