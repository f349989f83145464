"""The requirement registry (spec/requirements.yaml) as typed objects.

PURE: parses text given by the caller. Ids are stable; a retired id stays listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from gearsim.errors import VectorError

__all__ = ["SERVER_SUBJECTS", "SUBJECTS", "Requirement", "parse_requirements"]

#: whom a rule binds (spec/requirements.yaml ``subject``)
SUBJECTS = ("server", "receiver", "sender", "client", "worker", "peer")
#: the subjects whose rules a server breaks by what it does (a sender rule it breaks only by the bytes it sends)
SERVER_SUBJECTS = frozenset({"server", "receiver"})


@dataclass(frozen=True, slots=True)
class Requirement:
    """One normative rule: id, RFC 2119 level, area, sentence, status, and whom it binds (``subject``)."""

    id: str
    level: str
    area: str
    text: str
    status: str = "active"
    subject: str = "server"

    @property
    def server_can_break(self) -> bool:
        """True for a MUST or SHOULD that binds what a server does: one a server's behaviour can break.

        A MAY is a permission, never broken; a rule of clients or workers is
        not the server's; a sender rule binds the bytes of the packets a server
        sends, which the validator judges (gearsim.protocol.validate).
        """
        return self.level != "MAY" and self.subject in SERVER_SUBJECTS

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
            subject = row.get("subject", "server")
            if subject not in SUBJECTS:
                raise VectorError(f"{rid}: subject must be one of {', '.join(SUBJECTS)}", file=name)
            out[rid] = Requirement(
                rid, row["level"], row["area"], row["text"], row.get("status", "active"), subject=subject
            )
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise VectorError(f"malformed requirement registry: {exc}", file=name) from None
    return out
