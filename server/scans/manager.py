"""Run scans in the background: sweep, reconcile each answering device, keep counts.

A scan's record lives in the shared state (``cmdb.server.shared_state``: ``control.db``, or
Neo4j shared by every server), so any server shows it and any server can cancel it: the
server that runs a scan beats a heartbeat into its record every ``HEARTBEAT`` seconds and
stops the scan when the record says ``cancel_requested``. A scan whose heartbeat is older
than its lease (its server died or stopped) is marked ``interrupted`` by whichever server
notices first. The credential profile that worked for a device is remembered (its
fingerprint only) and tried first next time.

One scanner per device: before probing a chunk of targets a scan claims them in the shared
state (a claim with expiry, ``claim_targets``); targets another scan or poller holds are
skipped and counted (``counts["claimed_elsewhere"]``).

No silent gaps: each device in the scan result says whether its inventory is
``complete`` and, when it is not, which sections are partial or missing and
which MIB tables failed and why (the report's notes). ``counts["partial"]``
counts such devices and the scan's ``message`` names them, so a scan that
missed tables never reads "done, 0 errors".
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from cmdb.collectors.model import utc_now_iso
from cmdb.collectors.snmp.inventory import DEFAULT_BUDGET
from cmdb.collectors.snmp.session import Credential
from cmdb.collectors.snmp.sweep import Progress, SweepResult, SweepTarget, sweep
from cmdb.graph.store import StoreError, StoreUnavailable
from cmdb.server.ingest import Ingestor, ReportInvalid
from cmdb.server.metrics import record_scan_device
from cmdb.server.reconcile import ReconcileError
from cmdb.server.scans.credentials import describe

log = logging.getLogger("cmdb.scans")

SCANS = "scan"
REMEMBERED = "device_credential"
MAX_ERRORS_KEPT = 1000
MAX_PARTIAL_NAMED = 5  # devices named in a scan's message
CHARSET_ENV = "CMDB_SNMP_CHARSET"  # the legacy charset for non-UTF-8 strings (default cp1252)
HEARTBEAT = 2.0  # seconds between a running scan's heartbeats (and cancellation checks)
LEASE = 60.0  # a scan whose heartbeat is older than this is taken as interrupted
CHUNK = 256  # targets claimed and swept at a time


@dataclass
class ScanRequest:
    targets: list[str]
    credentials: list[Credential]
    port: int = 161
    timeout: float = 1.0
    retries: int = 1
    concurrency: int = 64
    schedule: str | None = None
    spec: str = ""
    device_budget: float = DEFAULT_BUDGET  # seconds per device inventory, retries included
    charset: str | None = None  # None: $CMDB_SNMP_CHARSET, else cp1252 (then latin-1)
    slot: str | None = None  # the schedule firing (its next_run) this scan runs for


@dataclass
class ScanState:
    id: str
    status: str
    total: int
    spec: str
    port: int
    credentials: list[dict[str, Any]]
    schedule: str | None = None
    created_at: str = field(default_factory=utc_now_iso)
    started_at: str | None = None
    finished_at: str | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: {
            "probed": 0,
            "answered": 0,
            "devices": 0,
            "timeouts": 0,
            "errors": 0,
            "partial": 0,
        }
    )
    errors: list[dict[str, str]] = field(default_factory=list)
    devices: list[dict[str, Any]] = field(default_factory=list)
    message: str | None = None
    slot: str | None = None
    owner: str | None = None
    cancel_requested: bool = False
    # a poller's run: the fingerprint of the poller key its credential profiles were sealed to
    credentials_sent_to: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "targets": self.spec,
            "port": self.port,
            "total": self.total,
            "counts": self.counts,
            "errors": self.errors,
            "devices": self.devices,
            "credentials": self.credentials,
            "schedule": self.schedule,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "message": self.message,
            "slot": self.slot,
            "owner": self.owner,
            "cancel_requested": self.cancel_requested,
            "credentials_sent_to": self.credentials_sent_to,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScanState:
        return cls(
            id=data["id"],
            status=data["status"],
            total=int(data.get("total") or 0),
            spec=data.get("targets", ""),
            port=data.get("port", 161),
            credentials=data.get("credentials", []),
            schedule=data.get("schedule"),
            created_at=data.get("created_at"),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            counts=data.get("counts", {}),
            errors=data.get("errors", []),
            devices=data.get("devices", []),
            message=data.get("message"),
            slot=data.get("slot"),
            owner=data.get("owner"),
            cancel_requested=bool(data.get("cancel_requested")),
            credentials_sent_to=data.get("credentials_sent_to"),
        )


async def run_sweep(
    request: ScanRequest,
    targets: list[SweepTarget],
    credentials: list[Credential],
    on_progress: Progress | None = None,
) -> list[SweepResult]:
    """The sweep a scan runs for ``targets``, with the request's timing and concurrency."""
    return await sweep(
        targets,
        credentials,
        concurrency=request.concurrency,
        timeout=request.timeout,
        retries=request.retries,
        on_progress=on_progress,
        port=request.port,
        budget=request.device_budget,
        charset=request.charset or os.environ.get(CHARSET_ENV) or None,
    )


