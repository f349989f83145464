"""The README's command synopsis (## Commands) names every option each ``gearsim`` command takes, and no other.

A new user learns the commands from that block; an option the parser takes
but the block leaves out is undiscoverable there, and one the block shows but
the parser refuses fails on first use.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from gearsim.cli.main import _COMMANDS, _parser

README = Path(__file__).resolve().parents[2] / "README.md"


def _synopsis() -> dict[str, set[str]]:
    """``{"run": {"--exclude", ...}, "spec coverage": {...}}`` from the README's ## Commands block."""
    text = README.read_text(encoding="utf-8")
    block = text.split("\n## Commands\n", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    options: dict[str, set[str]] = {}
    command = ""
    for line in block.splitlines():
        start = re.match(r"gearsim (spec \w+|\w+)", line)
        if start:
            command = start.group(1)
            options.setdefault(command, set())
        options[command] |= set(re.findall(r"(?<![\w-])--?[a-z][a-z-]*", line.split(" # ", 1)[0]))
    return options


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _parsed() -> dict[str, list[tuple[str, ...]]]:
    """Every command's options as the parser takes them, each with its spellings (``-o``, ``--output``)."""
    commands: dict[str, list[tuple[str, ...]]] = {}
    for name, sub in _subparsers(_parser([])).items():
        nested = _subparsers(sub)
        for full, parser in ({f"{name} {n}": p for n, p in nested.items()} if nested else {name: sub}).items():
            commands[full] = [tuple(a.option_strings) for a in parser._actions if a.option_strings and a.dest != "help"]
    return commands


def test_the_synopsis_lists_every_command() -> None:
    names = {n for names, _module, _add in _COMMANDS for n in names}
    listed = {c.split()[0] for c in _synopsis()}
    assert listed == names
    assert set(_synopsis()) == set(_parsed())


@pytest.mark.parametrize("command", sorted(_parsed()))
def test_the_synopsis_shows_exactly_the_options_of(command: str) -> None:
    shown, taken = _synopsis().get(command, set()), _parsed()[command]
    left_out = [spellings[-1] for spellings in taken if not shown & set(spellings)]
    assert not left_out, f"gearsim {command}: options the README's synopsis leaves out"
    refused = shown - {s for spellings in taken for s in spellings}
    assert not refused, f"gearsim {command}: options the README shows that the parser refuses"
