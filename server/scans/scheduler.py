"""Cron-scheduled scans that survive restarts, fired once per period across all servers.

Schedules live in the shared state (``cmdb.server.shared_state``). Every server ticks; a due
firing is claimed by a compare-and-set of ``next_run`` (from the value it read to the
next one) in one write transaction, so exactly one server runs it. A schedule whose scan
is still running anywhere (a fresh heartbeat in the shared state) is not started again.

A schedule with a ``site`` is run by the remote pollers of that site (``cmdb poller
run``), never by a server. Credential profiles are kept sealed (``cmdb.server.shared_state.
secrets``) when the installation has a secrets key, and must be when the state is shared
(Neo4j); the API shows only their labels.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from datetime import UTC, datetime
from typing import Any

from croniter import CroniterBadDateError, croniter

from cmdb.collectors.snmp.session import Credential
from cmdb.server.scans.credentials import CredentialError, describe, parse_credentials, to_storage
from cmdb.server.scans.manager import ScanManager, ScanRequest
from cmdb.server.scans.targets import expand_targets, split_targets
from cmdb.server.shared_state.secrets import KEY_ENV, SecretBox, SecretsError, is_sealed

log = logging.getLogger("cmdb.schedules")
SCHEDULES = "schedule"
TICK_ENV = "CMDB_SCHEDULE_TICK"  # seconds between due checks (default 15)
DEFAULT_TICK = 15.0
SITE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ScheduleError(ValueError):
    pass


def tick_interval() -> float:
    try:
        return max(0.2, float(os.environ.get(TICK_ENV, DEFAULT_TICK)))
    except ValueError:
        return DEFAULT_TICK


def validate_schedule(body: Any, max_addresses: int) -> dict[str, Any]:
    """A schedule as stored (credentials with their secrets, sealed later by the
    Scheduler). ``cron`` takes five fields, or six with seconds last (``* * * * * */10``).
    ``site``: run by that site's pollers, which may hold their own credentials (then
    ``credentials`` may be left out)."""
    if not isinstance(body, dict):
        raise ScheduleError("a schedule must be a JSON object")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ScheduleError("'name' is required")
    cron = body.get("cron")
    if not isinstance(cron, str) or not croniter.is_valid(cron):
        raise ScheduleError(f"'cron' must be a cron expression such as '0 * * * *', not {cron!r}")
    try:  # valid syntax that names no date (31 February) would never fire
        croniter(cron, datetime.now(UTC)).get_next(datetime)
    except CroniterBadDateError as exc:
        raise ScheduleError(f"'cron' {cron!r} never fires: it names no date that exists") from exc
    targets = body.get("targets")
    if not isinstance(targets, str | list):
        raise ScheduleError("'targets' is required: addresses, ranges or CIDR blocks")
    expand_targets(targets, max_addresses)  # raises TargetError / TargetsTooLarge
    site = body.get("site")
    if site is not None and (not isinstance(site, str) or not SITE_RE.match(site)):
        raise ScheduleError(f"'site' must be a site name (letters, digits, . _ -), not {site!r}")
    try:
        if site and not body.get("credentials"):
            credentials = []
        else:
            credentials = parse_credentials(body.get("credentials"))
    except CredentialError as exc:
        raise ScheduleError(str(exc)) from exc
    return {
        "name": name.strip(),
        "cron": cron,
        "targets": ",".join(split_targets(targets)),
        "port": int(body.get("port", 161)),
        "timeout": float(body.get("timeout", 1.0)),
        "retries": int(body.get("retries", 1)),
        "enabled": bool(body.get("enabled", True)),
        "site": site,
        "credentials": [to_storage(c) for c in credentials],
    }


def public_view(schedule: dict[str, Any]) -> dict[str, Any]:
    """What the API shows: never a community or password, sealed or not."""
    view = {k: v for k, v in schedule.items() if k not in ("credentials", "credentials_public")}
    if "credentials_public" in schedule:
        view["credentials"] = schedule["credentials_public"]
    elif schedule.get("credentials"):
        view["credentials"] = [describe(c) for c in parse_credentials(schedule["credentials"])]
    else:
        view["credentials"] = []  # a site schedule whose pollers hold the credentials
    view.setdefault("site", None)
    return view


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def next_run(schedule: dict[str, Any], after: datetime | None = None) -> str:
    base = after or datetime.now(UTC)
    return stamp(croniter(schedule["cron"], base).get_next(datetime))


class Scheduler:
    """Schedules in the shared state ``state`` (``cmdb.server.shared_state.aio.
    AsyncSharedState``: every call off the event loop) and the due check every server runs."""

    def __init__(
        self, state: Any, scans: ScanManager, settings, box: SecretBox | None = None
    ) -> None:
        self.state = state
        self.scans = scans
        self.settings = settings
        self.box = box

    # ------------------------------------------------------------ records
    async def all(self) -> list[dict[str, Any]]:
        """Every schedule as stored (credentials sealed: show them with ``public_view``)."""
        return await self.state.schedule_list()

    async def get(self, name: str) -> dict[str, Any] | None:
        return await self.state.schedule_get(name)

    def _seal(self, schedule: dict[str, Any]) -> dict[str, Any]:
        credentials = schedule.get("credentials")
        if is_sealed(credentials) or not credentials:
            return schedule
        public = [describe(c) for c in parse_credentials(credentials)]
        if self.box is None:
            if self.state.shared:
                raise ScheduleError(
                    "credentials are kept in the shared Neo4j store only encrypted: set "
                    f"{KEY_ENV} (the same Fernet key on every server)"
                )
            return schedule  # the private 0600 control.db, as before
        return {**schedule, "credentials": self.box.seal(credentials), "credentials_public": public}

    def credentials(self, schedule: dict[str, Any]) -> list[Credential]:
        """The schedule's credential profiles (opened when sealed; ``SecretsError`` without
        the key that sealed them)."""
        stored = schedule.get("credentials") or []
        if is_sealed(stored):
            if self.box is None:
                raise SecretsError(
                    f"schedule {schedule['name']!r} has sealed credentials: set {KEY_ENV}"
                )
            stored = self.box.open(stored)
        return parse_credentials(stored) if stored else []

    async def put(self, schedule: dict[str, Any]) -> dict[str, Any]:
        """Create or replace a schedule; its run history and next run are recomputed."""
        previous = await self.get(schedule["name"]) or {}
        schedule.setdefault("last_run", previous.get("last_run"))
        schedule.setdefault("last_scan_id", previous.get("last_scan_id"))
        schedule["next_run"] = next_run(schedule)
        schedule = self._seal(schedule)
        await self.state.schedule_save(schedule)
        return schedule

    async def delete(self, name: str) -> bool:
        return await self.state.schedule_delete(name)

    next_run = staticmethod(next_run)

    async def load_config(self, entries: list[dict[str, Any]]) -> None:
        """Schedules from the config file. Every server reads the same file: an unchanged
        schedule keeps its next run, so a restart does not move (or repeat) a firing."""
        for entry in entries:
            try:
                schedule = validate_schedule(entry, self.settings.scan_max_addresses)
                previous = await self.get(schedule["name"])
                if previous and _same_definition(previous, schedule, self):
                    continue
                await self.put(schedule)
            except Exception as exc:
                raise ScheduleError(f"schedule {entry.get('name')!r} in the config: {exc}") from exc

    # ------------------------------------------------------------ firing
    async def run_now(self, schedule: dict[str, Any], slot: str | None = None):
        """Start the schedule's scan here unless one is running on any server (then None)."""
        running = await self.scans.running_for_schedule(schedule["name"])
        if running is not None:
            log.info(
                "schedule %s: scan %s still running, not started again",
                schedule["name"],
                running.id,
            )
            return None
        state = await self.scans.start(
            ScanRequest(
                targets=expand_targets(schedule["targets"], self.settings.scan_max_addresses),
                credentials=self.credentials(schedule),
                port=schedule["port"],
                timeout=schedule["timeout"],
                retries=schedule["retries"],
                concurrency=self.settings.scan_concurrency,
                schedule=schedule["name"],
                spec=schedule["targets"],
                slot=slot,
            )
        )
        await self.state.schedule_update(
            schedule["name"], {"last_run": state.created_at, "last_scan_id": state.id}
        )
        schedule["last_run"] = state.created_at
        schedule["last_scan_id"] = state.id
        return state

    async def tick(self, now: datetime | None = None) -> list[str]:
        """Start every enabled server-side schedule whose next run has come and whose
        firing this server wins; returns the scan ids started here."""
        now = now or datetime.now(UTC)
        started = []
        moment = stamp(now)
        for schedule in await self.all():
            due = schedule.get("next_run") or ""
            if not schedule.get("enabled", True) or schedule.get("site") or due > moment:
                continue
            # compare-and-set: of every server that read this next_run, one moves it on
            claim = await self.state.schedule_claim(schedule["name"], due, next_run(schedule, now))
            if claim is None:
                continue
            try:
                state = await self.run_now(schedule, slot=due)
            except Exception:
                log.exception("schedule %s could not start", schedule["name"])
                continue
            if state is not None:
                started.append(state.id)
        return started

    async def loop(self, interval: float | None = None) -> None:
        interval = interval or tick_interval()
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("scheduler tick failed")
            await asyncio.sleep(interval)


def _same_definition(previous: dict[str, Any], schedule: dict[str, Any], scheduler) -> bool:
    keys = ("cron", "targets", "port", "timeout", "retries", "enabled", "site")
    if any(previous.get(k) != schedule.get(k) for k in keys):
        return False
    try:
        stored = [to_storage(c) for c in scheduler.credentials(previous)]
    except (SecretsError, CredentialError):
        return False
    return stored == schedule["credentials"]
