"""C number parsing as gearmand does it (atoi, strtol, strtoll), on bytes.

PURE. gearmand parses the numbers it receives with the C library, and the
model must reproduce the results byte for byte: ``abc`` is 0, ``-1`` as a
uint32 is 4294967295 (B-S1), an overflowing strtol is an error (B-P9).
"""

from __future__ import annotations

from typing import Final

__all__ = ["atoi_uint32", "gearmand_hash", "strtol"]

_SPACE: Final[bytes] = b" \t\n\v\f\r"
_LONG_MIN: Final[int] = -(2**63)
_LONG_MAX: Final[int] = 2**63 - 1


def strtol(text: bytes) -> tuple[int, bool]:
    """C ``strtol(text, &end, 10)`` for a 64-bit long; stops at the first NUL.

    Returns:
        (value, overflowed): the clamped value and whether errno would be ERANGE.
    """
    if 0 < len(text) < 19 and text.isdigit():
        return int(text), False  # the usual number: ASCII digits only, too short to overflow
    text = text.split(b"\0", 1)[0].lstrip(_SPACE)
    sign = 1
    if text[:1] in (b"+", b"-"):
        sign = -1 if text[:1] == b"-" else 1
        text = text[1:]
    digits = 0
    for byte in text:
        if not 48 <= byte <= 57:
            break
        digits += 1
    if digits == 0:
        return 0, False
    value = sign * int(text[:digits])
    if value > _LONG_MAX:
        return _LONG_MAX, True
    if value < _LONG_MIN:
        return _LONG_MIN, True
    return value, False


def _i32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def gearmand_hash(data: bytes) -> int:
    """gearmand's one-at-a-time hash of function names, handles and uniques (function.cc:54-71).

    It adds each byte as a signed char to a signed 32-bit value (so bytes of
    0x80 and up count negative), shifts right arithmetically, and reads 0 as 1.
    """
    value = 0
    for byte in data:
        value = _i32(value + (byte - 256 if byte >= 128 else byte))
        value = _i32(value + _i32(value << 10))
        value = _i32(value ^ (value >> 6))
    value = _i32(value + _i32(value << 3))
    value = _i32(value ^ (value >> 11))
    value = _i32(value + _i32(value << 15))
    return (value if value != 0 else 1) & 0xFFFFFFFF


def atoi_uint32(text: bytes) -> int:
    """``(uint32_t)atoi(text)`` with glibc: strtol, cut to int, then to uint32."""
    value, _ = strtol(text)
    return value & 0xFFFFFFFF
