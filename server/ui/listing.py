"""CI lists: filters, sorting, paging and the columns shown (and exported) per class.

The common list (class, status, name contains, sorted by name) is one
``store.list_cis`` page, the same read ``GET /api/v1/cis`` makes. Filters the store
protocol has no index for (source, an attribute's value) and sorting by another column
read the matching CIs (at most ``SCAN_LIMIT``), then filter and sort them here; the page
says so when that limit cut the list.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from cmdb.graph.store import CI, Store

SCAN_LIMIT = 5_000  # measured: reading 20,000 CIs costs ~1 s on SQLite; 5,000 fits 300 ms
EXPORT_LIMIT = 10_000
BASE_COLUMNS = ("name", "status", "last_seen", "sources")
CLASS_COLUMNS: dict[str, tuple[str, ...]] = {
    "Host": ("fqdn", "os_name", "os_version", "manufacturer", "product", "serial"),
    "NetworkDevice": ("vendor", "model", "management_ip", "software_version", "serial"),
    "Interface": ("parent", "mac", "speed_mbps", "oper_status"),
    "IPAddress": ("address", "prefixlen", "net_scope"),
    "Network": ("cidr", "net_scope"),
    "Software": ("version", "arch", "ecosystem", "vendor"),
    "Endpoint": ("protocol", "port", "process"),
    "Service": ("kind", "owner", "criticality", "service_status"),
    "RedundancyGroup": ("service", "min"),
    "Asset": ("state", "owner", "location", "warranty_end", "serial"),
    "Supplier": ("contact", "contract"),
    "Change": ("title", "state", "window_start", "window_end"),
}


@dataclass
class ListQuery:
    cls: str | None = None
    status: str | None = None
    q: str | None = None
    source: str | None = None
    attr: str | None = None
    value: str | None = None
    sort: str = "name"
    desc: bool = False

    @property
    def fast(self) -> bool:
        return not self.source and not self.attr and self.sort == "name" and not self.desc


@dataclass
class ListPage:
    items: list[CI]
    total: int
    columns: tuple[str, ...]
    capped: bool = False


def columns_of(cls: str | None) -> tuple[str, ...]:
    return BASE_COLUMNS + (CLASS_COLUMNS.get(cls, ()) if cls else ("class",))


def cell(ci: CI, column: str) -> Any:
    """The value a list shows (and exports) for one column."""
    if column == "name":
        return ci.name
    if column == "class":
        return ci.cls
    if column == "status":
        return ci.status
    if column == "last_seen":
        return ci.last_seen
    if column == "first_seen":
        return ci.first_seen
    if column == "sources":
        return ", ".join(ci.sources)
    return ci.attributes.get(column)


def _sort_key(column: str):
    def key(ci: CI):
        value = cell(ci, column)
        if value is None:
            return (1, "", ci.id)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return (0, f"{value:020.6f}", ci.id)
        return (0, str(value).lower(), ci.id)

    return key


def _matches(ci: CI, query: ListQuery) -> bool:
    if query.source and query.source not in ci.sources:
        return False
    if query.attr:
        have = cell(ci, query.attr)
        if query.value in (None, ""):
            return have not in (None, "", [])
        return query.value.lower() in str(have).lower()
    return True


async def list_page(store: Store, query: ListQuery, offset: int, size: int) -> ListPage:
    """One page of the list and the number of CIs matching."""
    columns = columns_of(query.cls)
    if query.fast:
        items, total = await store.list_cis(query.cls, query.q, size, offset, query.status)
        return ListPage(items, total, columns)
    scanned: list[CI] = []
    total_in_store = 0
    while len(scanned) < SCAN_LIMIT:
        batch, total_in_store = await store.list_cis(
            query.cls, query.q, min(5000, SCAN_LIMIT - len(scanned)), len(scanned), query.status
        )
        scanned.extend(batch)
        if not batch or len(scanned) >= total_in_store:
            break
    matching = [ci for ci in scanned if _matches(ci, query)]
    matching.sort(key=_sort_key(query.sort), reverse=query.desc)
    return ListPage(
        matching[offset : offset + size], len(matching), columns, total_in_store > len(scanned)
    )


def export_rows(page: ListPage) -> list[dict[str, Any]]:
    return [
        {"id": ci.id, "class": ci.cls, **{c: cell(ci, c) for c in page.columns if c != "class"}}
        for ci in page.items
    ]


def _csv_value(value: Any) -> Any:
    """A cell as text; one a spreadsheet would run as a formula (=, +, -, @) is quoted
    with a leading apostrophe (CSV injection)."""
    if isinstance(value, dict | list):
        value = json.dumps(value, default=str)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if not rows:
        return ""
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(v) for k, v in row.items()})
    return out.getvalue()
