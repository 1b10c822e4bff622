"""Cron-scheduled scans that survive restarts; a schedule's scan never runs twice at once."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

from croniter import croniter

from server.control import ControlDB
from server.scans.credentials import CredentialError, describe, parse_credentials, to_storage
from server.scans.manager import ScanManager, ScanRequest
from server.scans.targets import expand_targets, split_targets

log = logging.getLogger("cmdb.schedules")
SCHEDULES = "schedule"


class ScheduleError(ValueError):
    pass


def validate_schedule(body: Any, max_addresses: int) -> dict[str, Any]:
    """A schedule as stored (credentials with their secrets: the control DB only)."""
    if not isinstance(body, dict):
        raise ScheduleError("a schedule must be a JSON object")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ScheduleError("'name' is required")
    cron = body.get("cron")
    if not isinstance(cron, str) or not croniter.is_valid(cron):
        raise ScheduleError(f"'cron' must be a cron expression such as '0 * * * *', not {cron!r}")
    targets = body.get("targets")
    if not isinstance(targets, str | list):
        raise ScheduleError("'targets' is required: addresses, ranges or CIDR blocks")
    expand_targets(targets, max_addresses)  # raises TargetError / TargetsTooLarge
    try:
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
        "credentials": [to_storage(c) for c in credentials],
    }


def public_view(schedule: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in schedule.items() if k != "credentials"}
    view["credentials"] = [describe(c) for c in parse_credentials(schedule["credentials"])]
    return view


class Scheduler:
    def __init__(self, control: ControlDB, scans: ScanManager, settings) -> None:
        self.control = control
        self.scans = scans
        self.settings = settings

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(v) for _, v in self.control.items(SCHEDULES)]

    def get(self, name: str) -> dict[str, Any] | None:
        raw = self.control.get(SCHEDULES, name)
        return json.loads(raw) if raw else None

    def put(self, schedule: dict[str, Any]) -> dict[str, Any]:
        previous = self.get(schedule["name"]) or {}
        schedule.setdefault("last_run", previous.get("last_run"))
        schedule.setdefault("last_scan_id", previous.get("last_scan_id"))
        schedule["next_run"] = self.next_run(schedule)
        self.control.put(SCHEDULES, schedule["name"], json.dumps(schedule))
        return schedule

    def delete(self, name: str) -> bool:
        return self.control.delete(SCHEDULES, name)

    @staticmethod
    def next_run(schedule: dict[str, Any], after: datetime | None = None) -> str:
        base = after or datetime.now(UTC)
        moment = croniter(schedule["cron"], base).get_next(datetime)
        return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

    def load_config(self, entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            try:
                self.put(validate_schedule(entry, self.settings.scan_max_addresses))
            except Exception as exc:
                raise ScheduleError(f"schedule {entry.get('name')!r} in the config: {exc}") from exc

    def run_now(self, schedule: dict[str, Any]):
        running = self.scans.running_for_schedule(schedule["name"])
        if running is not None:
            log.info(
                "schedule %s: scan %s still running, not started again",
                schedule["name"],
                running.id,
            )
            return None
        state = self.scans.start(
            ScanRequest(
                targets=expand_targets(schedule["targets"], self.settings.scan_max_addresses),
                credentials=parse_credentials(schedule["credentials"]),
                port=schedule["port"],
                timeout=schedule["timeout"],
                retries=schedule["retries"],
                concurrency=self.settings.scan_concurrency,
                schedule=schedule["name"],
                spec=schedule["targets"],
            )
        )
        schedule["last_run"] = state.created_at
        schedule["last_scan_id"] = state.id
        return state

    async def tick(self, now: datetime | None = None) -> list[str]:
        """Start every enabled schedule whose next run has come; returns the scan ids."""
        now = now or datetime.now(UTC)
        started = []
        stamp = now.isoformat(timespec="seconds").replace("+00:00", "Z")
        for schedule in self.all():
            if not schedule.get("enabled", True) or schedule.get("next_run", "") > stamp:
                continue
            state = self.run_now(schedule)
            if state is not None:
                started.append(state.id)
            schedule["next_run"] = self.next_run(schedule, now)
            self.control.put(SCHEDULES, schedule["name"], json.dumps(schedule))
        return started

    async def loop(self, interval: float = 15.0) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("scheduler tick failed")
            await asyncio.sleep(interval)
