"""Server descriptions: how to start a Gearman job server and give it a case's options.

A server description is a small TOML file a user writes once for a server
gearsim has never seen; the three built-in peers are three such files shipped
in the package (``servers/`` at the top of a checkout). This module owns the
format, its checks and turning a description plus a port, a run directory and
a case's ``options`` into a command line. Starting, probing and stopping the
process is :mod:`gearsim.io.launch`.

The format (every key but ``name`` and ``command`` optional)::

    name = "myserver"                 # how reports call it
    summary = "My Gearman server 0.3" # one line for reports
    profile = "spec"                  # the profile it is judged under when none is named
    command = ["./myserver", "--port", "{port}"]   # or one string, split like a shell
    sync = "ECHO_REQ"                 # the read-only round trip: ECHO_REQ, GET_STATUS, or "" for none
    start_timeout = 10.0              # seconds it may take to answer that round trip
    logs = ["myserver.log"]           # files in the run directory a failure quotes besides its output
    loopback_only = true              # refuse it when it listens on another address than 127.0.0.1
    version = ["{exe}", "--version"]  # how to ask its version (default: the admin "version" line)
    version_prefix = "My server "     # text to cut from the front of that answer
    reserved = ["--port", "-p"]       # options gearsim sets itself (refused as extra arguments)

    [options]                         # a vector case's server options, spelled for this server
    job_retries = "--job-retries={value}"         # one word; or a list of words
    exceptions = "--exceptions"                   # a flag, given when the option is true
    worker_wakeup = {unsupported = "no such setting"}

    [env]
    unset = ["GEARMAND_*"]            # variables (globs) removed from the environment
    set = {LANG = "C"}
    prepend = {PERL5LIB = "{rundir}"} # put before the current value, with the path separator

    [files]                           # files written into the run directory before the start
    "server.ini" = "..."

Placeholders in ``command``, ``version``, ``env`` values and ``files``:
``{port}`` (a free port gearsim chose), ``{host}`` (127.0.0.1), ``{rundir}``
(a fresh run directory per server; the server itself runs in the directory
gearsim was started from), ``{exe}`` (the command's executable as found). A bare executable name is looked up next to
the running Python first (a server installed in the same virtual
environment), then on ``PATH``.

Options: a true boolean gives the option's words; a whole number above zero
gives them with ``{value}`` replaced. ``false`` and ``0`` are every bundled
server's default and give nothing. An option the description does not list,
or lists as unsupported, makes a case that needs it not applicable, with the
reason.
"""

from __future__ import annotations

import fnmatch
import os
import shlex
import shutil
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from gearsim.errors import GearsimError, HarnessError
from gearsim.io.tcp import SYNC_KINDS
from gearsim.run.batch import MODEL_ONLY_OPTIONS, UnsupportedOption

__all__ = [
    "HOST",
    "SERVER_OPTIONS",
    "DescriptionError",
    "OptionSpelling",
    "ServerDescription",
    "UnsupportedOption",
    "bundled_descriptions",
    "command_description",
    "load_description",
    "parse_description",
]

#: the only address a described server is asked to listen on
HOST = "127.0.0.1"

#: the server start-up options vector cases can set (spec/vectors.schema.json), with what they mean
SERVER_OPTIONS: Mapping[str, str] = {
    "job_retries": "the number of times a job is retried after its worker fails it (0: no limit)",
    "worker_wakeup": "how many sleeping workers a new job wakes (0: all)",
    "exceptions": "WORK_EXCEPTION is forwarded to clients that did not ask for exceptions",
}

_KEYS = frozenset(
    {
        "name",
        "summary",
        "profile",
        "command",
        "sync",
        "start_timeout",
        "stop_timeout",
        "logs",
        "loopback_only",
        "version",
        "version_prefix",
        "reserved",
        "options",
        "env",
        "files",
    }
)
_ENV_KEYS = frozenset({"unset", "set", "prepend"})