def device_report(result: SweepResult, scan_id: str) -> dict[str, Any]:
    """The report a scan posts for one answering device (JSON, source ``snmp``)."""
    if result.inventory is None:
        raise ValueError(f"{result.host}:{result.port} has no inventory ({result.status})")
    return result.inventory.to_report({"scan_id": scan_id}).to_json()


def completeness(result: SweepResult) -> dict[str, Any]:
    """What a device delivered, for the scan result: ``complete``, and when it is not,
    ``partial_sections`` (present, read in part), ``missing_sections`` (absent), ``tables``
    ({MIB table: {"section", "status": partial|failed, "reason"}}) and the report's ``notes``."""
    inv = result.inventory
    if inv is None:
        return {"complete": False}
    out: dict[str, Any] = {"complete": inv.complete}
    if not inv.complete:
        out["partial_sections"] = list(inv.partial_sections)
        out["missing_sections"] = list(inv.missing_sections)
        out["tables"] = {
            t.table: {"section": section, "status": t.status, "reason": t.reason}
            for section, t in inv.tables
            if t.status != "complete"
        }
        out["notes"] = [
            {"section": n.section, "message": n.message, "partial": bool(n.partial)}
            for n in inv.notes
        ]
    return out


def gap_summary(device: dict[str, Any]) -> str:
    """What one device did not deliver, e.g. ``fdb partial (dot1dTpFdbTable failed)``."""
    tables = device.get("tables") or {}
    parts = []
    for kind, key in (("partial", "partial_sections"), ("not read", "missing_sections")):
        for section in device.get(key) or []:
            mine = [f"{n} {t['status']}" for n, t in tables.items() if t["section"] == section]
            parts.append(f"{section} {kind}" + (f" ({', '.join(mine)})" if mine else ""))
    return ", ".join(parts) or "incomplete"


def outcome_message(state: ScanState) -> str:
    """``done, 3 devices, 1 partial: 127.0.2.12:1161 fdb partial (...)`` - never a bare
    "0 errors" while a device's tables went unread."""
    c = state.counts
    text = f"{state.status}, {c.get('devices', 0)} devices"
    partial = [d for d in state.devices if d.get("complete") is False]
    if partial:
        named = "; ".join(f"{d['target']} {gap_summary(d)}" for d in partial[:MAX_PARTIAL_NAMED])
        more = len(partial) - MAX_PARTIAL_NAMED
        text += f", {len(partial)} partial: {named}" + (f"; and {more} more" if more > 0 else "")
    if c.get("errors"):
        text += f", {c['errors']} errors"
    if c.get("timeouts"):
        text += f", {c['timeouts']} timed out"
    return text


