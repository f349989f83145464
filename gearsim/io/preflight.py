"""Whether an address given as a Gearman server speaks Gearman at all, asked once before any case (I/O).

``gearsim run --server``, ``gearsim fuzz --server`` and the pytest plugin's
``--gearsim-server`` judge a server the user names by its address. Named the
wrong port (a web server, an SSH daemon, an echo service), every case used to
FAIL, each charged to "the server" under some MUST rule: a verdict about
software that was never under test. :func:`preflight` plays the ``ECHO_REQ``
probe once and refuses the address (``NotGearman``, exit 3) only when its
first bytes say unambiguously that nothing there speaks Gearman
(:func:`foreign`):

* text that is not an admin-protocol answer (``HTTP/1.1 400 ...``,
  ``SSH-2.0-...``): a Gearman server answers a binary request in binary
  framing, and one that reads it as an admin line answers ``ERR ...``;
* our own request back, byte for byte: an echo service (a Gearman server
  answers ECHO_REQ with ECHO_RES, whose magic is ``\\0RES``).

Everything else goes on to be judged as before, because a real Gearman server
can be broken in each of those ways: bytes that start with NUL (a wrong magic
or type is a verdict about framing), an ``ERR``/``OK`` line, a close or a
reset, and silence (gear never answers ECHO_REQ). Once refused, a second
connection that sends nothing tells a banner (bytes sent before any request,
which no Gearman server does) from an answer, for the message only.

The probe round trip itself lives here too (``exchange``, ``round_trip``: one
read-only request, ECHO_REQ or GET_STATUS, and the first bytes that came back),
for the after-case health checks and gearsim.io.readiness, whose wait for a
server gearsim started (``--server-command``, ``--peer``, ``gearsim matrix``)
stops at the first answer ``foreign`` recognises instead of timing out.

:func:`first_contact` asks ECHO_REQ, GET_STATUS and the admin line
``version`` at once, each on a connection of its own, so that an address that
accepts connections and answers none of them (a hung server, a tunnel whose
far end is gone) is known within one timeout: every case, or every fuzz
example, would only wait for nothing there.
"""

from __future__ import annotations

import contextlib
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

from gearsim.errors import DecodeError, HarnessError, NotGearman
from gearsim.io.tcp import is_sync_reply, sync_request
from gearsim.protocol.codec import Decoder, encode
from gearsim.run.batch import CLOSE_WAIT

__all__ = [
    "BANNER_WAIT",
    "KEPT",
    "PROBE_TIMEOUT",
    "VERSION_LIMIT",
    "FirstContact",
    "Probe",
    "exchange",
    "first_contact",
    "foreign",
    "preflight",
    "probe_bytes",
    "probe_server",
    "probe_sync",
    "round_trip",
    "shown",
    "version_reply",
]

#: how long each probe waits for its answer, seconds (as long as the after-case health check, managed.HEALTH_TIMEOUT)
PROBE_TIMEOUT: Final[float] = 3.0
#: how long the refused address's second connection waits for a banner, seconds (only after a refusal)
BANNER_WAIT: Final[float] = 1.0
#: the most bytes of a foreign answer shown in the refusal
_SHOWN: Final[int] = 48
#: how an admin-protocol answer starts: a Gearman server that read the binary probe as a text line says so this way
_ADMIN_ANSWERS: Final[tuple[bytes, ...]] = (b"ERR ", b"OK")


_PROBE_TOKEN = b"gearsim-ready"


def _await_close(sock: socket.socket, wait: float) -> None:
    """Half-close ``sock`` and wait (at most ``wait`` seconds) until the server closed its end. Never raises.

    A probe must leave nothing behind that the next case could see: a server
    lists a connection (admin ``workers``) until it has processed its close,
    and gearmand drops the row only when it closes its own end.
    """
    deadline = time.monotonic() + wait
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if not sock.recv(65536):
                return


def probe_bytes(sync: str) -> bytes:
    """The bytes of the probe request ``sync`` (ECHO_REQ or GET_STATUS) as ``round_trip`` sends them.

    Raises:
        ValueError: ``sync`` is not ECHO_REQ or GET_STATUS.
    """
    return encode(sync_request(sync, _PROBE_TOKEN))


def round_trip(host: str, port: int, sync: str, timeout: float) -> str | None:
    """Connect and play one read-only request (``sync``: ECHO_REQ or GET_STATUS); None when answered.

    An answered probe half-closes and waits (bounded) for the server to close
    its end, so the probe's connection is gone before the caller goes on.

    Returns:
        None when the server answered as expected, else a one-line reason
        ("cannot connect ...", "closed the connection", "no reply within ...",
        "answered ... instead"). With ``sync`` empty only the connect is tried.
        Never raises.
    """
    return exchange(host, port, sync, timeout).problem


#: the most bytes of a probe's answer kept to look at (``foreign``)
KEPT = 256