class DescriptionError(GearsimError, ValueError):
    """A server description that cannot be used; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class OptionSpelling:
    """How one server spells one option: its command-line words, or why it has none."""

    words: tuple[str, ...] = ()
    unsupported: str = ""


@dataclass(frozen=True)
class ServerDescription:
    """What gearsim needs to know to start one kind of server (see the module docstring)."""

    name: str
    command: tuple[str, ...]
    summary: str = ""
    profile: str = ""
    sync: str = "ECHO_REQ"
    start_timeout: float = 10.0
    stop_timeout: float = 5.0
    logs: tuple[str, ...] = ()
    loopback_only: bool = True
    version: tuple[str, ...] = ()
    version_prefix: str = ""
    reserved: tuple[str, ...] = ()
    options: Mapping[str, OptionSpelling] = field(default_factory=dict)
    env_unset: tuple[str, ...] = ()
    env_set: Mapping[str, str] = field(default_factory=dict)
    env_prepend: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    #: where the description came from (a path, "bundled", or "--server-command")
    source: str = ""
    #: the working directory of the server (None: the one gearsim runs in)
    cwd: str | None = None

    # ------------------------------------------------------------------ options

    def option_args(self, options: Mapping[str, int | bool]) -> tuple[str, ...]:
        """The command-line words that give this server a case's ``options``, in a stable order.

        Raises:
            UnsupportedOption: an option this server cannot be given (the
                message is the reason a report shows).
        """
        words: list[str] = []
        for key in sorted(options):
            value = options[key]
            if key in MODEL_ONLY_OPTIONS:
                raise UnsupportedOption(f"option {key} is {MODEL_ONLY_OPTIONS[key]}; a real server cannot be given it")
            if key not in SERVER_OPTIONS:
                raise UnsupportedOption(f"unknown server option {key!r}")
            if value is False or value == 0:
                continue  # the default of every bundled server
            spelling = self.options.get(key)
            if spelling is None:
                raise UnsupportedOption(
                    f"needs server option {key}={_show(value)}, which the description of {self.name} "
                    f"({self.source or 'no file'}) does not spell"
                )
            if spelling.unsupported:
                reason = spelling.unsupported
                raise UnsupportedOption(f"needs server option {key}={_show(value)}: {self.name}: {reason}")
            if isinstance(value, bool):
                words.extend(spelling.words)
            else:
                words.extend(w.replace("{value}", str(value)) for w in spelling.words)
        return tuple(words)

    def check_extra(self, extra: Sequence[str]) -> None:
        """Refuse extra arguments that set what gearsim sets itself.

        Raises:
            ValueError: an argument matches one of ``reserved``.
        """
        for arg in extra:
            for option in self.reserved:
                if _matches_option(arg, option):
                    raise ValueError(f"extra argument {arg!r} for {self.name} is set by start_peer itself")

    # ------------------------------------------------------------------ the command

    def executable(self) -> Path | None:
        """The command's executable as found (next to this Python, then on PATH), or None."""
        return find_executable(self.command[0])

    def missing(self) -> str | None:
        """None when the server can be started, else a one-line reason naming what is missing."""
        exe = self.executable()
        if exe is None:
            return f"{self.command[0]} not found (next to {sys.executable} or on PATH)"
        return None

    def command_line(self, port: int, rundir: Path, extra: Sequence[str] = ()) -> list[str]:
        """The argv that starts this server on ``port`` with run directory ``rundir``.

        Raises:
            HarnessError: the executable cannot be found.
        """
        exe = self.executable()
        if exe is None:
            raise HarnessError(f"{self.name}: {self.missing()}")
        values = self._values(port, rundir, exe)
        return [str(exe), *(_fill(w, values) for w in self.command[1:]), *extra]

    def version_command(self, port: int, rundir: Path) -> list[str]:
        """The argv that prints the version, or [] when the admin ``version`` line is used."""
        if not self.version:
            return []
        exe = self.executable()
        values = self._values(port, rundir, exe if exe is not None else Path(self.command[0]))
        return [_fill(w, values) for w in self.version]

    def environment(self, port: int, rundir: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The server's environment: ``base`` (default: this process's) with unset, set and prepend applied."""
        env = dict(os.environ if base is None else base)
        for key in list(env):
            if any(fnmatch.fnmatchcase(key, pattern) for pattern in self.env_unset):
                del env[key]
        values = self._values(port, rundir, self.executable() or Path(self.command[0]))
        for key, value in self.env_set.items():
            env[key] = _fill(value, values)
        for key, value in self.env_prepend.items():
            env[key] = os.pathsep.join(filter(None, [_fill(value, values), env.get(key, "")]))
        return env

    def write_files(self, port: int, rundir: Path) -> None:
        """Write the description's ``files`` into ``rundir``.

        Raises:
            OSError: a file cannot be written.
        """
        values = self._values(port, rundir, self.executable() or Path(self.command[0]))
        for name, text in self.files.items():
            (rundir / name).write_text(_fill(text, values), encoding="utf-8")

    def _values(self, port: int, rundir: Path, exe: Path) -> dict[str, str]:
        return {"{port}": str(port), "{host}": HOST, "{rundir}": str(rundir), "{exe}": str(exe)}

    def describe_options(self) -> str:
        """One line: which options this server takes, for reports."""
        parts = []
        for key in SERVER_OPTIONS:
            spelling = self.options.get(key)
            if spelling is None:
                parts.append(f"{key}: not described")
            elif spelling.unsupported:
                parts.append(f"{key}: unsupported")
            else:
                parts.append(f"{key}: {' '.join(spelling.words)}")
        return "; ".join(parts)


def _show(value: int | bool) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _fill(template: str, values: Mapping[str, str]) -> str:
    for key, value in values.items():
        template = template.replace(key, value)
    return template


def _matches_option(arg: str, option: str) -> bool:
    if arg == option:
        return True
    if option.startswith("--"):
        return arg.startswith(option + "=")
    return arg.startswith(option) and len(option) == 2


def find_executable(name: str) -> Path | None:
    """``name`` as a path if it has a slash, else next to the running Python, else on PATH; None if none runs."""
    if os.sep in name or (os.altsep and os.altsep in name):
        path = Path(name)
        return path if path.is_file() and os.access(path, os.X_OK) else None
    beside = Path(sys.executable).with_name(name)
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which(name)
    return Path(found) if found is not None else None


# --------------------------------------------------------------------------- parsing


def parse_description(text: str, source: str) -> ServerDescription:
    """Parse and check a description's TOML text; ``source`` names it in errors.

    Raises:
        DescriptionError: not TOML, an unknown key, a wrong type, a command
            without ``{port}``, an unknown option or sync request.
    """
    try:
        data = tomllib.loads(text)
    except ValueError as exc:  # TOMLDecodeError, or an integer of more digits than Python converts
        raise DescriptionError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses into each nested array and inline table
        raise DescriptionError(
            f"{source}: not a server description: arrays or tables nested too deep to read"
        ) from None
    return _from_data(data, source)


def _from_data(data: Mapping[str, Any], source: str) -> ServerDescription:
    def fail(key: str, problem: str) -> DescriptionError:
        return DescriptionError(f"{source}: {key}: {problem}")

    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key (known: {', '.join(sorted(_KEYS))})")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise fail("name", "a non-empty string is required")
    command = _words(data.get("command"), "command", fail)
    if not command:
        raise fail("command", "a command line is required")
    if not any("{port}" in w for w in command):
        raise fail("command", "must contain {port}: gearsim chooses a free port for every server it starts")
    sync = _string(data, "sync", fail, "ECHO_REQ")
    if sync not in SYNC_KINDS:
        raise fail("sync", f"{sync!r} is not one of ECHO_REQ, GET_STATUS or empty")
    options: dict[str, OptionSpelling] = {}
    raw_options = _table(data, "options", fail)
    for key, spelling in raw_options.items():
        if key not in SERVER_OPTIONS:
            raise fail(f"options.{key}", f"unknown option (known: {', '.join(SERVER_OPTIONS)})")
        if isinstance(spelling, Mapping):
            reason = spelling.get("unsupported")
            if set(spelling) != {"unsupported"} or not isinstance(reason, str) or not reason:
                raise fail(f"options.{key}", 'a table must be {unsupported = "reason"}')
            options[key] = OptionSpelling(unsupported=reason)
        else:
            words = _words(spelling, f"options.{key}", fail, split=False)
            if not words:
                raise fail(f"options.{key}", 'give the option\'s words, or {unsupported = "reason"}')
            options[key] = OptionSpelling(words=words)
    env = _table(data, "env", fail)
    unknown_env = sorted(set(env) - _ENV_KEYS)
    if unknown_env:
        raise fail(f"env.{unknown_env[0]}", "unknown key (known: unset, set, prepend)")
    files = _string_table(_table(data, "files", fail), "files", fail)
    for file_name in files:
        if "/" in file_name or file_name in ("", ".", ".."):
            raise fail(f"files.{file_name}", "a plain file name in the run directory is required")
    return ServerDescription(
        name=name.strip(),
        command=command,
        summary=_string(data, "summary", fail, ""),
        profile=_string(data, "profile", fail, ""),
        sync=sync,
        start_timeout=_seconds(data, "start_timeout", fail, 10.0),
        stop_timeout=_seconds(data, "stop_timeout", fail, 5.0),
        logs=_words(data.get("logs", []), "logs", fail, split=False),
        loopback_only=_bool(data, "loopback_only", fail, True),
        version=_words(data.get("version", []), "version", fail),
        version_prefix=_string(data, "version_prefix", fail, ""),
        reserved=_words(data.get("reserved", []), "reserved", fail, split=False),
        options=options,
        env_unset=_words(env.get("unset", []), "env.unset", fail, split=False),
        env_set=_string_table(env.get("set", {}), "env.set", fail),
        env_prepend=_string_table(env.get("prepend", {}), "env.prepend", fail),
        files=files,
        source=source,
    )


def _words(value: Any, key: str, fail: Any, *, split: bool = True) -> tuple[str, ...]:
    if isinstance(value, str):
        if not split:
            return (value,)
        try:
            return tuple(shlex.split(value))
        except ValueError as exc:
            raise fail(key, f"cannot split {value!r}: {exc}") from None
    if isinstance(value, list) and all(isinstance(w, str) for w in value):
        return tuple(value)
    raise fail(key, "a string or a list of strings is required")


def _string(data: Mapping[str, Any], key: str, fail: Any, default: str) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise fail(key, "a string is required")
    return value


def _bool(data: Mapping[str, Any], key: str, fail: Any, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise fail(key, "true or false is required")
    return value


def _seconds(data: Mapping[str, Any], key: str, fail: Any, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise fail(key, "a number of seconds above 0 is required")
    return float(value)


def _table(data: Mapping[str, Any], key: str, fail: Any) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise fail(key, "a table is required")
    return value


def _string_table(value: Any, key: str, fail: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise fail(key, "a table of strings is required")
    return dict(value)


# --------------------------------------------------------------------------- loading

#: the largest description file read (a real one is a few hundred bytes)
MAX_DESCRIPTION: Final[int] = 1 << 20


def load_description(path: Path) -> ServerDescription:
    """Read and parse a description file.

    Raises:
        DescriptionError: the file cannot be read or is not a valid description.
    """
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_DESCRIPTION + 1)  # not more: a device or a huge file given by mistake
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DescriptionError(f"cannot read server description {path}: {exc}") from None
    if len(data) > MAX_DESCRIPTION:
        raise DescriptionError(f"cannot read server description {path}: larger than {MAX_DESCRIPTION:,} bytes")
    return parse_description(text, str(path))


def command_description(command: str, base: ServerDescription | None = None) -> ServerDescription:
    """A description for ``--server-command COMMAND``: ``base`` with its command replaced, or a bare one.

    A bare description spells no option, so cases that need one are not
    applicable ("... does not spell"), and syncs with ECHO_REQ.

    Raises:
        DescriptionError: the command is empty, cannot be split, or has no ``{port}``.
    """

    def fail(key: str, problem: str) -> DescriptionError:
        return DescriptionError(f"--server-command: {problem}")

    words = _words(command, "command", fail)
    if not words:
        raise fail("command", "the command is empty")
    if not any("{port}" in w for w in words):
        raise fail("command", "must contain {port}: gearsim chooses a free port for every server it starts")
    if base is not None:
        return _replace_command(base, words)
    return ServerDescription(name=_command_name(words), command=words, summary=command, source="--server-command")


_INTERPRETERS = frozenset({"python", "python3", "perl", "ruby", "node", "java", "php", "sh", "bash", "env", "exec"})


def _command_name(words: Sequence[str]) -> str:
    """How reports call a server given as a command: its program, or the script an interpreter runs."""
    for word in words:
        base = Path(word).name
        if word.startswith("-") or "=" in word or not base:
            continue
        stem = base.split(".")[0] if base.endswith((".py", ".pl", ".js", ".rb", ".jar", ".php")) else base
        if base.rstrip("0123456789.") in _INTERPRETERS or base in _INTERPRETERS:
            continue
        return stem
    return "server"


def _replace_command(base: ServerDescription, words: tuple[str, ...]) -> ServerDescription:
    from dataclasses import replace

    return replace(base, command=words, summary=base.summary or " ".join(words))


def bundled_descriptions() -> dict[str, ServerDescription]:
    """The built-in peers' descriptions (``servers/*.toml``), by name.

    Raises:
        DescriptionError: a bundled file is broken (a gearsim bug).
    """
    from gearsim.files import data_dir

    found: dict[str, ServerDescription] = {}
    for path in sorted(data_dir("servers").glob("*.toml")):
        desc = load_description(path)
        found[desc.name] = desc
    return found
