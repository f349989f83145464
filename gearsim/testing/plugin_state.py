"""The pytest plugin's session: its options read into one target and what it needs to judge cases against it.

gearsim.testing.pytest_plugin keeps one :class:`SessionState` per pytest
session in ``config.stash``; :func:`make_state` builds it from the options
and ini values (every unusable one a ``pytest.UsageError``), and the state
builds the peer factory of the target on first use and closes it at the end.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gearsim.errors import GearsimError
from gearsim.report.repro import Target, reproduce_run
from gearsim.run.shard import Shard, parse_shard

if TYPE_CHECKING:
    from gearsim.io.managed import ManagedPeerFactory
    from gearsim.io.serverdesc import ServerDescription
    from gearsim.io.tcp import TcpPeerFactory
    from gearsim.run.runner import CaseResult, PeerFactory
    from gearsim.vectors.parse import Case, VectorFile

__all__ = ["SUFFIXES", "SessionState", "make_state", "named_paths"]

#: the file names a vector file may have
SUFFIXES = (".yaml", ".yml")


@dataclass
class SessionState:
    """What the plugin knows for one pytest session (kept in ``config.stash``)."""

    profile: str
    seed: int
    server: tuple[str, int] | None
    clients: tuple[str, ...]
    #: folders whose vector files are collected: configured, --gearsim-vectors, and named on the command line
    dirs: tuple[Path, ...]
    #: vector files named on the command line
    explicit: frozenset[Path]
    baseline: dict[str, str]
    shard: Shard | None
    level: str | None
    exclude: tuple[str, ...]
    html: Path | None
    write_baseline: Path | None
    results: list[CaseResult] = field(default_factory=list)
    #: a driver command (library cases), or None
    driver: str | None = None
    #: a server gearsim starts per case (--gearsim-server-command / --gearsim-server-description), or None
    described: ServerDescription | None = None
    server_command: str | None = None
    server_description: str | None = None
    _factory: PeerFactory | None = None
    _tcp: TcpPeerFactory | None = None
    _managed: ManagedPeerFactory | None = None
    _rundir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.dirs or self.explicit)

    def reproduce(self, case_id: str) -> str:
        """The ``gearsim run`` line that plays ``case_id`` against this session's target."""
        server = f"{self.server[0]}:{self.server[1]}" if self.server else None
        seed = None if self.server or self.clients or self.driver or self.described else self.seed
        target = Target(
            profile=self.profile,
            seed=seed,
            server=server,
            server_command=self.server_command,
            server_description=self.server_description,
            clients=self.clients,
            driver=self.driver,
            level=self.level,
        )
        return reproduce_run(case_id, target)

    def target(self) -> str:
        if self.driver:
            return f"the library of driver {self.driver!r} against the served reference model, profile {self.profile}"
        if self.clients:
            programs = " + ".join(repr(c) for c in self.clients)
            return f"program(s) {programs} against the served reference model, profile {self.profile}"
        if self.server is not None:
            host, port = self.server
            return f"the server at {host}:{port}, profile {self.profile}"
        if self.described is not None:
            return f"{self.described.name} started by gearsim per case, profile {self.profile}"
        return f"the reference model, profile {self.profile}, seed {self.seed}, virtual time"

    def factory(self) -> PeerFactory:
        if self._factory is None:
            if self.server is not None:
                from gearsim.io.managed import UserServerFactory

                # one long-lived server: each case in a namespace of its own; cases needing a fresh one are n/a
                self._tcp = UserServerFactory(*self.server)
                self._factory = self._tcp
            elif self.described is not None:
                from gearsim.io.managed import ManagedPeerFactory

                self._rundir = tempfile.TemporaryDirectory(prefix="gearsim-pytest-")
                self._managed = ManagedPeerFactory(self.described, Path(self._rundir.name))
                self._factory = self._managed
            else:
                from gearsim.run.model_peer import ModelPeerFactory

                self._factory = ModelPeerFactory(profile=self.profile, seed=self.seed)
        return self._factory

    def run(self, vf: VectorFile, case: Case) -> CaseResult:
        """Play one case against the session's target (a driver, programs, a server, or the model).

        Raises:
            GearsimBug: a bug inside gearsim while the case played: it is the
                item's error, with its traceback and the request to report it,
                never a verdict.
        """
        if self.driver:
            from gearsim.io.library_cases import run_library_case

            result = run_library_case(vf, case, self.driver, profile=self.profile)
        elif self.clients:
            from gearsim.io.programs import run_program_case

            result, _ = run_program_case(vf, case, self.clients, profile=self.profile)
        elif self.server is not None or self.described is not None:
            from gearsim.io.managed import play_case

            # n/a reasons, namespaces and the after-case crash check come with the server's factory
            result = play_case(vf, case, self.factory(), self.profile, level=self.level or "should")
        else:
            from gearsim.run.runner import run_case

            result = run_case(vf, case, self.factory(), self.profile, level=self.level or "should")
        if self.level is None:
            return result
        from gearsim.files import load_requirements
        from gearsim.run.result import at_level

        return at_level(result, self.level, load_requirements())

    def close(self) -> None:
        if self._tcp is not None:
            self._tcp.close()
            self._tcp = None
        if self._managed is not None:
            self._managed.close()
            self._managed = None
        if self._rundir is not None:
            self._rundir.cleanup()
            self._rundir = None


