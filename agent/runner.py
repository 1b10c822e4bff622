"""The agent's loop: collect, spool, send in order; retry with back-off and jitter."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.client import SendResult, send_report
from agent.delta import DeltaState
from agent.spool import Spool

log = logging.getLogger("cmdb.agent")


@dataclass
class FlushOutcome:
    sent: int
    pending: int
    last: SendResult | None

    @property
    def ok(self) -> bool:
        return self.pending == 0


def flush(server: str, token: str, spool: Spool, timeout: float = 30.0) -> FlushOutcome:
    """Send spooled reports oldest first; stop at the first one the server cannot take now."""
    sent, last = 0, None
    state = DeltaState(spool.dir / "last-acknowledged.json")
    for path in spool.pending():
        report = spool.load(path)
        if report is None:
            continue
        outgoing = state.delta(report)
        last = send_report(server, token, outgoing, timeout=timeout)
        if last.ok and last.body and last.body.get("status") == "duplicate":
            state.forget()  # a re-send: which version the server holds is not known here
        elif last.ok:
            state.acknowledged(report, outgoing)
        if last.ok:
            spool.remove(path)
            sent += 1
            log.info("report %s acknowledged: %s", report.get("report_id"), last.message)
        elif last.retry or last.status in (401, 403):
            # the server is away or refuses this token: keep everything, in order
            log.warning("server did not take report %s: %s", report.get("report_id"), last.message)
            break
        else:
            # the server will never accept this report as it is: keep it aside for a human
            log.error(
                "report %s rejected (%s): %s", report.get("report_id"), last.status, last.message
            )
            path.rename(path.with_suffix(".rejected"))
    return FlushOutcome(sent, len(spool), last)


def _collect() -> dict[str, Any]:
    from collectors.host import collect_report

    return collect_report().to_json()


def run_once(
    server: str,
    token: str,
    spool_dir: str | Path,
    collect: Callable[[], dict[str, Any]] = _collect,
) -> FlushOutcome:
    spool = Spool(spool_dir)
    report = collect()
    spool.put(report)  # durable before the first byte goes out
    return flush(server, token, spool)


def run_forever(
    server: str,
    token: str,
    spool_dir: str | Path,
    interval: float = 3600.0,
    jitter: float = 0.1,
    max_backoff: float = 900.0,
    collect: Callable[[], dict[str, Any]] = _collect,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Collect every ``interval`` seconds (± jitter); between collections, retry sends with
    exponential back-off so that a fleet coming back after an outage does not stampede."""
    spool = Spool(spool_dir)
    # spread agents that start together (after a reboot of many VMs) over the interval
    next_collect = time.monotonic() + random.uniform(0, interval * jitter)
    backoff = 5.0
    while not stop():
        now = time.monotonic()
        if now >= next_collect:
            try:
                spool.put(collect())
            except Exception:
                log.exception("collection failed")
            next_collect = now + interval * random.uniform(1 - jitter, 1 + jitter)
        outcome = flush(server, token, spool)
        if outcome.ok:
            backoff = 5.0
            wait = next_collect - time.monotonic()
        else:
            hint = outcome.last.retry_after if outcome.last else None
            wait = min(max(hint or 0, backoff * random.uniform(0.5, 1.5)), max_backoff)
            wait = min(wait, next_collect - time.monotonic())
            backoff = min(backoff * 2, max_backoff)
            log.info("%d report(s) pending; next try in %.0f s", outcome.pending, wait)
        deadline = time.monotonic() + max(wait, 0.5)
        while not stop() and time.monotonic() < deadline:
            time.sleep(min(1.0, deadline - time.monotonic()))
