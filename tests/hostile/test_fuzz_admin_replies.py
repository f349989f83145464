"""A real server's answer to the fuzz run's ``drop function`` is read within a time and a length, or the run ends.

After every example ``gearsim fuzz`` drops the example's functions on a
server that speaks the admin protocol. The answer was read until a newline,
with no bound: a server that streamed bytes without one (or one byte now and
then) held the run forever, buffering all of it; one that never answered
ended it with a bare TimeoutError. Either is now a HarnessError naming the
command, which the CLI reports as a harness error (exit 3). The ``workers``
listing the run reads to see a closed connection go is bounded in length too.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from gearsim.errors import HarnessError
from gearsim.fuzz.sides import RealSide


@contextmanager
def admin_server(answer: Callable[[socket.socket], None]) -> Iterator[int]:
    """A one-connection server on 127.0.0.1 that reads one admin line, then ``answer``s on it."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            while b"\n" not in conn.recv(4096):
                pass
            answer(conn)
            done.wait()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        listener.close()
        thread.join(5)


def endless(conn: socket.socket) -> None:
    """Bytes without a newline for as long as the reader reads."""
    chunk = b"y" * 65536
    try:
        while True:
            conn.sendall(chunk)
    except OSError:
        return


def silent(conn: socket.socket) -> None:
    """Nothing: the reader's wait is what ends it."""


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (endless, "the server's answer to 'drop function f' ran past 4096 bytes without a newline"),
        (silent, "the server did not answer 'drop function f' within 0.2 s"),
    ],
    ids=["endless", "silent"],
)
def test_a_drop_function_answer_that_never_ends_its_line_is_a_harness_error(
    answer: Callable[[socket.socket], None], words: str
) -> None:
    with admin_server(answer) as port:
        side = RealSide("127.0.0.1", port, timeout=0.2)
        outcome: list[BaseException | None] = []

        def forget() -> None:
            try:
                side.forget([b"f"])
                outcome.append(None)
            except BaseException as exc:  # reported below, whatever it is
                outcome.append(exc)

        worker = threading.Thread(target=forget, daemon=True)
        worker.start()
        worker.join(10)  # a bound for the old code, which never returned: not a wait for the new
        side.shutdown()
        assert outcome, "forget still reading the answer to drop function"
        assert isinstance(outcome[0], HarnessError), outcome
        assert words in str(outcome[0])


def endless_rows(conn: socket.socket) -> None:
    """A 'workers' listing that never reaches its '.': rows as fast as the reader takes them."""
    rows = b"7 127.0.0.1 - : f\n" * 4096
    try:
        while True:
            conn.sendall(rows)
    except OSError:
        return


def test_a_workers_listing_that_never_ends_is_cut_at_its_length_limit() -> None:
    # was read for the whole wait into one buffer, searched whole at every read (about 45 MB in 3 s)
    with admin_server(endless_rows) as port:
        side = RealSide("127.0.0.1", port, timeout=30.0)
        try:
            with pytest.raises(HarnessError, match=r"^the admin 'workers' listing ran past 1048576 bytes without"):
                side._workers()
        finally:
            side.shutdown()
