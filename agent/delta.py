"""Send only the sections that changed since the last report the server acknowledged.

An absent section means "not read" to the server: it changes nothing and closes
nothing, which is exactly right for a section that did not change. The system
section always goes (it carries the host's identity), and a full report goes at
least once a day, so a server restored from backup catches up by itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

ALWAYS_SENT = frozenset({"system"})
FULL_EVERY_SECONDS = 24 * 3600


def section_digests(report: dict[str, Any]) -> dict[str, str]:
    return {
        name: hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        for name, body in report.get("sections", {}).items()
    }


class DeltaState:
    """Digests of the last acknowledged report, kept beside the spool."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            data = {}
        self.digests: dict[str, str] = data.get("digests", {})
        self.last_full: float = data.get("last_full", 0.0)

    def delta(self, report: dict[str, Any], now: float | None = None) -> dict[str, Any]:
        """The report to send: whole when a full one is due, else only changed sections."""
        now = time.time() if now is None else now
        if not self.digests or now - self.last_full >= FULL_EVERY_SECONDS:
            return report
        digests = section_digests(report)
        unchanged = sorted(
            name
            for name, digest in digests.items()
            if name not in ALWAYS_SENT and self.digests.get(name) == digest
        )
        if not unchanged:
            return report
        sections = {k: v for k, v in report["sections"].items() if k not in unchanged}
        return {**report, "sections": sections, "unchanged_sections": unchanged}

    def acknowledged(self, report: dict[str, Any], sent: dict[str, Any], now: float | None = None):
        """Remember what the server now holds (the full report's sections)."""
        now = time.time() if now is None else now
        self.digests = section_digests(report)
        if "unchanged_sections" not in sent:
            self.last_full = now
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"digests": self.digests, "last_full": self.last_full}))
        os.replace(tmp, self.path)

    def forget(self) -> None:
        """After a report was rejected the server's view is unknown: next one goes whole."""
        self.digests = {}
        self.path.unlink(missing_ok=True)
