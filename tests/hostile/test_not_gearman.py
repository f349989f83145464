"""An address that does not speak Gearman is refused before any case, not judged as a broken Gearman server.

The hostile sweep pointed ``gearsim run --server`` at a web server, an SSH
daemon and an echo service: every case FAILed under some MUST rule, a wall of
verdicts charged to "the server" when the user had named the wrong port. Now
the ECHO_REQ probe (gearsim.io.preflight) refuses such an address with exit 3
and one line saying what came back. What a real Gearman server may do when it
is broken (close, hang, answer in binary or with an admin ``ERR``) is still
judged: those servers here run the cases as before, and the report's first
line says what the probes met.

The toy servers are asyncio servers on 127.0.0.1, port 0, in a thread of the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import shutil
import socket
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import gearsim.io.managed
from gearsim.cli.main import main
from gearsim.errors import HarnessError, NotGearman
from gearsim.io.preflight import exchange, first_contact, foreign, probe_bytes, probe_server

pytest_plugins = ["pytester"]

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

ECHO = probe_bytes("ECHO_REQ")
#: one case that needs nothing but a server, so a run against a toy is short
ONE_CASE = "server/coalesce.yaml::queued-same-unique-one-job"
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample_project"
PLUGIN = "gearsim.testing.pytest_plugin"


async def _http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(4096)  # all of the probe: a close with unread bytes would reset the connection
    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    await writer.drain()


async def _ssh(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")  # a banner: before the peer says anything
    await writer.drain()
    if await reader.read(100):
        writer.write(b"Invalid SSH identification string.\r\n")
        await writer.drain()


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(4096):
        writer.write(data)
        await writer.drain()


async def _close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    return  # accepts, and closes at once


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # reads everything, answers nothing (as gear does ECHO_REQ)


async def _gearman_error(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A broken Gearman server: every request gets ERROR, in Gearman's framing."""
    while await reader.read(4096):
        body = b"ERR\0nope"
        writer.write(b"\0RES" + (19).to_bytes(4, "big") + len(body).to_bytes(4, "big") + body)
        await writer.drain()


async def _admin_err(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A broken Gearman server that reads every request as an admin line."""
    while await reader.read(4096):
        writer.write(b"ERR UNKNOWN_COMMAND Unknown+server+command\n")
        await writer.drain()


@contextlib.contextmanager
def _toy(handler: Handler) -> Iterator[tuple[str, int]]:
    """``handler`` serving on 127.0.0.1, on a port of its own, for the block's duration."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    address: list[tuple[str, int]] = []
    stop: list[asyncio.Future[None]] = []

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            await handler(reader, writer)
        writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(one, "127.0.0.1", 0)
        address.append(server.sockets[0].getsockname()[:2])
        stop.append(loop.create_future())
        started.set()
        async with server:
            await stop[0]

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(30), "the toy server did not start"
    try:
        yield address[0]
    finally:
        loop.call_soon_threadsafe(stop[0].set_result, None)
        thread.join(30)
        loop.close()


REFUSED = {
    "http": (_http, r"is not a Gearman server: it answered ECHO_REQ with b'HTTP/1\.1 400 Bad Request\\r\\n"),
    "ssh-banner": (_ssh, r"is not a Gearman server: it sent b'SSH-2\.0-OpenSSH_9\.6\\r\\n' before any request"),
    "echo": (_echo, r"is not a Gearman server: it echoed the ECHO_REQ request back byte for byte \(b'\\x00REQ"),
}


@pytest.mark.parametrize("kind", list(REFUSED))
def test_run_refuses_an_address_that_does_not_speak_gearman(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    handler, said = REFUSED[kind]
    with _toy(handler) as (host, port):
        code = main(["run", ONE_CASE, "--server", f"{host}:{port}"])
    out, err = capsys.readouterr()
    assert code == 3, (out, err)
    assert out == ""  # no report: nothing was judged
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert re.search(rf"^gearsim run: 127\.0\.0\.1:{port} {said}", lines[0]), lines[0]


def test_fuzz_refuses_it_the_same_way(capsys: pytest.CaptureFixture[str]) -> None:
    with _toy(_http) as (host, port):
        code = main(["fuzz", "--server", f"{host}:{port}", "--examples", "1", "--no-write"])
    out, err = capsys.readouterr()
    assert code == 3, (out, err)
    assert err.startswith(f"gearsim fuzz: {host}:{port} is not a Gearman server: it answered ECHO_REQ with b'HTTP/1.1")


def test_the_pytest_plugin_refuses_it_before_any_case(pytester: pytest.Pytester) -> None:
    shutil.copytree(SAMPLE, pytester.path, dirs_exist_ok=True)
    registered = any(ep.value == PLUGIN for ep in entry_points(group="pytest11"))
    with _toy(_echo) as (host, port):
        result = pytester.runpytest(*([] if registered else ["-p", PLUGIN]), "--gearsim-server", f"{host}:{port}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--gearsim-server: {host}:{port} is not a Gearman server: it echoed*"])
    assert "passed" not in result.stdout.str() and "failed" not in result.stdout.str()


def test_a_server_that_closes_at_once_is_still_judged_and_the_report_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A Gearman server may crash on every connection: its FAILs stand, under a first line that says what happened."""
    with _toy(_close) as (host, port):
        code = main(["run", ONE_CASE, "--server", f"{host}:{port}"])
    out, _err = capsys.readouterr()
    assert code == 1
    first = out.splitlines()[0]
    assert re.search(
        r"the server answers neither ECHO_REQ nor GET_STATUS \("
        r"(closed the connection after|connection failed during) ECHO_REQ.*; "
        r"(closed the connection after|connection failed during) GET_STATUS.*\): sends are not ordered",
        first,
    ), first
    assert "FAIL server/coalesce.yaml::queued-same-unique-one-job" in out


@pytest.fixture
def quick_first_contact(monkeypatch: pytest.MonkeyPatch) -> None:
    """The three first-contact probes wait 0.3 s, not PROBE_TIMEOUT's 3 s."""
    monkeypatch.setattr(gearsim.io.managed, "first_contact", functools.partial(first_contact, timeout=0.3))


@pytest.mark.usefixtures("quick_first_contact")
def test_run_against_a_server_that_answers_nothing_stops_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    # was: every case waited out its every step, more than 10 minutes for the bundled vectors, saying nothing
    with _toy(_silent) as (host, port):
        code = main(["run", ONE_CASE, "--server", f"{host}:{port}"])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert out == (
        f"stopped early: server down since first contact: {host}:{port} accepts connections but answered none of "
        "ECHO_REQ, GET_STATUS and the admin line 'version' within 0.3 s (each on a connection of its own); "
        "no case run\n"
    )


@pytest.mark.usefixtures("quick_first_contact")
def test_the_pytest_plugin_stops_before_any_case_at_a_server_that_answers_nothing(pytester: pytest.Pytester) -> None:
    shutil.copytree(SAMPLE, pytester.path, dirs_exist_ok=True)
    registered = any(ep.value == PLUGIN for ep in entry_points(group="pytest11"))
    with _toy(_silent) as (host, port):
        result = pytester.runpytest(*([] if registered else ["-p", PLUGIN]), "--gearsim-server", f"{host}:{port}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--gearsim-server: {host}:{port} accepts connections but answered none of*"])


