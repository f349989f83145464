"""Captures: reading pcap/pcapng, TCP reassembly, Gearman decoding, jobs, checking, vectors.

The I/O edge for capture files (see DESIGN.md). Two paths:

* the fast path, no scapy: ``pcapfile`` (file formats) -> ``netparse`` (link,
  IP, TCP headers) -> ``reassembly`` (TCP order and gaps) -> ``gearstream``
  (Gearman framing with resynchronisation) -> ``capture`` (flow table, ordered
  ``Event`` values); on top of it ``annotate`` (findings with requirement ids),
  ``jobs`` (job lifecycles), ``check`` (replay into the reference model),
  ``record`` (capture to vector) and ``synth`` (traces and conversations
  written as pcap);
* the interactive path: ``scapy_gearman``, the only module that imports scapy;
  import it to see Gearman layers in ``rdpcap``, ``sniff`` and ``TCPSession``.

Importing this package does not import scapy.
"""
