"""The protocol core (PURE): the packet table, packet values, codec, validator, requirements, traces.

Everything above it (model, simulator, runner, reports, captures, tools) speaks
Gearman through these modules: ``packets`` (the table as types), ``codec``
(bytes <-> messages), ``validate`` (spec checks on one packet for one role),
``requirements`` (the rule registry), ``trace`` (what happened, as records) and
``node`` (the sans-IO contract a server implementation offers its drivers).
Nothing here touches sockets, clocks, files or global randomness.
"""
