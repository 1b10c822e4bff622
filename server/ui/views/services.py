"""The service catalogue as a tree (business -> technical -> CIs and k-of-n groups), a
service's page, and the editors' forms: create a service, edit its owner, SLA,
criticality, kind, status and description, and edit what it depends on (CIs, services,
redundancy groups and their members, a group's k). Reads and writes go through
``cmdb.server.catalogue.services`` like ``/api/v1/services`` (``create_service`` and
``update_service``: the same validation, cycle check and history), with the user's name
as the actor."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from aiohttp import web

from cmdb.graph.schema import CLASSES
from cmdb.server.catalogue import CatalogueError, invalid, services
from cmdb.server.ui.render import page
from cmdb.server.ui.views.common import form, paging, require_role, see_other, store_of

routes = web.RouteTableDef()
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# what the form's fields are called in the catalogue body (status is service_status inside)
DETAIL_FIELDS = ("name", "kind", "owner", "criticality", "status", "description")
SLA_FIELDS = ("availability", "response_time", "resolution_time")


# ---------------------------------------------------------------- references as typed
def text_ref(text: str, default_class: str, where: str) -> str | dict[str, Any]:
    """A CI as an engineer types it, as a catalogue reference (``cmdb.server.catalogue.
    refs``): a CI id; ``[Class] name``; ``[Class] 10.20.0.11`` (an address it holds);
    ``Endpoint host:port``. Without a class, ``default_class``. Anything after ``#`` is a
    comment (the form writes the name of a CI given by id there)."""
    value = text.split("#", 1)[0].strip()
    if not value:
        raise invalid(f"{where}: name a CI (an id, or a class and a name)")
    if _UUID.match(value):
        return value
    first, _, rest = value.partition(" ")
    if first in CLASSES and rest.strip():
        cls, rest = first, rest.strip()
    else:
        cls, rest = default_class, value
    if cls == "Endpoint":
        host, sep, port = rest.rpartition(":")
        if not sep or not port.isdigit():
            raise invalid(f"{where}: an endpoint is written 'Endpoint HOST:PORT', not {value!r}")
        return {"class": "Endpoint", "host": host.strip(), "port": int(port)}
    try:
        return {"class": cls, "address": str(ipaddress.ip_address(rest))}
    except ValueError:
        return {"class": cls, "name": rest}


def _lines(text: str) -> list[str]:
    return [line for line in text.replace(",", "\n").splitlines() if line.split("#")[0].strip()]


# ---------------------------------------------------------------- forms -> bodies
def details_body(data: dict[str, Any]) -> dict[str, Any]:
    """The catalogue body of the details form. An emptied optional field clears it
    (None); an empty name, kind or status is left out (on creation the catalogue then
    asks for the name); SLA fields left empty are left out of the SLA."""
    body: dict[str, Any] = {}
    for key in DETAIL_FIELDS:
        value = str(data.get(key, "")).strip()
        if key in ("name", "kind", "status"):
            if value:
                body[key] = value
        else:
            body[key] = value or None
    sla: dict[str, Any] = {}
    for key in SLA_FIELDS:
        value = str(data.get(f"sla_{key}", "")).strip()
        if not value:
            continue
        if key == "availability":
            try:
                sla[key] = float(value)
            except ValueError as exc:
                raise invalid(
                    f"SLA availability must be a percentage such as 99.9, not {value!r}"
                ) from exc
        else:
            sla[key] = value
    body["sla"] = sla or None
    return body


def current_deps(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A service record's ``depends_on`` as a catalogue body (ids throughout), the base
    every dependency edit changes and sends back whole."""
    out: list[dict[str, Any]] = []
    for dep in record.get("depends_on", []):
        if "group" in dep:
            g = dep["group"]
            out.append(
                {
                    "group": {
                        "name": g["name"],
                        "min": g["min"],
                        "members": [m["id"] for m in g["members"]],
                    }
                }
            )
        elif "service" in dep:
            out.append({"service": dep["service"]})
        else:
            out.append({"ci": dep["ci"]})
    return out


