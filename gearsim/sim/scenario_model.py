"""A workload scenario as values: servers, a link, client and worker groups, faults.

PURE. This module owns the frozen dataclasses ``gearsim.sim.scenario`` parses
YAML into and ``gearsim.sim.workload`` runs (``Scenario`` and its
``ServerSpec``, ``ClientSpec``, ``ScriptedSubmit``, ``WorkerSpec``,
``DurationSpec``, ``FaultSpec``), the words they accept (``LIBRARIES``,
``PRIORITIES``, ``FAULT_KINDS``) and ``ScenarioError``, which every problem
with a scenario raises. Times are integer ticks (milliseconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gearsim.errors import VectorError
from gearsim.model.profiles import DEFAULT_PROFILE
from gearsim.protocol.node import TICKS_PER_SECOND

__all__ = [
    "ClientSpec",
    "DurationSpec",
    "FaultSpec",
    "Scenario",
    "ScenarioError",
    "ScriptedSubmit",
    "ServerSpec",
    "WorkerSpec",
]


LIBRARIES: Final = ("libgearman", "perl")


PRIORITIES: Final = ("high", "normal", "low")


FAULT_KINDS: Final = ("worker-crash", "link-cut", "server-restart", "partition")


class ScenarioError(VectorError):
    """A scenario file that is malformed; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """One job server of the pool: a reference model with a profile and options."""

    name: str
    profile: str = DEFAULT_PROFILE
    worker_wakeup: int = 0
    job_retries: int = 0


@dataclass(frozen=True, slots=True)
class ScriptedSubmit:
    """One submission at a fixed tick (fields left None take the client's)."""

    at: int
    function: str | None = None
    payload: str | None = None
    unique: str | None = None
    has_unique: bool = False
    priority: str | None = None
    mode: str | None = None


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """A group of ``count`` identical clients (instances are named NAME-1, NAME-2...).

    ``unique`` and ``payload`` are templates: ``{n}`` is the instance's
    submission number (from 1), ``{client}`` the instance number, ``{r}`` a
    draw below ``unique_space``. ``unique`` None means the library's default
    (libgearman: a generated UUID for background jobs, B-L1; Perl: none).
    """

    name: str
    function: tuple[tuple[str, int], ...]
    count: int = 1
    servers: tuple[str, ...] = ()
    library: str = "libgearman"
    mode: str = "background"
    priority: tuple[tuple[str, int], ...] = (("normal", 1),)
    payload: str = ""
    payload_size: int | None = None
    unique: str | None = None
    unique_space: int = 1_000_000
    rate: float | None = None
    every: int | None = None
    jobs: int | None = None
    start: int = 0
    stop: int | None = None
    poll_status: int | None = None
    script: tuple[ScriptedSubmit, ...] = ()


@dataclass(frozen=True, slots=True)
class DurationSpec:
    """A job-duration distribution; ``a`` and ``b`` are ticks (see ``kind``)."""

    #: fixed (a), uniform (a..b), exponential (mean a), payload_seconds,
    #: per_payload_byte (a ticks per byte)
    kind: str = "fixed"
    a: int = 0
    b: int = 0


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """A group of ``count`` identical workers, one connection to each of its servers."""

    name: str
    functions: tuple[str, ...]
    count: int = 1
    servers: tuple[str, ...] = ()
    duration: DurationSpec = DurationSpec()
    status_every: int | None = None
    fail: float = 0.0
    result: str = "echo"
    start: int = 0
    reconnect: int = TICKS_PER_SECOND


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """A fault at tick ``at``: ``target`` is a worker, actor or server name."""

    kind: str
    at: int
    target: str
    until: int | None = None
    restart_after: int | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    """A whole workload: servers, link, clients, workers and faults."""

    name: str
    duration: int
    servers: tuple[ServerSpec, ...]
    clients: tuple[ClientSpec, ...]
    workers: tuple[WorkerSpec, ...] = ()
    faults: tuple[FaultSpec, ...] = ()
    description: str = ""
    seed: int = 0
    latency: int = 1
    jitter: int = 0
    chunking: str = "none"
    send_buffer: int = 65536
    trace_deliveries: bool = True
    file: str = ""

    def instance_names(self) -> dict[str, str]:
        """Every actor instance name -> its group name (clients and workers)."""
        names: dict[str, str] = {}
        groups: list[ClientSpec | WorkerSpec] = [*self.clients, *self.workers]
        for group in groups:
            for i in range(group.count):
                names[group.name if group.count == 1 else f"{group.name}-{i + 1}"] = group.name
        return names
