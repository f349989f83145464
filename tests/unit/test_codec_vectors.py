"""The committed codec vectors (vectors/codec/*.yaml) against the codec, the validator and their generator.

Every codec case of every file is checked with gearsim.vectors.codec_checks.check_codec_case
(wire <-> messages, the decoder fed whole, byte by byte and with trailing bytes,
the validator's findings), each as its own test with the id ``file::case``.
The files must also lint clean and be exactly what tools/gen_codec_vectors.py
writes (``--check``), and the reactions it takes from the gearmand probe record
must still agree with that record when it is present.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

from gearsim.protocol.packets import SPECS, Packet, Role
from gearsim.protocol.requirements import parse_requirements
from gearsim.vectors.codec_checks import check_codec_case
from gearsim.vectors.lint import lint_text
from gearsim.vectors.parse import Case, VectorFile, parse_vector_text

ROOT = Path(__file__).resolve().parents[2]
CODEC_DIR = ROOT / "vectors" / "codec"
SCHEMA = ROOT / "spec" / "vectors.schema.json"
REQUIREMENTS = ROOT / "spec" / "requirements.yaml"
GENERATOR = ROOT / "tools" / "gen_codec_vectors.py"
OBSERVED = ROOT / "spec" / "observed" / "gearmand-1.1.20-codec.yaml"

FILES: list[Path] = sorted(CODEC_DIR.glob("*.yaml"))


@cache
def _schema_text() -> str:
    return SCHEMA.read_text(encoding="utf-8")


def _load(path: Path) -> VectorFile:
    return parse_vector_text(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)), _schema_text())


def _codec_cases() -> list[tuple[str, Case]]:
    out = []
    for path in FILES:
        for case in _load(path).cases:
            if case.is_codec:
                out.append((f"{path.name}::{case.id}", case))
    return out


CASES = _codec_cases()


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_codec_vectors", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_codec_vector_files_exist() -> None:
    assert {p.name for p in FILES} >= {"packets.yaml", "framing.yaml", "admin.yaml"}
    assert CASES


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[i for i, _ in CASES])
def test_codec_case(case: Case) -> None:
    assert check_codec_case(case) == []


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_file_lints_clean(path: Path) -> None:
    reqs = parse_requirements(REQUIREMENTS.read_text(encoding="utf-8"))
    _, findings = lint_text(path.read_text(encoding="utf-8"), str(path), _schema_text(), reqs)
    assert findings == []


def test_every_packet_type_and_direction_has_a_valid_case() -> None:
    valid = set()
    for case in _load(CODEC_DIR / "packets.yaml").cases:
        first = case.messages[0]
        if case.result == "valid" and isinstance(first, Packet):
            valid.add((int(first.type), case.sender))
    for number in range(1, 43):
        spec = SPECS[number]
        senders = {r.value for r in spec.req if r in (Role.CLIENT, Role.WORKER)}
        if spec.res:
            senders.add("server")
        for sender in senders:
            assert (number, sender) in valid, f"{spec.name} from {sender}"


def test_generator_check_passes() -> None:
    done = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(not OBSERVED.exists(), reason="no gearmand probe record (tools/probe_codec.py)")
def test_probe_backed_reactions_agree_with_the_probe_record() -> None:
    assert _generator().check_observed(OBSERVED) == []
