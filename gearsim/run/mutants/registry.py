"""The mutation registry: every mutation, looked up by id, and the rules no mutation can break.

PURE. This module owns ``MUTATIONS`` (the tables of ``wire``, ``jobs``,
``workers`` and ``restarts`` in that order), ``mutation`` (lookup by id),
``CLIENT_RULES`` (the MUST and SHOULD rules that bind clients, workers or readers of replies
rather than a server: a server model cannot break them, so they have no
mutation; library and program cases judge them), ``UNTESTABLE`` (server
rules no mutation of a single model can show) and ``NOT_NAMED`` (the MUST
mutants whose kills at --level must name other rules, with the reason).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from gearsim.run.mutants.jobs import JOB_MUTATIONS
from gearsim.run.mutants.mutation import Mutation
from gearsim.run.mutants.restarts import RESTART_MUTATIONS
from gearsim.run.mutants.wire import WIRE_MUTATIONS
from gearsim.run.mutants.workers import WORKER_MUTATIONS

#: rules that bind clients, workers or readers of admin replies, not a server
CLIENT_RULES: Final[Mapping[str, str]] = {
    "GM-FIELD-006": "binds clients (handles are opaque to them)",
    "GM-ADMIN-014": "binds readers of admin replies",
    "GM-ERROR-003": "binds clients (ERROR code words are labels to them)",
    "GM-WORK-012": "binds clients (reading gearmand's WORK_FAIL with a NUL)",
    "GM-WORK-014": "binds workers (one terminal packet per job)",
    "GM-SUBMIT-007": "binds clients and workers (no empty function name)",
    "GM-WORKER-014": "binds peers sending SET_CLIENT_ID",
    "GM-SLEEP-007": "binds workers (polling for epoch jobs)",
    "GM-SLEEP-008": "binds workers (NOOP answered with GRAB_*)",
    "GM-RESTART-005": "binds clients (polling a handle of a connection that ended)",
}

#: server rules no mutation of a single model can show, with the reason
UNTESTABLE: Final[Mapping[str, str]] = {
    "GM-RESTART-006": (
        "the model has no persistent queue (no bundled peer runs with one); gearmand's SQLite queue is "
        "measured by probe: spec/evidence.md RESTART-4"
    ),
    "GM-FRAME-009": (
        "the model takes bodies of any size, as gearmand does (it allocates what the header announces): "
        "the bound the rule asks for is below no size a vector can send without naming one"
    ),
    "GM-LIMIT-006": "distinct handles across servers: a vector plays against one server",
}

#: every mutation, in the order ``gearsim spec mutate`` reports them
MUTATIONS: Final[tuple[Mutation, ...]] = (*WIRE_MUTATIONS, *JOB_MUTATIONS, *WORKER_MUTATIONS, *RESTART_MUTATIONS)


def mutation(mutation_id: str) -> Mutation:
    """The registry's mutation of that id.

    Raises:
        KeyError: no mutation has that id (the message lists them).
    """
    for m in MUTATIONS:
        if m.id == mutation_id:
            return m
    raise KeyError(f"unknown mutation {mutation_id!r}; known: {', '.join(m.id for m in MUTATIONS)}")


#: MUST mutants killed at --level must only by FAILs whose failing step names other rules (the report's "rule
#: broken" sends the maintainer elsewhere), each with the reason, one line. tests/unit/test_mutants.py holds the
#: table to what the vectors do, both ways; a mutant a must-level run PASSes never belongs here.
NOT_NAMED: Final[Mapping[str, str]] = {
    "echo-length-one-long": (
        "a header announcing one byte more reads as an ECHO_RES that took the next reply's first byte (a "
        "valid ECHO_RES echoing other data: GM-ECHO-001) or one still awaiting its last byte when the step "
        "times out: no bytes received show the length wrong, as a connection closed inside the body would"
    ),
    "assigned-unique-with-nul": (
        "a NUL inside the unique decodes as a shorter unique and a workload holding the rest: a valid "
        "JOB_ASSIGN_UNIQ carrying another unique, which is what GM-WORKER-009 says"
    ),
}
