"""Failed-authentication throttling per source address (fail2ban's rule, in process).

More than ``limit`` failed authentications (an unknown or revoked token) from one
address within ``window`` seconds and that address is answered ``429 Too Many
Requests`` with ``Retry-After`` (seconds until its oldest failure in the window expires)
for every request that needs a token, without the token being looked at: guessing
stops paying. Right tokens from other addresses are unaffected. One warning is logged
when an address becomes throttled (address, failures, window), not one per request.

429 rather than 401: the agent already treats 429 as "retry later" and keeps its spool,
and a client can tell "slow down" from "wrong token". Memory is bounded: at most
``max_addresses`` addresses are tracked (the least recently failing are forgotten).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

from aiohttp import web

log = logging.getLogger("cmdb.auth")


class AuthThrottle:
    """Failure timestamps per address; ``clock`` is injectable for tests (monotonic s)."""

    def __init__(
        self,
        limit: int = 20,
        window: float = 60.0,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_addresses = max_addresses
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._throttled: set[str] = set()
        self.throttled_total = 0  # episodes: an address went from allowed to throttled
        # called with the address at each episode's start (cmdb.server.metrics counts them)
        self.on_throttle: Callable[[str], None] = lambda address: None

    def retry_after(self, address: str) -> int | None:
        """Seconds ``address`` must wait before its next authentication, or None."""
        failures = self._failures.get(address)
        if failures is None:
            return None
        now = self.clock()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if len(failures) < self.limit:
            self._throttled.discard(address)
            if not failures:
                del self._failures[address]
            return None
        return max(1, math.ceil(failures[0] + self.window - now))

    def failed(self, address: str) -> None:
        """Record one failed authentication from ``address`` (logs when it tips over)."""
        failures = self._failures.pop(address, None) or deque(maxlen=self.limit)
        failures.append(self.clock())
        self._failures[address] = failures  # most recent last
        while len(self._failures) > self.max_addresses:
            forgotten, _ = self._failures.popitem(last=False)
            self._throttled.discard(forgotten)
        wait = self.retry_after(address)
        if wait is not None and address not in self._throttled:
            self._throttled.add(address)
            self.throttled_total += 1
            self.on_throttle(address)
            log.warning(
                "authentication throttled for %s: %d failed attempts within %.0f s; "
                "its requests are answered 429 for %d s",
                address,
                self.limit,
                self.window,
                wait,
                extra={"remote": address, "failures": self.limit},
            )


def client_address(request: web.BaseRequest, trusted_proxies: Iterable[str] = ()) -> str:
    """The client's address: the peer, or the last ``X-Forwarded-For`` hop a trusted
    proxy added (only when the peer is one of ``trusted_proxies``)."""
    peer = request.remote or "unknown"
    if peer in trusted_proxies:
        forwarded = request.headers.get("X-Forwarded-For", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if hops:
            try:
                return str(ipaddress.ip_address(hops[-1]))
            except ValueError:
                return peer
    return peer
