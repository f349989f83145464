"""Linearizability-style checking of a server's observed history against the reference model (PURE).

A capture shows what each connection sent and received, but not the order in
which the server acted on requests from different connections. This package
decides whether *some* order the server could have taken, consistent with
what the capture proves about time and causality, makes the reference model
produce exactly the replies the server sent:

* ``history``: the values: per connection, the requests in order (``Op``)
  and the replies in order (``Seen``), with what the capture could not see
  (gaps, connections joined mid-stream);
* ``partition``: P-compositionality: connections that share no function,
  job, unique or worker are checked apart;
* ``search``: the engine: a schedule guessed from the replies' times,
  replayed into the model; where it fails, a Wing & Gong / Lowe depth-first
  search over the orders the capture allows, with memoisation and a budget;
  where no order works, a divergence, after which the checker adopts what the
  server did and goes on;
* ``machine``: the reference model (``gearsim.model.Server``) as the
  search's state machine: handles mapped between the model's and the
  server's, snapshots and fingerprints;
* ``schedule``: the first guess at the server's order;
* ``hints``: which reorderings to try first, read from the replies;
* ``necessary``: replies no order could produce, decided without a search;
* ``diagnose``: which requirement a divergence breaks;
* ``verdict``: all of it for one server: findings as broken, unknown,
  inconclusive or undecided, one defect reported once.

The rules a client or worker breaks are judged elsewhere
(``gearsim.dissect``), per connection and role.

Nothing here touches files, sockets, clocks or global randomness; the only
notion of time is the capture's timestamps and the budget a caller passes in.
"""
