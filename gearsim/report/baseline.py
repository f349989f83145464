"""Committed expected verdicts ("baselines") and the comparison of a run against one.

PURE: text in, values out; no files, sockets or clocks. gearsim.files reads
and writes the files.

A baseline records, for one implementation under one profile (a real server
such as ``gearmand-c`` under ``gearmand-1.1``, or the model under a profile),
the verdict every case got and a one-line reason. CI compares each run with
the committed baseline: a case that got worse is a *regression* (the only
thing that makes ``gearsim run --baseline`` fail), a case that now passes
where the baseline says it fails is an *XPASS* (the baseline is stale: update
it, and say why in the commit), and any other verdict change is *changed*.
Cases the baseline does not know are *new*; a new case that fails counts as a
regression, because nobody has yet decided that failure is expected. A flip
between pass, acceptable and known-defect is neither: all are outcomes the
vector records for the profile, and some servers pick one by timing (a race
that only sometimes shows a known defect); it is listed, never counted.

File format (JSON, one case per line so that diffs stay readable)::

    {
     "schema": "gearsim-baseline/1",
     "peer": "gearmand-c",
     "profile": "gearmand-1.1",
     "meta": {"version": "1.1.20+ds", "generated_by": "gearsim matrix --write-baselines baselines"},
     "cases": {
      "codec/admin.yaml::getpid": {"verdict": "fail", "reason": "server reaction: ..."},
      ...
     }
    }

The pytest plugin takes a list of *known failures* instead (expected to fail,
reported as xfail); :func:`known_failures` reads one from any of three texts:
one case id per line (globs allowed, an optional reason after ``#``), a
``gearsim-baseline/1`` file, or a ``gearsim run --format json`` report. The
last two contribute their failing and inconclusive cases.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from gearsim.errors import Fault, GearsimError
from gearsim.protocol.trace import terminal_text
from gearsim.run.runner import CaseResult, Verdict

__all__ = [
    "SCHEMA",
    "Baseline",
    "BaselineError",
    "Change",
    "Comparison",
    "Expected",
    "baseline_from_results",
    "compare",
    "dump_baseline",
    "format_comparison",
    "known_failures",
    "one_line_reason",
    "parse_baseline",
]

SCHEMA = "gearsim-baseline/1"
#: longest reason kept in a baseline
REASON_LIMIT = 200

#: outcomes the vector records for the profile: a flip among them is listed, never counted
_GOOD = frozenset({Verdict.PASS, Verdict.ACCEPTABLE, Verdict.KNOWN_DEFECT})
_BAD = frozenset({Verdict.FAIL, Verdict.INCONCLUSIVE})
_BY_VALUE = {v.value: v for v in Verdict}


class BaselineError(GearsimError, ValueError):
    """A baseline file that cannot be read as one (the input's fault)."""

    fault = Fault.INPUT


@dataclass(frozen=True, slots=True)
class Expected:
    """What a baseline expects of one case."""

    verdict: Verdict
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Baseline:
    """The expected verdicts of one implementation under one profile."""

    peer: str
    profile: str
    cases: Mapping[str, Expected]
    meta: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Change:
    """One case whose verdict differs from the baseline (None: absent on that side)."""

    case: str
    before: Verdict | None
    after: Verdict | None
    reason: str = ""
    expected_reason: str = ""

    def describe(self) -> str:
        """``id: before -> after: reason`` on one line."""
        before = self.before.value if self.before is not None else "(not in baseline)"
        after = self.after.value if self.after is not None else "(not run)"
        text = f"{self.case}: {before} -> {after}"
        if self.reason:
            text += f": {self.reason}"
        if self.expected_reason and self.expected_reason != self.reason:
            text += f" [baseline: {self.expected_reason}]"
        return text


@dataclass(frozen=True, slots=True)
class Comparison:
    """A run against a baseline, split by kind of difference."""

    peer: str
    profile: str
    #: got worse (good or n/a -> fail/inconclusive, inconclusive -> fail), or new and failing
    regressions: tuple[Change, ...]
    #: now passes (or is acceptable) where the baseline says fail/inconclusive
    xpasses: tuple[Change, ...]
    #: any other verdict change (fail -> inconclusive, to or from n/a)
    changed: tuple[Change, ...]
    #: not in the baseline and not failing
    new: tuple[Change, ...]
    #: in the baseline but not run (a subset was run, or the case was removed)
    missing: tuple[Change, ...]
    #: same verdict, but a failure reason that differs beyond numbers (informational)
    reasons: tuple[Change, ...]
    #: pass <-> acceptable: the server took another outcome the vector allows (informational;
    #: timing-dependent servers do this, e.g. gearmand on server/status.yaml::unique-64-bytes-ignored)
    alternatives: tuple[Change, ...]
    #: cases with the same verdict
    same: int

    @property
    def ok(self) -> bool:
        """True when nothing regressed: the only condition ``--baseline`` fails on."""
        return not self.regressions

    def exact(self, *, complete: bool = False) -> bool:
        """True when every verdict equals the baseline (and, if ``complete``, nothing is missing)."""
        differs = self.regressions or self.xpasses or self.changed or self.new
        return not differs and not (complete and self.missing)


def one_line_reason(result: CaseResult, limit: int = REASON_LIMIT) -> str:
    """The one-line reason a baseline keeps for a result.

    FAIL and INCONCLUSIVE keep the failure reason, ACCEPTABLE the alternative
    taken, n/a why; PASS keeps nothing. Newlines become spaces and the text is
    cut at ``limit`` characters. Never raises.
    """
    if result.verdict is Verdict.PASS:
        return ""
    text = "; ".join(result.notes) if result.verdict is Verdict.ACCEPTABLE else result.reason
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def baseline_from_results(
    results: Iterable[CaseResult], peer: str, profile: str, meta: Mapping[str, str] | None = None
) -> Baseline:
    """A baseline that expects exactly these results. Never raises."""
    cases = {r.id: Expected(r.verdict, one_line_reason(r)) for r in results}
    return Baseline(peer, profile, dict(sorted(cases.items())), dict(meta or {}))


def _text(raw: Mapping[str, object], key: str, source: str) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str):
        raise BaselineError(f"{source}: {key!r} must be a string, not {type(value).__name__}")
    return value


