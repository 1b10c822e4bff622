"""Times as instants, in one place: every time the server parses, stores or compares goes
through here.

The store's form is ISO 8601 in UTC with milliseconds and ``Z`` (``2026-11-30T08:00:00.000Z``):
fixed width, so text order is time order and both stores compare times as strings safely.
Input may be any ISO 8601 spelling Python reads (``Z`` or ``z`` or an offset, with or without
fractions; a date alone is midnight); a time without an offset is taken as UTC. Two
spellings of one instant (``…T00:00:00Z``, ``…T02:00:00.000+02:00``) give the same text.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = [
    "from_store",
    "normalise",
    "now",
    "now_text",
    "parse_instant",
    "to_seconds",
    "to_store",
]


def parse_instant(value: str) -> datetime:
    """An aware UTC datetime for ISO 8601 text.

    Raises ValueError for text that is no time, or names an instant outside the years 1–9999
    in UTC (``0001-01-01T00:00:00+14:00`` lies before year 1 once in UTC)."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a time")
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{value!r} is not an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"{value!r} is outside the range of UTC times") from exc


def to_store(moment: datetime) -> str:
    """The store's text for an aware datetime (naive ones are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_seconds(moment: datetime) -> str:
    """An attribute value's time to the second (``2026-11-30T08:00:00Z``), the precision the
    agent reports install dates and the SNMP transform reports boot times in: values compare
    as text across reports, so they keep one precision."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def normalise(value: str) -> str:
    """ISO 8601 text in the store's form; ValueError as ``parse_instant``."""
    return to_store(parse_instant(value))


def from_store(value: str) -> datetime:
    """The aware datetime of a time the store holds (or any ISO 8601 text)."""
    return parse_instant(value)


def now() -> datetime:
    """The server's clock, aware, in UTC."""
    return datetime.now(UTC)


def now_text() -> str:
    """The server's clock in the store's form."""
    return to_store(now())
