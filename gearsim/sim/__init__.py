"""The deterministic discrete-time simulator and the workloads it runs (PURE).

``simulator`` (the public ``Simulator``: servers, connections, links, virtual
time), ``engine`` (its connection state, pipes, deliveries and timers),
``links`` (what a simulated network does to bytes), ``scenario`` (workload
scenario files as values), ``workload`` and ``actors`` (scripted clients and
workers of ``gearsim simulate``). Time is integer ticks; every random choice
comes from the simulator's own seeded generator.

``from gearsim.sim import Simulator`` keeps working as it did when this was one module.
"""

from gearsim.sim.simulator import DEFAULT_MAX_STEPS, NORMAL, TIMER, URGENT, Received, Simulator

__all__ = ["DEFAULT_MAX_STEPS", "NORMAL", "TIMER", "URGENT", "Received", "Simulator"]
