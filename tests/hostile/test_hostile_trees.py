"""Folders of vector files walked in bounded time, whatever the tree holds.

``gearsim run DIR`` (and ``lint``, ``fmt``, ``matrix``...) found vector files
with pathlib's ``rglob``: a FIFO named ``x.yaml`` blocked the run forever on
its read, ``gearsim run /`` walked the whole file system (``/proc`` too)
before failing on the first YAML file that was not a vector, and a folder it
could not read was passed over in silence, its cases not run and the run
passing. The pytest plugin's folders are walked by pytest, which follows a
link to a folder: ``sub/loop -> ..`` collected every vector file 41 times (to
the system's link limit), and a link to an ancestor outside the folder walked
all of it. Now a link to a folder is not followed by ``gearsim run`` (as
before) and named in a note, a pseudo file system is skipped with a note,
the file system's root or a folder on ``/proc`` is refused in one line, an
unreadable folder is an input error naming it (exit 3), and the plugin leaves
out a link to a folder above it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gearsim.cli.main import main
from gearsim.files import find_yaml
from gearsim.testing.pytest_plugin import _is_vector_file

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
STATUS = ROOT / "vectors" / "server" / "status.yaml"  # 12 cases
CASES = 12
#: a run that has not finished by then is hung (the hostile trees below are read in well under a second)
HUNG = 60


def _tree(top: Path) -> Path:
    """``top/vecs``: one vector file in ``sub/``, a link back to its parent inside ``sub``, a link to ``top``."""
    vecs = top / "vecs"
    (vecs / "sub").mkdir(parents=True)
    shutil.copy(STATUS, vecs / "sub" / "status.yaml")
    (vecs / "sub" / "loop").symlink_to("..")
    (vecs / "up").symlink_to("../..")
    return vecs


def _gearsim(*args: str) -> subprocess.CompletedProcess[str]:
    """``gearsim ARGS`` in a process of its own, so that a hang fails the test instead of stalling the suite."""
    command = [sys.executable, "-m", "gearsim", *args]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=HUNG, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"gearsim {' '.join(args)} still running after {HUNG} s")


def test_gearsim_run_does_not_follow_a_link_to_a_folder_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vecs = _tree(tmp_path)
    assert main(["run", str(vecs)]) == 0
    captured = capsys.readouterr()
    assert f"{CASES} passed, 0 failed" in captured.out  # each case once, not once per trip round the loop
    assert f"gearsim run: note: did not follow {vecs / 'sub' / 'loop'}: a symbolic link to a folder" in captured.err
    assert f"gearsim run: note: did not follow {vecs / 'up'}: a symbolic link to a folder" in captured.err


def test_a_fifo_named_like_a_vector_file_is_passed_over_not_read_forever(tmp_path: Path) -> None:
    vecs = _tree(tmp_path)
    os.mkfifo(vecs / "pipe.yaml")
    done = _gearsim("run", str(vecs))
    assert done.returncode == 0, done.stderr
    assert f"{CASES} passed" in done.stdout
    assert f"gearsim run: note: skipped {vecs / 'pipe.yaml'}: not a regular file" in done.stderr


@pytest.mark.parametrize("command", ["run", "lint"])
def test_the_file_system_root_is_refused_in_one_line_before_any_walking(command: str) -> None:
    done = _gearsim(command, "/")
    assert done.returncode == 3
    assert done.stderr == (
        f"gearsim {command}: /: refusing to walk the whole file system for vector files; name their folder\n"
    )


@pytest.mark.skipif(not Path("/proc/self/mounts").exists(), reason="needs Linux's /proc")
def test_a_folder_on_a_pseudo_file_system_is_refused_in_one_line() -> None:
    done = _gearsim("run", "/proc/sys")
    assert done.returncode == 3
    assert done.stderr == "gearsim run: /proc/sys: on a proc pseudo file system, not a folder of vector files\n"


def test_a_pseudo_file_system_inside_the_folder_is_skipped_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As ``/proc`` under ``/`` would be: here a folder that /proc/self/mounts is made to call one."""
    vecs = _tree(tmp_path)
    (vecs / "proc" / "1").mkdir(parents=True)
    (vecs / "proc" / "1" / "x.yaml").write_text("not: a vector\n", encoding="utf-8")
    import gearsim.files

    real = str((vecs / "proc").resolve())
    monkeypatch.setattr(gearsim.files, "_mounts", lambda: {"/": "ext4", real: "proc"})
    found, notes = find_yaml(vecs)
    assert found == [vecs / "sub" / "status.yaml"]
    assert f"skipped {vecs / 'proc'}: a proc pseudo file system" in notes


