"""The reference server's deadlines: job timers (B-K8) and 2.0's epoch wake-ups (B-U13).

PURE. ``Deadlines`` keeps both in heaps so that the earliest is found in
O(log n), however many connections and jobs the server holds; the simulator
asks for it after every call. Entries are invalidated lazily: a timer entry is
live while its connection's ``timer`` is still that very tuple, an epoch entry
while its job is held and not yet woken.
"""

from __future__ import annotations

import heapq

from gearsim.model.jobs import JobStore
from gearsim.model.state import Conn, Job

__all__ = ["Deadlines"]


class Deadlines:
    """Armed job timers and pending epoch wake-ups of one server."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        #: (deadline, serial, conn, timer)
        self._timers: list[tuple[int, int, Conn, tuple[int, Job]]] = []
        #: the heap of timer entries, possibly stale (read only: empty means no timer armed)
        self.timers = self._timers
        self._serial = 0
        #: epoch jobs whose 2.0 wake-up already fired
        self.epoch_woken: set[bytes] = set()
        #: profile ``can_do_timeout_timer`` "first-job-of-connection": the job each
        #: connection's timer event was created for (gearmand's timeout_set argument),
        #: kept until PRE_SLEEP or the connection's end deletes the event
        self.bound: dict[int, Job] = {}

    def unbind(self, c: Conn) -> None:
        """Delete the connection's timer event (gearman_server_con_delete_timeout)."""
        c.timer = None
        self.bound.pop(c.id, None)

    def arm(self, c: Conn, deadline: int, job: Job) -> None:
        """Set the job timer of ``c`` (replacing any)."""
        c.timer = timer = (deadline, job)
        self._serial += 1
        heapq.heappush(self._timers, (deadline, self._serial, c, timer))

    def next_timer(self) -> int | None:
        """The earliest armed job timer."""
        timers = self._timers
        while timers and timers[0][2].timer is not timers[0][3]:
            heapq.heappop(timers)  # disarmed or re-armed since
        return timers[0][0] if timers else None

    def due_timers(self, now: int) -> list[Conn]:
        """Connections whose timer is due at ``now``, in connection order; their entries are dropped."""
        timers = self._timers
        due: list[Conn] = []
        while timers and timers[0][0] <= now:
            _, _, c, timer = heapq.heappop(timers)
            if c.timer is timer:
                due.append(c)
        # fds rise with connect order, which is the order of the server's connections
        due.sort(key=_fd)
        return due

    def _live(self, job: Job) -> bool:
        return job.handle not in self.epoch_woken and self.store.held(job)

    def next_epoch(self) -> int | None:
        """The earliest wake-up of a queued epoch job not yet woken."""
        heap = self.store.epoch_heap
        while heap and not self._live(heap[0][2]):
            heapq.heappop(heap)  # woken, or freed
        if not heap:
            return None
        if heap[0][2].worker is None:
            return heap[0][0]
        # the earliest is running (taken when due, before its wake-up): it may be requeued
        return min((tick for tick, _, job in heap if job.worker is None and self._live(job)), default=None)

    def due_epochs(self, now: int) -> list[Job]:
        """Queued epoch jobs whose wake-up is due, in creation order, now marked woken."""
        heap = self.store.epoch_heap
        entries: list[tuple[int, int, Job]] = []
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if self._live(entry[2]):
                entries.append(entry)
        entries.sort(key=_seq)
        woken: list[Job] = []
        for entry in entries:
            job = entry[2]
            if job.worker is not None:
                heapq.heappush(heap, entry)  # running: it is woken if requeued
                continue
            self.epoch_woken.add(job.handle)
            woken.append(job)
        return woken


def _fd(c: Conn) -> int:
    return c.fd


def _seq(entry: tuple[int, int, Job]) -> int:
    return entry[1]
