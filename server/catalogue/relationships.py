"""Declared relationships: what an engineer knows and discovery cannot see.

``RUNS_ON``, ``HOSTED_ON`` and ``DEPENDS_ON`` between any two working CIs (the classes
``cmdb.graph.schema`` allows at each end), and ``DEPENDS_ON`` a redundancy group of CIs
("app1 needs one of db1, db2"). Each is written with source ``manual``, the caller's
token name as actor and no scope, so no discovery report ever closes it (reconciliation
closes only what is in its own scope); it ends when someone removes it, and the
relationship's opened/closed provenance is its history (``cmdb.graph.store``).

A group declared here belongs to the CI that depends on it: its identity is that CI's id
and the group name (``cmdb.graph.identity.key_of("RedundancyGroup", "group_key", ...)``), the
way a service's groups belong to the service.
"""

from __future__ import annotations

from typing import Any

from cmdb.graph.identity import key_of
from cmdb.graph.schema import RELS
from cmdb.graph.store import CI, Rel, Store
from cmdb.server.catalogue import conflict, invalid, not_found, unprocessable
from cmdb.server.catalogue.common import req_str
from cmdb.server.catalogue.refs import Resolver, labels
from cmdb.server.catalogue.writes import SOURCE, ManualWriter

DECLARABLE = ("RUNS_ON", "HOSTED_ON", "DEPENDS_ON")


def _type(body: dict[str, Any]) -> str:
    rel_type = body.get("type")
    if rel_type not in DECLARABLE:
        raise invalid(
            f"$.type must be one of {', '.join(DECLARABLE)}, not {rel_type!r}", field="$.type"
        )
    return rel_type


def _check_ends(rel_type: str, src: CI, dst: CI, where: str) -> None:
    declared = RELS[rel_type]
    if src.id == dst.id:
        raise unprocessable(f"{where}: a CI cannot {rel_type} itself ({src.name})")
    for end, field in ((src, "$.from"), (dst, where)):
        if end.status == "retired":
            raise unprocessable(
                f"{field}: {end.cls} {end.name} ({end.id}) is retired and takes no new "
                "relationships; name the CI that replaced it",
                field=field,
            )
    if src.cls not in declared.starts:
        raise unprocessable(
            f"$.from: a {rel_type} cannot start at a {src.cls} ({src.name}); it starts at "
            f"{', '.join(declared.starts)}",
            field="$.from",
        )
    if dst.cls not in declared.ends:
        raise unprocessable(
            f"{where}: a {rel_type} cannot end at a {dst.cls} ({dst.name}); it ends at "
            f"{', '.join(declared.ends)}",
            field=where,
        )


def _group_spec(body: dict[str, Any]) -> dict[str, Any]:
    group = body["group"]
    if not isinstance(group, dict):
        raise invalid("$.group must be an object {name, min, members}", field="$.group")
    name = req_str(group, "name", "$.group")
    members = group.get("members")
    if not isinstance(members, list) or len(members) < 2:
        raise invalid(
            "$.group.members must list at least two CIs (one CI is not redundancy)",
            field="$.group.members",
        )
    k = group.get("min", 1)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(members):
        raise invalid(
            f"$.group.min must be an integer from 1 to the number of members ({len(members)})",
            field="$.group.min",
        )
    return {"name": name, "min": k, "members": members}


async def _record(store: Store, rel: Rel, group: CI | None = None) -> dict[str, Any]:
    ends = {
        c["id"]: c
        for c in await labels(store, list((await store.get_cis([rel.src, rel.dst])).values()))
    }
    record: dict[str, Any] = {
        "id": rel.id,
        "type": rel.type,
        "from": ends.get(rel.src),
        "to": ends.get(rel.dst),
        "sources": rel.sources,
        "first_seen": rel.first_seen,
        "ended_at": rel.ended_at,
    }
    if group is not None:
        members = [
            v.other
            for v in await store.relationships(group.id)
            if v.rel.type == "DEPENDS_ON" and v.direction == "out"
        ]
        record["group"] = {
            "id": group.id,
            "name": group.attributes.get("name"),
            "min": group.attributes.get("min"),
            "members": sorted(await labels(store, members), key=lambda m: m["name"] or ""),
        }
    return record


async def _open_group(store: Store, owner: CI, name: str) -> CI | None:
    key = key_of("RedundancyGroup", "group_key", service=owner.id, name=name) or ""
    found = (await store.find_by_identity("RedundancyGroup", "group_key", [key])).get(key, [])
    return found[0] if found else None


def _members_of(views: list) -> dict[str, Rel]:
    return {v.other.id: v.rel for v in views if v.rel.type == "DEPENDS_ON" and v.direction == "out"}