def _status_only(asked: list[int]) -> Handler:
    """gear's way: ECHO_REQ unanswered, GET_STATUS answered (its handle back, unknown); each request type noted."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError):
            while True:
                header = await reader.readexactly(12)
                body = await reader.readexactly(int.from_bytes(header[8:12], "big"))
                asked.append(int.from_bytes(header[4:8], "big"))
                if asked[-1] == 15:  # GET_STATUS
                    reply = body + b"\x000\x000\x000\x000"
                    writer.write(b"\0RES" + (20).to_bytes(4, "big") + len(reply).to_bytes(4, "big") + reply)
                    await writer.drain()

    return serve


@pytest.mark.usefixtures("quick_first_contact")
def test_a_server_silent_to_echo_req_is_not_probed_again_after_first_contact() -> None:
    # was: the first contact's three probes, then probe_server asking ECHO_REQ again and waiting out its 3 s
    asked: list[int] = []
    with _toy(_status_only(asked)) as (host, port):
        assert gearsim.io.managed.UserServerFactory(host, port).sync == "GET_STATUS"
    assert sorted(asked) == [15, 16]  # one GET_STATUS, one ECHO_REQ: the first contact's


@pytest.mark.parametrize(
    ("handler", "met"),
    [
        (_silent, "no reply to ECHO_REQ within 0.3 s; no reply to GET_STATUS within 0.3 s"),
        (_gearman_error, "answered Packet(RES ERROR [b'ERR', b'nope']) to ECHO_REQ; answered Packet(RES ERROR"),
        (_admin_err, "answered AdminLine(b'ERR UNKNOWN_COMMAND Unknown+server+command'"),
    ],
    ids=["never-answers", "binary-error", "admin-err"],
)
def test_what_a_broken_gearman_server_may_do_is_not_refused(handler: Handler, met: str) -> None:
    with _toy(handler) as (host, port):
        sync, unanswered = probe_server(host, port, timeout=0.3)
    assert sync == ""
    assert met in unanswered


@pytest.mark.parametrize(
    ("first", "refused"),
    [
        (b"", False),  # a close, a reset or silence: a Gearman server can crash or hang
        (b"\0RES\0\0\0\x11\0\0\0\x02hi", False),  # ECHO_RES with the wrong bytes: a verdict, not a refusal
        (b"\0RES", False),
        (b"\0XYZ\0\0\0\x11", False),  # a wrong magic is GM-FRAME's business
        (b"\0REQ\0\0\0\x10", False),  # a request's magic, but not our request back
        (b"ERR UNKNOWN_COMMAND x\n", False),
        (b"OK\n", False),
        (ECHO, True),
        (ECHO + b"more", True),
        (b"HTTP/1.1 400 Bad Request\r\n", True),
        (b"SSH-2.0-x\r\n", True),
        (b"-ERR unknown command\r\n", True),  # a Redis
        (b"220 smtp ready\r\n", True),
    ],
)
def test_only_unambiguous_first_bytes_are_foreign(first: bytes, refused: bool) -> None:
    assert (foreign(first) is not None) is refused


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_probe_says_whether_anything_accepted_the_connection() -> None:
    """Nothing listening is the user's address to fix (a harness error); a server that hangs up is judged."""
    port = _closed_port()
    nobody = exchange("127.0.0.1", port, "ECHO_REQ", 1.0)
    assert not nobody.connected
    assert nobody.problem is not None and nobody.problem.startswith(f"cannot connect to 127.0.0.1:{port}")
    with pytest.raises(HarnessError, match=rf"^cannot connect to 127\.0\.0\.1:{port}"):
        probe_server("127.0.0.1", port, timeout=1.0)
    with _toy(_close) as (host, port):
        hung_up = exchange(host, port, "ECHO_REQ", 1.0)
        assert hung_up.connected
        assert hung_up.problem is not None and "ECHO_REQ" in hung_up.problem
        assert probe_server(host, port, timeout=1.0)[0] == ""  # judged: no error raised


