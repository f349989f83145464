"""gearsim.cli.progress: a bar on a terminal, nothing in a pipe or a file, GEARSIM_PROGRESS overrides."""

from __future__ import annotations

import io
import os

import pytest

from gearsim.cli.progress import ENV, is_interactive, progress, track


@pytest.fixture(autouse=True)
def _plain_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")


def test_nothing_is_drawn_into_a_pipe() -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w", encoding="utf-8") as stream:
        assert not is_interactive(stream)
        assert list(track(range(50), "working", stream=stream)) == list(range(50))
    with os.fdopen(read_end, "rb") as got:
        assert got.read() == b""


def test_nothing_is_drawn_into_a_file_like_object() -> None:
    out = io.StringIO()
    with progress("decoding", total=3, stream=out) as bar:
        bar.advance(3)
        bar.update(description="done")
    assert out.getvalue() == ""


def _read_all(master: int) -> str:
    """Everything written to a pty whose other end is closed (one read may return only part)."""
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other end is closed and everything was read
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


def test_a_bar_is_drawn_on_a_terminal() -> None:
    master, slave = os.openpty()
    with os.fdopen(slave, "w", encoding="utf-8") as stream:
        assert is_interactive(stream)
        with progress("decoding", total=4, unit="packets", stream=stream) as bar:
            for _ in range(4):
                bar.advance()
        stream.flush()
    drawn = _read_all(master)
    assert "decoding" in drawn
    assert "4/4" in drawn and "packets" in drawn


@pytest.mark.parametrize(("value", "expected"), [("0", False), ("1", True)])
def test_the_environment_overrides(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv(ENV, value)
    assert is_interactive(io.StringIO()) is expected


def test_a_dumb_terminal_gets_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    master, slave = os.openpty()
    with os.fdopen(slave, "w", encoding="utf-8") as stream:
        assert not is_interactive(stream)
    os.close(master)