async def declare(store: Store, body: Any, actor: str | None) -> tuple[dict[str, Any], bool]:
    """Open a declared relationship: ``{type, from: REF, to: REF}`` or ``{type: DEPENDS_ON,
    from: REF, group: {name, min, members: [REF, ...]}}`` (references:
    ``cmdb.server.catalogue.refs``). Returns (record, created); declaring what is already open
    changes nothing (a group's members and ``min`` are brought to what the body says)."""
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    rel_type = _type(body)
    resolver = Resolver(store)
    if "from" not in body:
        raise invalid("$.from is required: the CI that runs on or depends on", field="$.from")
    src = await resolver.resolve(body["from"], "$.from")
    writer = ManualWriter(actor)
    if "group" in body:
        if rel_type != "DEPENDS_ON" or "to" in body:
            raise invalid('a group takes "type": "DEPENDS_ON" and no "to"', field="$.group")
        spec = _group_spec(body)
        members = [
            await resolver.resolve(m, f"$.group.members[{i}]")
            for i, m in enumerate(spec["members"])
        ]
        if len({m.id for m in members}) != len(members):
            raise invalid("$.group.members names a CI twice", field="$.group.members")
        for i, member in enumerate(members):
            _check_ends("DEPENDS_ON", src, member, f"$.group.members[{i}]")
        group = await _open_group(store, src, spec["name"])
        if group is None:
            group = writer.create_ci(
                "RedundancyGroup", {"service": src.id, "name": spec["name"], "min": spec["min"]}
            )
            have: dict[str, Rel] = {}
        else:
            writer.update_ci(group, {"min": spec["min"]}, status="live")
            have = _members_of(await store.relationships(group.id))
        wanted = {m.id for m in members}
        for member_id, rel in have.items():
            if member_id not in wanted:
                writer.close_rel(rel)
        for member_id in wanted - set(have):
            writer.add_rel("DEPENDS_ON", group.id, member_id)
        link = (await store.find_open_rels([("DEPENDS_ON", src.id, group.id)])).get(
            ("DEPENDS_ON", src.id, group.id)
        )
        created = link is None
        if link is None:
            link = writer.add_rel("DEPENDS_ON", src.id, group.id)
        if not writer.cs.is_empty():
            await store.apply(writer.cs)
        return await _record(store, link, await store.get_ci(group.id)), created
    if "to" not in body:
        raise invalid("$.to is required (or $.group for a redundancy group)", field="$.to")
    dst = await resolver.resolve(body["to"], "$.to")
    _check_ends(rel_type, src, dst, "$.to")
    existing = (await store.find_open_rels([(rel_type, src.id, dst.id)])).get(
        (rel_type, src.id, dst.id)
    )
    if existing is not None:
        return await _record(store, existing), False
    rel = writer.add_rel(rel_type, src.id, dst.id)
    await store.apply(writer.cs)
    return await _record(store, rel), True


async def remove(store: Store, body: Any, actor: str | None) -> dict[str, Any]:
    """End a declared relationship (``{type, from, to}`` or ``{type, from, group: {name}}``):
    end-dated, never deleted. A discovered relationship is discovery's to close: 409."""
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    rel_type = _type(body)
    resolver = Resolver(store)
    src = await resolver.resolve(body.get("from"), "$.from")
    writer = ManualWriter(actor)
    group = None
    if isinstance(body.get("group"), dict):
        name = req_str(body["group"], "name", "$.group")
        group = await _open_group(store, src, name)
        if group is None:
            raise not_found(f"{src.name} has no declared group {name!r}")
        dst = group
    else:
        dst = await resolver.resolve(body.get("to"), "$.to")
    rel = (await store.find_open_rels([(rel_type, src.id, dst.id)])).get((rel_type, src.id, dst.id))
    if rel is None:
        raise not_found(f"no open {rel_type} from {src.name} to {dst.name}")
    if SOURCE not in rel.sources:
        raise conflict(
            f"{src.name} {rel_type} {dst.name} was discovered ({', '.join(rel.sources)}), "
            "not declared; discovery closes it when it no longer sees it"
        )
    writer.close_rel(rel)
    if group is not None:
        for member_rel in _members_of(await store.relationships(group.id)).values():
            writer.close_rel(member_rel)
        writer.update_ci(group, {}, status="retired")
    await store.apply(writer.cs)
    rel.ended_at = writer.at
    return await _record(store, rel)


async def declared_of(store: Store, ci_id: str, include_ended: bool = False) -> list[dict]:
    """The declared (source ``manual``) RUNS_ON / HOSTED_ON / DEPENDS_ON relationships
    touching a CI, in either direction, with a group's members."""
    ci = await store.get_ci(ci_id)
    if ci is None:
        raise not_found(f"no configuration item with id {ci_id!r}")
    out = []
    for view in await store.relationships(ci.id, include_ended=include_ended):
        if view.rel.type not in DECLARABLE or SOURCE not in view.rel.sources:
            continue
        group = view.other if view.other.cls == "RedundancyGroup" else None
        out.append(await _record(store, view.rel, group))
    return out
