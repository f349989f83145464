"""Workload scenarios for ``gearsim simulate``: YAML text -> frozen, checked dataclasses.

PURE. This module owns parsing a scenario and the budget a scenario must
stay within (the values it yields, servers, a link, client and worker groups
and faults, are gearsim.sim.scenario_model's, re-exported here). YAML text is
loaded, checked against ``spec/scenario.schema.json`` (the schema text is passed in, so nothing here
reads a file), then checked for meaning (known server and actor names, times
inside the run, a partition that ends after it begins). Every problem raises
``ScenarioError`` naming the file and the field, for example
``scenarios/x.yaml: clients/0 (poller)/rate: ...``.

Times are integer ticks (milliseconds) or strings such as ``250ms``, ``3s``,
``2m``; rates are numbers per second or strings such as ``5/s``, ``300/m``.
Running a scenario is ``gearsim.sim.workload``'s business.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
from collections.abc import Mapping
from typing import Any, Final

import jsonschema

from gearsim.model.profiles import DEFAULT_PROFILE, PROFILES
from gearsim.protocol.node import TICKS_PER_SECOND
from gearsim.safeyaml import YamlInputError, load_yaml
from gearsim.sim.scenario_model import (
    FAULT_KINDS,
    LIBRARIES,
    PRIORITIES,
    ClientSpec,
    DurationSpec,
    FaultSpec,
    Scenario,
    ScenarioError,
    ScriptedSubmit,
    ServerSpec,
    WorkerSpec,
)

__all__ = [
    "MAX_ACTORS",
    "MAX_EVENTS",
    "MAX_JOBS",
    "MAX_PAYLOAD_BYTES",
    "MAX_RATE",
    "MAX_TIME",
    "ClientSpec",
    "DurationSpec",
    "FaultSpec",
    "Scenario",
    "ScenarioError",
    "ScriptedSubmit",
    "ServerSpec",
    "WorkerSpec",
    "parse_rate",
    "parse_scenario",
    "parse_scenario_text",
    "parse_time",
]


#: the longest time any field may give (30 days of virtual milliseconds)
MAX_TIME: Final = 30 * 24 * 3600 * 1000


#: most clients or workers in one group, and in the whole scenario
MAX_ACTORS: Final = 10_000


#: most submissions a run may make, counted from the arrivals the clients ask for
MAX_JOBS: Final = 1_000_000


#: most payload bytes a run may submit in all (each payload is kept in the trace)
MAX_PAYLOAD_BYTES: Final = 256 * 1024 * 1024


#: most periodic events (WORK_STATUS, GET_STATUS polls, reconnects) a run may ask for
MAX_EVENTS: Final = 10_000_000


#: the fastest arrival rate of one client (per second)
MAX_RATE: Final = 1_000_000.0


_TIME = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m)$")


_RATE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)/(s|m)$")


_SCALE: Final = {"ms": 1, "s": TICKS_PER_SECOND, "m": 60 * TICKS_PER_SECOND}


def parse_time(value: object) -> int:
    """Ticks (milliseconds) from an int or a string like ``250ms``, ``3s``, ``1.5m``.

    Raises:
        ValueError: anything else, or longer than ``MAX_TIME``.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a time, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a time cannot be negative: {value}")
        ticks = value
    elif isinstance(value, str) and (m := _TIME.match(value)):
        ticks = round(float(m.group(1)) * _SCALE[m.group(2)])
    else:
        raise ValueError(f"expected a time like 250ms, 3s or 2m, got {value!r}")
    if ticks > MAX_TIME:
        raise ValueError(f"{value!r} is longer than the limit of 30 days ({MAX_TIME:,} ms)")
    return ticks


