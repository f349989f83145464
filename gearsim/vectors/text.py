"""Canonical text of vector files, and the YAML form of bytes.

PURE, and independent of gearsim.vectors.parse (which hashes each file's canonical
text, so it imports this module, never the other way round). Owns:

* the YAML form of bytes: text (printable ASCII, tab, CR, LF) or
  ``{hex: ...}``; the canonical form picks text exactly when every byte is one
  of those; canonical hex is lower case in groups of 4 bytes;
* the step actions, in their canonical key order (``ACTIONS``);
* ``dump_vector_file``: the canonical text of a (schema-valid) vector file's
  data, with keys in a fixed order and one step or message per line.

``gearsim.vectors.parse`` re-exports ``dump_vector_file``, ``format_bytes``,
``format_hex`` and ``hex_of``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import yaml

from gearsim.protocol.packets import PacketType
from gearsim.safeyaml import SafeDumper

__all__ = [
    "ACTIONS",
    "LIBRARY_ACTIONS",
    "bytes_value",
    "dump_vector_file",
    "format_bytes",
    "format_hex",
    "hex_of",
]

ACTIONS: Final[tuple[str, ...]] = (
    "connect",
    "disconnect",
    "send",
    "expect",
    "expect_silence",
    "expect_close",
    "advance",
    "restart_server",
)
#: the step actions of library cases (a library actor's driver calls and scripted server actions)
LIBRARY_ACTIONS: Final[tuple[str, ...]] = ("call", "await", "sent", "server_close", "server_send", "server_die")


# --------------------------------------------------------------------------- bytes


#: the bytes that may appear as text (deleting them from bytes leaves nothing when all are text)
_TEXT_BYTES: Final[bytes] = bytes([0x09, 0x0A, 0x0D, *range(0x20, 0x7F)])


def hex_of(text: str) -> bytes:
    """Bytes from hex text with optional spaces.

    Raises:
        ValueError: not hex, or an odd number of digits.
    """
    digits = "".join(text.split())
    try:
        return bytes.fromhex(digits)
    except ValueError:
        # fromhex says "non-hexadecimal number found" for an odd count too: say which it is, and where
        bad = next((i for i, c in enumerate(digits) if c not in "0123456789abcdefABCDEF"), None)
        if bad is not None:
            raise ValueError(f"hex {text!r}: {digits[bad]!r} (digit {bad + 1}) is not a hex digit") from None
        raise ValueError(f"hex {text!r}: {len(digits)} digits, an odd number (a byte takes two)") from None


def format_hex(data: bytes) -> str:
    """Canonical hex: lower case, groups of 4 bytes separated by one space."""
    return data.hex(" ", -4)


def format_bytes(data: bytes) -> str | dict[str, str]:
    """The canonical YAML value for bytes: text when printable, else ``{hex: ...}``."""
    if not data.translate(None, _TEXT_BYTES):
        return data.decode("ascii")
    return {"hex": format_hex(data)}


def bytes_value(value: Any) -> bytes:
    """Bytes from their YAML value: text (as UTF-8) or ``{hex: ...}``."""
    if isinstance(value, str):
        return value.encode("utf-8")
    return hex_of(value["hex"])


# --------------------------------------------------------------------------- canonical text


class _Flow(dict[str, Any]):
    """A mapping the formatter writes on one line."""


class _FlowList(list[Any]):
    """A list the formatter writes on one line."""


class _Dumper(SafeDumper):  # type: ignore[misc]  # libyaml's when installed
    pass


def _represent_flow(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)


def _represent_flow_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    # Control characters (tab, CR, LF) are written escaped in double quotes, so a
    # reader sees them and an editor cannot silently change them.
    if any(c in data for c in "\t\r\n"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"')
    return dumper.represent_str(data)


_Dumper.add_representer(_Flow, _represent_flow)
_Dumper.add_representer(_FlowList, _represent_flow_list)
_Dumper.add_representer(str, _represent_str)

_CASE_ORDER: Final[tuple[str, ...]] = (
    "id", "comment", "requirements", "flags", "result", "profiles", "timed",
    "sender", "wire", "messages", "decode", "violations", "server",
    "actors", "programs", "library", "options", "steps",
)  # fmt: skip
_STEP_ORDER: Final[tuple[str, ...]] = (
    *ACTIONS, *LIBRARY_ACTIONS, "op", "args", "nowait", "timeout", "reply",
    "packet", "packets", "admin", "wire", "ms", "within", "requirements", "comment", "accept",
)  # fmt: skip
_TOP_ORDER: Final[tuple[str, ...]] = ("schema", "area", "title", "header", "notes", "source", "cases")


def _ordered(raw: Mapping[str, Any], order: Sequence[str]) -> dict[str, Any]:
    out = {k: raw[k] for k in order if k in raw}
    out.update({k: raw[k] for k in sorted(raw) if k not in out})
    return out


def _canon_bytes(value: Any) -> Any:
    return format_bytes(bytes_value(value))


def _canon_arg(value: Any) -> Any:
    if isinstance(value, dict) and ("capture" in value or "ref" in value or "any" in value or "every_byte" in value):
        return _Flow(value)
    if isinstance(value, dict) and "parts" in value:
        return _Flow(parts=_FlowList(_canon_arg(p) for p in value["parts"]))
    out = _canon_bytes(value)
    return _Flow(out) if isinstance(out, dict) else out


def _canon_packet(raw: Mapping[str, Any]) -> _Flow:
    out = _Flow()
    if "magic" in raw:
        m = raw["magic"]
        out["magic"] = m if isinstance(m, str) else _Flow(hex=format_hex(hex_of(m["hex"])))
    t = raw["type"]
    out["type"] = t if isinstance(t, str) or t not in range(43) else PacketType(t).name
    if raw.get("args"):
        out["args"] = _FlowList(_canon_arg(a) for a in raw["args"])
    if "length" in raw:
        out["length"] = raw["length"]
    return out


def _canon_admin_line(raw: Any) -> Any:
    if isinstance(raw, dict) and "parts" in raw:
        return _Flow(parts=_FlowList(_canon_arg(p) for p in raw["parts"]))
    if isinstance(raw, dict) and "match" in raw:
        return _Flow(match=raw["match"])
    return _canon_arg(raw)


def _canon_admin(raw: Any) -> Any:
    if isinstance(raw, dict) and "lines" in raw:
        out = _Flow(lines=_FlowList(_canon_admin_line(x) for x in raw["lines"]))
        if raw.get("eol", "\n") != "\n":
            out["eol"] = raw["eol"]
        if raw.get("unordered"):
            out["unordered"] = True
        if "extra" in raw:
            out["extra"] = _canon_admin_line(raw["extra"])
        return out
    return _canon_admin_line(raw)


def _canon_message(raw: Mapping[str, Any]) -> _Flow:
    if "raw" in raw:
        return _Flow(raw=_Flow(hex=format_hex(hex_of(raw["raw"]["hex"]))))
    if "packet" in raw:
        return _Flow(packet=_canon_packet(raw["packet"]))
    a = raw["admin"]
    admin = _Flow(text=_canon_admin_line(a["text"]))
    if a.get("eol", "\n") != "\n":
        admin["eol"] = a["eol"]
    return _Flow(admin=admin)


def _canon_expectation_fields(raw: Mapping[str, Any], out: dict[str, Any]) -> None:
    for key, value in raw.items():
        if key == "packet":
            out[key] = _canon_packet(value)
        elif key == "packets":
            out[key] = [_canon_packet(p) for p in value]
        elif key == "admin":
            out[key] = _canon_admin(value)
        elif key == "wire":
            out[key] = format_hex(hex_of(value))
        elif key in ("profiles", "requirements", "breaks"):
            out[key] = _FlowList(value)
        elif key == "accept":
            out[key] = [_canon_alternative(a) for a in value]
        elif key == "replies":
            out[key] = [_canon_message(m) for m in value]
        elif key in ("args", "reply"):
            out[key] = _canon_value(value)
        else:
            out[key] = value


def _canon_value(value: Any) -> Any:
    """A library step's call arguments or reply expectation: bytes canonical, all on one line."""
    if isinstance(value, dict):
        if "hex" in value and len(value) == 1:
            return _canon_arg(value)
        return _Flow({k: _canon_value(v) for k, v in value.items()})
    if isinstance(value, list):
        return _FlowList(_canon_value(v) for v in value)
    if isinstance(value, str):
        return _canon_arg(value)
    return value


