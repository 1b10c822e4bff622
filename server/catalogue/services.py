"""The service catalogue: business and technical services and what they depend on.

Redundancy groups (modelling choice): ``Service -DEPENDS_ON-> RedundancyGroup
-DEPENDS_ON-> member``. The group depends on its members the way a service
depends on a CI, so the impact walk needs no special case to reach the group
(DEPENDS_ON is an inbound impact type); only the state rule differs: a group
with ``min`` k stays up while at least k members are not down. ``MEMBER_OF``
is not used. A group belongs to one service (its identity is service id +
group name) and is retired, not deleted, when the service stops using it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cmdb.graph.identity import key_of
from cmdb.graph.store import CI, Store
from cmdb.server.catalogue import invalid, not_found, unprocessable
from cmdb.server.catalogue.common import check_id, opt_str, ref, req_str
from cmdb.server.catalogue.refs import Resolver, parse_ref
from cmdb.server.catalogue.writes import ManualWriter

CRITICALITIES = ("critical", "high", "medium", "low")
KINDS = ("business", "technical")
STATUSES = ("proposed", "active", "deprecated", "retired")
SLA_KEYS = ("availability", "response_time", "resolution_time")
_DURATION = re.compile(r"^\d+(\.\d+)?\s*(m|min|h|d)$")
MAX_CYCLE_DEPTH = 64


@dataclass
class GroupSpec:
    name: str
    min: int
    members: list[Any]  # ids (or {"class", "name"} in imports) until resolved


@dataclass
class ServiceSpec:
    fields: dict[str, Any]
    depends_on: list[tuple[str, Any]] | None = None  # ("ci"|"service"|"group", ref or GroupSpec)
    where: str = "$"
    resolved: list[tuple[str, Any]] = field(default_factory=list)


# ---------------------------------------------------------------- parsing
def _sla(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(f"{where} must be an object with {', '.join(SLA_KEYS)}", field=where)
    unknown = sorted(set(value) - set(SLA_KEYS))
    if unknown:
        raise invalid(
            f"{where} has unknown keys {', '.join(unknown)}; it takes {', '.join(SLA_KEYS)}",
            field=where,
        )
    out: dict[str, Any] = {}
    avail = value.get("availability")
    if avail is not None:
        if isinstance(avail, bool) or not isinstance(avail, int | float) or not 0 < avail <= 100:
            raise invalid(f"{where}.availability must be a percentage in (0, 100]", field=where)
        out["availability"] = avail
    for key in ("response_time", "resolution_time"):
        v = value.get(key)
        if v is None:
            continue
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            out[key] = f"{v}m"
        elif isinstance(v, str) and _DURATION.match(v.strip()):
            out[key] = v.strip().replace(" ", "")
        else:
            raise invalid(
                f"{where}.{key} must be minutes (an integer) or a duration like 30m, 4h, 2d",
                field=f"{where}.{key}",
            )
    return out


def _choice(body: dict[str, Any], key: str, choices: tuple[str, ...], where: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if value not in choices:
        raise invalid(
            f"{where}.{key} must be one of {', '.join(choices)}, not {value!r}",
            field=f"{where}.{key}",
        )
    return value


def _dep(item: Any, where: str, by_name: bool) -> tuple[str, Any]:
    if (
        not isinstance(item, dict)
        or len(item) != 1
        or next(iter(item))
        not in (
            "ci",
            "service",
            "group",
        )
    ):
        raise invalid(
            f'{where} must be one of {{"ci": ID}}, {{"service": ID}} or '
            '{"group": {"name", "min", "members"}}',
            field=where,
        )
    kind, value = next(iter(item.items()))
    if kind == "group":
        if not isinstance(value, dict):
            raise invalid(f"{where}.group must be an object", field=f"{where}.group")
        name = req_str(value, "name", f"{where}.group")
        members = value.get("members")
        if not isinstance(members, list) or not members:
            raise invalid(
                f"{where}.group.members must be a non-empty list of CI ids",
                field=f"{where}.group.members",
            )
        members = [
            _member(m, f"{where}.group.members[{i}]", by_name) for i, m in enumerate(members)
        ]
        k = value.get("min", 1)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(members):
            raise invalid(
                f"{where}.group.min must be an integer from 1 to the number of members "
                f"({len(members)})",
                field=f"{where}.group.min",
            )
        return "group", GroupSpec(name=name, min=k, members=members)
    return kind, _member(value, f"{where}.{kind}", by_name)


def _member(value: Any, where: str, by_name: bool) -> Any:
    """An id, a service name (imports) or a reference object (``cmdb.server.catalogue.refs``:
    ``{class: Host, name: db1}``, ``{class: Endpoint, host: db1, port: 5432}`` ...)."""
    if isinstance(value, dict):
        return parse_ref(value, where)
    if by_name and isinstance(value, str) and value.strip():
        return value.strip()
    return check_id(value, where)


def parse_service(
    body: Any, partial: bool = False, where: str = "$", by_name: bool = False
) -> ServiceSpec:
    if not isinstance(body, dict):
        raise invalid(f"{where} must be a JSON object")
    known = {"name", "kind", "owner", "criticality", "sla", "description", "status", "depends_on"}
    unknown = sorted(set(body) - known - {"id"})
    if unknown:
        raise invalid(
            f"{where} has unknown fields {', '.join(unknown)}; a service takes "
            f"{', '.join(sorted(known))}",
            field=f"{where}.{unknown[0]}",
        )
    fields: dict[str, Any] = {}
    name = opt_str(body, "name", where) if partial else req_str(body, "name", where)
    if name is not None:
        fields["name"] = name
    for key, attr in (("owner", "owner"), ("description", "description")):
        if key in body:
            fields[attr] = opt_str(body, key, where)
    for key, attr, choices in (
        ("kind", "kind", KINDS),
        ("criticality", "criticality", CRITICALITIES),
        ("status", "service_status", STATUSES),
    ):
        if key in body:
            fields[attr] = _choice(body, key, choices, where)
    if "sla" in body:
        fields["sla"] = _sla(body["sla"], f"{where}.sla")
    if not partial:
        fields.setdefault("kind", "technical")
        fields.setdefault("service_status", "active")
    deps = None
    if "depends_on" in body or not partial:
        raw = body.get("depends_on") or []
        if not isinstance(raw, list):
            raise invalid(f"{where}.depends_on must be a list", field=f"{where}.depends_on")
        deps = [_dep(item, f"{where}.depends_on[{i}]", by_name) for i, item in enumerate(raw)]
        names = [g.name for kind, g in deps if kind == "group"]
        if len(names) != len(set(names)):
            raise invalid(f"{where}.depends_on names a redundancy group twice")
    return ServiceSpec(fields=fields, depends_on=deps, where=where)


# ---------------------------------------------------------------- reading
async def _deps_of(store: Store, ci_id: str) -> list[CI]:
    return [
        v.other
        for v in await store.relationships(ci_id)
        if v.rel.type == "DEPENDS_ON" and v.direction == "out"
    ]


async def service_record(store: Store, ci: CI, with_deps: bool = True) -> dict[str, Any]:
    a = ci.attributes
    record: dict[str, Any] = {
        "id": ci.id,
        "name": ci.name,
        "kind": a.get("kind"),
        "owner": a.get("owner"),
        "criticality": a.get("criticality"),
        "sla": a.get("sla") or {},
        "description": a.get("description"),
        "status": a.get("service_status"),
        "first_seen": ci.first_seen,
    }
    if with_deps:
        deps: list[dict[str, Any]] = []
        for other in sorted(await _deps_of(store, ci.id), key=lambda c: (c.cls, c.name or "")):
            if other.cls == "RedundancyGroup":
                members = await _deps_of(store, other.id)
                deps.append(
                    {
                        "group": {
                            "id": other.id,
                            "name": other.attributes.get("name"),
                            "min": other.attributes.get("min"),
                            "members": [
                                ref(m) for m in sorted(members, key=lambda c: c.name or "")
                            ],
                        }
                    }
                )
            elif other.cls == "Service":
                deps.append({"service": other.id, "name": other.name})
            else:
                deps.append({"ci": other.id, "class": other.cls, "name": other.name})
        record["depends_on"] = deps
    return record


async def get_service(store: Store, service_id: str) -> CI:
    ci = await store.get_ci(service_id)
    if ci is None or ci.cls != "Service":
        raise not_found(f"no service with id {service_id!r}")
    return ci


async def list_services(
    store: Store, q: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    items, total = await store.list_cis("Service", q, limit, offset)
    return [await service_record(store, ci, with_deps=False) for ci in items], total


# ---------------------------------------------------------------- writing
async def _find_service_by_name(store: Store, name: str) -> CI | None:
    found = (await store.find_by_identity("Service", "name", [name])).get(name, [])
    return found[0] if found else None


async def _resolve_member(
    store: Store,
    value: Any,
    where: str,
    batch: dict[str, CI],
    want_service: bool,
    resolver: Resolver | None = None,
) -> CI:
    if not isinstance(value, str):  # a reference object: exact lookup, 422 lists candidates
        ci = await (resolver or Resolver(store)).resolve(value, where)
        if want_service and ci.cls != "Service":
            raise unprocessable(f"{where}: that is a {ci.cls}, not a service", field=where)
        if ci.cls in ("Asset", "Change", "Supplier"):
            raise unprocessable(f"{where}: a service cannot depend on a {ci.cls}", field=where)
        return ci
    if value in batch:
        return batch[value]
    ci = await store.get_ci(value)
    if ci is None and want_service:
        ci = await _find_service_by_name(store, value)
    if ci is None:
        kind = "service" if want_service else "configuration item"
        raise unprocessable(f"{where}: no {kind} {value!r}", field=where)
    if want_service and ci.cls != "Service":
        raise unprocessable(f"{where}: {value!r} is a {ci.cls}, not a service", field=where)
    if ci.cls in ("Asset", "Change", "Supplier"):
        raise unprocessable(
            f"{where}: a service cannot depend on a {ci.cls} ({value!r})", field=where
        )
    return ci


async def _resolve_deps(
    store: Store, spec: ServiceSpec, batch: dict[str, CI], resolver: Resolver | None = None
) -> None:
    resolver = resolver or Resolver(store)
    spec.resolved = []
    for i, (kind, value) in enumerate(spec.depends_on or []):
        where = f"{spec.where}.depends_on[{i}]"
        if kind == "group":
            members = [
                await _resolve_member(
                    store, m, f"{where}.group.members[{j}]", batch, False, resolver
                )
                for j, m in enumerate(value.members)
            ]
            if len({m.id for m in members}) != len(members):
                raise invalid(f"{where}.group.members names a CI twice", field=where)
            spec.resolved.append(("group", (value, members)))
        else:
            spec.resolved.append(
                (
                    kind,
                    await _resolve_member(
                        store, value, f"{where}.{kind}", batch, kind == "service", resolver
                    ),
                )
            )


def _targets(spec: ServiceSpec) -> list[CI]:
    out: list[CI] = []
    for kind, value in spec.resolved:
        if kind == "group":
            out.extend(value[1])
        else:
            out.append(value)
    return out


async def _check_cycles(store: Store, new_deps: dict[str, tuple[str, list[CI]]]) -> None:
    """422 when a service would depend on itself, directly or through other services."""
    for sid, (name, targets) in new_deps.items():
        if any(t.id == sid for t in targets):
            raise unprocessable(f"service {name!r} cannot depend on itself")
    starts = sorted({t.id for _, targets in new_deps.values() for t in targets})
    adjacency: dict[str, set[str]] = {
        sid: {t.id for t in targets} for sid, (_, targets) in new_deps.items()
    }
    if starts:
        walk = await store.traverse(starts, "down", MAX_CYCLE_DEPTH, ("DEPENDS_ON",))
        for rel in walk.edges:
            if rel.src not in new_deps:  # a rewritten service's stored edges are replaced
                adjacency.setdefault(rel.src, set()).add(rel.dst)
    names = {sid: name for sid, (name, _) in new_deps.items()}
    for sid in new_deps:
        # depth-first search for a path back to sid
        stack, parent = [sid], {sid: None}
        while stack:
            node = stack.pop()
            for nxt in adjacency.get(node, ()):
                if nxt == sid:
                    seq, cur = [], node
                    while cur is not None:
                        seq.append(cur)
                        cur = parent[cur]
                    seq = [*reversed(seq), sid]
                    cis = await store.get_cis(seq)
                    path = " -> ".join(
                        names.get(c) or (cis[c].name if c in cis else c) or c for c in seq
                    )
                    raise unprocessable(
                        f"service {names[sid]!r} would depend on itself through a cycle: {path}"
                    )
                if nxt not in parent:
                    parent[nxt] = node
                    stack.append(nxt)


def _diff(change: str, **what: Any) -> dict[str, Any]:
    return {"change": change, **what}


async def _write_deps(
    store: Store, writer: ManualWriter, service: CI, spec: ServiceSpec, new: bool
) -> list[dict[str, Any]]:
    """Make the service's open DEPENDS_ON (and its groups') match ``spec.resolved``; the
    answer lists every difference written (dependencies, groups, their ``min`` and members),
    so an import can say what it changed, membership included."""
    diff: list[dict[str, Any]] = []
    current = [] if new else await store.relationships(service.id)
    cur_direct = {
        v.other.id: v
        for v in current
        if v.rel.type == "DEPENDS_ON" and v.direction == "out" and v.other.cls != "RedundancyGroup"
    }
    cur_groups = {
        v.other.attributes.get("name"): (v.other, v.rel)
        for v in current
        if v.rel.type == "DEPENDS_ON" and v.direction == "out" and v.other.cls == "RedundancyGroup"
    }
    want_direct = {ci.id: ci for kind, ci in spec.resolved if kind != "group"}
    want_groups = {
        g.name: (g, members)
        for kind, (g, members) in ((k, v) for k, v in spec.resolved if k == "group")
    }
    for dst, view in cur_direct.items():
        if dst not in want_direct:
            writer.close_rel(view.rel)
            diff.append(_diff("dependency removed", target=ref(view.other)))
    for dst, ci in want_direct.items():
        if dst not in cur_direct:
            writer.add_rel("DEPENDS_ON", service.id, dst)
            diff.append(_diff("dependency added", target=ref(ci)))
    for name, (group, rel) in cur_groups.items():
        if name not in want_groups:
            writer.close_rel(rel)
            for v in await store.relationships(group.id):
                if v.rel.type == "DEPENDS_ON" and v.direction == "out":
                    writer.close_rel(v.rel)
            writer.update_ci(group, {}, status="retired")
            diff.append(_diff("group removed", group=name))
    for name, (gspec, members) in want_groups.items():
        if name in cur_groups:
            group = cur_groups[name][0]
            if group.attributes.get("min") != gspec.min:
                diff.append(
                    _diff(
                        "group min changed",
                        group=name,
                        old=group.attributes.get("min"),
                        new=gspec.min,
                    )
                )
            writer.update_ci(group, {"min": gspec.min}, status="live")
            have = {
                v.other.id: v
                for v in await store.relationships(group.id)
                if v.rel.type == "DEPENDS_ON" and v.direction == "out"
            }
        else:
            key = key_of("RedundancyGroup", "group_key", service=service.id, name=name) or ""
            old = (
                None
                if new
                else (await store.find_by_identity("RedundancyGroup", "group_key", [key])).get(key)
            )
            if old:  # a group this service used before: bring it back
                group = old[0]
                writer.update_ci(group, {"min": gspec.min}, status="live")
            else:
                group = writer.create_ci(
                    "RedundancyGroup", {"service": service.id, "name": name, "min": gspec.min}
                )
            writer.add_rel("DEPENDS_ON", service.id, group.id)
            diff.append(_diff("group added", group=name, min=gspec.min))
            have = {}
        wanted = {m.id: m for m in members}
        for dst, view in have.items():
            if dst not in wanted:
                writer.close_rel(view.rel)
                diff.append(_diff("member removed", group=name, member=ref(view.other)))
        for dst, member in wanted.items():
            if dst not in have:
                writer.add_rel("DEPENDS_ON", group.id, dst)
                diff.append(_diff("member added", group=name, member=ref(member)))
    return diff


async def create_service(store: Store, body: Any, actor: str | None) -> dict[str, Any]:
    spec = parse_service(body)
    if await _find_service_by_name(store, spec.fields["name"]):
        from cmdb.server.catalogue import conflict

        raise conflict(f"a service named {spec.fields['name']!r} already exists")
    await _resolve_deps(store, spec, {})
    writer = ManualWriter(actor)
    service = writer.create_ci("Service", spec.fields)
    await _write_deps(store, writer, service, spec, new=True)
    await store.apply(writer.cs)
    return await service_record(store, await get_service(store, service.id))


async def update_service(
    store: Store, service_id: str, body: Any, actor: str | None
) -> dict[str, Any]:
    service = await get_service(store, service_id)
    spec = parse_service(body, partial=True)
    new_name = spec.fields.get("name")
    if new_name and new_name != service.name:
        other = await _find_service_by_name(store, new_name)
        if other and other.id != service.id:
            from cmdb.server.catalogue import conflict

            raise conflict(f"a service named {new_name!r} already exists")
    writer = ManualWriter(actor)
    if spec.depends_on is not None:
        await _resolve_deps(store, spec, {})
        await _check_cycles(store, {service.id: (service.name or "", _targets(spec))})
        await _write_deps(store, writer, service, spec, new=False)
    writer.update_ci(service, spec.fields)
    if not writer.cs.is_empty():
        await store.apply(writer.cs)
    return await service_record(store, await get_service(store, service.id))


async def delete_service(store: Store, service_id: str, actor: str | None) -> dict[str, Any]:
    """Take a service out of the catalogue: it is retired (a CMDB keeps what was, with its
    history) and its own dependencies and groups are closed. Refused with 409 naming them
    while live services or groups depend on it: delete those first, or change them."""
    service = await get_service(store, service_id)
    views = await store.relationships(service.id)
    dependants = [
        v.other
        for v in views
        if v.direction == "in" and v.rel.type == "DEPENDS_ON" and v.other.status != "retired"
    ]
    if dependants:
        from cmdb.server.catalogue import conflict

        names = ", ".join(f"{d.cls} {d.name or d.id}" for d in dependants[:10])
        raise conflict(
            f"service {service.name!r} cannot be deleted: {names} depend"
            f"{'s' if len(dependants) == 1 else ''} on it",
            dependants=[ref(d) for d in dependants],
        )
    writer = ManualWriter(actor)
    for view in views:
        if view.direction == "out" and view.rel.type == "DEPENDS_ON":
            writer.close_rel(view.rel)
            if view.other.cls == "RedundancyGroup" and view.other.status != "retired":
                for member in await store.relationships(view.other.id):
                    if member.direction == "out":
                        writer.close_rel(member.rel)
                writer.update_ci(view.other, {}, status="retired")
    writer.update_ci(service, {}, status="retired")
    await store.apply(writer.cs)
    return {"id": service.id, "name": service.name, "status": "retired"}


async def import_services(
    store: Store, document: Any, actor: str | None, dry_run: bool = False
) -> dict[str, Any]:
    """Catalogue as code: upsert every service of the document by name, in one change set.

    ``{"services": [{name, kind, owner, criticality, sla, description, status,
    depends_on: [{ci: ID | REFERENCE} | {service: NAME | ID} | {group: {name, min,
    members: [ID | REFERENCE]}}]}]}`` (references: ``cmdb.server.catalogue.refs``). A service
    not in the document is left alone.

    The answer says what changed, service by service (``changes``: fields with old and new
    values, dependencies and group members added or removed, a group's ``min``), and counts
    it all in ``summary``. With ``dry_run`` nothing is written: the same answer says what
    an import would do (``created`` then lists names, as the services have no id yet).
    """
    if not isinstance(document, dict) or not isinstance(document.get("services"), list):
        raise invalid('the catalogue must be an object with a "services" list')
    specs = [
        parse_service(item, where=f"$.services[{i}]", by_name=True)
        for i, item in enumerate(document["services"])
    ]
    names = [s.fields["name"] for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise invalid(f"the catalogue names service {dup[0]!r} more than once")
    writer = ManualWriter(actor)
    resolver = Resolver(store)
    batch: dict[str, CI] = {}
    existing: dict[str, CI | None] = {}
    for spec in specs:
        name = spec.fields["name"]
        existing[name] = await _find_service_by_name(store, name)
        if existing[name] is None:
            batch[name] = writer.create_ci("Service", spec.fields)
        else:
            batch[name] = existing[name]
    for spec in specs:
        await _resolve_deps(store, spec, batch, resolver)
    await _check_cycles(
        store, {batch[s.fields["name"]].id: (s.fields["name"], _targets(s)) for s in specs}
    )
    created, updated, unchanged, changes = [], [], [], []
    for spec in specs:
        name = spec.fields["name"]
        service = batch[name]
        old = existing[name]
        diff: list[dict[str, Any]] = []
        if old is not None:
            for key, value in spec.fields.items():
                if old.attributes.get(key) != value:
                    diff.append(
                        _diff("field changed", field=key, old=old.attributes.get(key), new=value)
                    )
            writer.update_ci(service, spec.fields)
        diff += await _write_deps(store, writer, service, spec, new=old is None)
        if old is None:
            created.append(name if dry_run else service.id)
            changes.append({"service": name, "action": "create", "diff": diff})
        elif diff:
            updated.append(service.id)
            changes.append({"service": name, "id": service.id, "action": "update", "diff": diff})
        else:
            unchanged.append(service.id)
    if not dry_run and not writer.cs.is_empty():
        await store.apply(writer.cs)
    kinds = [d["change"] for c in changes for d in c["diff"]]
    summary = {
        "services_created": len(created),
        "services_updated": len(updated),
        "services_unchanged": len(unchanged),
        "fields_changed": sum(
            1
            for c in changes
            if c["action"] == "update"
            for d in c["diff"]
            if d["change"] == "field changed"
        ),
        "dependencies_added": kinds.count("dependency added"),
        "dependencies_removed": kinds.count("dependency removed"),
        "groups_added": kinds.count("group added"),
        "groups_removed": kinds.count("group removed"),
        "group_min_changed": kinds.count("group min changed"),
        "members_added": kinds.count("member added"),
        "members_removed": kinds.count("member removed"),
    }
    return {
        "dry_run": dry_run,
        "created": created,
        "updated": updated,
        "unchanged": unchanged,
        "summary": summary,
        "changes": changes,
        "items": []
        if dry_run
        else [await service_record(store, await get_service(store, batch[n].id)) for n in names],
        "total": len(names),
    }
