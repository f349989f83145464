"""Packages that load their names on first use (PEP 562) give every name they promise, and spare `check` the rest.

``gearsim check`` of a capture needs no vector schema: importing
``gearsim.vectors.parse`` (and with it jsonschema) cost every run ~0.25 s of
CPU. These tests keep that saving from coming back unnoticed, and keep the
lazy names in step with the modules that define them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import gearsim.run.library_judge as library_judge
import gearsim.vectors as vectors

CAPTURE = Path(__file__).parents[1] / "data" / "gearmand.raw.pcap"
HEAVY = ("jsonschema", "gearsim.vectors.parse")


def _loaded_after(statement: str) -> list[str]:
    """The modules of HEAVY that a fresh interpreter holds after running ``statement``."""
    probe = f"import contextlib, io, sys\n{statement}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.split()


def test_gearsim_check_of_a_capture_loads_no_vector_schema() -> None:
    check = (
        "from gearsim.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['check', {str(CAPTURE)!r}]) == 0\n"
    )
    assert _loaded_after(check) == []


def test_the_probe_sees_a_schema_loaded() -> None:
    assert _loaded_after("from gearsim.vectors import VectorFile") == list(HEAVY)


@pytest.mark.parametrize("name", vectors.__all__)
def test_every_vectors_name_is_the_parse_modules_own(name: str) -> None:
    import gearsim.vectors.parse as parse

    assert getattr(vectors, name) is getattr(parse, name)


@pytest.mark.parametrize("name", sorted(library_judge._HOME))
def test_every_library_judge_name_comes_from_its_home(name: str) -> None:
    import importlib

    home = importlib.import_module(f"gearsim.run.library_judge.{library_judge._HOME[name]}")
    assert getattr(library_judge, name) is getattr(home, name)


@pytest.mark.parametrize("package", [vectors, library_judge])
def test_an_unknown_name_is_an_attribute_error(package: object) -> None:
    name = "no_such_name"
    with pytest.raises(AttributeError, match=name):
        getattr(package, name)
