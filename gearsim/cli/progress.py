"""Progress bars for long work, on a terminal only (an I/O edge).

``gearsim decode``/``jobs`` on large captures, ``gearsim matrix``, ``gearsim
fuzz`` and long ``gearsim simulate`` runs wrap their loops in ``progress`` (or
``track``). On a terminal that draws a rich progress bar on standard error,
which vanishes when the work is done; anywhere else (a pipe, a file, CI logs,
pytest's capture) it draws nothing at all, so what the command prints stays
machine-readable. Standard output is never touched.

Whether to draw is decided once per bar from the stream it would be drawn on:
it must be a terminal and ``TERM`` must not be ``dumb``. The environment
variable ``GEARSIM_PROGRESS`` overrides that: ``0`` never draws, ``1`` always
does (for demos and for tests of the bar itself)::

    with progress("decoding", total=len(packets), unit="packets") as bar:
        for p in packets:
            ...
            bar.advance()

    for case in track(cases, "running"):
        ...
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator, Sized
from typing import TYPE_CHECKING, Protocol, TextIO, TypeVar

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["ENV", "Ticker", "is_interactive", "progress", "track"]

#: the environment variable that forces progress off (0) or on (1)
ENV = "GEARSIM_PROGRESS"

_T = TypeVar("_T")


class Ticker(Protocol):
    """What a loop tells its progress bar."""

    def advance(self, amount: float = 1) -> None:
        """``amount`` more units are done."""
        ...

    def update(
        self, *, completed: float | None = None, total: float | None = None, description: str | None = None
    ) -> None:
        """Set how much is done, the total (when it becomes known) or the text."""
        ...


class _Silent:
    """The ticker used off a terminal: it does nothing."""

    __slots__ = ()

    def advance(self, amount: float = 1) -> None:
        pass

    def update(
        self, *, completed: float | None = None, total: float | None = None, description: str | None = None
    ) -> None:
        pass


class _RichTicker:
    __slots__ = ("_bar", "_task")

    def __init__(self, bar: Progress, task: TaskID) -> None:
        self._bar = bar
        self._task = task

    def advance(self, amount: float = 1) -> None:
        self._bar.advance(self._task, amount)

    def update(
        self, *, completed: float | None = None, total: float | None = None, description: str | None = None
    ) -> None:
        self._bar.update(self._task, completed=completed, total=total, description=description)


def is_interactive(stream: TextIO | None = None) -> bool:
    """True when a progress bar should be drawn on ``stream`` (default: standard error)."""
    forced = os.environ.get(ENV, "")
    if forced == "0":
        return False
    if forced == "1":
        return True
    stream = sys.stderr if stream is None else stream
    if os.environ.get("TERM", "") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


@contextlib.contextmanager
def progress(
    description: str,
    total: float | None = None,
    *,
    unit: str = "",
    stream: TextIO | None = None,
    enabled: bool | None = None,
) -> Iterator[Ticker]:
    """A progress bar for the ``with`` block; yields the Ticker to advance.

    Args:
        description: the text before the bar.
        total: how many units the work has; None draws a pulsing bar until
            ``update(total=...)`` says.
        unit: shown after the counts (``cases``, ``packets``, ``seeds``).
        stream: where to draw (default standard error).
        enabled: True or False to decide instead of ``is_interactive``.
    """
    stream = sys.stderr if stream is None else stream
    if not (is_interactive(stream) if enabled is None else enabled):
        yield _Silent()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(file=stream, force_terminal=True)
    columns = [
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, transient=True, refresh_per_second=8) as bar:
        task = bar.add_task(description, total=total)
        yield _RichTicker(bar, task)


def track(
    items: Iterable[_T],
    description: str,
    total: float | None = None,
    *,
    unit: str = "",
    stream: TextIO | None = None,
    enabled: bool | None = None,
) -> Iterator[_T]:
    """Yield ``items``, advancing a progress bar by one for each (see ``progress``).

    ``total`` defaults to ``len(items)`` when the items have a length.
    """
    if total is None and isinstance(items, Sized):
        total = len(items)
    with progress(description, total, unit=unit, stream=stream, enabled=enabled) as bar:
        for item in items:
            yield item
            bar.advance()