def _json(text: str, source: str) -> object:
    """``text`` as JSON.

    Raises:
        BaselineError: not JSON, an integer of more digits than Python converts (a ValueError, not a
            JSONDecodeError), arrays and objects nested deeper than the decoder recurses, or a key
            given twice in one object (json keeps the last: a case listed twice, with another
            verdict, silently replaced the first, where a vector file's YAML refuses it).
    """

    def unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
        out: dict[str, object] = {}
        for key, value in pairs:
            if key in out:
                raise BaselineError(f"{source}: key {key!r} given twice in one object")
            out[key] = value
        return out

    try:
        return json.loads(text, object_pairs_hook=unique)
    except BaselineError:
        raise  # unique's, a ValueError too
    except ValueError as exc:
        raise BaselineError(f"{source}: not JSON: {exc}") from None
    except RecursionError:
        raise BaselineError(f"{source}: not a baseline: arrays or objects nested too deep to read") from None


def parse_baseline(text: str, source: str = "<baseline>") -> Baseline:
    """Read a baseline from its JSON text.

    Raises:
        BaselineError: not JSON, another schema, or a case without a known verdict.
    """
    raw = _json(text, source)
    if not isinstance(raw, dict):
        raise BaselineError(f"{source}: expected a JSON object")
    if raw.get("schema") != SCHEMA:
        raise BaselineError(f"{source}: schema is {raw.get('schema')!r}, expected {SCHEMA!r}")
    peer, profile = _text(raw, "peer", source), _text(raw, "profile", source)
    meta_raw = raw.get("meta", {})
    cases_raw = raw.get("cases")
    if not isinstance(meta_raw, dict) or not all(isinstance(v, str) for v in meta_raw.values()):
        raise BaselineError(f"{source}: 'meta' must map names to strings")
    if not isinstance(cases_raw, dict):
        raise BaselineError(f"{source}: 'cases' must be an object of case id -> expectation")
    cases: dict[str, Expected] = {}
    for case_id, entry in cases_raw.items():
        if not isinstance(entry, dict):
            raise BaselineError(f"{source}: case {case_id!r}: expected an object with 'verdict'")
        named = entry.get("verdict")
        verdict = _BY_VALUE.get(named) if isinstance(named, str) else None  # a list or an object is not hashable
        if verdict is None:
            known = ", ".join(sorted(_BY_VALUE))
            raise BaselineError(f"{source}: case {case_id!r}: verdict {entry.get('verdict')!r} is not one of {known}")
        cases[case_id] = Expected(verdict, _text(entry, "reason", f"{source}: case {case_id!r}"))
    return Baseline(peer, profile, cases, dict(meta_raw))


def dump_baseline(baseline: Baseline) -> str:
    """The canonical JSON text of a baseline: sorted cases, one per line. Never raises."""
    head = [
        f' "schema": {json.dumps(SCHEMA)}',
        f' "peer": {json.dumps(baseline.peer)}',
        f' "profile": {json.dumps(baseline.profile)}',
        f' "meta": {json.dumps(dict(sorted(baseline.meta.items())), ensure_ascii=False)}',
    ]
    rows = []
    for case_id in sorted(baseline.cases):
        exp = baseline.cases[case_id]
        entry = {"verdict": exp.verdict.value, "reason": exp.reason} if exp.reason else {"verdict": exp.verdict.value}
        rows.append(f"  {json.dumps(case_id)}: {json.dumps(entry, ensure_ascii=False)}")
    body = ",\n".join(rows)
    return "{\n" + ",\n".join(head) + ',\n "cases": {\n' + body + ("\n" if rows else "") + " }\n}\n"