@dataclass(frozen=True, slots=True)
class Probe:
    """What one probe met: whether anything accepted the connection, the problem if any, the first bytes back."""

    #: something accepted the TCP connection (False: nothing listens there, or the address is wrong)
    connected: bool
    #: None when the server answered the probe as expected, else one line saying what happened instead
    problem: str | None = None
    #: the first bytes the server sent (at most ``KEPT``), for ``foreign``
    first: bytes = b""
    #: nothing came back and the connection stayed open until the timeout ran out (not a close, not a reset)
    silent: bool = False


def exchange(host: str, port: int, sync: str, timeout: float) -> Probe:
    """Connect and play the probe ``sync`` (none when empty: the connect alone): what it met. Never raises."""
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except ConnectionResetError:
        return Probe(True, f"{host}:{port} reset the connection at once")  # someone listens, and hangs up
    except OSError as exc:
        return Probe(False, f"cannot connect to {host}:{port}: {exc}")
    with contextlib.closing(sock):
        if not sync:
            return Probe(True)
        decoder = Decoder()
        first = b""
        try:
            sock.sendall(probe_bytes(sync))
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return Probe(True, f"no reply to {sync} within {round(timeout, 2):g} s", first, not first)
                sock.settimeout(left)
                data = sock.recv(65536)
                if not data:
                    return Probe(True, f"closed the connection after {sync}", first)
                first = (first + data)[:KEPT]
                for message in decoder.feed(data):
                    if is_sync_reply(message, _PROBE_TOKEN):
                        _await_close(sock, CLOSE_WAIT)
                        return Probe(True, None, first)
                    return Probe(True, f"answered {message!r} to {sync}", first)
        except TimeoutError:
            return Probe(True, f"no reply to {sync} within {round(timeout, 2):g} s", first, not first)
        except OSError as exc:
            return Probe(True, f"connection failed during {sync}: {exc}", first)
        except DecodeError as exc:
            return Probe(True, f"answered bytes that do not decode: {exc}", first)


def foreign(first: bytes, sync: str = "ECHO_REQ") -> str | None:
    """What about ``first``, the first bytes a peer sent after the probe ``sync``, shows it is no Gearman server.

    None (it may be Gearman, broken or not) for nothing at all, bytes that
    start with NUL as Gearman's binary framing does, and an admin-protocol
    answer. Pure.

    Raises:
        ValueError: ``sync`` is not ECHO_REQ or GET_STATUS.
    """
    request = probe_bytes(sync)
    if not first:
        return None
    if first.startswith(request):
        return f"it echoed the {sync} request back byte for byte ({shown(first)}), as an echo service does"
    if first[:1] == b"\0" or first.startswith(_ADMIN_ANSWERS):
        return None
    return f"it answered {sync} with {shown(first)}"


def shown(data: bytes) -> str:
    """``data``'s first bytes as a Python bytes literal on one line, "..." when cut. Pure."""
    cut = data[:_SHOWN]
    return repr(cut) + ("..." if len(data) > _SHOWN else "")


def preflight(host: str, port: int, timeout: float) -> str | None:
    """Play ECHO_REQ on ``host:port`` once: None when answered with its ECHO_RES, else what happened instead.

    Raises:
        HarnessError: nothing accepts connections there ("cannot connect ...").
        NotGearman: what came back is no Gearman server's (``foreign``); the
            message names the address and the bytes, or the banner it sent
            before any request.
    """
    probe = exchange(host, port, "ECHO_REQ", timeout)
    if probe.problem is None:
        return None
    if not probe.connected:
        raise HarnessError(probe.problem)
    what = foreign(probe.first, "ECHO_REQ")
    if what is None:
        return probe.problem
    banner = _first_bytes(host, port, BANNER_WAIT, _SHOWN + 1)
    if banner:
        what = f"it sent {shown(banner)} before any request"
    raise NotGearman(f"{host}:{port} is not a Gearman server: {what}")


def _first_bytes(host: str, port: int, wait: float, size: int, send: bytes = b"") -> bytes:
    """The first bytes (at most ``size``) ``host:port`` sends on a new connection after ``send``, within ``wait`` s.

    With nothing sent, what comes is a banner: a server that speaks first is
    no Gearman server. Never raises: b"" when nothing came, or no connection.
    """
    deadline = time.monotonic() + wait
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=wait) as sock:
        if send:
            sock.sendall(send)
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        return sock.recv(size)
    return b""


