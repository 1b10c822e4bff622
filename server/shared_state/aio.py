"""The shared state for asyncio code: every typed method as a coroutine run in a worker thread.

Both backends are synchronous: ``ControlDB`` (SQLite, whose writes wait for fsync and for
other processes' locks) and ``Neo4jSharedState`` (the synchronous driver, a network round
trip per call, seconds when Neo4j is slow or away). Code on the event loop (scan manager,
scheduler, poller and scan handlers) never calls them directly: it awaits the same method
on ``AsyncSharedState``, which runs the call in a small pool of threads of its own.

Why one bounded pool of its own (not ``asyncio.to_thread``): while Neo4j is unreachable each
call holds its thread for the driver's timeout; a pool of ``WORKERS`` threads keeps those
waits from taking every thread of the loop's default executor (which token checks use), and
the queue in front of it keeps the order in which one coroutine awaits its calls.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
WORKERS = 8  # concurrent shared-state calls per server; the rest queue (in order)


class AsyncSharedState:
    """``state`` (a ``ControlDB`` or a ``Neo4jSharedState``) seen from the event loop.

    Every method has the backend method's name, arguments and result, and raises what it
    raises (``StoreUnavailable`` / ``StoreError`` on Neo4j). ``sync`` is the backend itself,
    for code that already runs in a thread (the CLI, startup).
    """

    def __init__(self, state: Any, workers: int = WORKERS) -> None:
        self.sync = state
        self.shared = bool(getattr(state, "shared", False))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cmdb-state")

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in one of the pool's threads (the one wrapper every
        shared-state call from async code goes through)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Stop the pool once the calls already queued are done (not the backend: its
        opener closes it)."""
        self._pool.shutdown(wait=True)

    # ------------------------------------------------------------ tokens
    async def authenticate(self, token: str) -> Any:
        return await self.run(self.sync.authenticate, token)

    async def create_token(self, role: str, name: str | None = None) -> tuple[int, str]:
        return await self.run(self.sync.create_token, role, name)

    async def list_tokens(self) -> list[dict[str, Any]]:
        return await self.run(self.sync.list_tokens)

    async def revoke_token(self, token_id: int) -> bool:
        return await self.run(self.sync.revoke_token, token_id)

    # ------------------------------------------------------------ key/value
    async def put(self, namespace: str, key: str, value: str) -> None:
        await self.run(self.sync.put, namespace, key, value)

    async def put_if_absent(self, namespace: str, key: str, value: str) -> str:
        return await self.run(self.sync.put_if_absent, namespace, key, value)

    async def get(self, namespace: str, key: str) -> str | None:
        return await self.run(self.sync.get, namespace, key)

    async def items(self, namespace: str) -> list[tuple[str, str]]:
        return await self.run(self.sync.items, namespace)

    async def delete(self, namespace: str, key: str) -> bool:
        return await self.run(self.sync.delete, namespace, key)

    # ------------------------------------------------------------ schedules
    async def schedule_save(self, schedule: dict[str, Any]) -> None:
        await self.run(self.sync.schedule_save, schedule)

    async def schedule_get(self, name: str) -> dict[str, Any] | None:
        return await self.run(self.sync.schedule_get, name)

    async def schedule_list(self) -> list[dict[str, Any]]:
        return await self.run(self.sync.schedule_list)

    async def schedule_delete(self, name: str) -> bool:
        return await self.run(self.sync.schedule_delete, name)

    async def schedule_claim(self, name: str, expected: str, new: str) -> dict[str, Any] | None:
        return await self.run(self.sync.schedule_claim, name, expected, new)

    async def schedule_update(self, name: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        return await self.run(self.sync.schedule_update, name, fields)

    # ------------------------------------------------------------ scans
    async def scan_save(self, record: dict[str, Any]) -> None:
        await self.run(self.sync.scan_save, record)

    async def scan_progress(
        self, scan_id: str, owner: str, fields: dict[str, Any]
    ) -> dict[str, Any] | None:
        return await self.run(self.sync.scan_progress, scan_id, owner, fields)

    async def scan_get(self, scan_id: str) -> dict[str, Any] | None:
        return await self.run(self.sync.scan_get, scan_id)

    async def scan_list(self) -> list[dict[str, Any]]:
        return await self.run(self.sync.scan_list)

    async def scan_cancel(self, scan_id: str) -> dict[str, Any] | None:
        return await self.run(self.sync.scan_cancel, scan_id)

    async def scan_heartbeat(self, scan_id: str, now: float) -> bool:
        return await self.run(self.sync.scan_heartbeat, scan_id, now)

    async def scan_mark_stale(self, now: float, fields: dict[str, Any]) -> list[str]:
        return await self.run(self.sync.scan_mark_stale, now, fields)

    async def scan_active_for_schedule(self, schedule: str, now: float) -> dict[str, Any] | None:
        return await self.run(self.sync.scan_active_for_schedule, schedule, now)

    # ------------------------------------------------------------ device claims
    async def claim_targets(
        self, targets: list[str], owner: str, ttl: float, now: float
    ) -> list[str]:
        return await self.run(self.sync.claim_targets, targets, owner, ttl, now)

    async def release_targets(self, targets: list[str], owner: str) -> None:
        await self.run(self.sync.release_targets, targets, owner)