def named_paths(config: pytest.Config) -> tuple[frozenset[Path], tuple[Path, ...]]:
    """The vector files and the folders named on the command line (not those pytest took from ``testpaths``)."""
    if config.args_source is not pytest.Config.ArgsSource.ARGS:
        return frozenset(), ()
    base = config.invocation_params.dir
    files: set[Path] = set()
    folders: list[Path] = []
    for arg in config.args:
        path = (base / arg.split("::", 1)[0]).resolve()
        if path.suffix in SUFFIXES:
            files.add(path)
        elif path.is_dir():
            folders.append(path)
    return frozenset(files), tuple(folders)


def make_state(config: pytest.Config) -> SessionState:
    from gearsim.io.tcp import parse_address
    from gearsim.run.runner import check_profile, default_profile

    opt = config.option
    targets = [
        ("--gearsim-server-command", opt.gearsim_server_command),
        ("--gearsim-server-description", opt.gearsim_server_description),
        ("--gearsim-driver", opt.gearsim_driver),
        *(("--gearsim-client", c) for c in opt.gearsim_client or ()),
    ]
    for flag, value in targets:
        if value is not None and not value.strip():
            # an empty value is falsy: the run would judge the model instead of what the option names, and pass
            raise pytest.UsageError(f"{flag}: the value is empty")
    try:
        server = parse_address(opt.gearsim_server) if opt.gearsim_server else None
    except GearsimError as exc:
        raise pytest.UsageError(f"--gearsim-server: {exc}") from None
    described = None
    if opt.gearsim_server_command or opt.gearsim_server_description:
        from gearsim.io.serverdesc import command_description, load_description

        try:
            given = load_description(Path(opt.gearsim_server_description)) if opt.gearsim_server_description else None
            command = opt.gearsim_server_command
            described = command_description(command, given) if command else given
        except GearsimError as exc:
            raise pytest.UsageError(f"--gearsim-server-command/--gearsim-server-description: {exc}") from None
    own = described.profile if described is not None else ""
    real = bool(server or described)
    profile = opt.gearsim_profile or own or str(config.getini("gearsim_profile") or default_profile(real_server=real))
    try:
        check_profile(profile)
    except GearsimError as exc:
        raise pytest.UsageError(f"--gearsim-profile: {exc}") from None
    clients = tuple(opt.gearsim_client or ())
    driver = opt.gearsim_driver or None
    if sum(map(bool, (server, clients, driver, described))) > 1:
        raise pytest.UsageError(
            "--gearsim-server, --gearsim-server-command, --gearsim-client and --gearsim-driver exclude each other: "
            "one target at a time"
        )
    shard: Shard | None = None
    if opt.gearsim_shard:
        try:
            shard = parse_shard(opt.gearsim_shard)
        except ValueError as exc:
            raise pytest.UsageError(f"--gearsim-shard: {exc}") from None
    base = config.invocation_params.dir
    explicit, named = named_paths(config)
    dirs = [Path(p).resolve() for p in config.getini("gearsim_vectors")]
    dirs += [(base / p).resolve() for p in opt.gearsim_vectors or ()]
    dirs += [d for d in named if d not in dirs]
    baseline_name = opt.gearsim_baseline or str(config.getini("gearsim_baseline") or "")
    baseline: dict[str, str] = {}
    if baseline_name:
        from gearsim.files import read_baseline_text
        from gearsim.report.baseline import known_failures

        root = base if opt.gearsim_baseline else (config.inipath.parent if config.inipath else config.rootpath)
        path = root / baseline_name
        writes = opt.gearsim_write_baseline
        # the run that writes the baseline for the first time: nothing is known to fail yet
        first_write = bool(writes) and not path.exists() and (base / writes).resolve() == path.resolve()
        try:
            baseline = {} if first_write else known_failures(read_baseline_text(path), str(path))
        except GearsimError as exc:
            raise pytest.UsageError(f"gearsim baseline {path}: {exc}") from None
    return SessionState(
        profile=profile,
        seed=opt.gearsim_seed if opt.gearsim_seed is not None else int(config.getini("gearsim_seed") or 0),
        server=server,
        clients=clients,
        driver=driver,
        described=described,
        server_command=opt.gearsim_server_command or None,
        server_description=opt.gearsim_server_description or None,
        dirs=tuple(dirs),
        explicit=explicit,
        baseline=baseline,
        shard=shard,
        level=opt.gearsim_level,
        exclude=tuple(opt.gearsim_exclude or ()),
        html=(base / opt.gearsim_html) if opt.gearsim_html else None,
        write_baseline=(base / opt.gearsim_write_baseline) if opt.gearsim_write_baseline else None,
    )
