"""Server options: the gearmand command-line switches that change behaviour.

PURE. A frozen value given to ``gearsim.model.Server``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ServerOptions"]


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """gearmand command-line options that change behaviour."""

    #: handle prefix host part: handles are H:<node>:<n> (B-U9)
    node: str = "sim"
    #: --job-retries; None is the server's default, no limit; an explicit 0 is no limit
    #: in 1.1.x but no retries after 2.0 (B-K7, the profile's job_retries_zero)
    job_retries: int | None = None
    #: --worker-wakeup; 0 wakes all sleepers (B-K4)
    worker_wakeup: int = 0
    #: --exceptions: the exceptions option on for every connection (B-W5)
    exceptions: bool = False
    #: Unix seconds at tick 0 (SUBMIT_JOB_EPOCH runs in virtual time)
    epoch0: int = 1_800_000_000
    #: what admin 'version' reports; None: the profile's version
    version: str | None = None
    #: what admin 'getpid' reports
    pid: int = 4242
    #: what admin 'verbose' reports
    verbose: str = "ERROR"