def _canon_alternative(raw: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    order = ("profiles", "defect", "breaks", "branch", *_STEP_ORDER, "crash", "unsupported", "replies", "then", "note")
    _canon_expectation_fields(_ordered(raw, order), out)
    return out


def _canon_step(raw: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _canon_expectation_fields(_ordered(raw, _STEP_ORDER), out)
    # A step without alternatives reads best on one line.
    return out if "accept" in out else _Flow(out)


def _canon_case(raw: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in _ordered(raw, _CASE_ORDER).items():
        if key in ("requirements", "flags", "profiles", "violations"):
            out[key] = _FlowList(value)
        elif key == "wire":
            out[key] = format_hex(hex_of(value))
        elif key == "messages":
            out[key] = [_canon_message(m) for m in value]
        elif key in ("decode", "actors", "options"):
            out[key] = _Flow(value)
        elif key == "server":
            server: dict[str, Any] = {}
            _canon_expectation_fields(_ordered(value, ("replies", "then", "note", "accept")), server)
            out[key] = server
        elif key == "steps":
            out[key] = [_canon_step(s) for s in value]
        elif key == "programs":
            out[key] = {actor: _canon_program(p) for actor, p in value.items()}
        elif key == "library":
            out[key] = _canon_library(value)
        else:
            out[key] = value
    return out


def _canon_library(raw: Mapping[str, Any]) -> dict[str, Any]:
    out = _ordered(raw, ("actors", "needs", "servers"))
    for key in ("actors", "needs"):
        if key in out:
            out[key] = _FlowList(out[key])
    if "servers" in out:
        servers = []
        for server in out["servers"]:
            plan = _ordered(server, ("down", "delivery", "faults"))
            if "faults" in plan:
                plan["faults"] = [_canon_fault(f) for f in plan["faults"]]
            servers.append(_Flow(plan) if "faults" not in plan else plan)
        out["servers"] = servers
    return out


def _canon_fault(raw: Mapping[str, Any]) -> _Flow:
    out = _Flow(_ordered(raw, ("types", "reply", "close", "times")))
    if isinstance(out["types"], list):
        out["types"] = _FlowList(out["types"])
    if "reply" in out:
        out["reply"] = _FlowList(_canon_packet(p) for p in out["reply"])
    return out


def _canon_program(raw: Mapping[str, Any]) -> dict[str, Any]:
    out = _ordered(raw, ("command", "expect_exit"))
    if "expect_exit" in out:
        ex = _ordered(out["expect_exit"], ("status", "stdout", "stdout_contains"))
        if "stdout" in ex:
            ex["stdout"] = [x if isinstance(x, str) else _Flow(x) for x in ex["stdout"]]
        if "stdout_contains" in ex:
            ex["stdout_contains"] = _FlowList(ex["stdout_contains"])
        out["expect_exit"] = ex
    return out


def dump_vector_file(data: Mapping[str, Any]) -> str:
    """The canonical text of a (schema-valid) vector file's data.

    Keys in a fixed order, bytes as text or hex by the rule above, hex grouped
    by 4 bytes, one step or message per line.
    """
    top: dict[str, Any] = {}
    for key, value in _ordered(data, _TOP_ORDER).items():
        if key == "cases":
            top[key] = [_canon_case(c) for c in value]
        else:
            top[key] = value
    text: str = yaml.dump(top, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000, indent=2)
    return text
