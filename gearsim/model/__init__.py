"""The reference Gearman job server model (PURE, sans-IO).

``Server`` reproduces gearmand 1.1.20 on the binary and admin protocols byte
for byte, with other implementations selected by a ``gearsim.model.profiles.Profile``;
``ServerOptions`` holds the gearmand command-line options that change
behaviour. Modules: server (connections, binary dispatch), wire (framing and
encoding), jobs (queues, coalescing, handles), deadlines (job timers and epoch
wake-ups), admin (text commands), state (working records and snapshots),
replies (ERROR packets from the packet table), cparse (C number parsing).
"""

from __future__ import annotations

from gearsim.model.options import ServerOptions
from gearsim.model.server import Server
from gearsim.model.state import ConnectionView, FunctionView, JobView, Priority

__all__ = ["ConnectionView", "FunctionView", "JobView", "Priority", "Server", "ServerOptions"]
