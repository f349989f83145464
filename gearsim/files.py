"""The files gearsim reads and writes on its own account: bundled folders, vector files, baselines (an I/O edge).

This module owns where the bundled ``spec/``, ``vectors/``, ``scenarios/`` and
``servers/`` folders are (inside the wheel under ``gearsim/_data``; at the top of a checkout
or an editable install), turning paths, ``file::case`` ids and globs into
parsed vector files, with the bundled schema and requirement registry (every
failure a VectorError naming the file), and reading and writing baseline
files (a BaselineError naming the file), and writing an output whole or
not at all (``replace_text``, ``replace_bytes``), and the installed version
(``installed_version``, from the package's metadata). The pure folders never
read files: they take text from here.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from gearsim.errors import InputError, VectorError
from gearsim.protocol.requirements import Requirement, parse_requirements
from gearsim.report.baseline import Baseline, BaselineError, dump_baseline, parse_baseline
from gearsim.run.batch import excluded
from gearsim.safeyaml import MAX_TEXT
from gearsim.vectors.lint import refuse_broken
from gearsim.vectors.parse import VectorFile, parse_vector_text
from gearsim.vectors.rules import with_step_rules

_PACKAGE = Path(__file__).resolve().parent

__all__ = [
    "Selection",
    "data_dir",
    "find_yaml",
    "installed_version",
    "load_requirements",
    "load_schema_text",
    "read_baseline",
    "read_baseline_text",
    "read_input_text",
    "read_vector_file",
    "replace_bytes",
    "replace_text",
    "select",
    "special_kind",
    "vector_root",
    "write_baseline",
]


def installed_version() -> str:
    """gearsim's version as installed ("0+unknown" for a source tree that was never installed).

    Read from the package's metadata when asked: ``gearsim --version``, the
    public API's ``__version__`` and ``serve``'s log header say the same.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gearsim")
    except PackageNotFoundError:
        return "0+unknown"


def data_dir(name: str) -> Path:
    """The bundled folder ``name`` (``spec``, ``vectors``, ``scenarios`` or ``servers``).

    Raises:
        FileNotFoundError: neither the installed copy nor a checkout has it.
    """
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"gearsim's bundled {name}/ folder is missing (looked in {_PACKAGE})")


@lru_cache(maxsize=1)
def load_schema_text() -> str:
    """spec/vectors.schema.json's text."""
    return (data_dir("spec") / "vectors.schema.json").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def load_requirements() -> Mapping[str, Requirement]:
    """The bundled requirement registry.

    Raises:
        VectorError: the registry is malformed.
    """
    path = data_dir("spec") / "requirements.yaml"
    return parse_requirements(path.read_text(encoding="utf-8"), str(path))


def vector_root() -> Path:
    """The bundled vectors/ folder."""
    return data_dir("vectors")


def _display_name(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def read_input_text(
    path: Path, shown: str | None = None, *, limit: int = MAX_TEXT, error: type[VectorError] = VectorError
) -> str:
    """The UTF-8 text of a file someone gave gearsim (a vector or scenario file), at most ``limit`` bytes.

    Reads no more than ``limit`` + 1 bytes, so a huge file (or a device) costs nothing.

    Raises:
        VectorError (or ``error``): unreadable, not UTF-8, or larger than ``limit``;
            the message names the file.
    """
    shown = shown or path.as_posix()
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}", file=shown) from None
    if len(data) > limit:
        raise error(f"larger than the limit of {limit:,} bytes for an input file", file=shown)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text (byte offset {exc.start}: {exc.reason})", file=shown) from None


def read_vector_file(path: Path, name: str | None = None, *, refuse: bool = True) -> VectorFile:
    """Parse one vector file, each expect step with the rule ids it checks (gearsim.vectors.rules).

    With ``refuse`` (the default, for every path that runs vectors) a file
    with a case that contradicts itself or the spec is refused as broken
    (gearsim.vectors.lint.contradictions); ``gearsim fmt``, which only
    rewrites the text, and the pytest plugin, which refuses per case, read
    without it.

    Raises:
        VectorError: unreadable, too large, not YAML, or not a valid vector file, or
            (with ``refuse``) one of its cases is broken: a codec case whose wire and
            messages disagree, an unknown requirement id or profile, an alternative
            that breaks a MUST without being a defect (never acceptable).
    """
    shown = name or path.as_posix()
    text = read_input_text(path, shown)
    requirements = load_requirements()
    vf = parse_vector_text(text, shown, load_schema_text())
    if refuse:
        refuse_broken(vf, requirements)
    return with_step_rules(vf, requirements)


