"""``--against REV`` for the benchmarks: run another git revision's own bench in the same run.

A benchmark that takes ``--against REV`` checks REV out into a temporary
detached worktree (``git worktree add --detach``), runs that checkout's copy of
the same bench script in a subprocess with the checkout first on PYTHONPATH
(so it measures REV's gearsim, with REV's own bench code), reads the figures
off its printed table, and prints each figure of this run beside REV's with
the ratio. The worktree is removed afterwards, whatever happens.

This is a tool, not a test; tests/unit/test_bench_sim_smoke.py runs it against HEAD.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class AgainstError(Exception):
    """The other revision cannot be checked out or its bench failed; the message says which."""


@contextmanager
def checkout(rev: str) -> Iterator[Path]:
    """A temporary detached worktree of ``rev``, removed on exit.

    Raises:
        AgainstError: ``rev`` is not a revision of this repository.
    """
    with tempfile.TemporaryDirectory(prefix="gearsim-against-") as scratch:
        path = Path(scratch) / "tree"
        made = subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev],
            capture_output=True,
            text=True,
        )
        if made.returncode != 0:
            raise AgainstError(f"cannot check out {rev!r}: {made.stderr.strip().splitlines()[-1:]}")
        try:
            yield path
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], capture_output=True)


def forwarded(argv: list[str], rev: str) -> list[str]:
    """The command-line arguments to give REV's bench: ours without ``--against REV``."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--against":
            skip = True
        elif not arg.startswith("--against="):
            kept.append(arg)
    return kept


def heading(rev: str, script: str) -> str:
    """The line that opens the comparison table."""
    return f"against {describe(rev)} (its own {script}, run just now with the same options)"


def describe(rev: str) -> str:
    """``rev`` as a short commit id and subject, for the heading."""
    shown = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %s", rev], capture_output=True, text=True)
    return shown.stdout.strip() or rev


def run_bench(tree: Path, script: str, args: list[str]) -> str:
    """Run ``tree``'s copy of ``script`` (a path under the repository) with ``args``; its stdout.

    Raises:
        AgainstError: the script is missing in that revision, or fails.
    """
    path = tree / script
    if not path.exists():
        raise AgainstError(f"{script} does not exist in that revision")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    done = subprocess.run([sys.executable, str(path), *args], cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise AgainstError(f"{script} of that revision failed: {tail}")
    return done.stdout


_NUMBER = re.compile(r"-?[0-9][0-9,]*(?:\.[0-9]+)?")


def number(text: str) -> float:
    """The first number in ``text`` (thousands separators allowed).

    Raises:
        ValueError: there is none.
    """
    found = _NUMBER.search(text)
    if found is None:
        raise ValueError(f"no number in {text!r}")
    return float(found.group().replace(",", ""))


def ratio(ours: float, theirs: float, *, higher_is_better: bool) -> float:
    """How many times better ours is (> 1.0: better), for a figure where higher or lower wins."""
    if ours <= 0 or theirs <= 0:
        return float("nan")
    return ours / theirs if higher_is_better else theirs / ours
