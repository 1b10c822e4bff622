"""Discovered changes in words: what a change reviewer reads instead of history rows.

History entries (``cmdb.graph.store.HistoryEntry``) name CIs by id and carry a relationship's
other end as ``{"id", "name"}``; here every entry becomes a sentence with names (an
endpoint with its host: ``db1 tcp/5432 (postgres)``), old and new values, and package
changes (``INSTALLED`` opened and closed) are folded into one count per host: upgraded
(one version closed, another opened), installed, removed. The package list itself is
there only when asked for; a host's full upgrade is 780 rows nobody reads in a CAB.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from cmdb.graph.store import HistoryEntry, Store
from cmdb.server.catalogue.refs import labels_by_id, text

PACKAGE_REL = "INSTALLED"
EXAMPLES = 5  # package names shown per kind when the list is not asked for
LONG_VALUE = 80  # a value longer than this (as text) is "changed", its value in the JSON

# how a relationship reads from its source's side, opened / closed
_REL_WORDS = {
    "LISTENS_ON": ("new listening port", "closed listening port"),
    "CONNECTS_TO": ("new connection to", "connection ended to"),
    "CONNECTED_TO": ("new link to", "link lost to"),
    "HAS_INTERFACE": ("new interface", "interface removed"),
    "HAS_IP": ("new address", "address removed"),
    "RUNS_ON": ("now runs on", "no longer runs on"),
    "HOSTED_ON": ("now hosted on", "no longer hosted on"),
    "DEPENDS_ON": ("now depends on", "no longer depends on"),
}


def _short(value: Any) -> str:
    shown = value if isinstance(value, str) else json.dumps(value, default=str)
    return shown if len(shown) <= LONG_VALUE else f"({len(shown)} characters)"


async def entry_labels(store: Store, entries: list[HistoryEntry]) -> dict[str, dict]:
    """Labels of every CI the entries name (both ends)."""
    ids = {e.ci_id for e in entries} | {e.other_id for e in entries if e.other_id}
    return await labels_by_id(store, sorted(i for i in ids if i))


def describe(entry: HistoryEntry, names: dict[str, dict]) -> dict[str, Any]:
    """One non-package entry as ``{at, source, ci, change, field, old, new, other, text}``
    with labels, never ids alone."""
    ci = names.get(entry.ci_id) or {"id": entry.ci_id}
    other = names.get(entry.other_id) if entry.other_id else None
    item: dict[str, Any] = {
        "at": entry.at,
        "source": entry.source,
        "report_id": entry.report_id,
        "ci": ci,
        "kind": entry.kind,
        "field": entry.field,
    }
    if entry.kind == "relationship":
        opened = entry.new is not None
        words = _REL_WORDS.get(
            entry.field, (f"{entry.field} opened to", f"{entry.field} closed to")
        )
        item.update(
            change="opened" if opened else "closed",
            other=other or {"id": entry.other_id},
            old=None if opened else text(other),
            new=text(other) if opened else None,
            text=f"{text(ci)}: {words[0 if opened else 1]} {text(other)}",
        )
    else:
        item.update(
            change="changed",
            old=entry.old,
            new=entry.new,
            text=f"{text(ci)}: {entry.field} {_short(entry.old)} -> {_short(entry.new)}",
        )
    return item


def is_package(entry: HistoryEntry) -> bool:
    return entry.kind == "relationship" and entry.field == PACKAGE_REL


def fold_packages(
    entries: list[HistoryEntry], names: dict[str, dict], full: bool
) -> dict[str, dict[str, Any]]:
    """Package changes per host: ``{host id: {host, total, upgraded, installed, removed,
    examples | list}}``. Counted by package name (and arch): a name whose one version closed
    and another opened is one upgrade."""
    per_host: dict[str, dict[tuple, dict[str, set]]] = defaultdict(
        lambda: defaultdict(lambda: {"opened": set(), "closed": set()})
    )
    for e in entries:
        if not is_package(e) or not e.other_id:
            continue
        sw = names.get(e.other_id) or {"name": e.other_id}
        key = (sw.get("name"), sw.get("arch"))
        per_host[e.ci_id][key]["opened" if e.new is not None else "closed"].add(
            sw.get("version") or "?"
        )
    out: dict[str, dict[str, Any]] = {}
    for host_id, packages in per_host.items():
        rows = []
        for (name, arch), seen in sorted(packages.items(), key=lambda kv: str(kv[0])):
            opened, closed = seen["opened"] - seen["closed"], seen["closed"] - seen["opened"]
            if opened and closed:
                change, old, new = "upgraded", ", ".join(sorted(closed)), ", ".join(sorted(opened))
            elif opened:
                change, old, new = "installed", None, ", ".join(sorted(opened))
            elif closed:
                change, old, new = "removed", ", ".join(sorted(closed)), None
            else:
                continue  # closed and opened again within the range: no change
            rows.append({"name": name, "arch": arch, "change": change, "old": old, "new": new})
        counts = {
            k: sum(1 for r in rows if r["change"] == k)
            for k in ("upgraded", "installed", "removed")
        }
        summary: dict[str, Any] = {
            "host": names.get(host_id) or {"id": host_id},
            "total": len(rows),
            **counts,
        }
        if full:
            summary["list"] = rows
        else:
            summary["examples"] = {
                k: [r["name"] for r in rows if r["change"] == k][:EXAMPLES]
                for k in counts
                if counts[k]
            }
        summary["text"] = package_text(summary)
        out[host_id] = summary
    return out


def package_text(summary: dict[str, Any]) -> str:
    parts = [f"{summary[k]} {k}" for k in ("upgraded", "installed", "removed") if summary.get(k)]
    return f"{text(summary['host'])}: {summary['total']} package changes ({', '.join(parts)})"
