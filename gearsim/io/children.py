"""The child processes gearsim started and has not reaped yet, so that gearsim never leaves them behind (I/O).

Servers, drivers, programs under test and ``serve`` subprocesses each run in a
session of their own (a Ctrl-C or a signal to gearsim's process group must
not reach them before gearsim has judged what they did), so when gearsim
itself is told to stop they would survive it: a CI job's timeout sends
SIGTERM, and the server a case had started kept running with init as its
parent. This module owns the list of those children (``track``, by whoever
starts one) and ``stop_all``, which the ``gearsim`` command calls when it is
interrupted or terminated: SIGTERM to each child's process group, a short
grace, then SIGKILL to the groups still there.

A child is signalled only while it has not been reaped (its ``returncode`` is
None): until then its PID cannot be reused, so no other process is ever hit.
Once ``stop_all`` has run, a child started afterwards (by a thread that was
still inside a case) is stopped as soon as it is tracked.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Final, Protocol

__all__ = ["GRACE", "Child", "stop_all", "stopping", "track"]

#: seconds between SIGTERM and SIGKILL when gearsim stops its children
GRACE: Final[float] = 1.0
_POLL: Final[float] = 0.02


class Child(Protocol):
    """What is read of a started child: a ``subprocess.Popen`` or an ``asyncio.subprocess.Process``."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...


# A plain set: adding is atomic under the GIL and copying it runs no Python code, so the
# signal handler that calls stop_all can never wait on a lock the interrupted thread holds.
_children: set[Child] = set()
_stopping = False


def track(child: Child) -> None:
    """Remember ``child`` (started with ``start_new_session=True``) until it is reaped."""
    for old in list(_children):
        if old.returncode is not None:
            _children.discard(old)
    _children.add(child)
    if _stopping:
        _signal_group(child, signal.SIGKILL)


def stopping() -> bool:
    """True once ``stop_all`` has run for gearsim's exit: anything judged from then on had its processes stopped."""
    return _stopping


def stop_all(grace: float = GRACE, *, and_later: bool = True) -> int:
    """Stop every tracked child that has not been reaped; returns how many were signalled.

    With ``and_later`` (gearsim is exiting), a child tracked afterwards is
    killed at once. Never raises: a child that is already gone, or not ours
    to signal, is skipped.
    """
    global _stopping
    _stopping = _stopping or and_later
    left = [c for c in list(_children) if c.returncode is None]
    for child in left:
        _signal_group(child, signal.SIGTERM)
    signalled = len(left)
    deadline = time.monotonic() + grace
    while left and time.monotonic() < deadline:
        time.sleep(_POLL)
        left = [c for c in left if not _reaped(c)]
    for child in left:
        _signal_group(child, signal.SIGKILL)
    return signalled


def _reaped(child: Child) -> bool:
    # a Popen is reaped by poll() (non-blocking; it defers to a thread already waiting on it);
    # an asyncio process by its event loop, which sets returncode
    poll = getattr(child, "poll", None)
    if poll is not None:
        with contextlib.suppress(Exception):
            poll()
    return child.returncode is not None


def _signal_group(child: Child, sig: signal.Signals) -> None:
    """Signal the process group ``child`` leads (a wrapper's own children go with it)."""
    if child.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, sig)
