"""Link, IP and TCP headers of one captured frame, parsed with ``struct`` alone.

This module owns the step from a frame's bytes to a ``Segment`` (addresses,
ports, sequence numbers, flags, payload). It knows the link types tcpdump and
tshark write (Ethernet with VLAN tags, Linux cooked v1 and v2, raw IP, BSD
loopback), IPv4 (trimming link padding) and IPv6 (walking extension
headers). An IP fragment comes out as a ``Fragment`` for ``ipfrag`` to put
back together; the whole datagram's TCP header is then read by
``parse_tcp``. It is total: a frame it cannot use gives ``None``, never an
exception.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Final, NamedTuple

__all__ = [
    "FIN",
    "LINKTYPE_ETHERNET",
    "LINKTYPE_NULL",
    "LINKTYPE_RAW",
    "READABLE_LINKTYPES",
    "RST",
    "SYN",
    "Fragment",
    "Segment",
    "format_endpoint",
    "linktype_name",
    "parse_segment",
    "parse_tcp",
]

# link-layer header types (tcpdump.org/linktypes.html) this parser reads; pcapfile writes the first three
LINKTYPE_NULL: Final[int] = 0
LINKTYPE_ETHERNET: Final[int] = 1
LINKTYPE_RAW: Final[int] = 101
_LINKTYPE_RAW_OLD: Final[tuple[int, int]] = (12, 14)  # DLT_RAW's values on some BSDs
_LINKTYPE_LOOP: Final[int] = 108
_LINKTYPE_LINUX_SLL: Final[int] = 113
_LINKTYPE_IPV4: Final[int] = 228
_LINKTYPE_IPV6: Final[int] = 229
_LINKTYPE_LINUX_SLL2: Final[int] = 276
#: every link type ``parse_segment`` reads, by its tcpdump.org name; a frame of any other gives None
READABLE_LINKTYPES: Final[dict[int, str]] = {
    LINKTYPE_NULL: "NULL",
    LINKTYPE_ETHERNET: "ETHERNET",
    _LINKTYPE_RAW_OLD[0]: "RAW",
    _LINKTYPE_RAW_OLD[1]: "RAW",
    LINKTYPE_RAW: "RAW",
    _LINKTYPE_LOOP: "LOOP",
    _LINKTYPE_LINUX_SLL: "LINUX_SLL",
    _LINKTYPE_IPV4: "IPV4",
    _LINKTYPE_IPV6: "IPV6",
    _LINKTYPE_LINUX_SLL2: "LINUX_SLL2",
}
#: names of link types met in the wild that this parser does not read, so that a refusal can name them
_OTHER_LINKTYPES: Final[dict[int, str]] = {
    6: "IEEE802_5",
    9: "PPP",
    10: "FDDI",
    50: "PPP_HDLC",
    51: "PPP_ETHER",
    104: "C_HDLC",
    105: "IEEE802_11",
    107: "FRELAY",
    119: "IEEE802_11_PRISM",
    127: "IEEE802_11_RADIOTAP",
    163: "IEEE802_11_AVS",
    187: "BLUETOOTH_HCI_H4",
    189: "USB_LINUX",
    192: "PPI",
    195: "IEEE802_15_4_WITHFCS",
    201: "BLUETOOTH_HCI_H4_WITH_PHDR",
    220: "USB_LINUX_MMAPPED",
    227: "CAN_SOCKETCAN",
    239: "NFLOG",
    249: "USBPCAP",
    253: "NETLINK",
}

FIN: Final[int] = 0x01
SYN: Final[int] = 0x02
RST: Final[int] = 0x04
ACK: Final[int] = 0x10

_ETH_IPV4: Final[int] = 0x0800
_ETH_IPV6: Final[int] = 0x86DD
_ETH_VLAN: Final[frozenset[int]] = frozenset({0x8100, 0x88A8, 0x9100})
_IPV6_EXT: Final[frozenset[int]] = frozenset({0, 43, 60, 51})
_IPV6_FRAGMENT: Final[int] = 44
_TCP: Final = struct.Struct(">HHIIBB")
#: Ethernet without VLAN tags, then IPv4: (ethertype, version/IHL, total length, fragment field, protocol, src, dst)
_ETH_IPV4_HEAD: Final = struct.Struct(">12xHBxH2xHxB2x4s4s")
#: Ethernet without VLAN tags, IPv4 with a 20-byte header (version/IHL 0x45), TCP: ``_ETH_IPV4_HEAD``'s fields,
#: then (source port, destination port, sequence, acknowledgement, data offset, flags)
ETH_IPV4_TCP: Final = struct.Struct(">12xHBxH2xHxB2x4s4sHHIIBB")
_U16: Final = struct.Struct(">H")
_new: Final = tuple.__new__  # a NamedTuple built without its Python-level __new__


class Segment(NamedTuple):
    """The parts of one TCP segment the reassembler needs."""

    src: bytes
    sport: int
    dst: bytes
    dport: int
    seq: int
    ack: int
    flags: int
    payload: bytes


class Fragment(NamedTuple):
    """One fragment of an IPv4 or IPv6 datagram carrying TCP (or, for a later fragment, maybe TCP)."""

    #: 4 or 6
    version: int
    src: bytes
    dst: bytes
    #: the datagram's identification (16 bits for IPv4, 32 for IPv6)
    ident: int
    #: byte offset of ``payload`` in the datagram's payload
    offset: int
    #: more fragments follow
    more: bool
    #: the upper-layer protocol (IPv6: the fragment header's next header)
    proto: int
    payload: bytes


def format_endpoint(addr: bytes, port: int) -> str:
    """``1.2.3.4:80`` or ``[::1]:80``."""
    if len(addr) == 4:
        return f"{addr[0]}.{addr[1]}.{addr[2]}.{addr[3]}:{port}"
    return f"[{ipaddress.IPv6Address(addr)}]:{port}"


def linktype_name(linktype: int) -> str:
    """``105 (IEEE802_11)``: a link type's number and tcpdump.org name, ``(unknown)`` for one not listed here."""
    name = READABLE_LINKTYPES.get(linktype) or _OTHER_LINKTYPES.get(linktype)
    return f"{linktype} ({name or 'unknown'})"


