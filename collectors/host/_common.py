"""Helpers shared by the host fact modules: the failure and partial-read contract.

Each fact module's ``collect()`` returns its records. When a section cannot be
read at all it raises :class:`SectionUnavailable`; when it read everything but
some attribute could not be known, it may return :class:`WithNotes` so the
report keeps the records and also says what was missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


class SectionUnavailable(Exception):
    """The section's source could not be read (missing file, permission, no tool)."""


@dataclass(frozen=True, slots=True)
class WithNotes:
    """Records that are complete, plus remarks about attributes left unknown."""

    value: Any
    notes: tuple[str, ...] = ()


def read_text(path: str) -> str | None:
    """The stripped content of a small text file, or None if absent, unreadable or empty."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read().strip()
    except OSError:
        return None
    return text or None


def read_int(path: str) -> int | None:
    text = read_text(path)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def iso_utc(timestamp: float) -> str:
    """Seconds since the epoch to ISO 8601 UTC with a ``Z`` suffix."""
    return datetime.fromtimestamp(int(timestamp), UTC).isoformat().replace("+00:00", "Z")
