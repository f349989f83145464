"""What a mutation is: the ``Mutation`` value and the ``Build`` that makes its mutant server.

PURE. This module owns the ``Mutation`` record (the rule it breaks, one line
saying how, the builder and the profile it is judged under) and ``entry``, the
constructor the registry tables in ``wire``, ``jobs`` and ``workers`` use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gearsim.model import ServerOptions
from gearsim.model.profiles import SPEC_PROFILE, Profile, get_profile
from gearsim.protocol.node import ServerNode

#: builds the mutant server for one case, from the profile and the case's options
Build = Callable[[Profile, ServerOptions], ServerNode]


@dataclass(frozen=True, slots=True)
class Mutation:
    """One deliberate break of one rule in the reference model."""

    #: a slug, unique in the registry
    id: str
    #: the requirement id the mutant breaks
    rule: str
    #: one line: what the mutant does wrong
    what: str
    build: Build
    #: the profile the mutant is built from and judged under
    profile: str = SPEC_PROFILE
    #: in the fast set CI runs
    fast: bool = False
    #: what a ``restart_server`` step puts in place of the mutant (given it); None: a fresh mutant
    restart: Callable[[ServerNode], ServerNode] | None = None

    def server(self, options: ServerOptions) -> ServerNode:
        """The mutant for one case."""
        return self.build(get_profile(self.profile), options)


def entry(rule: str, id_: str, what: str, build: Build, profile: str = SPEC_PROFILE, *, fast: bool = False) -> Mutation:
    """One registry entry, in the order the registry tables read: rule, id, what, how."""
    return Mutation(id_, rule, what, build, profile, fast)
