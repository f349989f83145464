"""The code and spec/packets.yaml agree.

spec/packets.yaml is the single packet table; gearsim/protocol/_table.py is generated
from it and gearsim.protocol.packets types it. These tests fail whenever someone edits
one side without the other (the fix is ``python tools/gen_table.py``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

import gearsim.protocol._table
from gearsim.protocol.packets import ADMIN_COMMANDS, FIELDS, HEADER_SIZE, SPECS, Magic, PacketType, Role

ROOT = Path(__file__).resolve().parents[2]
SPEC_TEXT = (ROOT / "spec" / "packets.yaml").read_text(encoding="utf-8")
YAML: dict[str, Any] = yaml.safe_load(SPEC_TEXT)
ROWS: list[dict[str, Any]] = YAML["packets"]


def _gen_table() -> ModuleType:
    path = ROOT / "tools" / "gen_table.py"
    spec = importlib.util.spec_from_file_location("gen_table", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_table_is_up_to_date() -> None:
    """Same check as ``python tools/gen_table.py --check``."""
    generated = Path(gearsim.protocol._table.__file__).read_text(encoding="utf-8")
    assert generated == _gen_table().render(SPEC_TEXT), "run: python tools/gen_table.py"


def test_every_type_from_0_to_42_is_in_the_table() -> None:
    assert sorted(row["number"] for row in ROWS) == list(range(43))
    assert sorted(SPECS) == list(range(43))
    assert [t.value for t in PacketType] == list(range(43))


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_packet_type_member_matches_the_yaml(row: dict[str, Any]) -> None:
    member = PacketType(row["number"])
    assert member.name == row["name"]
    assert PacketType[row["name"]] == row["number"]


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_spec_row_matches_the_yaml(row: dict[str, Any]) -> None:
    spec = SPECS[row["number"]]
    assert spec.type == row["number"]
    assert spec.name == row["name"]
    assert spec.args == tuple(row["args"])
    assert spec.blob is row["blob"]
    assert spec.req == frozenset(Role(r) for r in row["req"])
    assert spec.res == frozenset(Role(r) for r in row["res"])
    assert spec.summary == row["summary"]
    assert spec.notes == row.get("notes", "")
    assert {k: list(v) for k, v in spec.variants.items()} == row.get("variants", {})


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_argument_names_are_fields(row: dict[str, Any]) -> None:
    names = list(row["args"])
    for variant in row.get("variants", {}).values():
        names += variant
    assert set(names) <= set(YAML["fields"]), f"{row['name']}: unknown {set(names) - set(YAML['fields'])}"


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_blob_rows_end_in_an_opaque_field(row: dict[str, Any]) -> None:
    # a blob last argument may hold NUL; only blob-kind fields can
    if row["blob"]:
        assert YAML["fields"][row["args"][-1]]["kind"] == "blob"


def test_fields_match_the_yaml() -> None:
    assert set(FIELDS) == set(YAML["fields"])
    for name, field in YAML["fields"].items():
        assert (FIELDS[name].kind, FIELDS[name].max) == (field["kind"], field.get("max"))


def test_magic_and_header_size_match_the_yaml() -> None:
    assert Magic.REQ.value == bytes.fromhex(YAML["magic"]["REQ"]) == b"\0REQ"
    assert Magic.RES.value == bytes.fromhex(YAML["magic"]["RES"]) == b"\0RES"
    assert HEADER_SIZE == YAML["header_size"] == 12


def test_admin_commands_match_the_yaml() -> None:
    assert [(a.name, list(a.args), a.reply) for a in ADMIN_COMMANDS] == [
        (a["name"], a["args"], a["reply"]) for a in YAML["admin"]
    ]
