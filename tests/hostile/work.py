"""Measures of work that do not depend on the machine's load, for the hostile-input tests.

A hostile file once cost minutes because gearsim did work per byte in Python
or repr'd expanded data into error messages. Timing that in a test fails on a
busy machine (speed targets live in tools/bench/); what a regression
multiplies can be counted instead: Python function calls, and the characters
of the schema errors built.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import jsonschema.exceptions


def python_calls(work: Callable[[], Any]) -> tuple[int, Any]:
    """How many functions (Python and builtin) ``work()`` calls, and what it returned or raised."""
    calls = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal calls
        if event == "call" or event == "c_call":
            calls += 1

    outcome: Any
    sys.setprofile(profile)
    try:
        outcome = work()
    except Exception as exc:  # the caller judges what was raised
        outcome = exc
    finally:
        sys.setprofile(None)
    return calls, outcome


@contextlib.contextmanager
def schema_messages() -> Iterator[list[int]]:
    """Count the schema errors built inside the block and the characters of their messages: ``[errors, chars]``."""
    counts = [0, 0]
    original = jsonschema.exceptions._Error.__init__

    def counting(self: Any, message: str, *args: Any, **kwargs: Any) -> None:
        counts[0] += 1
        counts[1] += len(message)
        original(self, message, *args, **kwargs)

    jsonschema.exceptions._Error.__init__ = counting  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        jsonschema.exceptions._Error.__init__ = original  # type: ignore[method-assign]
