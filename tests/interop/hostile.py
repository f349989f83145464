"""A deliberately broken "Gearman server" for testing that gearsim never hangs or crashes.

``HostileServer(mode)`` listens on 127.0.0.1 (a free port) in a thread and
misbehaves in one way per connection:

* ``hang``: reads and discards everything, never answers;
* ``deaf``: accepts, never reads and never answers (the client's sends pile up);
* ``close-mid-packet``: on the first request, sends half of a JOB_CREATED packet, then closes;
* ``garbage``: answers every request with bytes that are no Gearman framing (bad magic);
* ``garbage-text``: answers with endless text that never ends its line;
* ``huge``: answers with a ``\\0RES`` header that announces a 4 GiB body, then a few bytes, then waits;
* ``flood``: sends NOOP packets as fast as the client takes them, from the moment it connects;
* ``trickle``: answers with a valid packet one byte every 200 ms;
* ``reset``: accepts and closes at once with a TCP reset.

Also usable by hand: ``python tests/interop/hostile.py MODE`` prints the port
and serves until interrupted.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import sys
import threading
import time
from types import TracebackType

MODES = (
    "hang",
    "deaf",
    "close-mid-packet",
    "garbage",
    "garbage-text",
    "huge",
    "flood",
    "trickle",
    "reset",
)

_JOB_CREATED = b"\0RES" + struct.pack(">II", 8, 8) + b"H:evil:1"
_NOOP = b"\0RES" + struct.pack(">II", 6, 0)
_HUGE = b"\0RES" + struct.pack(">II", 8, 0xFFFFFFFF) + b"H:evil"


class HostileServer:
    """One misbehaving server on 127.0.0.1; use as a context manager.

    Attributes:
        port: the port it listens on.
        connections: how many connections it accepted.
        sent: how many bytes it wrote in all.
    """

    def __init__(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; modes: {', '.join(MODES)}")
        self.mode = mode
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if mode == "deaf":  # a small window, inherited by accepted sockets, so that sends stall soon
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.connections = 0
        self.sent = 0

    def __enter__(self) -> HostileServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start accepting in a background thread."""
        t = threading.Thread(target=self._accept_loop, name=f"hostile-{self.mode}", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        """Stop accepting, end every connection thread and close the listener."""
        self._stop.set()
        for t in list(self._threads):
            t.join(timeout=5)
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _send(self, conn: socket.socket, data: bytes) -> bool:
        try:
            conn.sendall(data)
        except OSError:
            return False
        with self._lock:
            self.sent += len(data)
        return True

    def _recv(self, conn: socket.socket) -> bytes | None:
        """Wait for data: bytes, b'' at EOF, None on timeout (stop is checked between)."""
        try:
            return conn.recv(65536)
        except TimeoutError:
            return None
        except OSError:
            return b""

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.closing(conn):
            conn.settimeout(0.1)
            getattr(self, "_mode_" + self.mode.replace("-", "_"))(conn)

    # --- one method per mode --------------------------------------------------

    def _mode_hang(self, conn: socket.socket) -> None:
        while not self._stop.is_set():
            if self._recv(conn) == b"":
                return

    def _mode_deaf(self, conn: socket.socket) -> None:
        self._stop.wait()

    def _on_first_request(self, conn: socket.socket) -> bool:
        while not self._stop.is_set():
            data = self._recv(conn)
            if data == b"":
                return False
            if data:
                return True
        return False

    def _mode_close_mid_packet(self, conn: socket.socket) -> None:
        if self._on_first_request(conn):
            self._send(conn, _JOB_CREATED[:15])

    def _mode_garbage(self, conn: socket.socket) -> None:
        while not self._stop.is_set():
            data = self._recv(conn)
            if data == b"":
                return
            if data and not self._send(conn, b"\0XYZ\xff\xfe\x00\x01garbage\x00" * 4):
                return

    def _mode_garbage_text(self, conn: socket.socket) -> None:
        if not self._on_first_request(conn):
            return
        chunk = b"x" * 65536
        while not self._stop.is_set() and self._send(conn, chunk):
            pass

    def _mode_huge(self, conn: socket.socket) -> None:
        if self._on_first_request(conn) and self._send(conn, _HUGE):
            self._mode_hang(conn)

    def _mode_flood(self, conn: socket.socket) -> None:
        chunk = _NOOP * 5000
        conn.settimeout(0.5)
        while not self._stop.is_set():
            try:
                conn.sendall(chunk)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.sent += len(chunk)

    def _mode_trickle(self, conn: socket.socket) -> None:
        if not self._on_first_request(conn):
            return
        for byte in _JOB_CREATED * 100:
            if self._stop.wait(0.2) or not self._send(conn, bytes([byte])):
                return

    def _mode_reset(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def main(argv: list[str]) -> int:
    """Serve one mode until interrupted: ``hostile.py MODE``."""
    if len(argv) != 1 or argv[0] not in MODES:
        print(f"usage: hostile.py {{{'|'.join(MODES)}}}", file=sys.stderr)
        return 2
    with HostileServer(argv[0]) as server:
        print(f"127.0.0.1:{server.port} ({server.mode})", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
