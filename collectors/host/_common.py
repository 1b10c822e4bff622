"""Helpers shared by the host fact modules: the failure and partial-read contract.

Each fact module's ``collect()`` returns its records. When a section cannot be
read at all it raises :class:`SectionUnavailable`; when it read everything but
some attribute could not be known, it may return :class:`WithNotes` so the
report keeps the records and also says what was missing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cmdb.collectors.model import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class SectionUnavailable(Exception):
    """The section's source could not be read (missing file, permission, no tool)."""


@record
class WithNotes:
    """Records that are complete, plus remarks about attributes left unknown."""

    value: Any
    notes: tuple[str, ...] = ()


# what sections of one collection share (see ``collection``): None outside one
_shared: dict[Any, Any] | None = None


class collection:  # noqa: N801 - used as a context manager, like contextlib's
    """``with collection():`` around one report's sections: within it, :func:`shared`
    computes each value once (the socket tables and their owners, read once for
    ``listening`` and ``connections``); on leaving, everything shared is dropped, so
    the next collection reads the host afresh."""

    def __enter__(self) -> None:
        global _shared
        self._outer = _shared
        if _shared is None:
            _shared = {}

    def __exit__(self, *exc_info: object) -> None:
        global _shared
        _shared = self._outer


def shared(key: Any, compute: Callable[[], Any]) -> Any:
    """``compute()``, once per collection for the same ``key``; every call outside one.

    An exception is not kept: the next section to ask computes again."""
    if _shared is None:
        return compute()
    if key not in _shared:
        _shared[key] = compute()
    return _shared[key]


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