def _network(linktype: int, data: bytes) -> tuple[int, int] | None:
    """(ethertype-like protocol, offset of the IP header), or None for other link contents."""
    if linktype == LINKTYPE_ETHERNET:
        if len(data) < 14:
            return None
        proto = _U16.unpack_from(data, 12)[0]
        pos = 14
        while proto in _ETH_VLAN and len(data) >= pos + 4:
            proto = _U16.unpack_from(data, pos + 2)[0]
            pos += 4
        return proto, pos
    if linktype == LINKTYPE_RAW or linktype in _LINKTYPE_RAW_OLD:  # raw IP: version nibble decides
        return (_ETH_IPV4 if data[:1] and data[0] >> 4 == 4 else _ETH_IPV6), 0
    if linktype == _LINKTYPE_IPV4:
        return _ETH_IPV4, 0
    if linktype == _LINKTYPE_IPV6:
        return _ETH_IPV6, 0
    if linktype == _LINKTYPE_LINUX_SLL:
        return (_U16.unpack_from(data, 14)[0], 16) if len(data) >= 16 else None
    if linktype == _LINKTYPE_LINUX_SLL2:
        return (_U16.unpack_from(data, 0)[0], 20) if len(data) >= 20 else None
    if linktype in (LINKTYPE_NULL, _LINKTYPE_LOOP):  # a 4-byte address family, host or network order
        if len(data) < 4:
            return None
        family = int.from_bytes(data[:4], "big" if linktype == _LINKTYPE_LOOP else "little")
        if family > 0xFFFF:
            family = int.from_bytes(data[:4], "big")
        return (_ETH_IPV4 if family == 2 else _ETH_IPV6), 4
    return None


