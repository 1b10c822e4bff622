"""One poller's loop: pull the site's schedules, run the due ones it wins, post reports.

Every ``interval`` seconds the poller asks a server for the schedules of its site. For a
due one it claims the firing (one poller or server per firing), then works through the
targets in chunks: it claims the chunk's devices (a claim with expiry in the shared
state, so a device is scanned by one poller at a time), sweeps them locally
(``cmdb.server.scans.manager.run_sweep``) with the schedule's credential profiles the server
sent sealed to this poller's key (``cmdb.server.poller.keys``; opened in memory, never
written or logged) and then the profiles it holds itself, posts each answering
device's report (``device_report``, ``source: snmp``) to /api/v1/reports, and releases
the claims. While a scan runs, a heartbeat posts its progress every ``HEARTBEAT``
seconds; a cancellation asked on any server stops it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from cmdb.agent.client import send_report
from cmdb.collectors.snmp.session import Credential
from cmdb.collectors.snmp.sweep import SweepResult, SweepTarget
from cmdb.server.poller import keys
from cmdb.server.poller.api import PollerApi, PollerApiError
from cmdb.server.scans.credentials import CredentialError, parse_credentials
from cmdb.server.scans.manager import CHUNK, ScanRequest, device_report, run_sweep
from cmdb.server.scans.targets import expand_targets

log = logging.getLogger("cmdb.poller")
HEARTBEAT = 20.0  # seconds between progress posts (the server's lease is 120 s)
MAX_ADDRESSES = 65536
POST_ATTEMPTS = 5  # a report the servers refuse for now is sent again this many times


@dataclass
class PollerRun:
    """What one schedule firing did (posted to the server as the scan's progress)."""

    scan_id: str
    schedule: str
    total: int = 0
    counts: dict[str, int] = field(
        default_factory=lambda: {
            "probed": 0,
            "answered": 0,
            "devices": 0,
            "timeouts": 0,
            "errors": 0,
            "claimed_elsewhere": 0,
        }
    )
    errors: list[dict[str, str]] = field(default_factory=list)
    status: str = "running"

    def message(self) -> str:
        text = f"{self.status}, {self.counts['devices']} devices (poller)"
        whole = [e["error"] for e in self.errors if e.get("target") == "*"]
        return f"{text}: {whole[0]}" if whole else text

    def fields(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "counts": self.counts,
            "errors": self.errors[:1000],
            "total": self.total,
            "message": self.message(),
        }


class Poller:
    """A poller of ``site`` posting to ``api``. ``credentials``: the profiles it holds;
    ``key``: its private key, with which it receives the schedules' own profiles (None:
    it scans with the held ones only)."""

    def __init__(
        self,
        api: PollerApi,
        site: str,
        credentials: list[Credential],
        concurrency: int = 64,
        cafile: str | None = None,
        key: X25519PrivateKey | None = None,
    ) -> None:
        self.api = api
        self.site = site
        self.credentials = credentials
        self.concurrency = concurrency
        self.cafile = cafile
        self.key = key
        self.registered: str | None = None  # the key's fingerprint once the server has it
        self.instance = f"{site}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    async def register(self) -> str | None:
        """Register the public key on the token (once per process; the servers keep it):
        its fingerprint. ``PollerApiError`` 409 when the token has another key."""
        if self.key is None or self.registered:
            return self.registered
        public = keys.encode_public(self.key.public_key())
        answer = await asyncio.to_thread(self.api.register_key, public, self.site, self.instance)
        self.registered = answer["fingerprint"]
        log.info("poller key %s registered for site %s", self.registered, self.site)
        return self.registered

    def profiles(self, schedule: dict[str, Any], claim: dict[str, Any]) -> list[Credential]:
        """The credential profiles for one firing: those the server sealed to this poller
        (the schedule's own, in its order), then the held ones it does not repeat.
        ``CredentialError`` when there are none, naming why the server sent none."""
        received: list[Credential] = []
        sealed = claim.get("sealed_credentials")
        if sealed is not None:
            if self.key is None:
                raise CredentialError("the server sent sealed credentials; this poller has no key")
            try:
                opened = keys.open_sealed(
                    sealed, self.key, keys.context(self.site, schedule["name"])
                )
            except keys.SealError as exc:
                raise CredentialError(f"received credentials: {exc}") from exc
            received = parse_credentials(opened)
        seen = {c.fingerprint() for c in received}
        chosen = received + [c for c in self.credentials if c.fingerprint() not in seen]
        if not chosen:
            why = claim.get("credentials_error") or "the schedule has none"
            raise CredentialError(
                f"no credential profiles for schedule {schedule['name']!r}: this poller holds "
                f"none (--credentials) and the server sent none ({why})"
            )
        if claim.get("credentials_error"):
            log.warning("schedule %s: %s", schedule["name"], claim["credentials_error"])
        return chosen

    async def run_once(self) -> list[PollerRun]:
        """Run every due schedule of the site whose firing this poller wins."""
        runs = []
        await self.register()
        schedules = await asyncio.to_thread(self.api.schedules, self.site)
        for schedule in schedules:
            if not schedule.get("due"):
                continue
            claim = await asyncio.to_thread(
                self.api.claim_firing, schedule["name"], schedule["next_run"], self.instance
            )
            if claim is None:
                continue
            runs.append(await self.run_schedule(schedule, claim))
        return runs

    async def run_forever(self, interval: float) -> None:
        """A round every ``interval`` seconds; a server that is away skips a round, a token
        or key the servers refuse (401, 403, 409) stops the poller: a person must act."""
        while True:
            try:
                for run in await self.run_once():
                    log.info("schedule %s: %s", run.schedule, run.fields()["message"])
            except PollerApiError as exc:
                if exc.status in (401, 403, 409):
                    raise
                log.warning("poller round skipped: %s", exc)
            await asyncio.sleep(interval)

    async def run_schedule(self, schedule: dict[str, Any], claim: dict[str, Any]) -> PollerRun:
        """Run one won firing (``claim``: the server's answer) and post how it went."""
        scan_id = claim["scan_id"]
        targets = expand_targets(schedule["targets"], MAX_ADDRESSES)
        run = PollerRun(scan_id, schedule["name"], total=len(targets))
        try:
            credentials = self.profiles(schedule, claim)
        except CredentialError as exc:
            run.status = "failed"
            run.errors.append({"target": "*", "error": str(exc)})
            await asyncio.to_thread(self.api.progress, scan_id, self.instance, **run.fields())
            return run
        request = ScanRequest(
            targets=targets,
            credentials=credentials,
            port=int(schedule.get("port", 161)),
            timeout=float(schedule.get("timeout", 1.0)),
            retries=int(schedule.get("retries", 1)),
            concurrency=self.concurrency,
            schedule=schedule["name"],
            spec=schedule["targets"],
        )
        work = asyncio.create_task(self._sweep(run, request))
        beat = asyncio.create_task(self._heartbeat(run, work))
        try:
            await work
            run.status = "done"
        except asyncio.CancelledError:
            run.status = "cancelled"
        except Exception as exc:  # the run fails; the poller goes on
            log.exception("schedule %s failed", schedule["name"])
            run.status = "failed"
            run.errors.append({"target": "*", "error": f"{type(exc).__name__}: {exc}"})
        finally:
            # not cancelled: a cancelled to_thread leaves its POST running, and a "running"
            # sent before the final status could arrive after it. The beat ends when the
            # work has, between posts.
            await asyncio.gather(beat, return_exceptions=True)
        await asyncio.to_thread(self.api.progress, scan_id, self.instance, **run.fields())
        return run

    async def _heartbeat(self, run: PollerRun, work: asyncio.Task) -> None:
        while not work.done():
            # wakes when the work ends, so the final status never waits for a beat
            await asyncio.wait([work], timeout=HEARTBEAT)
            if work.done():
                return
            try:
                stop = await asyncio.to_thread(
                    self.api.progress, run.scan_id, self.instance, **run.fields()
                )
            except PollerApiError as exc:
                log.warning("progress of %s not posted: %s", run.scan_id, exc)
                continue
            if stop:
                log.info("scan %s cancelled on the server", run.scan_id)
                work.cancel()

    async def _sweep(self, run: PollerRun, request: ScanRequest) -> None:
        names = [f"{host}:{request.port}" for host in request.targets]
        ttl_per_round = request.timeout * (request.retries + 1) + request.device_budget
        for start in range(0, len(names), CHUNK):
            chunk = names[start : start + CHUNK]
            ttl = -(-len(chunk) // max(1, request.concurrency)) * ttl_per_round + 120
            granted = await asyncio.to_thread(self.api.claim_devices, chunk, ttl, self.instance)
            skipped = len(chunk) - len(granted)
            run.counts["claimed_elsewhere"] += skipped
            run.counts["probed"] += skipped
            try:
                targets = [SweepTarget(n.rsplit(":", 1)[0], request.port) for n in granted]
                if targets:
                    await run_sweep(request, targets, request.credentials, self._progress(run))
            finally:
                await asyncio.to_thread(self.api.release_devices, granted, self.instance)

    def _progress(self, run: PollerRun):
        async def progress(result: SweepResult, _done: int, _total: int) -> None:
            run.counts["probed"] += 1
            target = f"{result.host}:{result.port}"
            if result.status == "timeout":
                run.counts["timeouts"] += 1
                return
            if result.status == "error" or result.inventory is None:
                run.counts["errors"] += 1
                run.errors.append({"target": target, "error": result.error or result.status})
                return
            run.counts["answered"] += 1
            report = device_report(result, run.scan_id)
            for attempt in range(POST_ATTEMPTS):
                sent = await asyncio.to_thread(
                    send_report, self.api.server, self.api.token, report, 30.0, self.cafile
                )
                if sent.ok or not sent.retry or attempt == POST_ATTEMPTS - 1:
                    break
                # 503 + Retry-After (back-pressure) or no answer: the same report again
                await asyncio.sleep(min(sent.retry_after or 2.0, 30.0))
            if sent.ok:
                run.counts["devices"] += 1
            else:
                run.counts["errors"] += 1
                run.errors.append({"target": target, "error": f"not posted: {sent.message}"})

        return progress
