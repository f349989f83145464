"""The three built-in peers: the real Gearman servers gearsim is checked against.

Each peer is a server description shipped in the package (``servers/*.toml``
at the top of a checkout, read with :func:`gearsim.io.serverdesc.bundled_descriptions`),
started and stopped by :mod:`gearsim.io.launch` exactly as a user's own
server is. This module keeps the names the rest of gearsim and its tests use:

* ``gearmand-c``: the C gearmand 1.1.20, ``/usr/sbin/gearmand``;
* ``perl-gearman-server``: Perl Gearman::Server 1.130.1, ``/usr/bin/gearmand``
  (the same base name as the C server: the descriptions use full paths);
* ``gear``: ``geard`` from the PyPI package gear 0.16.0.

All are installed by ``tools/peers/install.sh``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from gearsim.io.launch import LaunchError, RunningServer, listening_sockets, start_server, stop_server
from gearsim.io.serverdesc import HOST, ServerDescription, bundled_descriptions

__all__ = [
    "HOST",
    "PEERS",
    "PeerError",
    "PeerSpec",
    "RunningPeer",
    "listening_sockets",
    "peer_available",
    "peer_description",
    "start_peer",
    "stop_peer",
]

INSTALL_HINT = "run tools/peers/install.sh"

#: a peer that cannot be started or stopped (the launcher's error)
PeerError = LaunchError
#: a started peer
RunningPeer = RunningServer


@dataclass(frozen=True)
class PeerSpec:
    """What gearsim knows about one built-in peer, independent of any running instance."""

    name: str
    #: "server" for a job server (the only kind so far)
    kind: str
    description: str


@lru_cache(maxsize=1)
def _bundled() -> dict[str, ServerDescription]:
    return bundled_descriptions()


PEERS: dict[str, PeerSpec] = {
    name: PeerSpec(name=name, kind="server", description=desc.summary) for name, desc in _bundled().items()
}


def peer_description(name: str) -> ServerDescription:
    """The bundled description of peer ``name``.

    Raises:
        ValueError: ``name`` is not a key of :data:`PEERS`.
    """
    try:
        return _bundled()[name]
    except KeyError:
        raise ValueError(f"unknown peer {name!r}; known peers: {', '.join(sorted(PEERS))}") from None


def peer_available(name: str) -> str | None:
    """None when peer ``name`` can be started, else a one-line reason with how to install it.

    Raises:
        ValueError: ``name`` is not a key of :data:`PEERS`.
    """
    missing = peer_description(name).missing()
    return None if missing is None else f"{missing}: {INSTALL_HINT}"


def start_peer(name: str, rundir: Path, extra_args: Sequence[str] = (), timeout: float = 10.0) -> RunningPeer:
    """Start peer ``name`` on a free port of 127.0.0.1 and wait until it answers (see start_server).

    Raises:
        ValueError: unknown ``name``, or ``extra_args`` holds an option that
            fixes the address, port, run files or daemon mode.
        PeerError: the peer is not installed or could not be started; the
            message quotes the tail of its output.
    """
    desc = peer_description(name)
    desc.check_extra(extra_args)
    reason = peer_available(name)
    if reason is not None:
        raise PeerError(reason)
    return start_server(desc, rundir, extra_args=extra_args, timeout=timeout)


def stop_peer(peer: RunningPeer, timeout: float = 5.0) -> None:
    """Stop a peer by the PID recorded in its PID file (see stop_server).

    Raises:
        PeerError: the PID file is wrong or the process survived SIGKILL.
    """
    stop_server(peer, timeout)
