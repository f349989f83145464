"""Judging a client or worker under test by outcomes and rules, not by one library's packet order.

PURE: records and replies in, findings out. This package owns the judge, one
module a question (``sent``, ``calls``, ``replies``; ``findings`` for what
they give and the verdict). Used by gearsim.io.library_cases
(libraries through their drivers) and gearsim.io.programs (program cases),
which record everything said on the wire and every driver call, then ask:

* ``check_sent``: is every packet the actors under test sent allowed for their
  role (gearsim.protocol.validate: magic and direction, argument count, NULs,
  field syntax and limits), and do they keep the rules that span packets: a
  handle sent back exactly as the server gave it (GM-FIELD-006), WORK_* only
  for a job the worker holds and one terminal packet per job (GM-WORK-014),
  PRE_SLEEP between NO_JOB and the next GRAB_* (GM-SLEEP-008)?
* ``check_calls``: does what each driver call reported agree with what was
  said on the wire: the submission as the caller asked (GM-LIB-001), the
  handle of its JOB_CREATED (GM-LIB-002), the events and end of a foreground
  job (GM-LIB-003), status as received (GM-LIB-004), the job a worker took as
  assigned (GM-LIB-008) and the WORK_* it sent as asked (GM-LIB-009)?
* ``decode_reply`` and ``match_reply``: a driver's JSON reply as values, and
  against a step's ``reply`` expectation;
* ``judged``: the verdict, where a broken rule outranks the step failures it causes.

Where the spec lets a library choose (asking for the exceptions option or
not, GRAB_JOB, GRAB_JOB_UNIQ or GRAB_JOB_ALL, a generated or an empty unique,
when to send PRE_SLEEP), every allowed choice passes: the checks follow what
the library actually did on the wire.

The names are loaded on first use (PEP 562): ``gearsim check`` needs only
``sent_violations``, and ``replies`` imports the vector types (about 0.1 s).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gearsim.run.library_judge.calls import check_calls, submit_type, with_call_readings
    from gearsim.run.library_judge.findings import CallRecord, Finding, judged
    from gearsim.run.library_judge.replies import decode_reply, match_reply
    from gearsim.run.library_judge.sent import check_sent, sent_violations

__all__ = [
    "CallRecord",
    "Finding",
    "check_calls",
    "check_sent",
    "decode_reply",
    "judged",
    "match_reply",
    "sent_violations",
    "submit_type",
    "with_call_readings",
]

#: public name -> the module that defines it
_HOME: dict[str, str] = {
    "check_calls": "calls",
    "submit_type": "calls",
    "with_call_readings": "calls",
    "CallRecord": "findings",
    "Finding": "findings",
    "judged": "findings",
    "decode_reply": "replies",
    "match_reply": "replies",
    "check_sent": "sent",
    "sent_violations": "sent",
}


def __getattr__(name: str) -> Any:
    """A public name, imported from its module when first asked for.

    Raises:
        AttributeError: ``name`` is neither a public name nor a submodule.
    """
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'gearsim.run.library_judge' has no attribute {name!r}")
    return getattr(import_module(f"gearsim.run.library_judge.{home}"), name)
