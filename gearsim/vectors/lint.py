"""``gearsim lint``: everything that makes a vector file acceptable, as findings.

PURE over text: schema validity, the canonical form, agreement of every codec
case's hex and structured forms (plus its decode and validator expectations),
and that every cited requirement id exists and is not retired.
"""

from __future__ import annotations

from collections.abc import Mapping

from gearsim.errors import VectorError
from gearsim.protocol.requirements import Requirement
from gearsim.vectors.codec_checks import check_codec_case
from gearsim.vectors.parse import Case, VectorFile, dump_vector_file, parse_vector_text

__all__ = ["lint_text"]


def _cited(case: Case) -> list[str]:
    ids = list(case.requirements) + list(case.violations or ())
    for step in case.steps:
        ids.extend(step.requirements)
    return ids


def lint_text(
    text: str, name: str, schema_text: str, requirements: Mapping[str, Requirement]
) -> tuple[VectorFile | None, list[str]]:
    """Lint one vector file's text; return the parsed file (if it parsed) and the findings.

    Each finding is one line starting with the file name (and case id).
    """
    try:
        vf = parse_vector_text(text, name, schema_text)
    except VectorError as exc:
        return None, [str(exc)]
    findings: list[str] = []
    if dump_vector_file(vf.raw) != text:
        findings.append(f"{name}: not in canonical form (run: gearsim fmt {name})")
    for case in vf.cases:
        for rid in _cited(case):
            req = requirements.get(rid)
            if req is None:
                findings.append(f"{name}::{case.id}: unknown requirement id {rid}")
            elif req.status == "retired":
                findings.append(f"{name}::{case.id}: cites retired requirement {rid}")
        if case.is_codec:
            findings.extend(f"{name}::{p}" for p in check_codec_case(case))
    return vf, findings
