"""Server options: the gearmand command-line switches that change behaviour.

PURE. A frozen value given to ``gearsim.model.Server``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GEARMAND_MAX_BODY", "ServerOptions"]

#: the largest body a header's 32-bit length can announce. gearmand 1.1.20 takes
#: any of them: libgearman-server/plugins/protocol/gear/protocol.cc:89-90 reads the
#: length unchecked and libgearman-server/io.cc:830 reallocs that many bytes (B-P8)
GEARMAND_MAX_BODY = 2**32 - 1


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
    #: the largest body a header may announce; a larger one closes the connection
    #: as soon as its 12 header bytes are in, before any of the body is buffered
    #: (the close reason names the limit and the stream offset). The default,
    #: gearmand's, refuses nothing a header can announce
    max_body: int = GEARMAND_MAX_BODY

    def __post_init__(self) -> None:
        """Raises ValueError for a negative ``max_body``."""
        if self.max_body < 0:
            raise ValueError(f"max_body must be >= 0, got {self.max_body}")
