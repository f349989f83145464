"""Building the sides of a fuzz run, and naming the server under test (an I/O edge).

``model_vs_server`` pairs the reference model with a real server reached over
TCP; ``model_vs_model`` pairs two models (two profiles, or the same one), which
needs no server: the determinism self-check and the tests that prove the
machine can fail use it. Every example gets its own namespace: a run nonce
(chosen by the caller: the CLI uses the process id and the start time, so two
runs never share names on one server) plus the example number.
"""

from __future__ import annotations

import socket
import time

from gearsim.errors import HarnessError
from gearsim.fuzz.driver import Differential
from gearsim.fuzz.machine import DifferentialFactory
from gearsim.fuzz.sides import ModelSide, RealSide
from gearsim.model import ServerOptions
from gearsim.model.profiles import get_profile

__all__ = ["model_vs_model", "model_vs_server", "namespace", "server_identity"]


def namespace(nonce: str, example: int) -> bytes:
    """The wire prefix of example ``example`` of run ``nonce``."""
    return f"gz{nonce}-{example}-".encode("ascii")


def server_identity(host: str, port: int, timeout: float = 3.0) -> str:
    """'<admin version reply> at host:port', e.g. 'OK 1.1.20+ds at 127.0.0.1:4730'.

    Raises:
        HarnessError: the server cannot be reached or does not answer 'version'.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"version\n")
            data = b""
            deadline = time.monotonic() + timeout
            while b"\n" not in data and time.monotonic() < deadline:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError as exc:
        raise HarnessError(f"cannot ask {host}:{port} for its version: {exc}") from None
    line = data.split(b"\n", 1)[0].strip().decode("utf-8", "replace")
    return f"{line or 'no version reply'} at {host}:{port}"


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
) -> DifferentialFactory:
    """Examples against the server at host:port; the model reports the server's version string."""
    options = _options(identity)
    prof = get_profile(profile)

    def make(example: int) -> Differential:
        real = RealSide(host, port, timeout=timeout)
        return Differential(ModelSide(prof, options), real, prof, namespace(nonce, example), excuse_known=excuse_known)

    return make


def model_vs_model(profile: str, other: str | None = None, nonce: str = "m") -> DifferentialFactory:
    """Examples of the model under ``profile`` against the model under ``other`` (default: the same)."""
    prof = get_profile(profile)
    second = get_profile(other or profile)

    def make(example: int) -> Differential:
        return Differential(ModelSide(prof), ModelSide(second, name="model-b"), prof, namespace(nonce, example))

    return make