def probe_sync(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> str:
    """The read-only round trip a server answers: ``ECHO_REQ``, else ``GET_STATUS``, else ``""``.

    Raises:
        HarnessError: the server cannot be connected to at all.
        NotGearman: what answers there is no Gearman server (``gearsim.io.preflight``).
    """
    return probe_server(host, port, timeout)[0]


def probe_server(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> tuple[str, str]:
    """``probe_sync``'s round trip, and when it is "" what the server did instead of answering either.

    ``ECHO_REQ`` goes first, through the preflight that refuses an address
    where something other than Gearman answers.

    Raises:
        HarnessError: the server cannot be connected to at all.
        NotGearman: what answers there is no Gearman server.
    """
    problem = preflight(host, port, timeout)
    if problem is None:
        return "ECHO_REQ", ""
    other = exchange(host, port, "GET_STATUS", timeout)
    if other.problem is None:
        return "GET_STATUS", ""
    if not other.connected:
        raise HarnessError(other.problem)
    if not other.first:
        # silent to both binary probes: a server that reads text lines (a web server waits for one) answers a line
        said = _first_bytes(host, port, timeout, KEPT, send=b"version\n")
        if said and said[:1] != b"\0" and not said.startswith(_ADMIN_ANSWERS) and not _VERSION.match(said):
            raise NotGearman(
                f"{host}:{port} is not a Gearman server: it answered neither ECHO_REQ nor GET_STATUS, "
                f"and answered the admin line 'version' with {shown(said)}"
            )
    return "", f"{problem}; {other.problem}"


#: how an answer to the admin line ``version`` may start besides OK/ERR: a version number (Perl: v1.130.1)
_VERSION: Final = re.compile(rb"v?\d")


#: the most of an answer to ``version`` that is read: a real one is a short line ("OK 1.1.20+ds"), and a
#: peer that streams bytes without a newline must not be buffered for the whole timeout
VERSION_LIMIT: Final[int] = 512


def version_reply(host: str, port: int, timeout: float) -> bytes:
    """The first line (at most VERSION_LIMIT bytes) ``host:port`` answers the admin ``version`` line with.

    b"" when nothing came within ``timeout`` or the server closed first.

    Raises:
        HarnessError: the server cannot be connected to, or the connection failed.
    """
    data = b""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise HarnessError(f"cannot ask {host}:{port} for its version: {exc}") from None
    with sock:
        try:
            sock.sendall(b"version\n")
            deadline = time.monotonic() + timeout
            while b"\n" not in data and len(data) < VERSION_LIMIT:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                sock.settimeout(left)
                chunk = sock.recv(VERSION_LIMIT)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            pass  # what came before the time ran out is the answer (often nothing)
        except OSError as exc:
            raise HarnessError(f"cannot ask {host}:{port} for its version: {exc}") from None
    return data


@dataclass(frozen=True, slots=True)
class FirstContact:
    """ECHO_REQ, GET_STATUS and the admin line ``version``, asked at once of one address (``first_contact``)."""

    host: str
    port: int
    timeout: float
    echo: Probe
    status: Probe
    #: the answer to ``version`` (b"": none), None when its connection failed
    version: bytes | None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def round_trip(self) -> tuple[str, str]:
        """:func:`probe_server`'s answer, from these probes where they decide it, else by asking it.

        ECHO_REQ answered: that. ECHO_REQ met silence (no byte: nothing
        foreign to refuse, as from gear) and GET_STATUS answered: that. Any
        other outcome goes to :func:`probe_server`, whose preflight may refuse
        the address; asking it always probed a server again what these had
        just asked it, and waited out a silent ECHO_REQ twice.

        Raises:
            HarnessError: nothing accepts connections there.
            NotGearman: what answers there is no Gearman server.
        """
        if self.echo.problem is None:
            return "ECHO_REQ", ""
        if self.echo.silent and self.status.problem is None:
            return "GET_STATUS", ""
        return probe_server(self.host, self.port, self.timeout)

    def silence(self) -> str | None:
        """Why nothing can be judged there when the address accepts connections and answered none; else None.

        Silent is no byte and no close within the timeout on each of the three connections.
        """
        if not (self.echo.silent and self.status.silent and self.version == b""):
            return None
        return (
            f"{self.address} accepts connections but answered none of ECHO_REQ, GET_STATUS and the admin line "
            f"'version' within {round(self.timeout, 2):g} s (each on a connection of its own)"
        )


def first_contact(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> FirstContact:
    """Ask ``host:port`` ECHO_REQ, GET_STATUS and ``version`` at once, each on a connection of its own.

    At once, so that an address that answers none of them is known within one
    ``timeout`` (asked one after the other, as :func:`probe_server` does, that
    takes three). Never raises: ``echo.connected`` says whether anything listens.
    """

    def version() -> bytes | None:
        try:
            return version_reply(host, port, timeout)
        except HarnessError:
            return None

    with ThreadPoolExecutor(max_workers=2) as pool:
        asked = pool.submit(version)
        status = pool.submit(exchange, host, port, "GET_STATUS", timeout)
        echo = exchange(host, port, "ECHO_REQ", timeout)
        return FirstContact(host, port, timeout, echo, status.result(), asked.result())
