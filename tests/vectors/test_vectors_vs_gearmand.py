"""Every bundled lifecycle vector case passes (or is acceptable) against a real gearmand 1.1.20.

Most cases share the session's server (fixture ``gearmand_c``): each case uses
its own function names and uniques, so they do not disturb one another. Two
kinds of case need a server of their own, started here with
``gearsim.io.peers.start_peer`` and stopped by its PID:

* cases with server ``options`` (flag ServerOption): a gearmand started with
  the matching options (``job_retries`` -> ``--job-retries=N``,
  ``worker_wakeup`` -> ``--worker-wakeup=N``, ``exceptions`` ->
  ``--exceptions``), one server per distinct set of options;
* cases flagged FreshServer (admin listings show the whole server): a freshly
  started gearmand for each case;
* cases that restart the server (a ``restart_server`` step): played through
  ``gearsim.io.managed.ManagedPeerFactory``, which starts a gearmand of their
  own and restarts it on the same port by its PID.

Cases flagged VirtualClock (``options.epoch0``) are skipped: a harness cannot
set a real server's clock. Waits follow gearsim.io.tcp: advances and silences
are shortened unless a case is ``timed``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from lifecycle_vectors import PROFILE, Bundled, assert_ok, bundled_cases, params

from gearsim.io.managed import ManagedPeerFactory, play_case
from gearsim.io.peers import RunningPeer, start_peer, stop_peer
from gearsim.io.tcp import TcpPeerFactory
from gearsim.run.runner import run_case
from gearsim.testing.peer_fixtures import gearmand_c, peer_server, require_peer  # noqa: F401 (pytest fixtures)

pytestmark = pytest.mark.interop

CASES = bundled_cases()

#: case option -> gearmand command-line argument
_OPTION_ARGS: dict[str, Callable[[int | bool], str | None]] = {
    "job_retries": lambda v: f"--job-retries={int(v)}",
    "worker_wakeup": lambda v: f"--worker-wakeup={int(v)}",
    "exceptions": lambda v: "--exceptions" if v else None,
}


def server_args(options: Mapping[str, int | bool]) -> tuple[str, ...]:
    """gearmand arguments for a case's options (epoch0 has none: see the module doc)."""
    args = []
    for key, value in sorted(options.items()):
        if key in _OPTION_ARGS:
            arg = _OPTION_ARGS[key](value)
            if arg:
                args.append(arg)
    return tuple(args)


ServerFor = Callable[[Bundled], RunningPeer]


@pytest.fixture(scope="module")
def own_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[tuple[str, ...], bool], RunningPeer]]:
    """Start gearmand servers with given arguments: cached per arguments, or fresh each time."""
    running: dict[tuple[str, ...], RunningPeer] = {}
    fresh: list[RunningPeer] = []

    def get(args: tuple[str, ...], new: bool) -> RunningPeer:
        require_peer("gearmand-c")
        if new:
            for peer in fresh:  # one fresh server at a time
                stop_peer(peer)
            fresh.clear()
            peer = start_peer("gearmand-c", tmp_path_factory.mktemp("gearmand-fresh"), args)
            fresh.append(peer)
            return peer
        if args not in running:
            running[args] = start_peer("gearmand-c", tmp_path_factory.mktemp("gearmand-opts"), args)
        return running[args]

    try:
        yield get
    finally:
        for peer in [*running.values(), *fresh]:
            stop_peer(peer)


@pytest.mark.parametrize("bundled", params(CASES))
def test_case_against_gearmand(
    bundled: Bundled,
    gearmand_c: RunningPeer,  # noqa: F811 (the imported fixture)
    own_servers: Callable[[tuple[str, ...], bool], RunningPeer],
    tmp_path: Path,
) -> None:
    case = bundled.case
    if "epoch0" in case.options:
        pytest.skip("VirtualClock: the case sets the server clock (options.epoch0), which only the model can do")
    if any(step.action == "restart_server" for step in case.steps):
        require_peer("gearmand-c")
        managed = ManagedPeerFactory("gearmand-c", tmp_path, reuse=False)
        try:
            assert_ok(play_case(bundled.vf, case, managed, PROFILE))
        finally:
            managed.close()
        return
    args = server_args(case.options)
    if "FreshServer" in case.flags:
        peer = own_servers(args, True)
    elif args:
        peer = own_servers(args, False)
    else:
        peer = gearmand_c
    factory = TcpPeerFactory(peer.host, peer.port)
    try:
        result = run_case(bundled.vf, case, factory, PROFILE)
    finally:
        factory.close()
    assert_ok(result)


def test_options_map_to_arguments() -> None:
    assert server_args({"job_retries": 2, "exceptions": True, "epoch0": 1}) == ("--exceptions", "--job-retries=2")
    assert server_args({}) == ()
    assert Path(__file__).name.startswith("test_")
