"""SIGTERM to a pytest run that uses gearsim stops the processes gearsim started before pytest dies of it.

Servers, drivers and programs run in sessions of their own
(gearsim.io.children), so a CI job's timeout that sends SIGTERM to pytest
left the peer servers of ``gearsim.testing.peer_fixtures`` (and the servers
of ``--gearsim-server-command``) running with init as their parent: only the
``gearsim`` command stopped them. :func:`configure`, called from the plugins'
``pytest_configure``, installs a SIGTERM handler that stops the tracked
children, puts the default disposition back and raises SIGTERM again, so
pytest still dies of SIGTERM as it did (exit status, core rules and all).

It takes nothing from pytest or the user: the handler is installed only from
the main thread (only it may set handlers) and only when SIGTERM is at its
default disposition; a handler someone else set (the user's, a plugin's, an
outer pytest's in a pytester run) is left alone. :func:`unconfigure` puts the
default back, if the config that installed the handler finds it still there.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import pytest

from gearsim.io.children import stop_all

__all__ = ["configure", "unconfigure"]

#: whether this config installed the handler (so that only it removes it)
_INSTALLED = pytest.StashKey[bool]()


def _stop_children_then_die(signum: int, _frame: FrameType | None) -> None:
    stop_all()
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)  # dies of it now, as without gearsim


def configure(config: pytest.Config) -> None:
    """Install the handler for ``config``'s run when SIGTERM is at its default, in the main thread. Never raises."""
    if config.stash.get(_INSTALLED, False) or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return
    signal.signal(signal.SIGTERM, _stop_children_then_die)
    config.stash[_INSTALLED] = True


def unconfigure(config: pytest.Config) -> None:
    """Put SIGTERM back to its default if ``config`` installed the handler and it is still there. Never raises."""
    if not config.stash.get(_INSTALLED, False):
        return
    config.stash[_INSTALLED] = False
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is (
        _stop_children_then_die
    ):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