def parse_segment(linktype: int, data: bytes) -> Segment | Fragment | None:
    """The TCP segment carried by a frame, a fragment of an IP datagram, or None (no TCP, or cut short).

    A frame whose capture was cut short by the snap length yields the payload
    bytes it has; the reassembler sees the rest as a gap.
    """
    if linktype == LINKTYPE_ETHERNET and len(data) >= 54:
        # the common frame, read in two unpacks: Ethernet, IPv4 (not a fragment), TCP; anything else, or a
        # frame cut short, takes the general path below, which gives the same result for this one
        ethertype, vihl, total, frag, proto, src, dst = _ETH_IPV4_HEAD.unpack_from(data)
        ihl = (vihl & 0x0F) * 4
        if ethertype == _ETH_IPV4 and vihl >> 4 == 4 and proto == 6 and not frag & 0x3FFF and ihl >= 20:
            pos = 14 + ihl
            size = len(data)
            if size >= pos + 20:
                end = 14 + total if total >= ihl else size
                sport, dport, seq, ack, off, flags = _TCP.unpack_from(data, pos)
                payload = data[pos + (off >> 4) * 4 : end if end < size else size]
                return _new(Segment, (src, sport, dst, dport, seq, ack, flags, payload))
    found = _network(linktype, data)
    if found is None:
        return None
    proto, pos = found
    if proto == _ETH_IPV4:
        if len(data) < pos + 20:
            return None
        vihl = data[pos]
        ihl = (vihl & 0x0F) * 4
        if vihl >> 4 != 4 or ihl < 20 or data[pos + 9] != 6:
            return None
        frag = _U16.unpack_from(data, pos + 6)[0]
        total = _U16.unpack_from(data, pos + 2)[0]
        src = data[pos + 12 : pos + 16]
        dst = data[pos + 16 : pos + 20]
        end = pos + total if total >= ihl else len(data)  # 0 with TSO offload: use what was captured
        if frag & 0x3FFF:  # a fragment (offset or more-fragments set)
            ident = _U16.unpack_from(data, pos + 4)[0]
            body = data[pos + ihl : min(end, len(data))]
            return Fragment(4, src, dst, ident, (frag & 0x1FFF) * 8, bool(frag & 0x2000), 6, body)
        pos += ihl
    elif proto == _ETH_IPV6:
        if len(data) < pos + 40 or data[pos] >> 4 != 6:
            return None
        plen = _U16.unpack_from(data, pos + 4)[0]
        nxt = data[pos + 6]
        src = data[pos + 8 : pos + 24]
        dst = data[pos + 24 : pos + 40]
        end = pos + 40 + plen if plen else len(data)
        pos += 40
        while nxt in _IPV6_EXT:
            if len(data) < pos + 2:
                return None
            size = (data[pos + 1] + 2) * 4 if nxt == 51 else (data[pos + 1] + 1) * 8
            nxt = data[pos]
            pos += size
        if nxt == _IPV6_FRAGMENT:
            if len(data) < pos + 8:
                return None
            inner, _reserved, field, ident = struct.unpack_from(">BBHI", data, pos)
            if inner != 6 and inner not in _IPV6_EXT:
                return None
            body = data[pos + 8 : min(end, len(data))]
            return Fragment(6, src, dst, ident, field & 0xFFF8, bool(field & 1), inner, body)
        if nxt != 6:  # not TCP
            return None
    else:
        return None
    if len(data) < pos + 20:
        return None
    sport, dport, seq, ack, off, flags = _TCP.unpack_from(data, pos)
    start = pos + (off >> 4) * 4
    return Segment(src, sport, dst, dport, seq, ack, flags, data[start : min(end, len(data))])


def parse_tcp(src: bytes, dst: bytes, proto: int, data: bytes) -> Segment | None:
    """The TCP segment in a reassembled datagram payload (IPv6: after any extension headers left in it)."""
    pos = 0
    while proto in _IPV6_EXT and len(src) == 16:
        if len(data) < pos + 2:
            return None
        size = (data[pos + 1] + 2) * 4 if proto == 51 else (data[pos + 1] + 1) * 8
        proto = data[pos]
        pos += size
    if proto != 6 or len(data) < pos + 20:
        return None
    sport, dport, seq, ack, off, flags = _TCP.unpack_from(data, pos)
    return Segment(src, sport, dst, dport, seq, ack, flags, data[pos + (off >> 4) * 4 :])
