"""Mutants of the reference model: one rule broken at a time, to show the vectors notice.

PURE. This package owns mutation testing of the vectors; each module one job:

* ``mutation``: the ``Mutation`` value and the ``Build`` that makes its server;
* ``building``: the three ways a mutant is built around an ordinary
  ``Server`` (a switch of the profile, a patch of the instance, a rewrite of
  what it sends or is sent);
* ``wire``, ``jobs``, ``workers``, ``restarts``: the mutants themselves, by
  area, each with its registry table;
* ``registry``: ``MUTATIONS``, lookup by id, and the rules no server mutant
  can break (``CLIENT_RULES``, ``UNTESTABLE``), and the MUST mutants whose
  kills name another rule (``NOT_NAMED``);
* ``play``: playing the vectors against a mutant until a case kills it.

The names below are what users and ``gearsim spec mutate`` import from here.
"""

from __future__ import annotations

from gearsim.run.mutants.mutation import Mutation
from gearsim.run.mutants.play import MutantFactory, MutationOutcome, run_mutation, unmutated_verdicts
from gearsim.run.mutants.registry import CLIENT_RULES, MUTATIONS, NOT_NAMED, UNTESTABLE, mutation

__all__ = [
    "CLIENT_RULES",
    "MUTATIONS",
    "NOT_NAMED",
    "UNTESTABLE",
    "MutantFactory",
    "Mutation",
    "MutationOutcome",
    "mutation",
    "run_mutation",
    "unmutated_verdicts",
]