def _group(deps: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for dep in deps:
        if "group" in dep and dep["group"]["name"] == name:
            return dep["group"]
    raise invalid(f"this service has no redundancy group {name!r}")


def _k(value: Any, where: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError as exc:
        raise invalid(f"{where} must be a whole number, not {value!r}") from exc


def edited_deps(deps: list[dict[str, Any]], data: dict[str, Any]) -> list[dict[str, Any]]:
    """``deps`` with the change one dependency form asks for (``action``)."""
    action = str(data.get("action", ""))
    target = str(data.get("target", ""))
    group_name = str(data.get("group", "")).strip()
    if action == "add-ci":
        return [*deps, {"ci": text_ref(target, "Host", "the CI to depend on")}]
    if action == "add-service":
        return [*deps, {"service": text_ref(target, "Service", "the service to depend on")}]
    if action == "add-group":
        members = [
            text_ref(line, "Host", f"member {i + 1}")
            for i, line in enumerate(_lines(str(data.get("members", ""))))
        ]
        if not members:
            raise invalid("a redundancy group needs members: one CI a line")
        k = _k(data.get("min", "1"), "the number of members it needs")
        return [*deps, {"group": {"name": group_name or None, "min": k, "members": members}}]
    if action == "remove":
        kind, _, key = str(data.get("key", "")).partition(":")
        kept = [
            d
            for d in deps
            if not (
                (kind == "group" and "group" in d and d["group"]["name"] == key)
                or (kind in ("ci", "service") and d.get(kind) == key)
            )
        ]
        if len(kept) == len(deps):
            raise invalid("that dependency is not there any more; reload the page")
        return kept
    if action == "group-min":
        _group(deps, group_name)["min"] = _k(data.get("min", ""), "the number of members it needs")
        return deps
    if action == "member-add":
        group = _group(deps, group_name)
        group["members"] = [*group["members"], text_ref(target, "Host", "the new member")]
        return deps
    if action == "member-remove":
        group = _group(deps, group_name)
        member = str(data.get("member", ""))
        if member not in group["members"]:
            raise invalid("that member is not in the group any more; reload the page")
        group["members"] = [m for m in group["members"] if m != member]
        return deps
    raise invalid(f"unknown action {action!r}")


# ---------------------------------------------------------------- pages
# the tree view reads the whole catalogue to find its roots; past this many services (a
# few hundred is a large catalogue) that read would blow the page's 300 ms budget on the
# 100k-CI benchmark graph, so the list stays flat and paged, and says so
TREE_MAX = 500


async def _used_by(store, ids: list[str]) -> dict[str, list[str]]:
    """Service id -> names of the live services that depend on it, directly or as a member
    of one of their redundancy groups: two hops over DEPENDS_ON, each one query for the
    whole page."""
    if not ids:
        return {}
    out: dict[str, set[str]] = {}
    via_group: dict[str, set[str]] = {}  # group id -> services in it
    for row in await store.impact_hop(ids, ("<DEPENDS_ON",)):
        if row.src_status == "retired":
            continue
        if row.src_class == "Service":
            out.setdefault(row.dst, set()).add(row.src_name or row.src)
        elif row.src_class == "RedundancyGroup":
            via_group.setdefault(row.src, set()).add(row.dst)
    if via_group:
        for row in await store.impact_hop(sorted(via_group), ("<DEPENDS_ON",)):
            if row.src_class == "Service" and row.src_status != "retired":
                for member in via_group.get(row.dst, ()):
                    out.setdefault(member, set()).add(row.src_name or row.src)
    return {k: sorted(v) for k, v in out.items()}


@routes.get("/ui/services")
async def tree_page(request: web.Request) -> web.Response:
    """The catalogue as a tree: its roots (services no other service depends on, business
    ones first) open level by level; with a search, ``view=all`` or a catalogue over
    ``TREE_MAX`` services, every matching service flat and paged, each saying which
    services use it."""
    number, size, offset = paging(request)
    store = store_of(request)
    q = request.query.get("q") or None
    kind = request.query.get("kind") or None
    view = "all" if q or request.query.get("view") == "all" else "tree"
    items, total = await services.list_services(store, q, size, offset)
    too_big = view == "tree" and total > TREE_MAX
    if view == "tree" and not too_big:
        everything, _ = await services.list_services(store, None, TREE_MAX, 0)
        used_by = await _used_by(store, [s["id"] for s in everything])
        roots = [s for s in everything if s["id"] not in used_by]
        roots.sort(key=lambda s: (s.get("kind") != "business", (s.get("name") or "").lower()))
        if kind:
            roots = [s for s in roots if s.get("kind") == kind]
        total = len(roots)
        items = roots[offset : offset + size]
    else:
        view = "all"
        used_by = await _used_by(store, [s["id"] for s in items])
        if kind:
            items = [s for s in items if s.get("kind") == kind]
    return page(
        request,
        "services.html",
        {
            "items": items,
            "total": total,
            "used_by": used_by,
            "view": view,
            "too_big": too_big,
            "q": q or "",
            "kind": kind or "",
            "number": number,
            "size": size,
            "pages": max(1, -(-total // size)),
            "message": request.query.get("message", ""),
        },
    )


def _form_page(
    request: web.Request,
    values: dict[str, Any],
    service: dict[str, Any] | None,
    error: str = "",
    status: int = 200,
) -> web.Response:
    return page(
        request,
        "service_form.html",
        {
            "values": values,
            "service": service,
            "error": error,
            "kinds": services.KINDS,
            "criticalities": services.CRITICALITIES,
            "statuses": services.STATUSES,
        },
        status=status,
    )


def _values(record: dict[str, Any]) -> dict[str, Any]:
    """The details form's fields from a service record."""
    values = {k: record.get(k) or "" for k in DETAIL_FIELDS}
    for key in SLA_FIELDS:
        value = (record.get("sla") or {}).get(key)
        values[f"sla_{key}"] = "" if value is None else str(value)
    return values


@routes.get("/ui/services/new")
async def new_service_form(request: web.Request) -> web.Response:
    require_role(request, "editor")
    return _form_page(request, {"kind": "technical", "status": "active"}, None)


@routes.post("/ui/services")
async def create_service(request: web.Request) -> web.Response:
    user = require_role(request, "editor")
    data = await form(request)
    try:
        record = await services.create_service(store_of(request), details_body(data), user.name)
    except CatalogueError as exc:
        return _form_page(request, data, None, exc.message, exc.status)
    raise see_other(f"/ui/services/{record['id']}")


@routes.get("/ui/services/{id}/children")
async def children(request: web.Request) -> web.Response:
    """One level of the tree (loaded by htmx when a service is opened)."""
    store = store_of(request)
    record = await services.service_record(
        store, await services.get_service(store, request.match_info["id"])
    )
    return page(request, "_service_children.html", {"service": record})


async def _record(request: web.Request) -> dict[str, Any]:
    store = store_of(request)
    return await services.service_record(
        store, await services.get_service(store, request.match_info["id"])
    )


def _service_page(
    request: web.Request, record: dict[str, Any], error: str = "", status: int = 200
) -> web.Response:
    return page(
        request,
        "service.html",
        {
            "service": record,
            "error": error,
            "message": request.query.get("message", ""),
        },
        status=status,
    )


@routes.get("/ui/services/{id}")
async def service_page(request: web.Request) -> web.Response:
    return _service_page(request, await _record(request))


@routes.get("/ui/services/{id}/edit")
async def edit_service_form(request: web.Request) -> web.Response:
    require_role(request, "editor")
    record = await _record(request)
    return _form_page(request, _values(record), record)


@routes.post("/ui/services/{id}/edit")
async def edit_service(request: web.Request) -> web.Response:
    user = require_role(request, "editor")
    data = await form(request)
    record = await _record(request)
    try:
        await services.update_service(
            store_of(request), record["id"], details_body(data), user.name
        )
    except CatalogueError as exc:
        return _form_page(request, data, record, exc.message, exc.status)
    raise see_other(f"/ui/services/{record['id']}?message=saved")


@routes.post("/ui/services/{id}/depends")
async def edit_dependencies(request: web.Request) -> web.Response:
    """One change to what the service depends on, sent to the catalogue as the whole new
    ``depends_on`` (built from the stored record, so the other entries stay as they are)."""
    user = require_role(request, "editor")
    data = await form(request)
    record = await _record(request)
    try:
        deps = edited_deps(current_deps(record), data)
        await services.update_service(
            store_of(request), record["id"], {"depends_on": deps}, user.name
        )
    except CatalogueError as exc:
        return _service_page(request, record, exc.message, exc.status)
    raise see_other(f"/ui/services/{record['id']}?message=dependencies+saved#depends")
