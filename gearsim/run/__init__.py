"""Playing vector cases against a server under test and judging them (PURE).

``runner`` (replay a case against a ``ServerPeer``, produce a ``CaseResult``),
``model_peer`` (the reference model inside the simulator, as a peer),
``batch`` (what a run of many cases knows about each before playing it:
statelessness, server options, wall-clock bounds), ``chunking`` (seeded
re-chunking plans for byte streams) and ``shard`` (K/N splits of a run).
Real servers are peers too, built by ``gearsim.io``.
"""
