"""Mark discovered CIs stale when no source has seen them for a while, retired later.

Nothing is deleted: a stale or retired CI that a source reports again comes back
to life (reconciliation sets it live and records it, and its report opens its
relationships again).

A retired CI no longer holds its interfaces and addresses: retirement end-dates its
open HAS_INTERFACE and HAS_IP relationships (and the HAS_IP of a retired host's
interfaces) in the same transaction, closed by the sweep (``closed_source`` =
``staleness``, ``closed_by`` = the sweep's id), so a reused address belongs to its new
holder only (``cmdb.server.reconcile.holders``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from aiohttp import web

from cmdb.collectors.model import utc_now_iso
from cmdb.graph import times
from cmdb.graph.staleness import holding_rels, unseen_since
from cmdb.graph.store import ChangeSet, HistoryEntry, Store, StoreError, StoreUnavailable
from cmdb.server.api.keys import SETTINGS_KEY, STORE_KEY

log = logging.getLogger("cmdb.staleness")


_iso = times.to_store


async def sweep(
    store: Store, stale_after: timedelta, retire_after: timedelta, now: datetime | None = None
) -> dict[str, int]:
    now = now or datetime.now(UTC)
    counts = {"stale": 0, "retired": 0}
    for new_status, statuses, age in (
        ("stale", ("live",), stale_after),
        ("retired", ("stale",), retire_after),
    ):
        while True:
            # one transaction per batch, locked by name: two servers' sweeps take turns, and
            # the second finds nothing left in the old state (no status written twice)
            async with store.transaction(["staleness|sweep"]) as tx:
                done = await _sweep_batch(tx, now, new_status, statuses, age, counts)
            if done:
                break
    return counts


async def _sweep_batch(
    store: Store,
    now: datetime,
    new_status: str,
    statuses: tuple[str, ...],
    age: timedelta,
    counts: dict[str, int],
) -> bool:
    """One batch of CIs moved to ``new_status``; True when none was left."""
    cis = await unseen_since(store, _iso(now - age), statuses)
    if not cis:
        return True
    at = _iso(now)
    changes = ChangeSet(report_id=f"sweep-{at}", source="staleness", at=at)
    changes.record_report = False
    for ci in cis:
        changes.set_status.append((ci.id, new_status))
        changes.history.append(
            HistoryEntry(
                ci.id,
                "ci",
                "status",
                ci.status,
                new_status,
                at,
                "staleness",
                report_id=changes.report_id,
            )
        )
    if new_status == "retired":
        closing = await holding_rels(store, cis)
        changes.close_rels.extend(closing)
        changes.close_rel_types.update(closing)
    await store.apply(changes)
    counts[new_status] += len(cis)
    return False


def setup_staleness(app: web.Application, interval: float = 300.0) -> None:
    async def loop(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS_KEY]

        async def run() -> None:
            while True:
                try:
                    counts = await sweep(
                        app[STORE_KEY],
                        timedelta(hours=settings.stale_after_hours),
                        timedelta(days=settings.retire_after_days),
                    )
                    if any(counts.values()):
                        log.info("staleness sweep at %s: %s", utc_now_iso(), counts)
                except (StoreUnavailable, StoreError) as exc:
                    log.warning("staleness sweep skipped: %s", exc)
                await asyncio.sleep(interval)

        task = asyncio.create_task(run())
        yield
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    app.cleanup_ctx.append(loop)