def _deny(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make listing ``folder`` fail as it does for a user without permission (tests may run as root)."""
    scandir = os.scandir

    def denied(path: str | os.PathLike[str]) -> Iterator[os.DirEntry[str]]:
        if Path(path) == folder:
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)  # type: ignore[return-value]

    monkeypatch.setattr(os, "scandir", denied)


def test_a_folder_that_cannot_be_read_is_an_input_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its vector files would not run and the run would pass: it is named instead, exit 3."""
    vecs = _tree(tmp_path)
    (vecs / "locked").mkdir()
    shutil.copy(STATUS, vecs / "locked" / "more.yaml")
    _deny(monkeypatch, vecs / "locked")
    assert main(["run", str(vecs)]) == 3
    err = capsys.readouterr().err
    assert f"gearsim run: {vecs / 'locked'}: cannot read this folder: Permission denied\n" in err
    assert "Traceback" not in err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="chmod 000 does not deny root")
def test_a_folder_chmod_000_is_an_input_error_naming_it(tmp_path: Path) -> None:
    vecs = _tree(tmp_path)
    (vecs / "locked").mkdir()
    (vecs / "locked").chmod(0)
    try:
        done = _gearsim("run", str(vecs))
    finally:
        (vecs / "locked").chmod(0o755)
    assert done.returncode == 3
    assert f"{vecs / 'locked'}: cannot read this folder: Permission denied" in done.stderr


# --------------------------------------------------------------------------- the pytest plugin


def _plugin_args() -> list[str]:
    from importlib.metadata import entry_points

    registered = any(ep.value == "gearsim.testing.pytest_plugin" for ep in entry_points(group="pytest11"))
    return ["-p", "no:cacheprovider"] + ([] if registered else ["-p", "gearsim.testing.pytest_plugin"])


def test_the_plugin_collects_each_vector_file_once_in_a_folder_with_a_link_loop(pytester: pytest.Pytester) -> None:
    _tree(pytester.path)
    result = pytester.runpytest_subprocess(*_plugin_args(), "vecs", "--collect-only", "-q", timeout=HUNG)
    collected = [line for line in result.outlines if "::" in line]
    assert len(collected) == CASES, result.outlines[-5:]
    assert all(line.startswith("vecs/sub/status.yaml::") for line in collected), collected[:3]


def test_the_plugin_names_a_vector_file_it_cannot_read_instead_of_leaving_it_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "x.yaml"
    shutil.copy(STATUS, path)

    def denied(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Path, "open", denied)
    assert _is_vector_file(path)  # collected, so that reading it fails naming the file


def test_the_plugin_does_not_open_a_fifo_named_like_a_vector_file(tmp_path: Path) -> None:
    """Opening it blocked until some writer came: in a process of its own, so that a hang fails the test."""
    os.mkfifo(tmp_path / "pipe.yaml")
    sniff = (
        "import sys, pathlib; from gearsim.testing.pytest_plugin import _is_vector_file as v; "
        "print(v(pathlib.Path(sys.argv[1])))"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", sniff, str(tmp_path / "pipe.yaml")], capture_output=True, text=True, timeout=HUNG
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"sniffing a FIFO still blocked after {HUNG} s")
    assert done.stdout == "False\n", done.stderr