def parse_rate(value: object) -> float:
    """Events per second from a number or a string like ``5/s``, ``300/m``.

    Raises:
        ValueError: anything else, or a rate that is not finite, not positive or over ``MAX_RATE``.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        rate = float(value)
    elif isinstance(value, str) and (m := _RATE.match(value)):
        rate = float(m.group(1)) / (1 if m.group(2) == "s" else 60)
    else:
        raise ValueError(f"expected a rate like 5/s or 300/m, got {value!r}")
    if not math.isfinite(rate):
        raise ValueError(f"a rate must be a finite number, got {value!r}")
    if rate <= 0:
        raise ValueError(f"a rate must be above 0, got {value!r}")
    if rate > MAX_RATE:
        raise ValueError(f"{value!r} is faster than the limit of {MAX_RATE:,.0f} per second")
    return rate


class _Fields:
    """Typed access to one mapping of the YAML, naming ``where`` in every error."""

    def __init__(self, data: Mapping[str, Any], where: str, file: str) -> None:
        self.data = data
        self.where = where
        self.file = file

    def fail(self, key: str, message: str) -> ScenarioError:
        at = f"{self.where}/{key}" if self.where else key
        return ScenarioError(f"{at}: {message}", file=self.file)

    def time(self, key: str, default: int | None = None) -> int | None:
        if key not in self.data:
            return default
        try:
            return parse_time(self.data[key])
        except ValueError as exc:
            raise self.fail(key, str(exc)) from None

    def integer(self, key: str, default: int, limit: int, unit: str = "") -> int:
        """An integer field no larger than ``limit`` (the schema checked the type and minimum)."""
        value = int(self.data.get(key, default))
        if value > limit:
            raise self.fail(key, f"{value:,}{unit} is more than the limit of {limit:,}{unit}")
        return value

    def fraction(self, key: str) -> float:
        """A number from 0 to 1 (NaN is neither, and the schema's bounds let it through)."""
        value = float(self.data.get(key, 0.0))
        if not 0.0 <= value <= 1.0:
            raise self.fail(key, f"{value!r} is not a number from 0 to 1")
        return value

    def window(self, start: int, stop: int | None, duration: int) -> None:
        """A start before the end of the run and before ``stop``."""
        if start >= duration:
            raise self.fail("start", f"starts at {start} ms, not before the end of the run ({duration} ms)")
        if stop is not None and stop <= start:
            raise self.fail("stop", f"stops at {stop} ms, not after it starts ({start} ms)")

    def weights(self, key: str, default: tuple[tuple[str, int], ...] = ()) -> tuple[tuple[str, int], ...]:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, str):
            return ((value, 1),)
        pairs = tuple((str(k), int(v)) for k, v in value.items())
        if sum(w for _, w in pairs) <= 0:
            raise self.fail(key, "the weights add up to 0")
        return pairs


def _schema_error(data: Any, schema_text: str, file: str) -> ScenarioError | None:
    schema = json.loads(schema_text)
    cls = jsonschema.validators.validator_for(schema)
    # each error's message holds a repr of its data: look at a bounded number of them
    err = jsonschema.exceptions.best_match(itertools.islice(cls(schema).iter_errors(data), 100))
    if err is None:
        return None
    parts: list[str] = []
    node: Any = data
    for p in err.absolute_path:
        node = node[p] if isinstance(node, (dict, list)) else None
        label = str(p)
        if isinstance(p, int) and isinstance(node, dict) and isinstance(node.get("name"), str):
            label += f" ({node['name']})"
        parts.append(label)
    message = err.message
    if err.validator == "oneOf" and isinstance(err.instance, dict) and "kind" in err.instance:
        message = f"a {err.instance['kind']!r} fault has fields {sorted(err.instance)}; see spec/scenario.schema.json"
    elif err.validator == "oneOf":
        message = f"{err.instance!r} matches none of the allowed shapes"
    return ScenarioError(f"{'/'.join(parts) or '(top)'}: {message[:300]}", file=file)


def parse_scenario_text(text: str, file: str, schema_text: str | None = None) -> Scenario:
    """Parse a scenario file's YAML text (see ``parse_scenario``).

    Raises:
        ScenarioError: not YAML, or not a valid scenario; names the file and field.
    """
    try:
        data = load_yaml(text)
    except YamlInputError as exc:
        raise ScenarioError(str(exc), file=file) from None
    return parse_scenario(data, file, schema_text)


