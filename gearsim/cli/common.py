"""What every ``gearsim`` command shares: exit codes, the parser, and the parsers of common arguments.

This module owns the exit codes of every command (:data:`EXIT_OK` ..
:data:`EXIT_BUG`; :func:`unjudged`, the one rule by which a table of other
people's verdicts is inconclusive), the argument parser class (its usage errors exit 3 like
every other input error, not argparse's 2, which means "inconclusive" here),
the argument types for ``HOST:PORT``, ``K/N`` shards and counts, the
``--profile`` option with the one check that refuses an unknown profile
before anything runs, the check that every output a command will write can
be written, made before it runs (:func:`check_outputs`), which vector
files the paths given to ``lint`` and ``fmt`` name, and :class:`Stopped`, the
exception a stop signal becomes (raised by gearsim.cli.main's handler, so that
a command such as ``run`` can report what it finished before it goes), and
:func:`say_stopped_table`, what ``matrix`` and ``clients`` say then.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, NoReturn

from gearsim.errors import InputError
from gearsim.protocol.packets import FIELDS
from gearsim.run.result import CaseResult, Verdict
from gearsim.run.shard import Shard, parse_shard
from gearsim.words import counted  # re-exported: the commands import it from here

if TYPE_CHECKING:
    from gearsim.protocol.trace import Trace

__all__ = [
    "EXIT_BUG",
    "EXIT_FAIL",
    "EXIT_INCONCLUSIVE",
    "EXIT_INPUT",
    "EXIT_OK",
    "Parser",
    "Stopped",
    "add_profile_argument",
    "address",
    "baselines_folder",
    "check_outputs",
    "command",
    "count",
    "counted",
    "exit_code",
    "port",
    "positive",
    "profile_list",
    "say_stopped_table",
    "seconds",
    "shard",
    "stop_name",
    "unjudged",
    "unjudged_exit",
    "vector_files",
    "write_pcap",
]

#: everything passed or was acceptable (or the command did its job)
EXIT_OK: Final[int] = 0
#: a failure (a broken rule, a regression against a baseline, a finding in a capture)
EXIT_FAIL: Final[int] = 1
#: nothing failed, but something could not be judged
EXIT_INCONCLUSIVE: Final[int] = 2
#: bad input or a harness error, reported as one line on stderr, never a traceback
EXIT_INPUT: Final[int] = 3
#: a bug in gearsim itself, reported with its traceback and a request to report it
EXIT_BUG: Final[int] = 4


def exit_code(results: Sequence[CaseResult]) -> int:
    """EXIT_FAIL on a failure, else EXIT_INCONCLUSIVE on an inconclusive case, else EXIT_OK.

    Pass, acceptable, a known defect of the profile and n/a do not fail a run.
    """
    verdicts = {r.verdict for r in results}
    if Verdict.FAIL in verdicts:
        return EXIT_FAIL
    if Verdict.INCONCLUSIVE in verdicts:
        return EXIT_INCONCLUSIVE
    return EXIT_OK


#: verdicts that judge the implementation (n/a and inconclusive do not)
_JUDGED: Final[frozenset[Verdict]] = frozenset({Verdict.PASS, Verdict.ACCEPTABLE, Verdict.KNOWN_DEFECT, Verdict.FAIL})


def unjudged(results: Sequence[CaseResult]) -> str:
    """Why nothing in ``results`` (one implementation's run) could be judged, or "" when something was.

    Nothing was judged when no case passed, was acceptable, a known defect or
    a FAIL, yet at least one was inconclusive (a driver that never answered
    hello, a server that never started): the run measured nothing, and
    ``gearsim run`` (with or without ``--baseline``), ``matrix`` and
    ``clients`` exit EXIT_INCONCLUSIVE for it rather than 0. A run of n/a
    cases alone is not inconclusive: nothing asked of the implementation was
    something it offers. The reason is one line: the count and the first
    inconclusive case's reason, which names the cause.
    """
    if not results or any(r.verdict in _JUDGED for r in results):
        return ""
    stuck = [r for r in results if r.verdict is Verdict.INCONCLUSIVE]
    if not stuck:
        return ""
    # one line; a CR stays, for terminal_text to show rather than obey
    first = " ".join(part.strip(" \t") for part in stuck[0].reason.split("\n"))
    return f"no case could be judged ({len(stuck)} of {len(results)} inconclusive), e.g. {stuck[0].id}: {first}"


def unjudged_exit(command: str, columns: Iterable[tuple[str, Sequence[CaseResult]]]) -> int:
    """A table's exit code when no column regressed: EXIT_INCONCLUSIVE if a column could judge nothing, else EXIT_OK.

    For ``matrix`` and ``clients``, whose table holds other people's verdicts
    (a FAIL in it exits 0): each column in which nothing could be judged
    (:func:`unjudged`) gets one line on stderr, ``COMMAND: COLUMN: why``, with
    a peer's words in it shown escaped.
    """
    from gearsim.protocol.trace import terminal_text  # lazy, as in say_notes: every command imports this module

    code = EXIT_OK
    for key, results in columns:
        why = unjudged(results)
        if why:
            print(terminal_text(f"{command}: {key}: {why}"), file=sys.stderr)
            code = EXIT_INCONCLUSIVE
    return code


class Stopped(KeyboardInterrupt):
    """SIGTERM, SIGHUP or Ctrl-C arrived: what every library treats as a Ctrl-C.

    A KeyboardInterrupt, so that no ``except Exception`` of a command swallows
    it, and so that libraries that stop for a Ctrl-C stop for it: hypothesis
    took a bare BaseException for a failing example of ``gearsim fuzz``, replayed
    it, and reported a divergence (or a flaky strategy) the server never showed.
    """

    def __init__(self, sig: signal.Signals, stopped: int) -> None:
        super().__init__(sig.name)
        self.signal = sig
        #: how many of the processes it had started were still running and were stopped
        self.stopped = stopped


def stop_name(stop: BaseException) -> str:
    """What stopped a command, for its last words: ``SIGTERM``, ``SIGHUP`` or ``Ctrl-C (SIGINT)``."""
    if isinstance(stop, Stopped) and stop.signal is not signal.SIGINT:
        return stop.signal.name
    return "Ctrl-C (SIGINT)"  # Stopped by SIGINT, or a KeyboardInterrupt where no handler was set


def say_stopped_table(command: str, stop: BaseException, finished: Sequence[str], total: int) -> None:
    """A table command's last words when told to stop: each finished column's counts, and that nothing was written.

    ``finished`` holds the count lines of the columns that ran to their end
    (a column cut short is not among them); ``total`` is how many the table had.
    Nothing is written, for a table of some columns would replace the whole one.
    """
    from gearsim.protocol.trace import terminal_text  # lazy, as in say_notes: every command imports this module

    for line in finished:
        print(terminal_text(line))
    above = "their counts are above; " if finished else ""
    print(
        f"{command}: stopped by {stop_name(stop)} after {len(finished)} of {counted(total, 'column')}: {above}"
        "nothing written (a table of some columns would replace the whole one)"
    )
    sys.stdout.flush()


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line and exit with EXIT_INPUT (subcommand parsers inherit it).

    argparse prints the whole usage block first (7 to 14 lines for ``run``), where
    every other input error is one line: the line points at ``--help`` instead.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` for argparse (gearsim.io.tcp.parse_address)."""
    from gearsim.io.tcp import parse_address

    try:
        return parse_address(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def shard(text: str) -> Shard:
    """``K/N`` for argparse."""
    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def port(text: str) -> int:
    """A port to listen on, 0-65535 (0 picks a free one), for argparse."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return int(text)


def count(text: str) -> int:
    """A non-negative integer, for argparse."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return int(text)


def positive(text: str) -> int:
    """An integer above 0, for argparse."""
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _node_max() -> int:
    longest = FIELDS["handle"].max
    assert longest is not None  # the packet table bounds handles (GM-FIELD-001)
    return longest - len("H:") - len(":") - len(str(2**64 - 1))


#: longest --node: with "H:", ":" and a counter of up to 20 digits (64 bits) the handle stays within the
#: packet table's longest handle (GM-FIELD-001): 63 - 3 - 20 = 40
NODE_MAX: Final[int] = _node_max()


def node_name(text: str) -> str:
    """A job handle's host part (``H:<node>:<n>``), for argparse: 1 to 40 printable ASCII characters.

    No white space (admin listings are tab-separated), no ``:`` (it ends the
    host part), no NUL or control characters (GM-FIELD-001 handles).
    """
    if not 0 < len(text) <= NODE_MAX or not all("!" <= c <= "~" and c != ":" for c in text):
        raise argparse.ArgumentTypeError(
            f"expected 1 to {NODE_MAX} printable ASCII characters without spaces or ':', got {text!r}"
        )
    return text


def seconds(text: str) -> float:
    """A finite number of seconds above 0 (and below 1e9), for argparse: NaN, 0 and negatives are refused."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1e9:  # NaN fails too
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def command(text: str) -> str:
    """A command line or file name that is not blank, for argparse.

    Why: an empty target option (``--driver ''``, ``--server-command ''``) is
    falsy, and a command that tested it for truth would quietly play the
    reference model instead, passing a run that judged nothing the user named.
    """
    if not text.strip():
        raise argparse.ArgumentTypeError("the value is empty")
    return text


def profile_list(text: str | None) -> list[str]:
    """``P1,P2,...`` as profile names; every known profile, in table order, when empty or None.

    Raises:
        InputError: a name is not a known profile (the message lists the known ones).
    """
    from gearsim.run.runner import check_profile, known_profiles

    if not text:
        return list(known_profiles())
    return [check_profile(p.strip()) for p in text.split(",") if p.strip()]


def add_profile_argument(parser: argparse.ArgumentParser, default: str = "") -> None:
    """Add ``--profile NAME``; :func:`gearsim.cli.main.main` refuses an unknown name before the command runs.

    ``default`` is said in the help; the value stays None when not given, so a
    command can tell "not given" from its default.
    """
    from gearsim.model.profiles import DEFAULT_PROFILE

    said = default or DEFAULT_PROFILE
    parser.add_argument("--profile", metavar="NAME", help=f"implementation profile (default {said})")


def vector_files(names: Sequence[str], command: str) -> list[Path]:
    """The vector files ``names`` name: a file as it is, a folder's ``*.yaml`` files at any depth, sorted.

    A folder is walked by :func:`gearsim.files.find_yaml`; what it passes over
    (a link to a folder, a pseudo file system, a FIFO) is a note on stderr.

    Raises:
        InputError: a name that is neither a file nor a folder, a folder that
            holds no ``*.yaml`` file (a mistyped folder must not pass as a clean
            lint or format check of nothing), the file system's root, or a
            folder that cannot be read.
    """
    from gearsim.files import find_yaml, special_kind

    files: list[Path] = []
    for name in names:
        path = Path(name)
        if path.is_dir():
            found, notes = find_yaml(path)
            say_notes(command, notes)
            if not found:
                raise InputError(f"{path}: no vector file (*.yaml) in this folder")
            files += found
        elif path.is_file():
            files.append(path)
        elif special_kind(path):
            raise InputError(f"{path}: {special_kind(path)}, not a vector file or folder")
        else:
            raise InputError(f"{path}: no such file or folder")
    return files


def say_notes(command: str, notes: Iterable[str]) -> None:
    """Print each note (what walking a folder passed over) on stderr, a path's controls escaped."""
    from gearsim.protocol.trace import terminal_text

    for note in notes:
        print(terminal_text(f"gearsim {command}: note: {note}"), file=sys.stderr)


def baselines_folder(name: str | None) -> None:
    """Refuse a ``--baselines DIR`` that is not a folder, before a long run rather than after it.

    Raises:
        InputError: ``name`` is given and is not a folder (a mistyped one compared nothing and exited 0).
    """
    if name is not None and not Path(name).is_dir():
        raise InputError(f"--baselines {name}: no such folder")


def check_outputs(
    files: Iterable[tuple[str, str | None]] = (),
    folders: Iterable[tuple[str, str | None]] = (),
    *,
    make_folders: bool = False,
) -> None:
    """Refuse, before a command does its work, an output it could not write after it.

    ``files`` and ``folders`` are (option, path) pairs; None is an option not
    given. Written after a run (which can take hours against real peers), an
    output that was a folder, or in a folder that does not exist or is a file,
    failed at the end and took the run's verdicts with it. A file must not be
    a folder, and the folder it is written in (gearsim.files.replace_text puts a
    sibling there and renames it) must exist, or with ``make_folders`` the
    nearest folder that exists must, and be writable. A link, a pipe or a
    device is written in place, so only it must be writable.

    Raises:
        InputError: naming the option, the path and what is wrong with it.
    """
    for option, name in files:
        if name is None:
            continue
        path = Path(name)
        if path.is_dir():
            raise InputError(f"{option} {name}: a folder, not a file")
        if path.is_symlink() or (path.exists() and not path.is_file()):
            if not os.access(path, os.W_OK):
                raise InputError(f"{option} {name}: not writable")
            continue
        _writable_folder(option, name, path.parent, make_folders)
    for option, name in folders:
        if name is not None:
            _writable_folder(option, name, Path(name), make_folders)


def _writable_folder(option: str, name: str, folder: Path, make: bool) -> None:
    """Refuse ``folder`` unless it (with ``make``: the nearest of its parents that exists) is a writable folder."""
    probe = folder
    while not probe.exists() and make and probe.parent != probe:
        probe = probe.parent
    if not probe.exists():
        raise InputError(f"{option} {name}: no such folder {folder}")
    if not probe.is_dir():
        raise InputError(f"{option} {name}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"{option} {name}: cannot write in folder {probe}")


def write_pcap(traces: Iterable[Trace], path: str) -> None:
    """Simulator traces as one capture at ``path`` (``--pcap``), written whole or not at all.

    Built in memory first: a full disk midway must not leave half a capture in
    place of the previous one (gearsim.files.replace_bytes; a link, device or
    pipe is written into).

    Raises:
        OSError: the capture cannot be written; a file already there is left as it was.
    """
    from gearsim.dissect.synth import write_trace_pcap
    from gearsim.files import replace_bytes

    buffer = io.BytesIO()
    write_trace_pcap(list(traces), buffer)
    replace_bytes(Path(path), buffer.getvalue())
