"""Which sections of a report may close what they no longer hold: the one rule every
source (agent, SNMP scan, poller) goes through.

A section closes facts only when the collector read it completely and the read is
plausible:

* absent: closes nothing (not read, or unchanged in a delta);
* present but named by a note (``notes: [{"section": ..., "message": ...}]``) that is not
  marked ``"partial": false`` (a remark on a complete read): read in part, closes nothing;
* present but shrunk, to empty or by more than half of the items the last applied report
  held: closes nothing *yet*. The shrink is remembered (the report id and its count); the
  next report that carries the section decides: still shrunk, it is confirmed and closes,
  with a history entry naming both reports; back to size, it was a bad read and is
  forgotten.

The state kept per source instance (``SourceState.sections``) is, per list section,
``{"count": n}`` or ``{"count": n, "pending": {"report_id": id, "count": m}}``.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# a section that keeps fewer than this share of its items looks like a bad read
SHRINK_KEPT_SHARE = 0.5


@dataclass(slots=True)
class Completeness:
    """The verdict on one report's sections.

    ``closable``: sections that may close what they no longer hold. ``held_back``: section
    -> why it closes nothing (for the identification answer). ``state``: what to remember
    per section for the next report. ``confirmed``: section -> the shrink this report
    confirmed ({"count", "previous", "first_report_id"}), for history."""

    closable: frozenset[str]
    held_back: dict[str, str] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    confirmed: dict[str, dict[str, Any]] = field(default_factory=dict)


def section_sizes(sections: Mapping[str, Any]) -> dict[str, int]:
    """Item counts of a report's list sections (``packages``, ``interfaces``, ``fdb`` ...)."""
    return {name: len(value) for name, value in sections.items() if isinstance(value, list)}


def digest(value: Any, key: bytes = b"") -> str:
    """A digest (BLAKE2b, 128 bits) of a value's pickle: equal digests, equal values (the
    pickle of a value decodes to that value). It is not canonical: the same content with
    its keys in another order digests differently, which costs one comparison with the
    store, never a wrong answer (agents write their sections in a fixed order). Pickling an
    800-package section takes a fifth of the time canonical JSON does, and every report
    pays it. A value pickle refuses is digested as canonical JSON. ``key`` (up to 64
    bytes) keys the hash: the ingest keys each agent section with its schema's
    fingerprint, so a digest also says under which schema the section was checked."""
    try:
        data = pickle.dumps(value, protocol=5)
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
        data = b"json:" + text.encode()
    return hashlib.blake2b(data, digest_size=16, key=key).hexdigest()


def section_digests(
    sections: Mapping[str, Any], keys: Mapping[str, bytes] | None = None
) -> dict[str, str]:
    """The digest of each section (``digest``), keyed per section name by ``keys``."""
    keys = keys or {}
    return {name: digest(value, keys.get(name, b"")) for name, value in sections.items()}


def view_digests(
    view: Mapping[str, Any],
    sections: Mapping[str, Any],
    digests: Mapping[str, str],
    keys: Mapping[str, bytes] | None = None,
) -> dict[str, str]:
    """The digests of a change view of ``sections`` (``digests``: the sections' own): a
    section the view passes on as it is (the same object) keeps its digest, so only the
    sections the view rewrote are serialised again (an 800-package section once, not
    twice, per report)."""
    keys = keys or {}
    return {
        name: digests[name]
        if name in digests and value is sections.get(name)
        else digest(value, keys.get(name, b""))
        for name, value in view.items()
    }


def noted_sections(notes: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """Section -> the collector's note about it (a partial read, a timeout, a permission)."""
    noted: dict[str, str] = {}
    for note in notes or ():
        if note.get("partial") is False:
            continue  # a remark on a section read completely
        section = note.get("section")
        if isinstance(section, str) and section:
            message = str(note.get("message") or "read only in part")
            noted[section] = f"{noted[section]}; {message}" if section in noted else message
    return noted


def judge(
    present: Iterable[str],
    sizes: Mapping[str, int],
    noted: Mapping[str, str],
    previous: Mapping[str, Any],
    report_id: str,
) -> Completeness:
    """Decide, for the sections ``present`` in a report that a transform would let close,
    which may close now (see the module docstring). ``previous`` is the state the last
    applied report of the same source instance left (empty for a first report)."""
    closable: set[str] = set()
    held: dict[str, str] = {}
    confirmed: dict[str, dict[str, Any]] = {}
    state: dict[str, Any] = {k: v for k, v in previous.items() if isinstance(v, dict)}
    for section in sorted(set(present)):
        if section in noted:
            held[section] = f"read only in part ({noted[section]}): closes nothing"
            continue
        size = sizes.get(section)
        before = previous.get(section) if isinstance(previous.get(section), dict) else None
        if size is None or before is None or not isinstance(before.get("count"), int):
            closable.add(section)
            if size is not None:
                state[section] = {"count": size}
            continue
        count = before["count"]
        shrunk = count > 0 and (size == 0 or size < count * SHRINK_KEPT_SHARE)
        pending = before.get("pending")
        if not shrunk:
            closable.add(section)
            state[section] = {"count": size}
        elif pending is None:
            held[section] = (
                f"shrank from {count} to {size} items: closes nothing until the next "
                "report confirms it"
            )
            state[section] = {"count": count, "pending": {"report_id": report_id, "count": size}}
        else:
            closable.add(section)
            state[section] = {"count": size}
            confirmed[section] = {
                "count": size,
                "previous": count,
                "first_report_id": pending.get("report_id"),
            }
    return Completeness(frozenset(closable), held, state, confirmed)