def test_a_probe_s_wait_is_said_in_hundredths() -> None:
    # was "no reply to ECHO_REQ within 0.667854 s": what a readiness wait had left of its 10 s
    with _toy(_silent) as (host, port):
        assert exchange(host, port, "ECHO_REQ", 0.0512345).problem == "no reply to ECHO_REQ within 0.05 s"


def test_a_refusal_is_an_input_error() -> None:
    with _toy(_http) as (host, port), pytest.raises(NotGearman, match=rf"^{host}:{port} is not a Gearman server"):
        probe_server(host, port, timeout=3.0)


_HTTP_COMMAND = """
import socket, sys
listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
while True:
    conn, _ = listener.accept()
    with conn:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 400 Bad Request\\r\\nContent-Length: 0\\r\\n\\r\\n")
"""


def test_a_started_command_that_is_no_gearman_server_is_named_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--server-command (and gearsim matrix's columns): the readiness wait used to run its 10 s out, then blame time."""
    script = tmp_path / "web.py"
    script.write_text(_HTTP_COMMAND)
    code = main(["run", ONE_CASE, "--server-command", f"{sys.executable} {script} {{port}}"])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)  # INCONCLUSIVE: a server gearsim starts per case is a case's harness matter
    refused = r"web on 127\.0\.0\.1:\d+ is not a Gearman server: it answered ECHO_REQ with b'HTTP/1\.1 400"
    assert re.search(refused, out), out
    assert "not ready" not in out


async def _web_page(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Python's http.server: it waits for a request line, and answers one it cannot parse with an HTML page."""
    await reader.readline()
    writer.write(b'<!DOCTYPE HTML>\n<html lang="en">\n<head><title>Error response</title></head>\n</html>\n')
    await writer.drain()


def test_a_server_silent_to_binary_probes_that_answers_a_text_line_with_a_web_page_is_refused() -> None:
    # was judged: every case FAILed, the run titled "against <!DOCTYPE HTML> at ..."
    with _toy(_web_page) as (host, port), pytest.raises(NotGearman) as info:
        probe_server(host, port, 0.3)
    assert "answered neither ECHO_REQ nor GET_STATUS, and answered the admin line 'version' with b'<!DOCTYPE" in str(
        info.value
    )


@pytest.mark.parametrize("answer", [b"", b"OK 1.1.20\n", b"v1.130.1\n", b"ERR UNKNOWN_COMMAND x\n", b"\0RES"])
def test_a_silent_server_whose_version_answer_may_be_gearman_s_is_still_judged(answer: bytes) -> None:
    async def silent_then(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if b"\n" in await reader.readline():  # the binary probes hold no newline: only 'version' is answered
            writer.write(answer)
            await writer.drain()

    with _toy(silent_then) as (host, port):
        assert probe_server(host, port, 0.3)[0] == ""  # neither probe answered: judged, not refused
