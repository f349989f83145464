"""``gearsim fuzz`` against a server that never answers, or stops answering part-way, ends at once and says so.

Each step of an example waited ``timeout`` for its barrier echo, each close
waited as long again, the stalled step became a DIVERGENCE ("server <no
reply to the barrier echo>", exit 1: a verdict about a server that was not
there any more), and hypothesis then replayed and shrank it, every replay
waiting out the same timeouts: three examples against a silent server took
two minutes. Now a wait that runs out is checked with a probe on a fresh
connection; a server that answers none stops the run with "stopped early:
server down since example N, step K (...): ..." naming what went unanswered
and for how long, exit 2 (inconclusive), and a finding made before it is
still written and reported (exit 1). A server that answers nothing at all is
known at first contact, within one timeout.

The servers here are threads in this process: one that reads and never
writes, and the reference model behind sockets that goes silent after a
number of reads (``ModelServer``). Every wait is ``--timeout 0.2``.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gearsim.cli.main import main
from gearsim.files import load_schema_text
from gearsim.model import Server
from gearsim.protocol.node import Close, Output, Send
from gearsim.vectors.parse import parse_vector_text

TIMEOUT = "0.2"


class ModelServer:
    """The model (sans-IO) behind real sockets, one thread per connection, silent from its ``connections``-th accept.

    From then on it still accepts and reads everything, on every connection,
    and answers and closes nothing, as a server stuck in a loop or a lock
    does: the process is there, nobody answers. Counting connections makes
    the moment the same on every run (the fuzz run opens them in a fixed
    order; counting reads did not: TCP may join two writes into one read).
    With ``after``, the count starts only once a read holding those bytes
    was answered (``connections=1``: the next connection is the first silent).
    ``mute``: the number of one connection never answered, the others are.
    """

    def __init__(self, profile: str, connections: int, after: bytes = b"", mute: int = 0) -> None:
        self.node = Server(profile)
        self.left = connections
        self.after = after
        self.mute = mute
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.socks: dict[int, socket.socket] = {}
        self.stop = threading.Event()

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def _route(self, outputs: list[Output]) -> None:
        for out in outputs:
            sock = self.socks.get(out.conn)
            if sock is None:
                continue
            try:
                if isinstance(out, Send):
                    sock.sendall(out.data)
                elif isinstance(out, Close):
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                continue

    def _serve(self, conn: int, sock: socket.socket) -> None:
        while not self.stop.is_set():
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            with self.lock:
                if self.left <= 0 or conn == self.mute:  # silent from now on: read, never answer, never close
                    if not data:
                        return
                    continue
                self._route(self.node.disconnect(conn, 0) if not data else self.node.receive(conn, data, 0))
                if self.after and self.after in data:
                    self.after = b""  # armed: the count of connections starts
                if not data:
                    self.socks.pop(conn, None)
                    sock.close()
                    return

    def _accept(self) -> None:
        conn = 0
        while not self.stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            conn += 1
            with self.lock:
                self.socks[conn] = sock
                if not self.after:
                    self.left -= 1
                if self.left > 0 and conn != self.mute:
                    self._route(self.node.connect(conn, 0))
            threading.Thread(target=self._serve, args=(conn, sock), daemon=True).start()

    @contextmanager
    def running(self) -> Iterator[ModelServer]:
        threading.Thread(target=self._accept, daemon=True).start()
        try:
            yield self
        finally:
            self.stop.set()
            self.listener.close()
            with self.lock:
                for sock in self.socks.values():
                    sock.close()


@contextmanager
def never_answering() -> Iterator[int]:
    """A server that accepts every connection and reads everything, and never writes or closes."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def read(sock: socket.socket) -> None:
        sock.settimeout(0.05)
        while not stop.is_set():
            try:
                if not sock.recv(65536):
                    return
            except TimeoutError:
                continue
            except OSError:
                return

    def accept() -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            held.append(sock)
            threading.Thread(target=read, args=(sock,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        listener.close()
        for sock in held:
            sock.close()


def fuzz(port: int, out: Path, *extra: str) -> list[str]:
    return ["fuzz", "--server", f"127.0.0.1:{port}", "--timeout", TIMEOUT, "--out", str(out), *extra]


def test_a_server_that_never_answers_is_named_at_first_contact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with never_answering() as port:
        code = main(fuzz(port, tmp_path, "--examples", "3"))
    out = capsys.readouterr().out
    assert code == 2, out  # inconclusive: nothing could be compared (was a DIVERGENCE at "c1 connect", exit 1)
    assert (
        f"stopped early: server down since first contact: 127.0.0.1:{port} accepts connections but answered none "
        f"of ECHO_REQ, GET_STATUS and the admin line 'version' within 0.2 s" in out
    ), out
    assert "DIVERGENCE" not in out
    assert list(tmp_path.iterdir()) == []  # no vector for a server that said nothing


def test_a_server_that_goes_silent_stops_the_run_at_the_step_it_left_unanswered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with ModelServer("gearmand-1.1", connections=10).running() as server:
        code = main(fuzz(server.port, tmp_path, "--examples", "50", "--steps", "10", "--seed", "1"))
        left = server.left
    out = capsys.readouterr().out
    assert left <= 0, out  # it did go silent during the run
    assert code == 2, out  # inconclusive (was a DIVERGENCE charged to the step, exit 1)
    stopped = re.search(
        r"^stopped early: server down since example (\d+), step (\d+) \((.+?)\): no reply within 0.2 s to the "
        r"step's barrier ECHO_REQ on [a-z0-9, ]+; then a fresh connection: no reply to ECHO_REQ within 0.2 s; "
        r"(\d+) examples? not run$",
        out,
        re.M,
    )
    assert stopped is not None, out
    assert int(stopped[1]) >= 2, out  # the examples before it ran against a server that answered
    assert "no divergence or broken invariant before it; nothing written" in out
    assert "DIVERGENCE" not in out
    assert list(tmp_path.iterdir()) == []


def test_a_finding_made_before_the_server_went_silent_is_written_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the model under Perl's profile answers 'cancel job' with other words than gearmand's: a divergence, found
    # early with this seed; the next connection (the search's next example, or a replay) finds the server silent
    with ModelServer("perl-1.130", connections=1, after=b"cancel job").running() as server:
        code = main(fuzz(server.port, tmp_path, "--examples", "20", "--steps", "10", "--seed", "3"))
        left = server.left
    out = capsys.readouterr().out
    assert left <= 0, out  # it went silent after the divergence was found
    assert code == 1, out
    assert "DIVERGENCE seed 3:" in out and "<no reply to the barrier echo>" not in out, out
    assert re.search(r"^  note: then stopped early: server down since example \d+, ", out, re.M), out
    written = list(tmp_path.iterdir())
    assert len(written) == 1, out
    vector = parse_vector_text(written[0].read_text(encoding="utf-8"), written[0].name, load_schema_text())
    assert "cancel job" in str(vector.cases)  # the finding, not the silence


def test_a_server_that_leaves_one_connection_unanswered_is_still_judged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the fresh connection's probe is answered: the server is up, and the unanswered step is a finding about it
    with ModelServer("gearmand-1.1", connections=1000, mute=7).running() as server:
        code = main(fuzz(server.port, tmp_path, "--examples", "5", "--steps", "10", "--seed", "1", "--no-shrink"))
    out = capsys.readouterr().out
    assert code == 1, out
    assert "stopped early" not in out
    assert re.search(r"^DIVERGENCE seed 1: step \d+ \(.+\): .*server <no reply to the barrier echo>", out, re.M), out
    assert len(list(tmp_path.iterdir())) == 1
