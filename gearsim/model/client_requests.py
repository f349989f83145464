"""The client side of the reference server: echo, status polls, options, client ids.

PURE. ``ClientRequests`` owns the handlers of the requests a client sends
besides its submissions (ECHO_REQ, GET_STATUS, GET_STATUS_UNIQUE, OPTION_REQ,
SET_CLIENT_ID). It works on the ``ServerState`` it is given;
``gearsim.model.server.Server`` holds one, handles the submissions itself and
dispatches to the table ``handlers()`` returns.
"""

from __future__ import annotations

from gearsim.model.context import ServerState, reply
from gearsim.model.jobs import Outbox
from gearsim.model.replies import PERL_UNKNOWN_OPTION, UNKNOWN_OPTION
from gearsim.model.state import Conn, Job
from gearsim.model.worker_requests import BUFFER, Handler
from gearsim.protocol.packets import Packet, PacketType

__all__ = ["ClientRequests"]

_CLIENT_ID_MAX = 127  # GEARMAND_SERVER_CON_ID_SIZE - 1 (B-K9)


class ClientRequests:
    """Handlers of the requests clients send besides submissions, on one server's state."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.profile = state.profile
        self.store = state.store

    def handlers(self) -> dict[int, Handler]:
        """Packet type -> handler, for these requests."""
        return {
            PacketType.ECHO_REQ: self._echo,
            PacketType.GET_STATUS: self._get_status,
            PacketType.GET_STATUS_UNIQUE: self._get_status_unique,
            PacketType.OPTION_REQ: self._option,
            PacketType.SET_CLIENT_ID: self._set_client_id,
        }

    def _echo(self, c: Conn, p: Packet, out: Outbox) -> str | None:
        reply(out, c, PacketType.ECHO_RES, *p.args)  # B-K10: same bytes, NULs included
        return None

    def _set_client_id(self, c: Conn, p: Packet, out: Outbox) -> str | None:
        c.client_id = p.args[0][:_CLIENT_ID_MAX]  # B-K9: kept as sent, whitespace included
        return None

    def _status_numbers(self, job: Job | None) -> tuple[bytes, bytes]:
        profile = self.profile
        if job is not None and profile.status_numbers == "raw" and job.raw_status is not None:
            return job.raw_status
        if profile.status_empty_numbers and (job is None or job.raw_status is None):
            return b"", b""
        if job is None:
            return b"0", b"0"
        return str(job.numerator).encode(), str(job.denominator).encode()

    def _get_status(self, c: Conn, p: Packet, out: Outbox) -> str | None:
        if 0 in p.args[0] and self.profile.status_nul_handle == "no-reply":
            return None  # Perl: "handles can't contain nulls"
        handle = p.args[0].split(b"\0", 1)[0]
        if self.profile.fixed_buffers and len(handle) >= BUFFER:
            # no reply (server.cc:416-420); the connection is closed or kept by the race of
            # B-P9 (closed in 14 of 30 probes): the model closes, as for the other refusals
            return "GET_STATUS handle of 64 bytes or more (server.cc:416-420)"
        job = self.store.by_handle(handle)
        num, den = self._status_numbers(job)
        if job is None:
            reply(out, c, PacketType.STATUS_RES, handle, b"0", b"0", num, den)  # B-S1, B-S2
        else:
            running = b"0" if job.worker is None else b"1"
            reply(out, c, PacketType.STATUS_RES, handle, b"1", running, num, den)
        return None

    def _get_status_unique(self, c: Conn, p: Packet, out: Outbox) -> str | None:
        unique = p.args[0].split(b"\0", 1)[0]
        if self.profile.fixed_buffers and len(unique) >= BUFFER:
            # no reply (server.cc:336-340); closed or kept by the race of B-P9, as GET_STATUS
            return "GET_STATUS_UNIQUE unique of 64 bytes or more (server.cc:336-340)"
        job = self.store.by_unique(unique)  # B-S4
        if job is None:
            reply(out, c, PacketType.STATUS_RES_UNIQUE, unique, b"0", b"0", b"0", b"0", b"0")
            return None
        num, den = self._status_numbers(job)
        running = b"0" if job.worker is None else b"1"
        count = str(len(job.listeners)).encode()
        reply(out, c, PacketType.STATUS_RES_UNIQUE, unique, b"1", running, num, den, count)
        return None

    def _option(self, c: Conn, p: Packet, out: Outbox) -> str | None:
        profile = self.profile
        option = p.args[0].split(b"\0", 1)[0]
        if profile.fixed_buffers and len(option) >= BUFFER:
            out.append((c, UNKNOWN_OPTION))  # B-P10: 64 bytes or more
            return None
        if profile.option_match == "case-insensitive":
            known = option.lower() == b"exceptions"
        else:
            known = p.args[0] == b"exceptions"  # Perl: the whole body, byte for byte
        if not known:
            out.append((c, UNKNOWN_OPTION if profile.error_vocabulary == "gearmand" else PERL_UNKNOWN_OPTION))
            return None
        c.exceptions = True
        reply(out, c, PacketType.OPTION_RES, p.args[0])  # B-K11: echoed as sent
        return None
