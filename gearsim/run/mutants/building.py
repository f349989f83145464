"""The three ways a mutant is built around an ordinary ``Server``, for one case at a time.

PURE. This module owns the building blocks the registry tables combine:

* a *switch*: the profile with some switches changed (``dataclasses.replace``
  on the frozen ``Profile``), e.g. the spec model given Perl's eviction
  (``switch``, ``without``, ``without_ignored``);
* a *patch*: the ``Server`` instance with one of its handlers, or a method of
  its job store, replaced on that instance (``patch``, ``wrap_handler``,
  ``ignore``, ``replies_without``, ``store_patch``);
* a *rewrite*: a ``ServerNode`` wrapped around the server that changes what it
  sends (``Rewriting``, ``rewrite_with``, ``on_packet``, ``on_args``, ``drop``,
  ``on_admin``) or what it is sent (``InputChanging``, ``on_input``).

Nothing in the model knows about mutations, so the model's hot path carries
no hook and stays as pure as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from gearsim.model import Server, ServerOptions
from gearsim.model.jobs import Outbox
from gearsim.model.profiles import Profile
from gearsim.model.state import Conn
from gearsim.protocol.codec import Decoder, wire
from gearsim.protocol.node import Close, ConnId, Output, Send, ServerNode
from gearsim.protocol.packets import AdminLine, Message, Packet, PacketType
from gearsim.run.mutants.mutation import Build


def switch(**changes: object) -> Build:
    def build(profile: Profile, options: ServerOptions) -> ServerNode:
        return Server(replace(profile, **changes), options)  # type: ignore[arg-type]

    return build


Handler = Callable[[Conn, Packet, Outbox], "str | None"]


def set_handler(server: Server, type_: PacketType, handler: Handler) -> None:
    """Replace one packet handler of this server instance (both of its dispatch tables)."""
    server._handlers[type_] = handler
    if type_ in server._ready:
        server._ready[type_] = (handler, server._ready[type_][1])


def patch(fn: Callable[[Server], None]) -> Build:
    def build(profile: Profile, options: ServerOptions) -> ServerNode:
        server = Server(profile, options)
        fn(server)
        return server

    return build


def wrap_handler(type_: PacketType, wrap: Callable[[Server, Handler], Handler]) -> Build:
    """A patch replacing the handler of ``type_`` by ``wrap(server, original)``."""

    def fn(server: Server) -> None:
        set_handler(server, type_, wrap(server, server._handlers.get(type_, unhandled(server, type_))))

    return patch(fn)


def unhandled(server: Server, type_: PacketType) -> Handler:
    """The "original" of a type the server has no handler for: a wrapper that calls it does nothing."""

    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        return None

    return handler


def ignore(type_: PacketType) -> Build:
    return wrap_handler(type_, lambda server, original: lambda c, p, out: None)


def replies_without(type_: PacketType) -> Callable[[Server, Handler], Handler]:
    """A wrapper for ``wrap_handler``: the original handler, with its replies of ``type_`` left unsent."""

    def wrap(server: Server, original: Handler) -> Handler:
        def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
            mine: Outbox = []
            reason = original(c, p, mine)
            out.extend((conn, m) for conn, m in mine if not (isinstance(m, Packet) and m.type == type_))
            return reason

        return handler

    return wrap


#: rewrites one message sent to one connection: the messages to send instead
Rewrite = Callable[[ConnId, Message], Sequence[Message]]


class Rewriting:
    """A ``ServerNode`` that passes everything to a server and rewrites what it sends."""

    def __init__(self, server: Server, rewrite: Rewrite, *, closes: Callable[[ConnId, Message], bool] | None = None):
        self.server = server
        self.rewrite = rewrite
        self.closes = closes

    def _out(self, outputs: list[Output]) -> list[Output]:
        result: list[Output] = []
        for o in outputs:
            if not isinstance(o, Send):
                result.append(o)
                continue
            messages = list(o.messages) or Decoder().feed(o.data)
            new = [m for message in messages for m in self.rewrite(o.conn, message)]
            if new:
                result.append(Send(o.conn, b"".join(wire(m) for m in new), tuple(new)))
            if self.closes is not None and any(self.closes(o.conn, m) for m in new):
                result.append(Close(o.conn, "mutant: closed after its reply"))
        return result

    def connect(self, conn: ConnId, now: int, peer: str = "127.0.0.1") -> list[Output]:
        return self._out(self.server.connect(conn, now, peer))

    def receive(self, conn: ConnId, data: bytes, now: int) -> list[Output]:
        return self._out(self.server.receive(conn, data, now))

    def disconnect(self, conn: ConnId, now: int) -> list[Output]:
        return self._out(self.server.disconnect(conn, now))

    def next_deadline(self) -> int | None:
        return self.server.next_deadline()

    def advance(self, now: int) -> list[Output]:
        return self._out(self.server.advance(now))


def rewrite_with(make: Callable[[], Rewrite], closes: Callable[[ConnId, Message], bool] | None = None) -> Build:
    """A rewrite; ``make`` builds a fresh rewriting function (with fresh state) for each case."""

    def build(profile: Profile, options: ServerOptions) -> ServerNode:
        return Rewriting(Server(profile, options), make(), closes=closes)

    return build


def on_packet(type_: PacketType, change: Callable[[Packet], Sequence[Message]]) -> Build:
    """A rewrite of every packet of ``type_`` the server sends."""

    def make() -> Rewrite:
        def rewrite(conn: ConnId, m: Message) -> Sequence[Message]:
            return change(m) if isinstance(m, Packet) and m.type == type_ else (m,)

        return rewrite

    return rewrite_with(make)


def on_args(type_: PacketType, change: Callable[[tuple[bytes, ...]], tuple[bytes, ...]]) -> Build:
    return on_packet(type_, lambda p: (Packet(p.magic, p.type, change(p.args)),))


def drop(type_: PacketType, when: Callable[[Packet], bool] = lambda p: True) -> Build:
    return on_packet(type_, lambda p: () if when(p) else (p,))


def on_admin(change: Callable[[AdminLine], Sequence[Message]]) -> Build:
    def make() -> Rewrite:
        def rewrite(conn: ConnId, m: Message) -> Sequence[Message]:
            return change(m) if isinstance(m, AdminLine) else (m,)

        return rewrite

    return rewrite_with(make)


class InputChanging:
    """A ``ServerNode`` that changes the bytes a connection sends before the server sees them."""

    def __init__(self, server: Server, change: Callable[[ConnId, bytes], bytes | None]):
        self.server = server
        self.change = change

    def connect(self, conn: ConnId, now: int, peer: str = "127.0.0.1") -> list[Output]:
        return self.server.connect(conn, now, peer)

    def receive(self, conn: ConnId, data: bytes, now: int) -> list[Output]:
        changed = self.change(conn, data)
        if changed is None:
            return [Close(conn, "mutant: refused the bytes")]
        return self.server.receive(conn, changed, now)

    def disconnect(self, conn: ConnId, now: int) -> list[Output]:
        return self.server.disconnect(conn, now)

    def next_deadline(self) -> int | None:
        return self.server.next_deadline()

    def advance(self, now: int) -> list[Output]:
        return self.server.advance(now)


def on_input(make: Callable[[], Callable[[ConnId, bytes], bytes | None]]) -> Build:
    def build(profile: Profile, options: ServerOptions) -> ServerNode:
        return InputChanging(Server(profile, options), make())

    return build


def store_patch(name: str, make: Callable[[Server, Callable[..., Any]], Callable[..., Any]]) -> Build:
    """A patch replacing ``server.store.<name>`` on this instance by ``make(server, original)``."""

    def fn(server: Server) -> None:
        setattr(server.store, name, make(server, getattr(server.store, name)))

    return patch(fn)


def without(*names: str) -> Build:
    def build(profile: Profile, options: ServerOptions) -> ServerNode:
        return Server(replace(profile, implemented=frozenset(profile.implemented - set(names))), options)

    return build


def without_ignored(*names: str) -> Build:
    def build(profile: Profile, options: ServerOptions) -> ServerNode:
        changed = replace(profile, implemented=frozenset(profile.implemented - set(names)), unimplemented="ignore")
        return Server(changed, options)

    return build
