"""The gearsim pytest plugin: vector files as test items (registered as the ``pytest11`` entry point ``gearsim``).

Teams keep their Gearman regression vectors next to their own tests. Name the
folders that hold them in the pytest configuration and every case becomes a
test item with the id ``FILE::CASE``::

    # pyproject.toml
    [tool.pytest.ini_options]
    gearsim_vectors = ["gearman_vectors"]
    gearsim_baseline = "gearman_vectors/baseline.txt"   # optional

Only YAML files that declare ``schema: gearsim-vectors/1`` are collected, and
only where the user asked for vectors: under those folders, under a
``--gearsim-vectors PATH``, or named on the command line, as a file
(``pytest gearman/jobs.yaml``) or as a folder holding them (``pytest
gearman/``). Other YAML files are left alone, and a plain ``pytest`` collects
nothing in a project that names no folder. Configured folders must lie inside
what pytest collects (``testpaths``, or the arguments).

What the cases run against:

* nothing given: the built-in reference model, in virtual time
  (``--gearsim-profile NAME``, ``--gearsim-seed N``);
* ``--gearsim-server HOST:PORT``: a real long-lived server over TCP (judged,
  when no profile is named, as ``gearsim run --server`` judges it: each case
  in a namespace of its own, cases that need a fresh server n/a; an address
  with nothing there, or no Gearman server there, is a usage error before
  any case runs: gearsim.io.preflight);
* ``--gearsim-server-command 'CMD ... {port} ...'`` and/or
  ``--gearsim-server-description FILE``: a server the plugin starts itself,
  fresh per case unless reuse is safe (as ``gearsim run --server-command``;
  with pytest-xdist each worker runs its own);
* ``--gearsim-driver 'COMMAND'``: a client or worker library through its
  driver (spec/driver.md; ``php``, ``perl``, ``gear`` or a command line);
  only library cases apply, others are n/a;
* ``--gearsim-client 'COMMAND'`` (repeatable): client or worker programs
  launched against the served model; only program cases apply.

A FAIL is a test failure that shows, in pytest's own report, the requirement
broken (id and sentence), expected and actual packets and the trace around
them; INCONCLUSIVE fails too (the harness could not decide); n/a cases skip.
An unknown profile is refused before anything is collected. With
``--gearsim-level must|should`` only rules of that strength or stricter fail a
case (as ``gearsim run --level``); ``--gearsim-exclude GLOB`` deselects cases.
Cases listed in the baseline file (``--gearsim-baseline FILE``) are expected
to fail: they report as xfail, and as XPASS when they pass after all.
``--gearsim-write-baseline FILE`` writes the ids of this run's failures in
that format; when FILE is the configured baseline and does not exist yet, the
run starts with no known failures instead of refusing to read it.
``--gearsim-shard K/N`` keeps the cases of shard K of N (see
``gearsim.run.shard``); ``--gearsim-html FILE`` writes the HTML report (not under
pytest-xdist, whose workers each see only part of the run).

A SIGTERM to pytest stops the servers, drivers and programs gearsim started
before pytest dies of it (gearsim.testing.stopping).

Baseline format (gearsim.report.baseline.known_failures): one case id per
line (``FILE::CASE``, globs allowed), with an optional reason after ``#``;
blank lines and lines starting with ``#`` are ignored. JSON is accepted too, a
``gearsim-baseline/1`` file (``gearsim matrix --write-baselines``) or a report
of ``gearsim run --format json``: their failing and inconclusive cases form
the baseline.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from gearsim.errors import GearsimError
from gearsim.model.profiles import DEFAULT_PROFILE
from gearsim.protocol.trace import terminal_text
from gearsim.run.batch import excluded
from gearsim.run.result import LEVELS
from gearsim.testing import stopping
from gearsim.testing.plugin_state import SUFFIXES, SessionState, make_state

if TYPE_CHECKING:
    from gearsim.protocol.requirements import Requirement
    from gearsim.run.runner import CaseResult
    from gearsim.vectors.parse import Case, VectorFile

__all__ = [
    "GearsimCaseFailure",
    "GearsimFile",
    "GearsimItem",
    "format_failure",
]

_SNIFF = re.compile(rb"^schema:\s*['\"]?gearsim-vectors/1\b", re.MULTILINE)
_SNIFF_BYTES = 4096


# --------------------------------------------------------------------------- baseline


def _baseline_reason(baseline: Mapping[str, str], case_id: str) -> str | None:
    if case_id in baseline:
        return baseline[case_id]
    for pattern, reason in baseline.items():
        if fnmatch.fnmatchcase(case_id, pattern):
            return reason
    return None


# --------------------------------------------------------------------------- failure text (PURE)


def format_failure(result: CaseResult, requirements: Mapping[str, Requirement], target: str, repro: str = "") -> str:
    """A failed or inconclusive verdict as pytest shows it: ``E`` lines, then the trace.

    ``repro`` is the ``gearsim run`` line that reproduces the case outside pytest.
    """
    step = f" at step {result.step}" if result.step else ""
    lines = [f"gearsim {result.verdict.value.upper()}{step}: {result.reason}", f"case {result.id} against {target}"]
    if repro:
        lines.append(f"reproduce: {repro}")
    lines.append("")
    from gearsim.report.text import failure_rules

    for label, rule in failure_rules(result, requirements):
        lines.append(f"E   {label}: {rule}")
    if result.expected or result.actual:
        lines.append(f"E   expected: {result.expected or '-'}")
        lines.append(f"E   actual:   {result.actual or 'nothing'}")
    for note in result.notes:
        lines.append(f"    note: {note}")
    if result.trace:
        lines += ["", "trace around the failure (last records):"]
        lines += [f"    {t}" for t in result.trace.splitlines()]
    # the reason, notes and trace carry a peer's own words (a driver's stderr, a server's log tail): no raw
    # ESC or CR may reach the terminal or CI log pytest writes to
    return terminal_text("\n".join(lines))


class GearsimCaseFailure(Exception):
    """Raised by a case whose verdict is FAIL or INCONCLUSIVE; carries the result."""

    def __init__(self, result: CaseResult) -> None:
        super().__init__(terminal_text(f"{result.verdict.value}: {result.reason}"))
        self.result = result


_STATE = pytest.StashKey[SessionState]()


# --------------------------------------------------------------------------- hooks


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gearsim", "gearsim: Gearman conformance vectors as tests")
    group.addoption("--gearsim-server", metavar="HOST:PORT", help="run the vectors against a real server over TCP")
    group.addoption(
        "--gearsim-server-command",
        metavar="'CMD ... {port} ...'",
        help="start this server on 127.0.0.1 for the cases, fresh per case unless reuse is safe",
    )
    group.addoption(
        "--gearsim-server-description",
        metavar="FILE",
        help="a TOML server description (command, option spellings); with --gearsim-server-command, its command wins",
    )
    group.addoption(
        "--gearsim-client",
        action="append",
        metavar="COMMAND",
        help="client/worker program to launch against the served model ({host}, {port} substituted); repeatable",
    )
    group.addoption(
        "--gearsim-driver",
        metavar="COMMAND",
        help="a client or worker library's driver (php, perl, gear, or a command line): runs the library cases",
    )
    group.addoption(
        "--gearsim-profile",
        metavar="NAME",
        help=f"implementation profile (default {DEFAULT_PROFILE} for the model, spec against --gearsim-server and "
        "--gearsim-server-command, a server description's own)",
    )
    group.addoption(
        "--gearsim-level", choices=LEVELS, help="only rules of this strength or stricter fail a case (default may)"
    )
    group.addoption(
        "--gearsim-exclude", action="append", metavar="GLOB", help="deselect vector cases whose FILE::CASE matches"
    )
    group.addoption("--gearsim-seed", type=int, metavar="N", help="simulator seed for the model (default 0)")
    group.addoption("--gearsim-baseline", metavar="FILE", help="known failures: they report as xfail")
    group.addoption("--gearsim-write-baseline", metavar="FILE", help="write this run's failures as a baseline file")
    group.addoption("--gearsim-shard", metavar="K/N", help="run only the vector cases of shard K of N")
    group.addoption("--gearsim-vectors", action="append", metavar="PATH", help="also collect vector files here")
    group.addoption("--gearsim-html", metavar="FILE", help="write the HTML report with sequence charts here")
    parser.addini("gearsim_vectors", type="paths", default=[], help="folders whose vector files are collected")
    parser.addini("gearsim_profile", default="", help=f"default implementation profile (default {DEFAULT_PROFILE})")
    parser.addini("gearsim_seed", default="0", help="default simulator seed")
    parser.addini("gearsim_baseline", default="", help="baseline file of known failures (relative to the ini file)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gearsim: a gearsim vector case (added to every collected case)")
    config.stash[_STATE] = make_state(config)
    stopping.configure(config)  # SIGTERM stops the servers, drivers and programs gearsim started


def pytest_unconfigure(config: pytest.Config) -> None:
    stopping.unconfigure(config)
    state = config.stash.get(_STATE, None)
    if state is not None:
        state.close()


def pytest_report_header(config: pytest.Config) -> str | None:
    state = config.stash.get(_STATE, None)
    if state is None or not state.enabled:
        return None
    extra = f", shard {state.shard}" if state.shard else ""
    extra += f", baseline of {len(state.baseline)} known failures" if state.baseline else ""
    return f"gearsim: vectors against {state.target()}{extra}"


def _is_vector_file(path: Path) -> bool:
    """Does the file declare the vector schema? True too for one that cannot be read, for its error to name it."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False  # a FIFO named *.yaml would block the sniffing read forever
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError:
        # unreadable (no permission, a link loop): collected, so that reading it fails naming the file and the
        # reason, rather than its cases silently not running
        return True
    return _SNIFF.search(head) is not None


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave out a link to a folder above it, in a vector folder: ``a -> ..`` made pytest walk it 40 deep.

    pytest follows links to folders; one that points at a folder containing it
    revisits it until the system's link limit (each vector file collected 41
    times), and one to an ancestor outside the vector folder walked all of it.
    Other links are followed as pytest follows them. No opinion (None) on
    anything outside the folders gearsim collects from.
    """
    state = config.stash.get(_STATE, None)
    if state is None or not state.enabled or not collection_path.is_symlink():
        return None
    try:
        parent = collection_path.parent.resolve()
        target = collection_path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None  # a broken link or a loop of links: pytest reports or passes over it as it does
    if not any(parent.is_relative_to(d) for d in state.dirs):
        return None
    if target.is_dir() and parent.is_relative_to(target):
        return True
    return None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> GearsimFile | None:
    if file_path.suffix not in SUFFIXES:
        return None
    state = parent.config.stash.get(_STATE, None)
    if state is None or not state.enabled:
        return None
    resolved = file_path.resolve()
    wanted = resolved in state.explicit or any(resolved.is_relative_to(d) for d in state.dirs)
    if not wanted or not _is_vector_file(file_path):
        return None
    item: GearsimFile = GearsimFile.from_parent(parent, path=file_path)
    return item


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash.get(_STATE, None)
    if state is None or (state.shard is None and not state.exclude):
        return

    def dropped_case(item: GearsimItem) -> bool:
        if state.shard is not None and not state.shard.holds(item.case_id):
            return True
        return excluded(item.vf.name, item.case.id, state.exclude)

    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        if isinstance(item, GearsimItem) and dropped_case(item):
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_collection_finish(session: pytest.Session) -> None:
    """Before any case runs: a ``--gearsim-server`` that is not there, or is no Gearman server, is a usage error.

    Otherwise the first case would meet it and each case fail on its own,
    every one charged to "the server" (gearsim.io.preflight).
    """
    state = session.config.stash.get(_STATE, None)
    if state is None or state.server is None or session.config.option.collectonly:
        return
    if not any(isinstance(item, GearsimItem) for item in session.items):
        return
    from gearsim.io.managed import UserServerFactory

    factory = state.factory()
    assert isinstance(factory, UserServerFactory)  # what factory() builds for a server
    try:
        factory.sync  # noqa: B018 (the probe, once; the cases reuse what it found)
    except GearsimError as exc:
        raise pytest.UsageError(terminal_text(f"--gearsim-server: {exc}")) from None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config.stash.get(_STATE, None)
    if state is None or (state.html is None and state.write_baseline is None):
        return
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: it saw only part of the run
        return
    if not state.results:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and config.pluginmanager.hasplugin("dsession"):
            note = "gearsim: --gearsim-html and --gearsim-write-baseline need a run without -n"
            reporter.write_sep("-", note, yellow=True)
        return
    from gearsim.run.runner import Verdict

    if state.write_baseline is not None:
        failed = [r for r in state.results if r.verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE)]
        lines = ["# gearsim baseline: known failures, one case id per line; written by --gearsim-write-baseline"]
        lines += [f"{r.id}  # {r.verdict.value}: {terminal_text(' '.join(r.reason.split()))[:160]}" for r in failed]
        state.write_baseline.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if state.html is not None:
        from gearsim.files import load_requirements
        from gearsim.report.html import ReportRun, render_html

        clock = "wall" if state.server or state.clients else "virtual"
        run = ReportRun(state.profile, state.results, state.profile, state.target(), clock)
        page = render_html([run], load_requirements(), f"gearsim: {len(state.results)} cases (pytest)")
        state.html.write_text(page, encoding="utf-8")


# --------------------------------------------------------------------------- collection nodes


class GearsimFile(pytest.File):
    """A vector file: one GearsimItem per case, named by the case id."""

    def collect(self) -> Iterator[GearsimItem]:
        from gearsim.errors import VectorError
        from gearsim.files import load_requirements, read_vector_file
        from gearsim.vectors.lint import contradictions

        name = self.nodeid or self.path.name
        try:
            # a broken case is refused on its own item (GearsimItem.setup), so the file's other cases still run
            vf = read_vector_file(self.path, name, refuse=False)
        except VectorError as exc:
            raise self.CollectError(f"gearsim: {exc}") from None
        state = self.config.stash[_STATE]
        requirements = load_requirements()
        for case in vf.cases:
            broken = contradictions(name, case, requirements)
            item: GearsimItem = GearsimItem.from_parent(
                self, name=case.id, vf=vf, case=case, broken=str(broken[0]) if broken else ""
            )
            reason = _baseline_reason(state.baseline, item.case_id)
            if reason is not None:
                item.add_marker(pytest.mark.xfail(reason=f"gearsim baseline: {reason}", raises=GearsimCaseFailure))
            yield item


class GearsimItem(pytest.Item):
    """One vector case, run against the session's target when pytest calls it."""

    def __init__(self, *, vf: VectorFile, case: Case, broken: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vf = vf
        self.case = case
        #: why the case is a broken vector (gearsim.vectors.lint.contradictions), or ""
        self.broken = broken
        self.add_marker("gearsim")
        self.extra_keyword_matches.update({vf.area, *case.requirements})
        self.user_properties.append(("requirements", " ".join(case.requirements)))

    @property
    def case_id(self) -> str:
        """``FILE::CASE`` as the report and the baseline name it."""
        return f"{self.vf.name}::{self.case.id}"

    def setup(self) -> None:
        """A broken vector is an error of this item (pytest's ERROR, one line), never a failure of the peer."""
        if self.broken:
            pytest.fail(terminal_text(f"gearsim: broken vector: {self.broken}"), pytrace=False)

    def runtest(self) -> None:
        from gearsim.run.runner import Verdict

        state = self.config.stash[_STATE]
        result = state.run(self.vf, self.case)
        state.results.append(result)
        if result.verdict is Verdict.NOT_APPLICABLE:
            pytest.skip(terminal_text(f"gearsim n/a: {result.reason}"))
        if result.verdict is Verdict.KNOWN_DEFECT:
            pytest.xfail(terminal_text(f"gearsim known defect: {result.reason}"))
        if result.verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE):
            raise GearsimCaseFailure(result)
        if result.notes:
            self.add_report_section("call", "gearsim notes", terminal_text("\n".join(result.notes)))

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> Any:
        if isinstance(excinfo.value, GearsimCaseFailure):
            from gearsim.files import load_requirements

            state = self.config.stash[_STATE]
            result = excinfo.value.result
            # result.id names the file from pytest's rootdir, as baselines do; the reproduce line is typed in the
            # folder pytest ran in, which may be another (pytest run from a subfolder of the project)
            try:
                where = os.path.relpath(self.path, self.config.invocation_params.dir)
            except ValueError:  # another drive (Windows): no relative path
                where = str(self.path)
            repro = state.reproduce(f"{where}::{self.case.id}")
            return format_failure(result, load_requirements(), state.target(), repro)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.case_id