@dataclass(frozen=True)
class Selection:
    """Parsed files and, per file, the case ids chosen (None: every case)."""

    files: tuple[VectorFile, ...]
    cases: Mapping[str, frozenset[str] | None]
    #: what walking the named folders passed over, one line each (``find_yaml``), for the command to print
    notes: tuple[str, ...] = ()

    def chosen(self, vf: VectorFile) -> list[str]:
        wanted = self.cases.get(vf.name)
        return [c.id for c in vf.cases if wanted is None or c.id in wanted]

    def excluding(self, globs: Sequence[str]) -> Selection:
        """The selection without the cases ``globs`` name (``gearsim run --exclude``; gearsim.run.batch.excluded).

        A file left without cases is dropped.
        """
        if not globs:
            return self
        files: list[VectorFile] = []
        cases: dict[str, frozenset[str] | None] = {}
        for vf in self.files:
            kept = frozenset(c for c in self.chosen(vf) if not excluded(vf.name, c, globs))
            if kept:
                files.append(vf)
                cases[vf.name] = kept
        return Selection(tuple(files), cases, self.notes)


def special_kind(path: Path) -> str:
    """What ``path`` is when it exists but is neither a regular file nor a folder ("a FIFO"...), else "".

    A FIFO, a device or a socket given where a file is read was "no such file or folder" (or "no
    vector file matches"): wrong, it exists; refused with this word instead (a FIFO is never read:
    nothing may be writing into it, and reading waits forever).
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        return ""
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket" if stat.S_ISSOCK(mode) else ""


def select(specs: Sequence[str]) -> Selection:
    """Resolve command-line selectors into vector files and cases.

    A selector is a file or folder path, a bundled name (``server/coalesce.yaml``),
    a glob over bundled names (``server/*``), optionally followed by
    ``::CASE`` where CASE may be a glob. No selector means every bundled file.

    Raises:
        VectorError: a selector matches nothing, or a matched file is invalid.
    """
    root = vector_root()
    bundled = {_display_name(p, root): p for p in sorted(root.rglob("*.yaml"))}
    picked: dict[str, tuple[Path, set[str] | None]] = {}
    notes: list[str] = []

    def add(name: str, path: Path, case_glob: str | None) -> None:
        _, old = picked.get(name, (path, set()))
        if case_glob is None or old is None:
            picked[name] = (path, None)
        else:
            picked[name] = (path, old | {case_glob})

    for spec in specs or ["*"]:
        target, _, case_glob = spec.partition("::")
        glob = case_glob or None
        path = Path(target)
        if path.is_dir():
            found, passed = find_yaml(path)
            notes += passed
            if not found:
                raise VectorError(f"no .yaml vector files under {target}")
            for p in found:
                add(_display_name(p, root), p, glob)
        elif path.is_file():
            add(_display_name(path, root), path, glob)
        else:
            names = [n for n in bundled if fnmatch.fnmatch(n, target) or fnmatch.fnmatch(n, target + ".yaml")]
            names += [n for n in bundled if n.startswith(target.rstrip("/") + "/") and n not in names]
            if not names:
                kind = special_kind(path)
                raise VectorError(
                    f"{target}: {kind}, not a vector file" if kind else f"no vector file matches {target!r}"
                )
            for n in names:
                add(n, bundled[n], glob)
    files: list[VectorFile] = []
    cases: dict[str, frozenset[str] | None] = {}
    for name, (path, globs) in picked.items():
        vf = read_vector_file(path, name)
        files.append(vf)
        if globs is None:
            cases[name] = None
        else:
            ids = frozenset(c.id for c in vf.cases if any(fnmatch.fnmatch(c.id, g) for g in globs))
            if not ids:
                raise VectorError(f"no case matches {sorted(globs)}", file=name)
            cases[name] = ids
    return Selection(tuple(files), cases, tuple(notes))


# --------------------------------------------------------------------------- walking a folder

#: file systems that hold the kernel's views, not files anyone wrote: never walked for vector files
_PSEUDO_FILESYSTEMS = frozenset(
    {"proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "securityfs", "debugfs", "tracefs", "pstore"}
    | {"bpf", "configfs", "fusectl", "mqueue", "hugetlbfs", "binfmt_misc", "efivarfs", "selinuxfs", "rpc_pipefs"}
    | {"nsfs", "autofs"}
)


def _mounts() -> dict[str, str]:
    """Mount point -> file system type of everything mounted (Linux's /proc/self/mounts; elsewhere nothing)."""
    try:
        with open("/proc/self/mounts", "rb") as fh:
            lines = fh.read(1 << 22).splitlines()
    except OSError:
        return {}
    out: dict[str, str] = {}
    for line in lines:
        fields = line.split()
        if len(fields) >= 3:
            # the kernel writes a space, tab, newline or backslash in a mount point as an octal escape
            point = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8) & 0xFF]), fields[1])
            out[os.fsdecode(point)] = os.fsdecode(fields[2])
    return out


def find_yaml(folder: Path) -> tuple[list[Path], list[str]]:
    """Every ``*.yaml`` file under ``folder`` at any depth, sorted, and a note for each thing passed over.

    A hostile or unusual tree is walked in bounded time: a symbolic link to a
    folder is not followed (``a -> ..`` would loop; pathlib's ``rglob`` did not
    follow them either), a folder met again below itself (a bind mount of its
    parent) is not entered twice, a pseudo file system (``/proc``, ``/sys``,
    ``/dev``...) is not entered, and a ``*.yaml`` that is not a regular file
    (a FIFO would block its reader forever) is not returned. Each is a note.
    A ``*.yaml`` link that cannot be followed is returned, for its reader to
    name the error.

    Raises:
        InputError: ``folder`` is the file system's root or on a pseudo file
            system, or a folder under it cannot be read (its vector files would
            silently not run).
    """
    mounts = _mounts()
    top = folder.resolve()
    if top == Path(top.anchor):
        raise InputError(f"{folder}: refusing to walk the whole file system for vector files; name their folder")
    # the file system ``top`` is on: the longest mount point above it
    under = max((p for p in mounts if top.is_relative_to(p)), key=len, default="")
    if mounts.get(under) in _PSEUDO_FILESYSTEMS:
        raise InputError(f"{folder}: on a {mounts[under]} pseudo file system, not a folder of vector files")
    pseudo = {point: kind for point, kind in mounts.items() if kind in _PSEUDO_FILESYSTEMS}
    found: list[Path] = []
    notes: list[str] = []
    first = top.stat()
    # (folder as named, its real path, the (device, inode) of it and every folder above it in this walk)
    stack = [(folder, top, frozenset({(first.st_dev, first.st_ino)}))]
    while stack:
        here, real, above = stack.pop()
        try:
            with os.scandir(here) as listing:
                entries = list(listing)
        except OSError as exc:
            raise InputError(f"{here}: cannot read this folder: {exc.strerror or exc}") from None
        for entry in entries:
            path = Path(entry.path)
            try:
                if entry.is_dir(follow_symlinks=False):
                    inside = real / entry.name  # links to folders are not followed: no resolve() needed
                    kind = pseudo.get(str(inside))
                    info = entry.stat(follow_symlinks=False)
                    key = (info.st_dev, info.st_ino)
                    if kind is not None:
                        notes.append(f"skipped {path}: a {kind} pseudo file system")
                    elif key in above:
                        notes.append(f"skipped {path}: the same folder as one above it (a bind mount)")
                    else:
                        stack.append((path, inside, above | {key}))
                elif entry.is_symlink() and entry.is_dir():
                    notes.append(f"did not follow {path}: a symbolic link to a folder")
                elif entry.name.endswith(".yaml"):
                    if stat.S_ISREG(os.stat(path).st_mode):
                        found.append(path)
                    else:
                        notes.append(f"skipped {path}: not a regular file")
            except OSError:
                if entry.name.endswith(".yaml"):
                    found.append(path)  # a link that cannot be followed: its reader names the error
    return sorted(found), notes


# --------------------------------------------------------------------------- baselines


def read_baseline_text(path: Path) -> str:
    """A baseline file's text (line ends as ``\\n``), read within MAX_TEXT bytes as a vector file is.

    Raises:
        BaselineError: the file is missing, unreadable, not UTF-8 or larger than MAX_TEXT.
    """
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_TEXT + 1)  # not more: a device or a huge file given by mistake costs nothing
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"cannot read baseline {path}: {exc}") from None
    if len(data) > MAX_TEXT:
        raise BaselineError(f"cannot read baseline {path}: larger than the limit of {MAX_TEXT:,} bytes")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_baseline(path: Path) -> Baseline:
    """Read a ``gearsim-baseline/1`` file.

    Raises:
        BaselineError: the file is missing, unreadable or not a baseline.
    """
    return parse_baseline(read_baseline_text(path), str(path))


def write_baseline(path: Path, baseline: Baseline) -> None:
    """Write a baseline file in canonical form (creating its folder).

    Raises:
        OSError: the file cannot be written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_text(path, dump_baseline(baseline))


def replace_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (UTF-8) whole or not at all: a sibling file renamed over it.

    An interrupted rewrite (a full disk, ^C) leaves the old file as it was,
    never half of the new one. A path that is not a plain file (a symbolic
    link, ``/dev/stdout``, a pipe) is written in place, as ``open(path, "w")``
    would: a rename would replace the link, the device or the pipe itself
    (or fail where its folder is not writable, as /dev is not).

    Raises:
        OSError: the file cannot be written (the old one is untouched); its
            ``filename`` is ``path``.
    """
    _replace(path, lambda target: target.write_text(text, encoding="utf-8"))


def replace_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all, as :func:`replace_text` writes text (a capture).

    Raises:
        OSError: the file cannot be written (the old one is untouched); its
            ``filename`` is ``path``.
    """
    _replace(path, lambda target: target.write_bytes(data))


def _replace(path: Path, write: Callable[[Path], object]) -> None:
    """``write(path)`` for what is not a plain file, else ``write`` a sibling and rename it over ``path``."""
    try:
        if path.is_symlink() or (path.exists() and not path.is_file()):
            write(path)
            return
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            write(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        if exc.filename != str(path):
            # a full disk names no file, and the temporary file's name would mislead: name the output
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
        raise
