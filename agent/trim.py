"""Resending a report the server found too large (413): the biggest sections go first.

A section left out travels as a note, so the server closes nothing of it and the rest
of the host's facts still arrive. The identity sections are never left out.
"""

from __future__ import annotations

import json
from typing import Any

from cmdb.agent.delta import ALWAYS_SENT

# the sections that grow without bound on a busy host, largest first
FIRST_TO_GO = ("connections", "processes", "packages")
LEFT_OUT_MESSAGE = "left out: the report was over the server's limit"


def next_to_leave_out(outgoing: dict[str, Any]) -> str | None:
    """The section to drop next from ``outgoing``: the unbounded ones in their order, then
    the remaining non-identity sections by encoded size; None when nothing is left."""
    sections = outgoing.get("sections") or {}
    for name in FIRST_TO_GO:
        if name in sections:
            return name
    rest = [name for name in sections if name not in ALWAYS_SENT]
    if not rest:
        return None
    return max(rest, key=lambda name: len(json.dumps(sections[name], separators=(",", ":"))))


def leave_out(outgoing: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """``outgoing`` without ``names``, each marked by a note (a new dict; the input is kept)."""
    if not names:
        return outgoing
    sections = {k: v for k, v in outgoing["sections"].items() if k not in names}
    notes = [n for n in outgoing.get("notes") or [] if n.get("section") not in names]
    notes += [{"section": name, "message": LEFT_OUT_MESSAGE, "partial": True} for name in names]
    unchanged = [s for s in outgoing.get("unchanged_sections") or [] if s not in names]
    trimmed = {**outgoing, "sections": sections, "notes": notes}
    if "unchanged_sections" in outgoing:
        trimmed["unchanged_sections"] = unchanged
    return trimmed
