"""What tools/build_spec.py reads: the rule registry, the packet table and the profile table, as values.

This module owns where the sources are (``ROOT``, ``SPEC_MD``, ``REGISTRY``,
``PACKETS``, ``PROFILES_YAML``), the patterns of a rule line and a rule id
(``RULE_LINE``, ``ID_REF``), ``Rule`` and ``load_rules`` (the registry), and
``Context`` with ``load_context`` (everything a generator needs).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


SPEC_MD = ROOT / "spec" / "gearman.md"


REGISTRY = ROOT / "spec" / "requirements.yaml"


PACKETS = ROOT / "spec" / "packets.yaml"


PROFILES_YAML = ROOT / "spec" / "profiles.yaml"


RULE_LINE = re.compile(
    r"^- \[(?P<id>GM-[A-Z]+-\d{3})\] "
    r"(?:\*\*(?P<level>MUST|SHOULD|MAY)\*\*|~~(?P<old>MUST|SHOULD|MAY)~~ retired): "
    r"(?P<text>.*)$"
)


ID_REF = re.compile(r"\[?(GM-[A-Z]+-\d{3})\]?")


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
