"""pytest fixtures that start the real Gearman servers once per test session.

Load with ``pytest_plugins = ["gearsim.testing.peer_fixtures"]`` in a conftest.

* ``peer_server``: a session-scoped factory, ``peer_server("gear")`` returns
  the :class:`~gearsim.io.peers.RunningPeer` for that name, starting it on
  first use; every peer it started is stopped when the session ends.
* ``gearmand_c``, ``perl_gearman_server``, ``gear_server``: the three servers
  through that factory.

A peer that is not installed skips the test, unless the environment variable
``GEARSIM_REQUIRE_PEERS=1`` is set (CI sets it): then the test fails, so a
missing peer can never pass unseen. A SIGTERM to pytest stops the peers
before pytest dies of it (gearsim.testing.stopping; the pytest plugin does the
same, and either alone is enough). Only the modules of gearsim.testing import
pytest.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from gearsim.io.peers import PEERS, PeerError, RunningPeer, peer_available, start_peer, stop_peer
from gearsim.protocol.trace import terminal_text
from gearsim.testing import stopping

__all__ = [
    "gear_server",
    "gearmand_c",
    "peer_server",
    "peers_required",
    "perl_gearman_server",
    "require_peer",
]

#: the environment variable that turns "peer missing" from a skip into a failure
REQUIRE_ENV = "GEARSIM_REQUIRE_PEERS"

PeerFactory = Callable[[str], RunningPeer]


def peers_required() -> bool:
    """True when ``GEARSIM_REQUIRE_PEERS=1``: a missing peer must fail, not skip."""
    return os.environ.get(REQUIRE_ENV, "") == "1"


def require_peer(name: str) -> None:
    """Skip the current test (or fail it, see :func:`peers_required`) unless peer ``name`` is installed.

    Raises:
        pytest.skip.Exception: the peer is missing and peers are not required.
        pytest.fail.Exception: the peer is missing and ``GEARSIM_REQUIRE_PEERS=1``.
        ValueError: ``name`` is not a known peer.
    """
    reason = peer_available(name)
    if reason is None:
        return
    if peers_required():
        pytest.fail(f"{name}: {reason} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(f"{name}: {reason}")


def pytest_configure(config: pytest.Config) -> None:
    stopping.configure(config)  # SIGTERM stops the peers started here


def pytest_unconfigure(config: pytest.Config) -> None:
    stopping.unconfigure(config)


@pytest.fixture(scope="session")
def peer_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PeerFactory]:
    """Factory: ``peer_server(name)`` gives the session's running peer ``name``, started on first use.

    Each peer gets its own run directory under the session's temporary
    directory. A peer that is installed but will not start fails the test
    with the peer's log tail; a start that failed once is not retried.
    """
    running: dict[str, RunningPeer] = {}
    failed: dict[str, str] = {}

    def get(name: str) -> RunningPeer:
        if name not in PEERS:
            raise ValueError(f"unknown peer {name!r}; known peers: {', '.join(sorted(PEERS))}")
        if name in running:
            peer = running[name]
            status = peer.process.poll() if peer.process is not None else None
            if status is not None:
                pytest.fail(f"{name} exited with status {status} during the session; see {peer.log_file}")
            return peer
        if name in failed:
            pytest.fail(failed[name], pytrace=False)
        require_peer(name)
        try:
            peer = start_peer(name, tmp_path_factory.mktemp(f"peer-{name}"))
        except PeerError as exc:
            failed[name] = terminal_text(f"{name} did not start: {exc}")  # with the peer's log tail, its words
            pytest.fail(failed[name], pytrace=False)
        running[name] = peer
        return peer

    try:
        yield get
    finally:
        errors = []
        for peer in running.values():
            try:
                stop_peer(peer)
            except PeerError as exc:
                errors.append(str(exc))
        if errors:
            raise PeerError("; ".join(errors))


@pytest.fixture(scope="session")
def gearmand_c(peer_server: PeerFactory) -> RunningPeer:
    """The C gearmand 1.1.20 (``/usr/sbin/gearmand``), running for the whole session."""
    return peer_server("gearmand-c")


@pytest.fixture(scope="session")
def perl_gearman_server(peer_server: PeerFactory) -> RunningPeer:
    """Perl Gearman::Server 1.130.1 (``/usr/bin/gearmand``), running for the whole session."""
    return peer_server("perl-gearman-server")


@pytest.fixture(scope="session")
def gear_server(peer_server: PeerFactory) -> RunningPeer:
    """python gear.Server 0.16.0 (``geard``), running for the whole session."""
    return peer_server("gear")
