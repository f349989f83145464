"""Building the sides of a fuzz run, and naming the server under test (an I/O edge).

``model_vs_server`` pairs the reference model with a real server reached over
TCP; :func:`identify` says what that server is: its answer to the admin
``version`` line, or, for a server without the admin protocol, which
read-only round trip it answers (the fuzz run then leaves the admin rules out
and the user names the profile); ``model_vs_model`` pairs two models (two profiles, or the same one), which
needs no server: the determinism self-check and the tests that prove the
machine can fail use it. Every example gets its own namespace: a run nonce
(chosen by the caller: the CLI uses the process id and the start time, so two
runs never share names on one server) plus the example number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gearsim.errors import HarnessError, ServerSilent
from gearsim.fuzz.driver import Differential
from gearsim.fuzz.machine import DifferentialFactory
from gearsim.fuzz.sides import ModelSide, RealSide
from gearsim.io.preflight import first_contact, version_reply
from gearsim.model import ServerOptions
from gearsim.model.profiles import get_profile
from gearsim.protocol.trace import quote

__all__ = ["ServerIdentity", "identify", "model_vs_model", "model_vs_server", "namespace", "server_identity"]


#: the longest answer shown as it is; a longer one, or one with bytes that are not printable ASCII, is quoted
_SHOWN: Final[int] = 120


def namespace(nonce: str, example: int) -> bytes:
    """The wire prefix of example ``example`` of run ``nonce``."""
    return f"gz{nonce}-{example}-".encode("ascii")


def _identity_text(data: bytes, host: str, port: int) -> str:
    raw = data.split(b"\n", 1)[0].strip()
    shown = raw.isascii() and raw.decode("ascii").isprintable() and len(raw) <= _SHOWN
    line = raw.decode("ascii") if shown else quote(raw)
    return f"{line or 'no version reply'} at {host}:{port}"


def server_identity(host: str, port: int, timeout: float = 3.0) -> str:
    """'<admin version reply> at host:port', e.g. 'OK 1.1.20+ds at 127.0.0.1:4730'.

    At most VERSION_LIMIT bytes are read. A reply that is long or not
    printable ASCII (a peer that does not speak the admin protocol, or lies)
    is shown quoted and escaped, its first bytes and its length, so that it
    cannot put control bytes or megabytes into a report's title.

    Raises:
        HarnessError: the server cannot be reached.
    """
    return _identity_text(version_reply(host, port, timeout), host, port)


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    """What a server under test is, as far as the wire tells: for reports and for the fuzz run's set-up."""

    #: one line for reports: "OK 1.1.20+ds at 127.0.0.1:4730", or how it was recognised without admin
    text: str
    #: it answers the admin protocol's ``version`` line
    admin: bool
    #: the read-only round trip it answers: ECHO_REQ, GET_STATUS, or "" for neither
    sync: str


def identify(host: str, port: int, timeout: float = 3.0) -> ServerIdentity:
    """Name the server at host:port by its admin ``version`` line, or else by the round trip it answers.

    ``ECHO_REQ``, ``GET_STATUS`` and the ``version`` line are asked at once
    (``gearsim.io.preflight.first_contact``), so that a server that answers
    none of them is known within one ``timeout``.

    Raises:
        HarnessError: the server cannot be connected to.
        NotGearman: what answers there is no Gearman server (gearsim.io.preflight).
        ServerSilent: it accepts connections but within ``timeout`` neither probe got a byte or a close,
            nor the ``version`` line a byte: every step of every example would wait for nothing.
    """
    contact = first_contact(host, port, timeout)
    echo, reply = contact.echo, contact.version
    if not echo.connected:
        raise HarnessError(echo.problem or f"cannot connect to {host}:{port}")
    silence = contact.silence()
    if silence is not None:
        raise ServerSilent(silence)
    sync = contact.round_trip()[0]  # the preflight, where the probes do not decide, may refuse the address
    text = _identity_text(reply, host, port) if reply is not None else ""
    line = text.partition(" at ")[0]
    if line.startswith("OK ") or (line[:1] == "v" and line[1:2].isdigit()):
        return ServerIdentity(text, True, sync)
    answers = f"answers {sync}" if sync else "answers neither ECHO_REQ nor GET_STATUS"
    return ServerIdentity(f"a server without the admin protocol at {host}:{port} ({answers})", False, sync)


def _options(version: str) -> ServerOptions:
    words = version.split()
    if len(words) >= 2 and words[0] == "OK":
        return ServerOptions(version=words[1])
    return ServerOptions()


def model_vs_server(
    host: str,
    port: int,
    profile: str,
    nonce: str,
    *,
    timeout: float = 3.0,
    identity: str = "",
    excuse_known: bool = True,
    admin: bool = True,
    sync: str = "ECHO_REQ",
) -> DifferentialFactory:
    """Examples against the server at host:port; the model reports the server's version string.

    ``admin`` False: the server has no admin protocol (no ``workers`` to see
    a disconnect done, no ``drop function`` between examples). ``sync``: the
    round trip it answers (``ServerIdentity.sync``), asked on a fresh
    connection when a wait runs out, to tell a server that stopped answering.
    ``timeout``: seconds each wait for the server may take.
    """
    options = _options(identity)
    prof = get_profile(profile)

    def make(example: int) -> Differential:
        real = RealSide(host, port, timeout=timeout, admin=admin, sync=sync)
        model = ModelSide(prof, options, sync=sync or "ECHO_REQ")  # the real side's barrier: the same requests
        return Differential(model, real, prof, namespace(nonce, example), excuse_known=excuse_known)

    return make


def model_vs_model(profile: str, other: str | None = None, nonce: str = "m") -> DifferentialFactory:
    """Examples of the model under ``profile`` against the model under ``other`` (default: the same)."""
    prof = get_profile(profile)
    second = get_profile(other or profile)

    def make(example: int) -> Differential:
        first = ModelSide(prof)
        other_side = ModelSide(second, name="model-b", sync=first.sync)  # the same barrier requests on both
        return Differential(first, other_side, prof, namespace(nonce, example))

    return make
