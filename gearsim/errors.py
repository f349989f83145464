"""Every exception gearsim raises on purpose, split by who is at fault.

A finding about a peer (a server that broke a rule) is data: a Violation or a
Verdict, never an exception. Exceptions mean "cannot continue", and each one
says whose fault that is:

* the peer's (``PeerFault``): bytes on the wire that cannot be decoded;
* the input's (``VectorError``): a vector or scenario file that is broken;
* ours or the environment's (``HarnessError``): a peer that cannot be started,
  a step bound hit, a bug.

Any other exception escaping gearsim is a gearsim bug; where gearsim plays a
case it wraps one in ``GearsimBug`` (deliberately not a ``GearsimError``), so
that it reaches the user as a traceback with a request to report it, never as
a verdict.
"""

from __future__ import annotations

import enum
from typing import Any


class Fault(enum.Enum):
    """Who caused an error."""

    #: the other end of a connection sent something that cannot be decoded
    PEER = "peer"
    #: a vector, scenario or capture given to gearsim is malformed
    INPUT = "input"
    #: gearsim itself or its environment
    HARNESS = "harness"


class GearsimError(Exception):
    """Root of all gearsim errors; ``fault`` says who caused it."""

    fault: Fault = Fault.HARNESS


class DecodeError(GearsimError, ValueError):
    """Bytes that cannot be decoded as Gearman messages.

    Attributes:
        offset: stream offset (bytes from the start of the stream) of the first
            byte of the message at fault.
        reason: a short machine-readable slug, for example ``bad-magic``.
    """

    fault = Fault.PEER
    reason = "decode-error"

    def __init__(self, message: str, *, offset: int) -> None:
        super().__init__(f"{message} (at byte offset {offset})")
        self.offset = offset

    def __reduce__(self) -> tuple[Any, ...]:
        # A model holding a decode error is pickled as the capture check's fresh
        # snapshot; the default rebuild calls __init__ without the keyword-only offset.
        return (_rebuilt, (type(self), self.args, dict(self.__dict__)))


def _rebuilt(cls: type[DecodeError], args: tuple[Any, ...], state: dict[str, Any]) -> DecodeError:
    """A DecodeError as pickled: its arguments and attributes, without calling ``__init__`` again."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class BadMagic(DecodeError):
    """A binary message whose magic is neither ``\\0REQ`` nor ``\\0RES``."""

    reason = "bad-magic"


class BodyTooLarge(DecodeError):
    """A header announcing a body larger than the decoder's limit."""

    reason = "body-too-large"


class UnknownType(DecodeError):
    """A header whose type number the reader was told not to accept (gearmand: 0, or 43 and above).

    Attributes:
        number: the type number the header carries.
    """

    reason = "unknown-type"

    def __init__(self, message: str, *, offset: int, number: int) -> None:
        super().__init__(message, offset=offset)
        self.number = number


class LineTooLong(DecodeError):
    """An admin text line longer than the decoder's limit without a newline."""

    reason = "line-too-long"


class TruncatedMessage(DecodeError):
    """The stream ended inside a message (a header, a body or a text line)."""

    reason = "truncated"


class VectorError(GearsimError, ValueError):
    """A vector file that is malformed; the message names file, case and step."""

    fault = Fault.INPUT

    def __init__(self, message: str, *, file: str = "", case: str = "", step: int | None = None) -> None:
        where = file
        if case:
            where += f"::{case}"
        if step is not None:
            where += f" step {step}"
        super().__init__(f"{where}: {message}" if where else message)
        self.file = file
        self.case = case
        self.step = step
        self.detail = message


class InputError(GearsimError, ValueError):
    """A command line, option or file given to gearsim that it cannot use (an unknown profile, a bad address)."""

    fault = Fault.INPUT


class NotGearman(InputError):
    """The address given as a Gearman server is something else: it answered a request, or spoke first, in bytes
    no Gearman server sends (the user named the wrong port; nothing there is judged)."""


class HarnessError(GearsimError):
    """gearsim or its environment cannot go on (a step bound, a peer that will not start)."""

    fault = Fault.HARNESS


class ServerSilent(HarnessError):
    """The server under test accepts connections but stopped answering them (a wait ran out, and a fresh
    connection's read-only probe went unanswered too): nothing more it says can be judged, so the run stops."""


#: where a gearsim bug is reported
REPORT_BUGS = "the gearsim issue tracker (gearsim's repository), with this output and the command that ran"


class GearsimBug(Exception):
    """An unexpected exception inside gearsim while it played ``where``: a bug in gearsim, not a verdict.

    Not a GearsimError on purpose: nothing that handles harness or input errors
    catches it. The original exception is ``__cause__``; the message names the
    case and step and asks for a report.
    """

    def __init__(self, where: str, cause: BaseException) -> None:
        super().__init__(
            f"gearsim bug while playing {where}: {type(cause).__name__}: {cause}. "
            f"This is not a verdict on the implementation under test; please report it to {REPORT_BUGS}."
        )
        self.where = where
