#!/usr/bin/env python3
"""Generate gearsim/protocol/_table.py from spec/packets.yaml.

The packet table is typed once, in spec/packets.yaml. The package must not read
files at import (its core is pure), so this tool renders the table as a Python
literal plus the PacketType enum, and tests/unit/test_table.py fails whenever
the generated module and the YAML disagree.

usage: python tools/gen_table.py [--check]
"""

from __future__ import annotations

import pprint
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "spec" / "packets.yaml"
OUT = ROOT / "gearsim" / "protocol" / "_table.py"


def render(spec_text: str) -> str:
    """Return the source of gearsim/protocol/_table.py for the given packets.yaml text."""
    table = yaml.safe_load(spec_text)
    lines = [
        '"""The packet table, generated from spec/packets.yaml by tools/gen_table.py.',
        "",
        "Do not edit: change spec/packets.yaml and run `python tools/gen_table.py`.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "import enum",
        "from typing import Any, Final",
        "",
        "",
        "class PacketType(enum.IntEnum):",
        '    """Gearman binary packet types, named as in the protocol."""',
        "",
    ]
    for row in table["packets"]:
        lines.append(f"    #: {row['summary']}")
        lines.append(f"    {row['name']} = {row['number']}")
    lines += [
        "",
        "",
        "TABLE: Final[dict[str, Any]] = " + pprint.pformat(table, width=100, sort_dicts=True),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    text = render(SPEC.read_text(encoding="utf-8"))
    if "--check" in argv:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run python tools/gen_table.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
