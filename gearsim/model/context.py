"""What a server's request handlers share: ``ServerState``, its ``Lifecycle``, and ``reply``.

PURE. The binary handlers (server.py), the worker handlers (worker_requests.py)
and the admin commands (admin.py) each get one ``ServerState``: the profile,
the options, the job store, the timers and the open connections of one
server, and nothing of the ``Server`` object that dispatches to them. That
keeps the handler modules below server.py: none of them imports it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from gearsim.model.deadlines import Deadlines
from gearsim.model.jobs import JobStore, Outbox
from gearsim.model.options import ServerOptions
from gearsim.model.profiles import Profile
from gearsim.model.state import Conn
from gearsim.protocol.node import ConnId
from gearsim.protocol.packets import Packet, PacketType

__all__ = ["Crash", "Lifecycle", "ServerState", "reply"]


class Lifecycle(enum.Enum):
    """Where a server is in its life; only admin 'shutdown' (profile ``admin_shutdown`` "exit") moves it."""

    #: accepting connections and reading them
    SERVING = "serving"
    #: a bare 'shutdown' was read: the current call ends with every connection closed
    EXITING = "exiting"
    #: 'shutdown graceful': open connections go on, new ones are refused
    DRAINING = "draining"
    #: the process has exited: nothing is read, sent or timed any more
    EXITED = "exited"


class Crash(Exception):
    """Raised by a handler where the profile's server process dies (a recorded crash defect)."""


@dataclass(frozen=True, slots=True)
class ServerState:
    """The parts of one server that its handlers read and change (the containers are live)."""

    profile: Profile
    options: ServerOptions
    store: JobStore
    deadlines: Deadlines
    #: the open connections, in connect order
    conns: Mapping[ConnId, Conn]


def reply(out: Outbox, c: Conn, type_: PacketType, *args: bytes) -> None:
    """Queue a ``\\0RES`` packet of ``type_`` with ``args`` for ``c``."""
    out.append((c, Packet.res(type_, *args)))