def parse_scenario(data: Any, file: str, schema_text: str | None = None) -> Scenario:
    """Check loaded YAML data (against the schema if given, then for meaning) and build it.

    Raises:
        ScenarioError: the first problem found, naming the file and the field.
    """
    if not isinstance(data, dict):
        raise ScenarioError("a scenario is a mapping with schema, name, duration, servers and clients", file=file)
    if schema_text is not None:
        problem = _schema_error(data, schema_text, file)
        if problem is not None:
            raise problem
    try:
        return _build(data, file)
    except ScenarioError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # only reachable without the schema check: data of the wrong shape
        raise ScenarioError(
            f"malformed scenario ({type(exc).__name__}: {exc}); check it against the schema", file=file
        ) from None


def _build(data: dict[str, Any], file: str) -> Scenario:
    top = _Fields(data, "", file)
    if data.get("schema") != 1:
        raise top.fail("schema", "must be 1")
    duration = top.time("duration")
    if duration is None or duration <= 0:
        raise top.fail("duration", "a positive time is required")
    servers = tuple(_server(s, i, file) for i, s in enumerate(data["servers"]))
    names = [s.name for s in servers]
    if not names:
        raise top.fail("servers", "at least one server is needed")
    if len(set(names)) != len(names):
        raise top.fail("servers", f"server names repeat: {names}")
    link = _Fields(data.get("link") or {}, "link", file)
    library = str(data.get("library", "libgearman"))
    if library not in LIBRARIES:
        raise top.fail("library", f"one of {LIBRARIES}")
    clients = tuple(_client(c, i, file, names, library, duration) for i, c in enumerate(data["clients"]))
    workers = tuple(_worker(w, i, file, names, duration) for i, w in enumerate(data.get("workers") or []))
    groups = [c.name for c in clients] + [w.name for w in workers]
    if len(set(groups)) != len(groups):
        raise top.fail("clients", f"client and worker names must all differ: {groups}")
    scenario = Scenario(
        name=str(data["name"]),
        description=str(data.get("description", "")),
        duration=duration,
        seed=int(data.get("seed", 0)),
        servers=servers,
        clients=clients,
        workers=workers,
        latency=link.time("latency", 1) or 0,
        jitter=link.time("jitter", 0) or 0,
        chunking=str(link.data.get("chunking", "none")),
        send_buffer=int(data.get("send_buffer", 65536)),
        trace_deliveries=bool(data.get("trace_deliveries", True)),
        file=file,
    )
    instances = scenario.instance_names()
    worker_names = {w.name for w in workers} | {n for n, g in instances.items() if g in {w.name for w in workers}}
    faults = tuple(
        _fault(f, i, file, duration, set(names), worker_names, set(instances))
        for i, f in enumerate(data.get("faults") or [])
    )
    scenario = dataclasses.replace(scenario, faults=faults)
    _check_budget(scenario, data)
    return scenario


def _server(raw: Any, index: int, file: str) -> ServerSpec:
    if isinstance(raw, str):
        return ServerSpec(raw)
    f = _Fields(raw, f"servers/{index}", file)
    profile = str(raw.get("profile", DEFAULT_PROFILE))
    if profile not in PROFILES:
        raise f.fail("profile", f"unknown profile {profile!r} (have: {', '.join(PROFILES)})")
    return ServerSpec(
        name=str(raw["name"]),
        profile=profile,
        worker_wakeup=int(raw.get("worker_wakeup", 0)),
        job_retries=int(raw.get("job_retries", 0)),
    )


def _server_list(f: _Fields, known: list[str]) -> tuple[str, ...]:
    chosen = tuple(str(s) for s in f.data.get("servers", known))
    for s in chosen:
        if s not in known:
            raise f.fail("servers", f"no server called {s!r} (have: {', '.join(known)})")
    if len(set(chosen)) != len(chosen):
        raise f.fail("servers", f"a server is listed twice: {list(chosen)}")
    return chosen


def _label(raw: Mapping[str, Any], where: str, index: int) -> str:
    name = raw.get("name") if isinstance(raw, Mapping) else None
    return f"{where}/{index} ({name})" if isinstance(name, str) else f"{where}/{index}"


