"""Slow and idle clients cannot hold the server: a connection limit and client timeouts.

aiohttp waits for a request head without a deadline of its own and accepts connections
until file descriptors run out; 1,100 half-sent requests used to make ``/healthz`` time
out. Three rules here, nginx's in spirit (settings in ``cmdb.server.config``):

* ``client_header_timeout`` (10 s): a connection must deliver its first request head
  (through the blank line) within this time; else it gets a JSON 408 and is closed. The
  heads of later requests on a kept-alive connection are bounded by aiohttp's
  ``keepalive_timeout`` (75 s), which this module passes on.
* ``max_connections`` (1024): when that many connections are open, a new one makes room
  by closing the oldest connection that is still sending its first head (the slow-loris
  kind); when none is, the new connection gets a JSON 503 with ``Retry-After`` and is
  closed. A prompt client (``/healthz``, Prometheus) is therefore served during a flood.
* ``client_body_timeout`` (30 s): while a handler waits for a request body, two reads may
  be at most this far apart; else the read fails with 408 and the connection is closed
  (:func:`body_timeout_middleware`).

Closings are counted (``cmdb.server.metrics``) and logged at debug level only: a flood must
not become a flood of log lines.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from cmdb.server.api.errors import ApiError

log = logging.getLogger("cmdb.connections")


def _raw_answer(status: int, reason: str, message: str, extra: str = "") -> bytes:
    body = json.dumps({"error": {"status": status, "message": message}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nServer: cmdb\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    )
    return head.encode() + body


class ConnectionGuard:
    """The protocol factory for the listening socket: wraps each aiohttp connection
    handler (``factory()``) in a :class:`_Guarded` protocol that enforces the rules."""

    def __init__(
        self,
        factory: Callable[[], asyncio.Protocol],
        max_connections: int,
        header_timeout: float,
        on_close: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self.factory = factory
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.on_close = on_close  # reason: header_timeout, evicted, refused
        self.open: dict[_Guarded, None] = {}  # insertion order: oldest first

    def __call__(self) -> asyncio.Protocol:
        return _Guarded(self, self.factory())

    def make_room(self) -> bool:
        """Close the oldest connection still sending its first head; False if none is."""
        for conn in self.open:
            if not conn.head_done:
                conn.drop("evicted", None)
                return True
        return False


class _Guarded(asyncio.Protocol):
    """One connection: counts itself, times its first head, passes everything on."""

    def __init__(self, guard: ConnectionGuard, inner: Any) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.head_done = False
        self._tail = b""
        self._timer: asyncio.TimerHandle | None = None
        self._inner_started = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        guard = self.guard
        if len(guard.open) >= guard.max_connections and not guard.make_room():
            guard.on_close("refused")
            log.debug("connection refused: %d connections open", len(guard.open))
            self.transport.write(
                _raw_answer(
                    503,
                    "Service Unavailable",
                    "the server has too many open connections; retry later",
                    "Retry-After: 1\r\n",
                )
            )
            self.transport.close()
            return
        guard.open[self] = None
        self._timer = asyncio.get_running_loop().call_later(
            guard.header_timeout, self._header_timeout
        )
        self._inner_started = True
        self.inner.connection_made(transport)

    def _header_timeout(self) -> None:
        self._timer = None
        if not self.head_done:
            message = f"the request head did not arrive within {self.guard.header_timeout:g} s"
            self.drop("header_timeout", _raw_answer(408, "Request Timeout", message))

    def drop(self, reason: str, answer: bytes | None) -> None:
        """Close this connection (``answer`` written first, when given)."""
        self.guard.on_close(reason)
        log.debug("connection closed: %s", reason)
        self._forget()
        if self.transport is not None and not self.transport.is_closing():
            if answer:
                self.transport.write(answer)
            self.transport.close()

    def _forget(self) -> None:
        self.guard.open.pop(self, None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def data_received(self, data: bytes) -> None:
        if not self._inner_started:
            return
        if not self.head_done:
            seen = self._tail + data
            if b"\r\n\r\n" in seen or b"\n\n" in seen:
                self.head_done = True
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
            self._tail = seen[-3:]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self._inner_started else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        if self._inner_started:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner_started:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner_started:
            self.inner.resume_writing()


def body_timeout_middleware(timeout: float) -> Any:
    """A middleware: while the handler runs, the request body (when there is one) must
    keep arriving, at most ``timeout`` seconds between reads; else reading it raises a 408
    ApiError and the connection is closed after the answer."""

    @web.middleware
    async def body_timeout(request: web.Request, handler):
        if not request.body_exists or request.content.is_eof():
            return await handler(request)
        watch = asyncio.create_task(_watch_body(request, timeout))
        try:
            return await handler(request)
        finally:
            watch.cancel()

    return body_timeout


async def _watch_body(request: web.Request, timeout: float) -> None:
    stream = request.content
    seen, since = stream.total_bytes, time.monotonic()
    step = min(1.0, timeout / 4)
    while not stream.is_eof():
        await asyncio.sleep(step)
        if stream.total_bytes != seen:
            seen, since = stream.total_bytes, time.monotonic()
        elif time.monotonic() - since >= timeout and not stream.is_eof():
            log.debug("request body stalled for %.0f s on %s", timeout, request.path)
            stream.set_exception(
                ApiError(
                    408,
                    f"the request body stopped arriving: nothing for {timeout:g} s",
                    top={"status": "timeout"},
                    close=True,
                )
            )
            # marked ended too: aiohttp then does not linger reading the rest after the
            # answer (which would raise the same error again, as a logged traceback)
            stream.feed_eof()
            return
