# SPDX-License-Identifier: Apache-2.0
# scapy.contrib.description = Gearman job server protocol (binary packets and admin text)
# scapy.contrib.status = loads
"""Scapy layers for Gearman: the only gearsim module that imports scapy.

Import it once and Gearman layers appear in ``rdpcap``, ``sniff`` and
``sniff(session=TCPSession)`` for TCP port 4730; ``bind_port(n)`` adds others.

Layout, as in scapy's contrib layers: tables (derived from the packet table in
spec/packets.yaml through ``gearsim.protocol.packets.SPECS`` and ``FIELDS``, never
copied by hand), then packet classes, then ``bind_layers`` at the bottom.

* ``GearmanRequest`` / ``GearmanResponse`` are what TCP hands its payload to
  (by destination / source port). Their ``dispatch_hook`` picks, per message,
  one class per packet type (``Gearman_SUBMIT_JOB``, ...; unknown numbers get
  ``GearmanUnknown``) or, for a first byte other than NUL, ``GearmanAdminCommand``
  / ``GearmanAdminReply``. Several messages in one segment become a chain of
  layers; each layer knows its direction.
* Binary layers have the header fields ``magic``, ``type``, ``length`` (filled
  by ``post_build`` when left unset) and one field per argument, named as in
  the table. A body is split by the declared length alone.
* ``tcp_reassemble`` returns only whole messages, so ``TCPSession`` gives one
  packet over many segments; a trailing partial message waits as padding.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Final

from scapy.config import conf
from scapy.fields import IntEnumField, IntField, StrField, StrFixedLenField
from scapy.layers.inet import TCP
from scapy.packet import Packet, bind_layers

from gearsim.protocol.codec import split_args
from gearsim.protocol.packets import FIELDS, SPECS, Magic

__all__ = [
    "LAYERS",
    "PORTS",
    "GearmanAdminCommand",
    "GearmanAdminReply",
    "GearmanBinary",
    "GearmanRequest",
    "GearmanResponse",
    "GearmanUnknown",
    "bind_port",
    "read_layers",
]

# --- tables -------------------------------------------------------------------

#: packet number -> protocol name, for the ``type`` field
TYPE_NAMES: Final[dict[int, str]] = {n: s.name for n, s in SPECS.items()}
#: ports whose traffic is Gearman (4730 and whatever bind_port added)
PORTS: set[int] = set()
#: largest buffer tcp_reassemble holds waiting for a message end before giving up
MAX_REASSEMBLY: Final[int] = 64 * 1024 * 1024

# --- fields and packet classes ---------------------------------------------------


class ArgField(StrField):
    """One argument: its bytes, then a NUL unless it is the last one."""

    __slots__ = ["last"]

    def __init__(self, name: str, default: bytes, last: bool) -> None:
        super().__init__(name, default)
        self.last = last

    def addfield(self, pkt: Packet, s: bytes, val: Any) -> bytes:
        data = self.i2m(pkt, val)
        return s + data if self.last else s + data + b"\0"


def _direction_is_request(layer: Packet) -> bool:
    """True when this layer travels to the server (its TCP destination port is a Gearman port)."""
    under = layer.underlayer
    while under is not None and not isinstance(under, TCP):
        under = under.underlayer
    if under is None:
        return bool(getattr(layer, "_request", True))
    return int(under.dport) in PORTS


class GearmanBinary(Packet):
    """Base of the binary packet classes: header fields, body split by the declared length."""

    name = "Gearman"
    fields_desc: ClassVar[list[Any]] = [
        StrFixedLenField("magic", Magic.REQ.value, 4),
        IntEnumField("type", 0, TYPE_NAMES),
        IntField("length", None),
    ]
    #: argument names of this class's packet type
    arg_names: tuple[str, ...] = ()

    def do_dissect(self, s: bytes) -> bytes:
        if len(s) < 12:
            self.fields["magic"] = s[:4]
            self.raw_packet_cache = s
            return b""
        self.fields["magic"] = s[:4]
        number = int.from_bytes(s[4:8], "big")
        length = int.from_bytes(s[8:12], "big")
        self.fields["type"] = number
        self.fields["length"] = length
        body = s[12 : 12 + length]
        args = split_args(number, body) if self.arg_names or number not in SPECS else ()
        if number not in SPECS:
            self.fields["body"] = body
        else:
            for name, value in zip(self.arg_names, args, strict=False):
                self.fields[name] = value
            if not self.arg_names and body:
                self.fields["extra"] = body
        self.raw_packet_cache = s[: 12 + length]
        self.explicit = 1
        return s[12 + length :]

    def post_build(self, pkt: bytes, pay: bytes) -> bytes:
        if self.length is None:
            pkt = pkt[:8] + (len(pkt) - 12).to_bytes(4, "big") + pkt[12:]
        return pkt + pay

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes | None]:
        return s, None

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        return GearmanRequest if _direction_is_request(self) else GearmanResponse

    def mysummary(self) -> str:
        magic = bytes(self.magic)
        tag = "REQ" if magic == Magic.REQ.value else "RES" if magic == Magic.RES.value else repr(magic)
        return f"Gearman {tag} {TYPE_NAMES.get(int(self.type), f'UNKNOWN({int(self.type)})')}"


class GearmanUnknown(GearmanBinary):
    """A binary packet whose type number is not in the table: the body stays whole."""

    name = "Gearman unknown type"
    fields_desc: ClassVar[list[Any]] = [*GearmanBinary.fields_desc, StrField("body", b"")]


def _packet_class(number: int) -> type[GearmanBinary]:
    spec = SPECS[number]
    names = spec.args
    fields = [
        StrFixedLenField("magic", (Magic.REQ if spec.req or not spec.res else Magic.RES).value, 4),
        IntEnumField("type", number, TYPE_NAMES),
        IntField("length", None),
    ]
    fields += [ArgField(name, b"", last=i == len(names) - 1) for i, name in enumerate(names)]
    if not names:
        fields.append(StrField("extra", b""))
    doc = f"Gearman {spec.name} ({number}): {spec.summary}. Arguments: " + (
        ", ".join(f"{n} ({FIELDS[n].summary})" for n in names) or "none"
    )
    return type(
        f"Gearman_{spec.name}",
        (GearmanBinary,),
        {"name": f"Gearman {spec.name}", "fields_desc": fields, "arg_names": names, "__doc__": doc},
    )


#: packet number -> its layer class, one per row of the packet table
LAYERS: Final[dict[int, type[GearmanBinary]]] = {n: _packet_class(n) for n in SPECS}
globals().update({cls.__name__: cls for cls in LAYERS.values()})


class _AdminLine(Packet):
    """An admin text line: the text up to ``\\n``; ``eol`` is ``\\n`` or ``\\r\\n``."""

    fields_desc: ClassVar[list[Any]] = [StrField("text", b""), StrField("eol", b"\n")]

    def do_dissect(self, s: bytes) -> bytes:
        nl = s.find(b"\n")
        end = len(s) if nl < 0 else nl + 1
        line = s[:end]
        eol = b"\r\n" if line.endswith(b"\r\n") else b"\n" if line.endswith(b"\n") else b""
        self.fields["text"] = line[: len(line) - len(eol)]
        self.fields["eol"] = eol
        self.raw_packet_cache = line
        self.explicit = 1
        return s[end:]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes | None]:
        return s, None

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        return GearmanRequest if _direction_is_request(self) else GearmanResponse


class GearmanAdminCommand(_AdminLine):
    """An admin command line sent to the server (``status``, ``workers``, ...)."""

    name = "Gearman admin command"

    def mysummary(self) -> str:
        return f"Gearman admin {bytes(self.text)!r}"


class GearmanAdminReply(_AdminLine):
    """One line of an admin reply from the server."""

    name = "Gearman admin reply"

    def mysummary(self) -> str:
        return f"Gearman admin reply {bytes(self.text)!r}"


def _message_end(data: bytes, pos: int) -> int:
    """Where the message starting at ``pos`` ends, or -1 if it is not complete yet."""
    if data[pos] == 0:
        if len(data) - pos < 12:
            return -1
        end = pos + 12 + int.from_bytes(data[pos + 8 : pos + 12], "big")
        return end if end <= len(data) else -1
    nl = data.find(b"\n", pos)
    return -1 if nl < 0 else nl + 1


class _Dispatcher(Packet):
    """What TCP hands a Gearman payload to; never instantiated itself (see dispatch_hook)."""

    admin: type[Packet] = GearmanAdminCommand

    @classmethod
    def dispatch_hook(cls, _pkt: bytes | None = None, *args: Any, **kwargs: Any) -> type[Packet]:
        """The class for the message at the front of ``_pkt`` (scapy calls it on construction)."""
        if not _pkt:
            return conf.raw_layer
        if _pkt[0] != 0:
            return cls.admin
        if len(_pkt) < 8:
            return GearmanUnknown
        return LAYERS.get(int.from_bytes(_pkt[4:8], "big"), GearmanUnknown)

    @classmethod
    def tcp_reassemble(cls, data: bytes, metadata: dict[str, Any], session: dict[str, Any]) -> Packet | None:
        """The whole messages at the front of ``data`` (the rest waits as padding), or None."""
        pos = 0
        while pos < len(data):
            end = _message_end(data, pos)
            if end < 0:
                break
            pos = end
        if pos == 0:
            if len(data) > MAX_REASSEMBLY:
                return conf.raw_layer(data)
            if data[0] == 0 and len(data) >= 12:
                metadata["tcp_min_len"] = 12 + int.from_bytes(data[8:12], "big")
            return None
        packet = cls(data[:pos])
        if pos < len(data):
            packet.add_payload(conf.padding_layer(data[pos:]))
        return packet


class GearmanRequest(_Dispatcher):
    """Messages to the server: binary requests or admin commands."""

    name = "Gearman request"
    admin = GearmanAdminCommand
    # scapy only dispatches on a dispatch_hook in the class's own __dict__
    dispatch_hook = _Dispatcher.__dict__["dispatch_hook"]


class GearmanResponse(_Dispatcher):
    """Messages from the server: binary replies or admin reply lines."""

    name = "Gearman response"
    admin = GearmanAdminReply
    dispatch_hook = _Dispatcher.__dict__["dispatch_hook"]


def read_layers(path: str, ports: tuple[int, ...] = (4730,)) -> Iterator[Packet]:
    """Every Gearman message of a capture as a scapy layer, through gearsim's fast reader.

    Frames are parsed and streams reassembled without scapy (see
    ``gearsim.dissect.capture``); only the messages become scapy objects, which
    is several times faster than ``sniff(session=TCPSession)`` on a big file.
    Each layer's ``time`` is the capture time of the frame that completed it.

    Raises:
        CaptureError: the capture is damaged (after the messages before the damage).
        OSError: the file cannot be read.
    """
    from gearsim.dissect.capture import read_capture
    from gearsim.protocol.codec import encode_many

    for event in read_capture(path, ports):
        message = event.message
        if message is None:
            continue
        cls = GearmanRequest if event.direction == "c>s" else GearmanResponse
        layer = cls(encode_many([message]))
        layer.time = event.time_ns / 1e9
        yield layer


# --- bindings -------------------------------------------------------------------


def bind_port(port: int) -> None:
    """Treat TCP ``port`` as a Gearman server port (both directions), as 4730 is."""
    PORTS.add(port)
    bind_layers(TCP, GearmanRequest, dport=port)
    bind_layers(TCP, GearmanResponse, sport=port)


bind_port(4730)
