"""A server that floods its output cannot fill the disk: its log is cut while it runs, keeping its end.

Found by the hostile-input sweep: a ``--server-command`` server printing in a
loop wrote 2.3 GB in 11 s into its run directory's ``<name>.log``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from gearsim.io.launch import RunningServer, _tail
from gearsim.io.logcap import cut_log, watch_log

TOY = Path(__file__).resolve().parents[1] / "interop" / "toy_server.py"
FLOOD = "import sys\nn = 0\nwhile True:\n    n += 1\n    sys.stdout.write(f'line {n} ' + 'x' * 100 + '\\n')\n"


def test_a_cut_log_keeps_whole_last_lines_under_a_line_saying_so(tmp_path: Path) -> None:
    log = tmp_path / "s.log"
    log.write_bytes(b"".join(b"line %d\n" % n for n in range(1, 10001)))
    assert cut_log(log, keep=100)
    text = log.read_text()
    first, *rest = text.splitlines()
    assert first.startswith("=== gearsim: this log passed 98894 bytes; all but its last ") and first.endswith(
        " were dropped ==="
    )
    assert rest[-1] == "line 10000" and rest[0].startswith("line ") and len(text) < 200


def test_a_cut_log_of_one_endless_line_keeps_its_last_bytes(tmp_path: Path) -> None:
    # a server writing binary or one line without end: no line start to cut at, the last bytes are kept as they are
    log = tmp_path / "s.log"
    log.write_bytes(bytes(range(256)) * 400)
    assert cut_log(log, keep=100)
    note, kept = log.read_bytes().split(b"===\n", 1)
    assert note == b"=== gearsim: this log passed 102400 bytes; all but its last 100 were dropped "
    assert kept == bytes(range(256))[-100:]
    assert not cut_log(tmp_path / "absent.log")


def test_a_flooding_server_s_log_stays_bounded_and_its_tail_is_its_latest_output(tmp_path: Path) -> None:
    log = tmp_path / "flood.log"
    with log.open("ab") as out:
        out.write(b"=== gearsim start attempt 1: flood\n")
        offset = out.tell()
        proc = subprocess.Popen([sys.executable, "-c", FLOOD], stdout=out, stderr=subprocess.STDOUT)
    cap = 1 << 20
    try:  # from the Popen on: a flood left running would write on after the test, into a deleted file
        server = RunningServer("flood", "127.0.0.1", 1, proc.pid, tmp_path, process=proc, log_offset=offset)
        watcher = watch_log(proc, log, server.log_cut, cap=cap, keep=4096, every=0.01)
        deadline = time.monotonic() + 30
        while server.log_offset and time.monotonic() < deadline:  # polled: the flood's pace is the machine's
            time.sleep(0.01)
        assert server.log_offset == 0, "the log was never cut"
    finally:
        proc.kill()
        proc.wait()
    watcher.join(10)
    assert not watcher.is_alive()  # it stops with the process
    assert log.stat().st_size < cap + (1 << 20)  # at most what one look's interval lets through past the cap
    tail = _tail(log, 3, server.log_offset).splitlines()
    assert tail[-1].startswith("line ") or tail[-1].startswith("=== gearsim: this log passed"), tail


def test_a_started_server_that_floods_its_output_keeps_a_bounded_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gearsim.io import logcap
    from gearsim.io.launch import start_server, stop_server
    from gearsim.io.serverdesc import command_description

    monkeypatch.setattr(logcap, "LOG_CAP", 1 << 20)
    (tmp_path / "flood.py").write_text(FLOOD, encoding="utf-8")
    chatty = tmp_path / "chatty.sh"  # a Gearman server whose other half floods the shared output
    chatty.write_text(f'"{sys.executable}" "{tmp_path / "flood.py"}" &\nexec "{sys.executable}" "{TOY}" --port "$1"\n')
    server = start_server(command_description(f"sh {chatty} {{port}}"), tmp_path / "run")
    try:

        def cut() -> bool:
            with server.log_file.open("rb") as fh:
                return fh.read(64).startswith(b"=== gearsim: this log passed ")

        deadline = time.monotonic() + 30
        while not cut() and time.monotonic() < deadline:  # polled: the flood's pace is the machine's
            time.sleep(0.05)
        assert cut(), "the log was never cut"
        assert server.log_file.stat().st_size < 64 << 20
    finally:
        stop_server(server)  # the whole session: the flood goes with it
    assert "--- tail of " in server.log_tail() and "line " in server.log_tail()