def _reason_key(reason: str) -> str:
    # numbers (ports, PIDs, fds, handle counters, timings) vary between runs
    return re.sub(r"\d+", "#", reason)


def _kind(before: Verdict | None, after: Verdict) -> str:
    if before is None:
        return "regression" if after in _BAD else "new"
    if before == after:
        return "same"
    if after in _BAD and (before in _GOOD or before is Verdict.NOT_APPLICABLE):
        return "regression"
    if before is Verdict.INCONCLUSIVE and after is Verdict.FAIL:
        return "regression"
    if before in _BAD and after in _GOOD:
        return "xpass"
    if before in _GOOD and after in _GOOD:
        return "alternative"
    return "changed"


def compare(baseline: Baseline, results: Sequence[CaseResult]) -> Comparison:
    """Compare ``results`` with ``baseline``, case by case. Never raises."""
    kinds = ("regression", "xpass", "changed", "new", "reasons", "alternative")
    buckets: dict[str, list[Change]] = {k: [] for k in kinds}
    same = 0
    seen: set[str] = set()
    for r in results:
        seen.add(r.id)
        exp = baseline.cases.get(r.id)
        before = exp.verdict if exp is not None else None
        reason = one_line_reason(r)
        kind = _kind(before, r.verdict)
        change = Change(r.id, before, r.verdict, reason, exp.reason if exp is not None else "")
        if kind != "same":
            buckets[kind].append(change)
            continue
        same += 1
        assert exp is not None  # "same" needs a baseline entry
        if r.verdict in _BAD and _reason_key(reason) != _reason_key(exp.reason):
            buckets["reasons"].append(change)
    missing = tuple(
        Change(case_id, exp.verdict, None, "", exp.reason)
        for case_id, exp in sorted(baseline.cases.items())
        if case_id not in seen
    )
    return Comparison(
        baseline.peer,
        baseline.profile,
        regressions=tuple(buckets["regression"]),
        xpasses=tuple(buckets["xpass"]),
        changed=tuple(buckets["changed"]),
        new=tuple(buckets["new"]),
        missing=missing,
        reasons=tuple(buckets["reasons"]),
        alternatives=tuple(buckets["alternative"]),
        same=same,
    )


def format_comparison(cmp: Comparison, *, show_missing: bool = False, show_reasons: bool = True) -> str:
    """A readable diff of a comparison: a summary line, then one line per difference. Never raises."""
    lines = [
        f"baseline {cmp.peer} ({cmp.profile}): {cmp.same} same, {len(cmp.regressions)} regressions, "
        f"{len(cmp.xpasses)} XPASS, {len(cmp.changed)} changed, {len(cmp.new)} new, {len(cmp.missing)} not run, "
        f"{len(cmp.alternatives)} pass<->acceptable"
    ]
    sections: list[tuple[str, Sequence[Change]]] = [
        ("REGRESSION", cmp.regressions),
        ("XPASS", cmp.xpasses),
        ("CHANGED", cmp.changed),
        ("NEW", cmp.new),
    ]
    if show_reasons:
        sections.append(("REASON", cmp.reasons))
        sections.append(("ALTERNATIVE", cmp.alternatives))
    if show_missing:
        sections.append(("NOT RUN", cmp.missing))
    for label, changes in sections:
        lines += [f"  {label} {c.describe()}" for c in changes]
    if cmp.xpasses or cmp.new or (show_missing and cmp.missing) or (cmp.changed and cmp.ok):
        lines.append("  (update the baseline with: gearsim matrix --write-baselines baselines)")
    return terminal_text("\n".join(lines) + "\n")  # reasons quote peers: no raw ESC or CR on a terminal


def known_failures(text: str, source: str = "<baseline>") -> dict[str, str]:
    """Known failures as {case id or glob: reason}, from any of the three texts in the module docstring.

    Raises:
        BaselineError: JSON that is neither a baseline nor a run report.
    """
    if not text.lstrip().startswith("{"):
        out: dict[str, str] = {}
        for line in text.splitlines():
            entry, _, reason = line.partition("#")
            if entry.strip():
                out[entry.strip()] = reason.strip() or "known failure"
        return out
    raw = _json(text, source)
    if isinstance(raw, dict) and raw.get("schema") == SCHEMA:
        baseline = parse_baseline(text, source)
        return {
            case_id: f"{exp.verdict.value}: {exp.reason}".rstrip(": ")
            for case_id, exp in baseline.cases.items()
            if exp.verdict in _BAD
        }
    rows = raw.get("results") if isinstance(raw, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("id"), str) for r in rows):
        raise BaselineError(f"{source}: neither a {SCHEMA} file nor a gearsim run --format json report")
    return {
        row["id"]: f"baseline: {row['verdict']}: {row.get('reason', '')}".rstrip(": ")
        for row in rows
        if row.get("verdict") in ("fail", "inconclusive")
    }
