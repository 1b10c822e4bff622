"""Admission of reports: a bounded number in flight per server, and for the rest a
Retry-After that spreads the waiting agents over the time the server needs for them.

An overload (agents returning after an outage, a burst of new hosts) is answered at once
with 503 + Retry-After (RFC 9110, section 10.2.3) instead of queueing until the agents time
out while the server keeps working for clients that have gone. The Retry-After is a
*return slot*: the refused agents already told when to come back are the backlog, and each
new one is given the next slot after them, spaced by the server's own throughput, so they
come back no faster than it finishes reports. Without the slots every refused agent gets the
same short wait, comes back together with all the others, and is refused again: a burst of
2,000 agents made tens of thousands of 503s.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator

from cmdb.graph.store import ServerBusy

# weight of the newest completion in the smoothed time in flight: about the last 20 reports
SMOOTHING = 0.05


class Admission:
    """At most ``limit`` reports in flight on this server; beyond it ``ServerBusy`` with a
    Retry-After in whole seconds (at least 1, at most ``max_wait``).

    The throughput is Little's law, ``limit`` ÷ the smoothed seconds a report spends in
    flight: exact while the server is full, which is when it refuses. ``clock`` is
    monotonic seconds (a parameter for tests)."""

    def __init__(
        self,
        limit: int,
        max_wait: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = max(1, limit)
        self.max_wait = max(1.0, max_wait)
        self.clock = clock
        self.in_flight = 0
        self.time_in_flight = 0.5  # seconds, smoothed over completions
        self.refused = 0  # since start: a counter for metrics and benches
        self._last_slot = 0.0  # the latest return time handed out (clock seconds)

    @property
    def throughput(self) -> float:
        """Reports per second this server finishes when full."""
        return self.limit / max(self.time_in_flight, 1e-3)

    def waiting(self, now: float | None = None) -> int:
        """About how many refused agents are yet to come back: the slots still ahead, less
        the reports in flight they were placed after."""
        now = self.clock() if now is None else now
        if self._last_slot <= now:
            return 0
        return max(0, round((self._last_slot - now) * self.throughput) - self.in_flight)

    def retry_after(self, now: float) -> int:
        """Hand out the next return slot: after the reports in flight and every agent
        already told to come back, one ``1 / throughput`` further on."""
        step = 1.0 / self.throughput
        slot = max(self._last_slot, now + self.in_flight * step) + step
        slot = min(slot, now + self.max_wait)
        self._last_slot = slot
        return max(1, math.ceil(slot - now))

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        """Hold one of the ``limit`` places for the body of the ``with``; raises
        ``ServerBusy`` (HTTP 503 with its ``retry_after``) when all are taken."""
        started = self.clock()
        if self.in_flight >= self.limit:
            self.refused += 1
            ahead = self.waiting(started)
            wait = self.retry_after(started)
            queue = (
                f" and about {ahead} agent{'s' if ahead != 1 else ''} due back before you"
                if ahead
                else ""
            )
            raise ServerBusy(
                f"this server has {self.in_flight} reports in flight (its limit){queue}; "
                f"send this report again in {wait} s",
                wait,
            )
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            spent = max(self.clock() - started, 1e-4)
            self.time_in_flight += SMOOTHING * (spent - self.time_in_flight)