def _client(raw: dict[str, Any], index: int, file: str, servers: list[str], library: str, duration: int) -> ClientSpec:
    f = _Fields(raw, _label(raw, "clients", index), file)
    lib = str(raw.get("library", library))
    if lib not in LIBRARIES:
        raise f.fail("library", f"one of {LIBRARIES}")
    priority = f.weights("priority", (("normal", 1),))
    for p, _ in priority:
        if p not in PRIORITIES:
            raise f.fail("priority", f"unknown priority {p!r} (one of {PRIORITIES})")
    script = tuple(_scripted(s, i, f) for i, s in enumerate(raw.get("script") or []))
    rate = None
    if "rate" in raw:
        try:
            rate = parse_rate(raw["rate"])
        except ValueError as exc:
            raise f.fail("rate", str(exc)) from None
    every = f.time("every")
    arrivals = [k for k in ("rate", "every", "script") if k in raw]
    if len(arrivals) != 1:
        raise f.fail("rate", f"give exactly one of rate, every, script (got {arrivals or 'none'})")
    if every is not None and every <= 0:
        raise f.fail("every", "must be above 0")
    mode = str(raw.get("mode", "background"))
    poll = f.time("poll_status")
    if poll is not None and (poll <= 0 or mode != "background"):
        raise f.fail("poll_status", "polls a background job's status: a positive time, mode background")
    start, stop = f.time("start", 0) or 0, f.time("stop")
    f.window(start, stop, duration)
    return ClientSpec(
        name=str(raw["name"]),
        function=f.weights("function"),
        count=f.integer("count", 1, MAX_ACTORS),
        servers=_server_list(f, servers),
        library=lib,
        mode=mode,
        priority=priority,
        payload=str(raw.get("payload", "")),
        payload_size=f.integer("payload_size", 0, MAX_PAYLOAD_BYTES, " bytes") if "payload_size" in raw else None,
        unique=raw.get("unique"),
        unique_space=int(raw.get("unique_space", 1_000_000)),
        rate=rate,
        every=every,
        jobs=f.integer("jobs", 0, MAX_JOBS) if "jobs" in raw else None,
        start=start,
        stop=stop,
        poll_status=poll,
        script=script,
    )


def _scripted(raw: dict[str, Any], index: int, parent: _Fields) -> ScriptedSubmit:
    f = _Fields(raw, f"{parent.where}/script/{index}", parent.file)
    return ScriptedSubmit(
        at=f.time("at", 0) or 0,
        function=raw.get("function"),
        payload=raw.get("payload"),
        unique=raw.get("unique"),
        has_unique="unique" in raw,
        priority=raw.get("priority"),
        mode=raw.get("mode"),
    )


def _duration(f: _Fields) -> DurationSpec:
    raw = f.data.get("duration")
    if raw is None:
        return DurationSpec()
    kind, value = next(iter(raw.items()))
    d = _Fields(raw, f"{f.where}/duration", f.file)
    if kind == "uniform":
        try:
            lo, hi = (parse_time(v) for v in value)
        except ValueError as exc:
            raise d.fail("uniform", str(exc)) from None
        if hi < lo:
            raise d.fail("uniform", f"the upper bound {hi} is below the lower {lo}")
        return DurationSpec("uniform", lo, hi)
    if kind == "payload_seconds":
        return DurationSpec("payload_seconds")
    return DurationSpec(kind, d.time(kind, 0) or 0)


def _worker(raw: dict[str, Any], index: int, file: str, servers: list[str], duration: int) -> WorkerSpec:
    f = _Fields(raw, _label(raw, "workers", index), file)
    every = f.time("status_every")
    if every is not None and every <= 0:
        raise f.fail("status_every", "must be above 0")
    start = f.time("start", 0) or 0
    f.window(start, None, duration)
    return WorkerSpec(
        name=str(raw["name"]),
        functions=tuple(str(x) for x in raw["functions"]),
        count=f.integer("count", 1, MAX_ACTORS),
        servers=_server_list(f, servers),
        duration=_duration(f),
        status_every=every,
        fail=f.fraction("fail"),
        result=str(raw.get("result", "echo")),
        start=start,
        reconnect=max(1, f.time("reconnect", TICKS_PER_SECOND) or 1),
    )


