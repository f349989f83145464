"""The one-line commands that reproduce a failure, carrying the target as the user gave it (PURE).

A reproduce line is only useful if it runs the same case against the same
thing under the same conditions: after a ``--peer gearmand-c`` failure it must
start gearmand again, after a program case it must launch the same programs.
This module owns those lines: :class:`Target` records what a run played its
cases against (exactly as given on the command line), and
:func:`reproduce_run` / :func:`reproduce_fuzz` write the command. Every
``gearsim`` command and the pytest plugin print lines from here.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Target", "reproduce_fuzz", "reproduce_run"]


@dataclass(frozen=True, slots=True)
class Target:
    """What a run judged and how, as the user gave it; None or empty means "not given".

    ``server`` is ``HOST:PORT`` as typed; ``clients`` the ``--client``
    commands in order; ``level`` the ``--level`` given.
    """

    profile: str | None = None
    seed: int | None = None
    server: str | None = None
    server_command: str | None = None
    server_description: str | None = None
    peer: str | None = None
    programs: bool = False
    clients: tuple[str, ...] = ()
    driver: str | None = None
    chunking: int | None = None
    level: str | None = None

    def options(self) -> list[str]:
        """The ``gearsim run`` options that select this target, in a stable order."""
        words: list[str] = []
        if self.server:
            words += ["--server", self.server]
        if self.server_command:
            words += ["--server-command", self.server_command]
        if self.server_description:
            words += ["--server-description", self.server_description]
        if self.peer:
            words += ["--peer", self.peer]
        if self.programs and not self.clients:
            words.append("--programs")
        for command in self.clients:
            words += ["--client", command]
        if self.driver:
            words += ["--driver", self.driver]
        if self.profile:
            words += ["--profile", self.profile]
        if self.level:
            words += ["--level", self.level]
        if self.seed is not None:
            words += ["--seed", str(self.seed)]
        if self.chunking is not None:
            words += ["--chunking", str(self.chunking)]
        return words


def reproduce_run(case_id: str, target: Target) -> str:
    """``gearsim run FILE::CASE`` plus every option of ``target``, quoted for a POSIX shell."""
    return shlex.join(["gearsim", "run", case_id, *target.options()])


def reproduce_fuzz(
    server: str,
    *,
    profile: str,
    examples: int,
    steps: int,
    seed: int,
    exclude: Sequence[str] = (),
    known_bugs: bool = False,
    timeout: float | None = None,
) -> str:
    """The ``gearsim fuzz`` line that repeats a search exactly (same seed, sizes, exclusions, waits).

    ``timeout`` is given only when it is not the default (None).
    """
    words = ["gearsim", "fuzz", "--server", server, "--profile", profile]
    words += ["--examples", str(examples), "--steps", str(steps), "--seed", str(seed)]
    for rule in exclude:
        words += ["--exclude", rule]
    if known_bugs:
        words.append("--known-bugs")
    if timeout is not None:
        words += ["--timeout", f"{timeout:g}"]
    return shlex.join(words)
