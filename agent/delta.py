"""Send only the sections that changed since the last report THIS server applied.

A delta names its base (``base_report_id``: the last report this server answered
"applied" or "unchanged" to) so the server can tell whether it holds what the delta
builds on; when it does not (a new server, a restored database, a lost answer) it
answers 409 ``full_report_required`` and the agent sends the whole report at once.

State is kept per server URL (one file each in the state directory): an agent pointed
at a new server starts with a full report there. The sections that carry the host's
identity (system, interfaces, gateways: the primary MAC is chosen with the default
route) always travel, so a host known by name + MAC is identified by every delta. An
absent section means "not read" to the server: it changes nothing and closes nothing,
which is exactly right for one that did not change. A full report still goes at least
once a day, and whenever the host's clock went back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cmdb.agent.files import disk_problem, private_dir, write_private

log = logging.getLogger("cmdb.agent.delta")

ALWAYS_SENT = frozenset({"system", "interfaces", "gateways"})
FULL_EVERY_SECONDS = 24 * 3600


def section_digests(report: dict[str, Any]) -> dict[str, str]:
    """Section name -> sha256 of its canonical JSON."""
    return {
        name: hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        for name, body in report.get("sections", {}).items()
    }


def normalise_server(server: str) -> str:
    """The key of a server URL: scheme and host lower-cased, no trailing slash."""
    server = server.strip().rstrip("/")
    scheme, sep, rest = server.partition("://")
    if not sep:
        return server.lower()
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}"


def state_path(state_dir: str | Path, server: str) -> Path:
    """The delta state file of ``server`` in ``state_dir``."""
    key = hashlib.sha256(normalise_server(server).encode()).hexdigest()[:16]
    return Path(state_dir) / f"delta-{key}.json"


class DeltaState:
    """What one server holds of this host: the id and section digests of the last report
    it applied, and when the last full report went."""

    def __init__(self, path: str | Path, server: str | None = None) -> None:
        self.path = Path(path)
        self.server = normalise_server(server) if server else None
        data: Any
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            data = {}
        except Exception as exc:  # noqa: BLE001 - a broken state file means "send it whole"
            log.warning("ignoring the unreadable delta state %s: %s", self.path, exc)
            data = {}
        if not isinstance(data, dict) or (self.server and data.get("server") != self.server):
            data = {}
        digests = data.get("digests")
        base = data.get("base_report_id")
        last_full = data.get("last_full")
        valid = (
            isinstance(digests, dict)
            and all(isinstance(v, str) for v in digests.values())
            and isinstance(base, str)
            and isinstance(last_full, int | float)
        )
        self.digests: dict[str, str] = digests if valid else {}
        self.base_report_id: str | None = base if valid else None
        self.last_full: float = float(last_full) if valid else 0.0

    @classmethod
    def for_server(cls, state_dir: str | Path, server: str) -> DeltaState:
        private_dir(state_dir)
        return cls(state_path(state_dir, server), server)

    def full_due(self, now: float) -> bool:
        return (
            not self.digests
            or self.base_report_id is None
            or now < self.last_full  # the clock went back: the daily rule cannot be trusted
            or now - self.last_full >= FULL_EVERY_SECONDS
        )

    def delta(
        self, report: dict[str, Any], now: float | None = None, full: bool = False
    ) -> dict[str, Any]:
        """The report to send: whole (``mode: full``) when asked, due or without a base,
        else only changed sections plus the identity sections (``mode: delta``)."""
        now = time.time() if now is None else now
        if full or self.full_due(now):
            return _full(report)
        digests = section_digests(report)
        unchanged = sorted(
            name
            for name, digest in digests.items()
            if name not in ALWAYS_SENT and self.digests.get(name) == digest
        )
        if not unchanged:
            return _full(report)
        sections = {k: v for k, v in report["sections"].items() if k not in unchanged}
        outgoing = {k: v for k, v in report.items() if k != "base_report_id"}
        outgoing.update(
            sections=sections,
            unchanged_sections=unchanged,
            mode="delta",
            base_report_id=self.base_report_id,
        )
        return outgoing

    def acknowledged(
        self,
        report: dict[str, Any],
        sent: dict[str, Any],
        now: float | None = None,
        left_out: Iterable[str] = (),
    ) -> None:
        """The server applied ``sent`` (built from ``report``): it is the new base. Sections
        ``left_out`` of what was sent (too large) are not known to the server."""
        now = time.time() if now is None else now
        digests = section_digests(report)
        for name in left_out:
            digests.pop(name, None)
        self.digests = digests
        self.base_report_id = report["report_id"]
        if sent.get("mode") != "delta":
            self.last_full = now
        self._save()

    def forget(self) -> None:
        """The server's view is unknown: the next report goes whole."""
        self.digests = {}
        self.base_report_id = None
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot remove %s: %s", self.path, disk_problem(exc))

    def _save(self) -> None:
        data = {
            "server": self.server,
            "base_report_id": self.base_report_id,
            "digests": self.digests,
            "last_full": self.last_full,
        }
        try:
            write_private(self.path, json.dumps(data).encode())
        except OSError as exc:
            # kept in memory; a later run that reads the old base gets 409 and sends whole
            log.warning("cannot save the delta state %s: %s", self.path, disk_problem(exc))


def _full(report: dict[str, Any]) -> dict[str, Any]:
    outgoing = {
        k: v for k, v in report.items() if k not in ("base_report_id", "unchanged_sections")
    }
    outgoing["mode"] = "full"
    return outgoing
