"""Peers that answer with junk: a bounded read, escaped text, reports that stay well-formed.

``gearsim run --server`` names the server by its answer to the admin
``version`` line. Against a peer that streamed NUL-laden packets without a
newline, the whole stream (3.9 MB in the sweep) was read for 3 s and pasted,
raw bytes and all, into the report's first line.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from xml.etree import ElementTree

import pytest

from gearsim.fuzz.session import server_identity
from gearsim.report.text import junit_report
from gearsim.run.result import CaseResult, Verdict


@pytest.fixture
def flooding_server() -> Iterator[tuple[str, int]]:
    """A server that answers anything with 4 MiB of binary packets and no newline, then closes."""
    listener = socket.create_server(("127.0.0.1", 0))
    burst = b"\0RES\0\0\0\x06\0\0\0\0" * (4 * 1024 * 1024 // 12)

    def serve() -> None:
        conn, _ = listener.accept()
        # the reader may stop reading and close mid-burst: what a bounded reader does
        with conn, contextlib.suppress(OSError):
            conn.recv(64)  # the "version" line: read, so that closing does not reset the connection
            conn.sendall(burst)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[:2]
    finally:
        listener.close()
        thread.join(timeout=30)


def test_a_version_answer_is_read_within_its_limit_and_escaped(flooding_server: tuple[str, int]) -> None:
    host, port = flooding_server
    identity = server_identity(host, port)
    assert identity.endswith(f" at {host}:{port}")
    assert len(identity) < 200, len(identity)
    assert identity.isprintable() and "\0" not in identity
    assert identity.startswith('"\\x00RES'), identity  # the first bytes, escaped, so a reader sees what came
    assert "bytes, sha256:" in identity  # how much was read, and a digest to tell two such answers apart


@pytest.mark.parametrize("verdict", [Verdict.FAIL, Verdict.INCONCLUSIVE, Verdict.ACCEPTABLE])
def test_a_junit_report_stays_xml_whatever_a_peer_wrote(verdict: Verdict) -> None:
    """A driver naming its library 'x\\0\\x1b[31mred' made the JUnit file unparseable ('not well-formed')."""
    said = "driver for c: x\0\x1b[31mred\ufffe, PID 7"
    result = CaseResult(
        "client/x.yaml", "c", "client", verdict, (), reason=f"hung; stderr: {said}", notes=(said,), trace=said
    )
    xml = junit_report([result], {}, "gearsim spec")
    root = ElementTree.fromstring(xml.encode("utf-8"))  # raises on a character XML forbids
    text = "".join(root.itertext())
    assert "x\\x00\\x1b[31mred\\ufffe, PID 7" in text  # escaped as a trace shows bytes, not dropped
