"""The public Python API of gearsim: the names ``import gearsim`` gives (``gearsim/__init__.py`` re-exports them).

Everything else in the package may change between releases; these names are
kept stable, and ``tests/unit/test_public_api.py`` guards the list.

Replaying one vector case from Python::

    import gearsim

    selection = gearsim.select(["server/status.yaml::queued-job"])
    vf = selection.files[0]
    factory = gearsim.ModelPeerFactory(profile="gearmand-1.1", seed=0)
    result = gearsim.run_case(vf, vf.case("queued-job"), factory, "gearmand-1.1")
    print(result.verdict, gearsim.Trace(result.records).text())

Against a real server, use ``gearsim.TcpPeerFactory("127.0.0.1", 4730)``
instead of the model (and ``close()`` it at the end).

Groups:

* packets and bytes: ``Packet``, ``AdminLine``, ``Message``, ``Magic``,
  ``PacketType``, ``encode``, ``encode_admin``, ``decode_all``, ``Decoder``;
* vectors and the spec: ``select``, ``Selection``, ``read_vector_file``,
  ``parse_vector_text``, ``vector_root``, ``VectorFile``, ``Case``,
  ``load_requirements``, ``Requirement``;
* the runner: ``run_case``, ``run_file``, ``CaseResult``, ``Verdict``,
  ``ServerPeer`` (the protocol a server under test implements),
  ``PeerFactory``;
* servers to run against: ``ModelPeerFactory`` (the reference model in the
  simulator), ``TcpPeerFactory`` (a real server), and underneath them the
  model ``Server``/``ServerOptions``, the ``Simulator``, ``LinkConfig``,
  ``PROFILES`` and ``DEFAULT_PROFILE``;
* traces: ``Trace``, ``TraceRecord``;
* reports: ``text_report``, ``json_report``, ``junit_report``,
  ``render_html`` (the HTML page, from ``ReportRun`` values), ``exit_code``;
* sharding: ``Shard``, ``parse_shard``;
* errors: ``GearsimError`` and its kinds ``DecodeError``, ``VectorError``,
  ``HarnessError``.
"""

from __future__ import annotations

from gearsim.cli.common import exit_code
from gearsim.errors import DecodeError, GearsimError, HarnessError, VectorError
from gearsim.files import Selection, installed_version, load_requirements, read_vector_file, select, vector_root
from gearsim.io.tcp import TcpPeerFactory
from gearsim.model import Server, ServerOptions
from gearsim.model.profiles import DEFAULT_PROFILE, PROFILES
from gearsim.protocol.codec import Decoder, decode_all, encode, encode_admin
from gearsim.protocol.packets import AdminLine, Magic, Message, Packet, PacketType
from gearsim.protocol.requirements import Requirement
from gearsim.protocol.trace import Trace, TraceRecord
from gearsim.report.html import ReportRun, render_html
from gearsim.report.text import json_report, junit_report, text_report
from gearsim.run.model_peer import ModelPeerFactory
from gearsim.run.runner import CaseResult, PeerFactory, ServerPeer, Verdict, run_case, run_file
from gearsim.run.shard import Shard, parse_shard
from gearsim.sim.links import LinkConfig
from gearsim.sim.simulator import Simulator
from gearsim.vectors.parse import Case, VectorFile, parse_vector_text

__all__ = [
    "DEFAULT_PROFILE",
    "PROFILES",
    "AdminLine",
    "Case",
    "CaseResult",
    "DecodeError",
    "Decoder",
    "GearsimError",
    "HarnessError",
    "LinkConfig",
    "Magic",
    "Message",
    "ModelPeerFactory",
    "Packet",
    "PacketType",
    "PeerFactory",
    "ReportRun",
    "Requirement",
    "Selection",
    "Server",
    "ServerOptions",
    "ServerPeer",
    "Shard",
    "Simulator",
    "TcpPeerFactory",
    "Trace",
    "TraceRecord",
    "VectorError",
    "VectorFile",
    "Verdict",
    "__version__",
    "decode_all",
    "encode",
    "encode_admin",
    "exit_code",
    "json_report",
    "junit_report",
    "load_requirements",
    "parse_shard",
    "parse_vector_text",
    "read_vector_file",
    "render_html",
    "run_case",
    "run_file",
    "select",
    "text_report",
    "vector_root",
]

__version__: str = installed_version()
