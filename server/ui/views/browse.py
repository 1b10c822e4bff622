"""Search, CI lists with export, and the CI page (attributes, relationships, history,
as-of)."""

from __future__ import annotations

import json
from collections import OrderedDict

from aiohttp import web

from cmdb.graph.schema import CI_STATUSES, CLASSES
from cmdb.graph.search import search
from cmdb.graph.store import CI, Store
from cmdb.server.catalogue.common import parse_time
from cmdb.server.catalogue.status import ci_as_of
from cmdb.server.ui.listing import (
    EXPORT_LIMIT,
    SCAN_LIMIT,
    ListPage,
    ListQuery,
    cell,
    export_rows,
    list_page,
    to_csv,
)
from cmdb.server.ui.render import page
from cmdb.server.ui.views import values
from cmdb.server.ui.views.common import int_query, paging, store_of

routes = web.RouteTableDef()

# relationship groups with more members than this start collapsed, with a filter box
COLLAPSE_OVER = 12
HISTORY_PAGE = 50


@routes.get("/ui/search")
async def search_page(request: web.Request) -> web.Response:
    text = request.query.get("q", "").strip()
    result = await search(store_of(request), text) if text else None
    if result is not None and result.total == 1 and request.query.get("go") == "1":
        only = next(iter(result.groups.values()))[0]
        raise web.HTTPSeeOther(f"/ui/cis/{only.ci.id}")
    return page(request, "search.html", {"q": text, "result": result})


def _list_query(request: web.Request) -> ListQuery:
    cls = request.query.get("class") or None
    if cls is not None and cls not in CLASSES:
        raise web.HTTPBadRequest(text=f"unknown class {cls!r}")
    status = request.query.get("status") or None
    if status is not None and status not in CI_STATUSES:
        raise web.HTTPBadRequest(text=f"unknown status {status!r}")
    return ListQuery(
        cls=cls,
        status=status,
        q=request.query.get("q") or None,
        source=request.query.get("source") or None,
        attr=request.query.get("attr") or None,
        value=request.query.get("value") or None,
        sort=request.query.get("sort") or "name",
        desc=request.query.get("dir") == "desc",
    )


# the columns cmdb.server.ui.listing.cell reads off a CI's summary, not its attributes
SUMMARY_COLUMNS = frozenset({"name", "class", "status", "last_seen", "first_seen", "sources"})


class _Summaries:
    """The store as ``list_page`` scans it: ``list_cis`` answers summaries that carry only
    the attributes the list filters and sorts on (``Store.list_summaries``), so a scan of
    ``SCAN_LIMIT`` CIs parses no attribute documents."""

    def __init__(self, store: Store, attributes: tuple[str, ...]) -> None:
        self.store = store
        self.attributes = attributes

    async def list_cis(
        self, cls: str | None, q: str | None, limit: int, offset: int, status: str | None = None
    ) -> tuple[list[CI], int]:
        return await self.store.list_summaries(cls, q, limit, offset, status, self.attributes)


async def _page(store: Store, query: ListQuery, offset: int, size: int) -> ListPage:
    """``list_page``, with a scanning list (a filter or a sort the store has no index
    for: ``ListQuery.fast`` is false) scanned over light summaries and only the page shown
    read whole: the same CIs in the same order, without parsing thousands of documents."""
    if query.fast:
        return await list_page(store, query, offset, size)
    read = tuple(
        c for c in dict.fromkeys((query.sort, query.attr)) if c and c not in SUMMARY_COLUMNS
    )
    result = await list_page(_Summaries(store, read), query, offset, size)  # type: ignore[arg-type]
    whole = await store.get_cis([ci.id for ci in result.items])
    # a CI deleted since the scan leaves the page
    result.items = [whole[ci.id] for ci in result.items if ci.id in whole]
    return result


@routes.get("/ui/cis")
async def list_cis(request: web.Request) -> web.Response:
    query = _list_query(request)
    number, size, offset = paging(request)
    result = await _page(store_of(request), query, offset, size)
    pages = max(1, -(-result.total // size))
    return page(
        request,
        "list.html",
        {
            "query": query,
            "result": result,
            "rows": [(ci, [cell(ci, c) for c in result.columns]) for ci in result.items],
            "classes": sorted(CLASSES),
            "statuses": CI_STATUSES,
            "attributes": CLASSES[query.cls].attributes if query.cls else (),
            "number": number,
            "size": size,
            "pages": pages,
            "scan_limit": SCAN_LIMIT,
        },
    )


@routes.get("/ui/cis.csv")
@routes.get("/ui/cis.json")
async def export_cis(request: web.Request) -> web.Response:
    """What the list shows (every page of it, up to ``EXPORT_LIMIT`` rows)."""
    query = _list_query(request)
    result = await list_page(store_of(request), query, 0, EXPORT_LIMIT)
    rows = export_rows(result)
    stem = f"cis-{query.cls or 'all'}"
    if request.path.endswith(".json"):
        body = json.dumps({"items": rows, "total": result.total}, default=str, indent=1)
        kind, name = "application/json", f"{stem}.json"
    else:
        body, kind, name = to_csv(rows), "text/csv", f"{stem}.csv"
    return web.Response(
        text=body,
        content_type=kind,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _group_relationships(rels) -> list[dict]:
    """Relationships by (type, direction, class at the other end), biggest groups last so
    the few interesting ones (RUNS_ON, DEPENDS_ON) come first."""
    groups: OrderedDict[tuple[str, str, str], list] = OrderedDict()
    for view in rels:
        groups.setdefault((view.rel.type, view.direction, view.other.cls), []).append(view)
    out = [
        {
            "type": rel_type,
            "direction": direction,
            "cls": cls,
            "items": items,
            "collapsed": len(items) > COLLAPSE_OVER,
        }
        for (rel_type, direction, cls), items in groups.items()
    ]
    out.sort(key=lambda g: (len(g["items"]) > COLLAPSE_OVER, g["type"], g["direction"]))
    return out


@routes.get("/ui/cis/{id}")
async def ci_page(request: web.Request) -> web.Response:
    store = store_of(request)
    ci = await store.get_ci(request.match_info["id"])
    if ci is None:
        raise web.HTTPNotFound(text=f"No configuration item with id {request.match_info['id']}.")
    as_of_raw = request.query.get("as_of", "").strip()
    as_of = None
    if as_of_raw:
        # the form's datetime-local has no zone: parse_time reads it as UTC, like every
        # time the UI shows
        at = parse_time(as_of_raw, "as of")
        as_of = await ci_as_of(store, ci, at)
        if as_of is None:
            as_of = {"missing": True, "as_of": at}
    include_ended = request.query.get("ended") == "1"
    rels = await store.relationships(ci.id, include_ended=include_ended)
    offset = int_query(request, "hoffset", 0, 0, 10_000_000)
    history, history_total = await store.history(ci.id, HISTORY_PAGE, offset)
    others = await store.get_cis(sorted({e.other_id for e in history if e.other_id}))
    return page(
        request,
        "ci.html",
        {
            "ci": ci,
            "attributes": sorted(ci.attributes.items()),
            "groups": _group_relationships(rels),
            "rel_count": len(rels),
            "include_ended": include_ended,
            "history": history,
            "history_total": history_total,
            "history_offset": offset,
            "history_page": HISTORY_PAGE,
            "others": others,
            "as_of": as_of,
            "as_of_raw": as_of_raw,
            # presentation of values: bytes in GiB, lists of objects item by item
            "display": values.display,
            "change": values.change,
        },
    )
