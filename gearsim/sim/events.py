"""The simulator's clock and event queue: what runs next, and when.

PURE. ``EventLoop`` owns virtual time (``now``, in ticks) and the queue of
scheduled handlers: ``push`` schedules ``handler(arg)`` at a tick and a
priority, ``run`` and ``step`` take events in (tick, priority, scheduling)
order and move the clock to each. It knows nothing of connections or
servers; ``gearsim.sim.engine.Engine`` schedules its deliveries, connects,
closes, cuts and timers here, and ``gearsim.sim.simulator.Simulator`` its
callbacks.
"""

from __future__ import annotations

import heapq
import operator
from collections.abc import Callable
from typing import Any, Final

from gearsim.errors import HarnessError

__all__ = ["DEFAULT_MAX_STEPS", "KEYS", "NORMAL", "TIMER", "URGENT", "EventLoop", "invoke"]

#: same-tick order: cuts, partitions and restarts run before anything else
URGENT: Final[int] = 0
#: deliveries, connects, closes and scheduled callbacks
NORMAL: Final[int] = 1
#: server timers run after everything else due at the same tick
TIMER: Final[int] = 2

#: events one ``run`` call may process before it fails loudly (a livelock guard)
DEFAULT_MAX_STEPS: Final[int] = 1_000_000

# (handler, argument): an entry of an event bucket (see EventLoop.__init__)
_Event = tuple[Callable[[Any], None], Any]
#: event keys are tick * KEYS + priority (priorities are below KEYS)
KEYS: Final[int] = 4
_KEYS: Final[int] = KEYS


#: the handler of a scheduled callback: ``invoke(fn)`` calls ``fn()`` (C-level: no Python frame per callback)
invoke: Final[Callable[[Callable[[], None]], None]] = operator.call


class EventLoop:
    """Virtual time and the handlers scheduled in it.

    Args:
        tail: the last records of the run's trace, for the livelock error.
    """

    def __init__(self, tail: Callable[[int], str]) -> None:
        self._tail = tail
        #: the current tick
        self.now = 0
        # The event queue: one FIFO bucket per (tick, priority), keyed by
        # tick * 4 + priority, and a heap of the keys that have a bucket. Events of
        # one key run in the order they were scheduled, so this orders as a heap of
        # (tick, priority, seq) would, but the heap only moves once per key (a tick
        # holds dozens of deliveries on a busy run) and compares plain ints.
        self._buckets: dict[int, list[_Event]] = {}
        self._keys: list[int] = []
        #: the queue itself, for the engine's hot paths that push inline (``push``'s body, no call)
        self.buckets = self._buckets
        self.keys = self._keys

    def push(self, tick: int, priority: int, handler: Callable[[Any], None], arg: object) -> None:
        """Schedule ``handler(arg)`` at ``tick``, after everything already scheduled for it and ``priority``."""
        key = tick * _KEYS + priority
        bucket = self._buckets.get(key)
        if bucket is None:
            self._buckets[key] = [(handler, arg)]
            heapq.heappush(self._keys, key)
        else:
            bucket.append((handler, arg))

    def peek(self) -> int | None:
        """The tick of the next event, or None when nothing is scheduled."""
        return self._keys[0] // _KEYS if self._keys else None

    def step(self) -> bool:
        """Process the next event, moving time to its tick; False if there was none."""
        keys = self._keys
        if not keys:
            return False
        key = keys[0]
        bucket = self._buckets[key]
        handler, arg = bucket.pop(0)
        if not bucket:
            heapq.heappop(keys)
            del self._buckets[key]
        tick = self.now = key // _KEYS
        try:
            handler(arg)
        except Exception as exc:
            exc.add_note(f"gearsim.sim.simulator: while processing an event at tick {tick}")
            raise
        return True

    def run(self, until: int | None, stop_when: Callable[[], bool] | None, bound: int) -> bool:
        """Process events in order (see ``Simulator.run``); True if ``stop_when`` became true.

        Takes the earliest bucket whole and runs its events in order; events it
        schedules for the same key go to a new bucket, run after it. Whatever
        stops the bucket early (``stop_when``, an earlier key scheduled by a
        handler, the bound, an exception) puts its remaining events back first.

        Raises:
            HarnessError: more than ``bound`` events were needed.
        """
        keys = self._keys
        buckets = self._buckets
        pop = heapq.heappop
        steps = 0
        if stop_when is not None and stop_when():
            return True
        while keys:
            key = keys[0]
            tick = key // _KEYS
            if until is not None and tick > until:
                break
            pop(keys)
            bucket = buckets.pop(key)
            self.now = tick
            done = 0  # events of the bucket taken
            try:
                if steps + len(bucket) > bound:
                    # the bound falls inside this bucket: counted event by event
                    for handler, arg in bucket:
                        if steps >= bound:
                            raise self._bound_error(bound, key, bucket[done:])
                        done += 1
                        steps += 1
                        self._handle(handler, arg, tick)
                        if stop_when is not None and stop_when():
                            return True
                        if keys and keys[0] < key:
                            break  # a handler scheduled an earlier event (a cut at this tick)
                    continue
                # the usual case: the bound is checked once per bucket, not per event
                try:
                    for handler, arg in bucket:
                        done += 1
                        handler(arg)
                        if stop_when is not None and stop_when():
                            return True
                        if keys and keys[0] < key:
                            break  # a handler scheduled an earlier event (a cut at this tick)
                except Exception as exc:
                    exc.add_note(f"gearsim.sim.simulator: while processing an event at tick {tick}")
                    raise
                steps += done
            finally:
                if done < len(bucket):
                    self._put_back(key, bucket[done:])
        if until is not None:
            self.now = until
        return False

    @staticmethod
    def _handle(handler: Callable[[Any], None], arg: object, tick: int) -> None:
        """Run one event, naming its tick in any exception."""
        try:
            handler(arg)
        except Exception as exc:
            exc.add_note(f"gearsim.sim.simulator: while processing an event at tick {tick}")
            raise

    def _put_back(self, key: int, events: list[_Event]) -> None:
        """Return a bucket's remaining ``events`` to the queue, before any scheduled since."""
        later = self._buckets.get(key)
        if later is None:
            heapq.heappush(self._keys, key)
            self._buckets[key] = events
        else:
            self._buckets[key] = events + later

    def _bound_error(self, bound: int, key: int, current: list[_Event]) -> HarnessError:
        """The livelock error: the tick, the next events (first ``current``, the rest of ``key``'s bucket)."""
        upcoming: list[str] = []
        queued = [(k, event) for k in sorted(self._keys) for event in self._buckets[k]]
        for key, (handler, _) in [*((key, e) for e in current), *queued][:5]:
            upcoming.append(f"tick {key // _KEYS} prio {key % _KEYS} {getattr(handler, '__name__', handler)}")
        return HarnessError(
            f"step bound of {bound} events hit at tick {self.now} (a livelock, or raise max_steps); "
            f"next events: {', '.join(upcoming)}\nlast trace records:\n{self._tail(10)}"
        )