def _fault(
    raw: dict[str, Any],
    index: int,
    file: str,
    duration: int,
    servers: set[str],
    workers: set[str],
    actors: set[str],
) -> FaultSpec:
    f = _Fields(raw, f"faults/{index}", file)
    kind = str(raw.get("kind"))
    at = f.time("at", 0) or 0
    if kind not in FAULT_KINDS:
        raise f.fail("kind", f"unknown fault {kind!r} (one of {FAULT_KINDS})")
    if at > duration:
        raise f.fail("at", f"{at} is after the end of the run ({duration})")
    key, allowed = {
        "worker-crash": ("worker", workers),
        "link-cut": ("actor", actors),
        "server-restart": ("server", servers),
        "partition": ("server", servers),
    }[kind]
    target = str(raw.get(key))
    if target not in allowed:
        raise f.fail(key, f"no such {key} {target!r} (have: {', '.join(sorted(allowed)) or 'none'})")
    until = f.time("until")
    if until is not None and until <= at:
        raise f.fail("until", f"the partition ends ({until}) before it begins ({at})")
    return FaultSpec(kind=kind, at=at, target=target, until=until, restart_after=f.time("restart_after"))


def _arrivals(c: ClientSpec, duration: int) -> int:
    """Submissions one instance of ``c`` may make: an upper estimate (Poisson arrivals get a margin)."""
    if c.script:
        made = len(c.script)
    else:
        window = max(0, min(duration if c.stop is None else c.stop, duration) - c.start)
        if c.every is not None:
            made = window // c.every + 1
        else:
            expected = (c.rate or 0.0) * window / 1000
            made = math.ceil(expected * 1.1 + 10)
    return made if c.jobs is None else min(made, c.jobs)


def _check_budget(scenario: Scenario, data: Mapping[str, Any]) -> None:
    """Refuse a run whose jobs, payload bytes, actors or periodic events are beyond the limits.

    Each message names the field that asks for too much and the arithmetic.
    """
    file, duration = scenario.file, scenario.duration
    actors = sum(c.count for c in scenario.clients) + sum(w.count for w in scenario.workers)
    if actors > MAX_ACTORS:
        raise _Fields(data, "", file).fail("clients", f"{actors:,} clients and workers in all, limit {MAX_ACTORS:,}")
    jobs = 0
    payload = 0
    events = 0
    for i, c in enumerate(scenario.clients):
        f = _Fields(data["clients"][i], f"clients/{i} ({c.name})", file)
        field = "script" if c.script else "jobs" if c.jobs is not None else "every" if c.every is not None else "rate"
        mine = c.count * _arrivals(c, duration)
        jobs += mine
        if jobs > MAX_JOBS:
            raise f.fail(field, f"asks for about {mine:,} submissions ({c.count} clients); a run may make {MAX_JOBS:,}")
        size = c.payload_size if c.payload_size is not None else len(c.payload.encode("utf-8")) + 16
        payload += mine * size
        if payload > MAX_PAYLOAD_BYTES:
            key = "payload_size" if c.payload_size is not None else "payload"
            raise f.fail(key, f"about {payload:,} payload bytes in all; a run may submit {MAX_PAYLOAD_BYTES:,}")
        if c.poll_status:
            events += mine * (duration // c.poll_status + 1)
            if events > MAX_EVENTS:
                raise f.fail("poll_status", f"about {events:,} status polls; a run may ask for {MAX_EVENTS:,} events")
    faulty = any(x.kind in ("server-restart", "partition", "link-cut") for x in scenario.faults)
    for i, w in enumerate(scenario.workers):
        f = _Fields(data["workers"][i], f"workers/{i} ({w.name})", file)
        if w.status_every:
            events += w.count * (duration // w.status_every + 1)
            if events > MAX_EVENTS:
                raise f.fail("status_every", f"about {events:,} WORK_STATUS packets; a run may ask for {MAX_EVENTS:,}")
        if faulty:
            events += w.count * len(w.servers or scenario.servers) * (duration // w.reconnect + 1)
            if events > MAX_EVENTS:
                raise f.fail("reconnect", f"up to {events:,} reconnects; a run may ask for {MAX_EVENTS:,} events")
