"""The requirement registry (spec/requirements.yaml) as typed objects.

PURE: parses text given by the caller. Ids are stable; a retired id stays listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from gearsim.errors import VectorError

__all__ = ["Requirement", "parse_requirements"]


@dataclass(frozen=True, slots=True)
class Requirement:
    """One normative rule: id, RFC 2119 level, area, sentence, status."""

    id: str
    level: str
    area: str
    text: str
    status: str = "active"

    def __str__(self) -> str:
        return f"{self.id} ({self.level}): {self.text}"


def parse_requirements(text: str, name: str = "spec/requirements.yaml") -> Mapping[str, Requirement]:
    """Id -> Requirement, in file order.

    Raises:
        VectorError: malformed registry or a duplicate id.
    """
    try:
        data = yaml.safe_load(text)
        rows = data["requirements"]
        out: dict[str, Requirement] = {}
        for row in rows:
            rid = row["id"]
            if rid in out:
                raise VectorError(f"duplicate requirement id {rid}", file=name)
            if row["level"] not in ("MUST", "SHOULD", "MAY"):
                raise VectorError(f"{rid}: level must be MUST, SHOULD or MAY", file=name)
            out[rid] = Requirement(rid, row["level"], row["area"], row["text"], row.get("status", "active"))
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise VectorError(f"malformed requirement registry: {exc}", file=name) from None
    return out