def instance_id() -> str:
    """This server process, as named in scan records and device claims."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class ScanManager:
    """Scans this server runs, and every scan in the shared state ``state``
    (``cmdb.server.shared_state.aio.AsyncSharedState``: every call off the event loop)."""

    def __init__(self, state: Any, ingestor: Ingestor, owner: str | None = None) -> None:
        self.state = state
        self.ingestor = ingestor
        self.owner = owner or instance_id()
        self.tasks: dict[str, asyncio.Task] = {}
        self.live: dict[str, ScanState] = {}
        # one save of a scan's record at a time, each a snapshot taken under the lock: the
        # pool's threads cannot store an older snapshot over a newer one
        self._saving: dict[str, asyncio.Lock] = {}

    # ------------------------------------------------------------ records
    async def _save(self, state: ScanState) -> None:
        lock = self._saving.setdefault(state.id, asyncio.Lock())
        async with lock:
            record = state.to_api()
            record.update(owner=self.owner, heartbeat=time.time(), lease=LEASE)
            await self.state.scan_save(record)

    async def get(self, scan_id: str) -> ScanState | None:
        """A scan from any server (this server's running scans from memory, fresher)."""
        if scan_id in self.live:
            return self.live[scan_id]
        record = await self.state.scan_get(scan_id)
        return ScanState.from_json(record) if record else None

    async def list(self) -> list[ScanState]:
        """Every scan of every server, newest first (at most ``SCAN_LIST_LIMIT``)."""
        states = [ScanState.from_json(r) for r in await self.state.scan_list()]
        states = [self.live.get(s.id, s) for s in states]
        return sorted(states, key=lambda s: s.created_at or "", reverse=True)

    async def recover(self) -> list[str]:
        """Scans whose server stopped beating (stopped, killed, or cut off) did not finish:
        marked ``interrupted`` (a scan still beating on another server is left alone)."""
        return await self.state.scan_mark_stale(
            time.time(),
            {
                "status": "interrupted",
                "message": "the server running this scan stopped",
                "finished_at": utc_now_iso(),
            },
        )

    async def running_for_schedule(self, schedule: str) -> ScanState | None:
        """The schedule's scan still running on this or any other server, if any."""
        for state in self.live.values():
            if state.schedule == schedule and state.status in ("queued", "running"):
                return state
        record = await self.state.scan_active_for_schedule(schedule, time.time())
        return ScanState.from_json(record) if record else None

    async def cancel(self, scan_id: str) -> ScanState | None:
        """Stop a scan running on any server: here at once, elsewhere at its server's next
        heartbeat; a scan whose server is gone is marked interrupted now. None: no scan."""
        task = self.tasks.get(scan_id)
        record = await self.state.scan_cancel(scan_id)
        if task is not None:
            self.live[scan_id].cancel_requested = True
            task.cancel()
            return self.live.get(scan_id) or await self.get(scan_id)
        if record is None:
            return None
        await self.recover()
        return await self.get(scan_id)

    async def heartbeat(self) -> None:
        """Every ``HEARTBEAT`` s: keep this server's running scans alive in the shared
        state, stop those cancelled elsewhere, and mark other servers' dead scans."""
        beats = 0
        while True:
            await asyncio.sleep(HEARTBEAT)
            beats += 1
            try:
                for scan_id, task in list(self.tasks.items()):
                    cancel = await self.state.scan_heartbeat(scan_id, time.time())
                    if cancel and not task.done():
                        log.info("scan %s cancelled from the shared state", scan_id)
                        if scan_id in self.live:
                            self.live[scan_id].cancel_requested = True
                        task.cancel()
                if beats % 15 == 0:
                    await self.recover()
            except (StoreError, StoreUnavailable) as exc:
                log.warning("scan heartbeat skipped: %s", exc)

    # ------------------------------------------------------------ running
    async def start(self, request: ScanRequest) -> ScanState:
        """Queue a scan on this server; its record is in the shared state (any server shows
        it) before this returns."""
        state = ScanState(
            id=str(uuid.uuid4()),
            status="queued",
            total=len(request.targets),
            spec=request.spec,
            port=request.port,
            credentials=[describe(c) for c in request.credentials],
            schedule=request.schedule,
            slot=request.slot,
            owner=self.owner,
        )
        self.live[state.id] = state
        try:
            await self._save(state)
        except BaseException:
            self.live.pop(state.id, None)
            self._saving.pop(state.id, None)
            raise
        task = asyncio.create_task(self._run(state, request), name=f"scan-{state.id}")
        self.tasks[state.id] = task
        task.add_done_callback(lambda _t: self.tasks.pop(state.id, None))
        return state

    async def _remembered(self, request: ScanRequest) -> dict[str, str]:
        """``host:port`` -> the fingerprint of the profile that last worked there, for this
        scan's targets: one read of the namespace, not one per target."""
        wanted = {f"{host}:{request.port}" for host in request.targets}
        return {k: v for k, v in await self.state.items(REMEMBERED) if k in wanted}

    def _ordered(
        self, request: ScanRequest, remembered: dict[str, str]
    ) -> dict[tuple[str, ...], list[SweepTarget]]:
        """Group targets by credential order: a remembered profile goes first for its device."""
        by_fingerprint = {c.fingerprint(): c for c in request.credentials}
        default = tuple(c.fingerprint() for c in request.credentials)
        groups: dict[tuple[str, ...], list[SweepTarget]] = {}
        for host in request.targets:
            known = remembered.get(f"{host}:{request.port}")
            order = default
            if known and known in by_fingerprint:
                order = (known, *(f for f in default if f != known))
            groups.setdefault(order, []).append(SweepTarget(host, request.port))
        return groups

    async def _run(self, state: ScanState, request: ScanRequest) -> None:
        state.status = "running"
        state.started_at = utc_now_iso()
        by_fingerprint = {c.fingerprint(): c for c in request.credentials}
        try:
            await self._save(state)
            remembered = await self._remembered(request)
            for order, targets in self._ordered(request, remembered).items():
                credentials = [by_fingerprint[f] for f in order]

                async def progress(
                    result: SweepResult, _done: int, _total: int, credentials=credentials
                ) -> None:
                    await self._record(state, result, credentials, remembered)

                for start in range(0, len(targets), CHUNK):
                    chunk = await self._claim(state, request, targets[start : start + CHUNK])
                    try:
                        if chunk:
                            await run_sweep(request, chunk, credentials, progress)
                    finally:
                        await self.state.release_targets(
                            [f"{t.host}:{t.port}" for t in chunk], self.owner
                        )
            state.status = "done"
            state.message = outcome_message(state)
        except asyncio.CancelledError:
            state.status = "cancelled"
            raise
        except Exception as exc:  # the scan fails; the server does not
            log.exception("scan %s failed", state.id)
            state.status = "failed"
            state.message = f"{type(exc).__name__}: {exc}"
        finally:
            state.finished_at = utc_now_iso()
            try:
                await self._save(state)
            except (StoreError, StoreUnavailable) as exc:
                # the heartbeat stops with the task: other servers mark it interrupted
                log.warning("scan %s: final state not saved: %s", state.id, exc)
            self.live.pop(state.id, None)
            self._saving.pop(state.id, None)

    async def _claim(
        self, state: ScanState, request: ScanRequest, targets: list[SweepTarget]
    ) -> list[SweepTarget]:
        """The targets of this chunk no other scan or poller is scanning, claimed for as long
        as the chunk may take; the others are counted and named as skipped."""
        names = {f"{t.host}:{t.port}": t for t in targets}
        rounds = -(-len(targets) // max(1, request.concurrency))
        ttl = rounds * (request.timeout * (request.retries + 1) + request.device_budget) + LEASE
        granted = set(await self.state.claim_targets(list(names), self.owner, ttl, time.time()))
        for name in names.keys() - granted:
            state.counts["claimed_elsewhere"] = state.counts.get("claimed_elsewhere", 0) + 1
            state.counts["probed"] += 1
            if len(state.errors) < MAX_ERRORS_KEPT:
                state.errors.append({"target": name, "error": "being scanned by another scanner"})
        return [t for name, t in names.items() if name in granted]

    async def _record(
        self,
        state: ScanState,
        result: SweepResult,
        credentials: list[Credential],
        remembered: dict[str, str],
    ) -> None:
        counts = state.counts
        counts["probed"] += 1
        target = f"{result.host}:{result.port}"
        if result.status == "timeout":
            counts["timeouts"] += 1
        elif result.status == "error":
            self._error(state, target, result.error or "error")
        else:
            counts["answered"] += 1
            if result.credential_index is not None:
                chosen = credentials[result.credential_index].fingerprint()
                if remembered.get(target) != chosen:  # the steady state writes nothing
                    await self.state.put(REMEMBERED, target, chosen)
                    remembered[target] = chosen
            if result.inventory is not None:
                await self._reconcile(state, target, result)
        if counts["probed"] % 25 == 0 or counts["probed"] == state.total:
            await self._save(state)

    async def _reconcile(self, state: ScanState, target: str, result: SweepResult) -> None:
        report = device_report(result, state.id)
        try:
            outcome = await self.ingestor.ingest(report, actor=f"scan:{state.id}")
        except (ReportInvalid, ReconcileError, StoreError, StoreUnavailable) as exc:
            self._error(state, target, f"not reconciled: {exc}")
            return
        state.counts["devices"] += 1
        device = {
            "target": target,
            "ci_id": outcome.get("ci_id"),
            "name": result.inventory.system.name if result.inventory.system else None,
            "status": outcome.get("status"),
            **completeness(result),
        }
        if not device["complete"]:
            state.counts["partial"] = state.counts.get("partial", 0) + 1
        state.devices.append(device)
        record_scan_device(device)  # /metrics: devices scanned, partial sections

    def _error(self, state: ScanState, target: str, message: str) -> None:
        state.counts["errors"] += 1
        if len(state.errors) < MAX_ERRORS_KEPT:
            state.errors.append({"target": target, "error": message})

    async def shutdown(self) -> None:
        for task in list(self.tasks.values()):
            task.cancel()
        for task in list(self.tasks.values()):
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
