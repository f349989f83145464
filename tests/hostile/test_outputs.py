"""Output files (``--out``, ``-o``, ``--write-baseline``...): whole or not at all, never a clobbered link or device.

A write cut short (a full disk) must leave the file the user had as it was,
and the one line on stderr must name the output, not the input. A path that
is not a plain file is written in place: renaming over ``/dev/stdout``, a
pipe or a symbolic link would replace the node itself (as root, /dev/full
became a regular file).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from gearsim.cli.main import main
from gearsim.files import replace_text

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def disk_fills_midway(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Path.write_text writes half of its text, then fails as a full disk does."""
    real = Path.write_text

    def half(self: Path, data: str, *args: Any, **kwargs: Any) -> int:
        real(self, data[: len(data) // 2], *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", half)


@pytest.mark.usefixtures("disk_fills_midway")
def test_a_report_cut_short_leaves_the_old_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.json"
    out.write_bytes(b"last week's report\n")
    assert main(["run", "server/status.yaml::unknown-handle", "--format", "json", "--out", str(out)]) == 3
    assert out.read_bytes() == b"last week's report\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
    printed, shown = capsys.readouterr()
    assert shown.splitlines() == [f"gearsim run: [Errno 28] No space left on device: '{out}'"]
    assert "1 passed" in printed  # the summary went out first: the report that failed did not take it along


@pytest.mark.usefixtures("disk_fills_midway")
def test_a_recorded_vector_cut_short_leaves_the_old_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "recorded.yaml"
    out.write_bytes(b"kept\n")
    assert main(["record", str(DATA / "gearmand.raw.pcap"), "-o", str(out)]) == 3
    assert out.read_bytes() == b"kept\n"
    err = capsys.readouterr().err.splitlines()
    assert err == [f"gearsim record: cannot write {out}: No space left on device"]  # the output, not the capture


def test_a_symbolic_link_keeps_pointing_at_its_file(tmp_path: Path) -> None:
    target = tmp_path / "real.txt"
    target.write_text("old\n", encoding="utf-8")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    replace_text(link, "new\n")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text(encoding="utf-8") == "new\n"


def test_a_pipe_is_written_into_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader, so opening the writer end does not block
    try:
        replace_text(fifo, "through the pipe\n")
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
        assert os.read(reader, 4096) == b"through the pipe\n"
    finally:
        os.close(reader)


def test_a_serve_log_on_a_full_disk_is_named_in_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The one line was "[Errno 28] No space left on device", naming no file: which of serve's files was full?"""
    log = tmp_path / "serve.log"
    log.write_bytes(b"an earlier run\n")
    real_open = Path.open

    def full_disk(self: Path, *args: Any, **kwargs: Any) -> Any:
        # /dev/full without touching /dev: the log opens, and every write of a line (line-buffered) fails
        return real_open(Path("/dev/full"), *args, **kwargs) if self == log else real_open(self, *args, **kwargs)

    if not stat.S_ISCHR(os.stat("/dev/full").st_mode):
        pytest.skip("/dev/full is not the full device here")
    monkeypatch.setattr(Path, "open", full_disk)
    assert main(["serve", "--port", "0", "--log", str(log)]) == 3
    monkeypatch.undo()
    out = capsys.readouterr()
    assert out.err.splitlines() == [f"gearsim serve: cannot write log {log}: No space left on device"], out.err
    assert log.read_bytes() == b"an earlier run\n"


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["run", "server/status.yaml::unknown-handle", "--pcap"], "gearsim run: [Errno 28] No space left on device"),
        (
            ["simulate", "status", "--pcap"],
            "gearsim simulate: cannot write the capture: [Errno 28] No space left on device",
        ),
    ],
)
def test_a_capture_cut_short_leaves_the_old_capture(
    argv: list[str], said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--pcap wrote straight into its file: a full disk left half a capture and lost the previous one."""
    out = tmp_path / "run.pcap"
    out.write_bytes(b"last week's capture")
    real = Path.write_bytes

    def half(self: Path, data: bytes) -> int:
        real(self, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half)
    assert main([*argv, str(out)]) == 3
    monkeypatch.undo()
    assert out.read_bytes() == b"last week's capture"
    assert [p.name for p in tmp_path.iterdir()] == ["run.pcap"]
    assert capsys.readouterr().err.splitlines()[-1] == f"{said}: '{out}'"


def test_a_capture_written_whole_replaces_the_old_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run.pcap"
    out.write_bytes(b"last week's capture")
    assert main(["simulate", "status", "--pcap", str(out)]) == 0
    assert out.read_bytes()[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    assert [p.name for p in tmp_path.iterdir()] == ["run.pcap"]


def test_a_serve_log_that_fills_up_midway_ends_the_run_with_one_line() -> None:
    """Logging a connection's first record raised inside asyncio's callback: a traceback, a hung client, serve on."""
    import asyncio
    import io
    import socket
    import threading

    from gearsim.errors import HarnessError
    from gearsim.io.serve import serve_forever
    from gearsim.io.serve_log import ServeLog
    from gearsim.model import Server

    class FullAfterTheHeader(io.StringIO):
        def write(self, text: str) -> int:
            if self.getvalue():
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(text)

    listening = threading.Event()

    class Announce(io.StringIO):
        def write(self, text: str) -> int:
            written = super().write(text)
            listening.set()
            return written

    stream, announce = FullAfterTheHeader(), Announce()
    log = ServeLog(stream, "text", "serve.log")
    outcome: dict[str, str] = {}

    def serve() -> None:
        loop = asyncio.SelectorEventLoop()  # not the policy's: an earlier serve in this process may have set uvloop's
        try:
            loop.run_until_complete(serve_forever(Server("gearmand-1.1"), "127.0.0.1", 0, log=log, announce=announce))
        except HarnessError as exc:
            outcome["error"] = str(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert listening.wait(10)
    port = int(announce.getvalue().strip().rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        while sock.recv(4096):  # serve ends the run, closing this connection
            pass
    thread.join(10)
    assert not thread.is_alive()
    assert outcome == {"error": "cannot write log serve.log: No space left on device"}
    assert stream.getvalue().startswith("# gearsim serve run: ") and stream.getvalue().count("\n") == 1
