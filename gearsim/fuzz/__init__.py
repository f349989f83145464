"""Differential fuzzing: the model and a real server get the same random conversation.

Modules: actions (the protocol actions and their small universes, PURE),
normalise (what may differ between sides and how it is made equal, PURE),
invariants (rules each side must keep on its own, PURE), sides (the model
through ``ServerNode``, a real server through sockets), driver (one action on
both sides, compared), machine (the hypothesis state machine and its runner),
session (building sides for a run, the server's identity), writer (a shrunk
failure as a regression vector, PURE).

``gearsim fuzz`` (gearsim.cli.fuzz) is the command; tests/property/
test_differential.py runs it against gearmand.
"""

from __future__ import annotations

__all__: list[str] = []
