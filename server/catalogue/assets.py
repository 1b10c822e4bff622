"""The asset register: the lifecycle of the kit behind the discovered CIs.

An Asset CI (identity: asset tag) REPRESENTS a discovered CI and is SUPPLIED_BY
a Supplier CI. Its state moves only along ``TRANSITIONS``; each move is an
attribute change in the history (old, new, when, the token name).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from cmdb.graph import times
from cmdb.graph.schema import CLASSES
from cmdb.graph.store import CI, Store
from cmdb.server.catalogue import conflict, invalid, not_found, unprocessable
from cmdb.server.catalogue.common import (
    check_id,
    next_state,
    opt_date,
    opt_str,
    ref,
    req_str,
)
from cmdb.server.catalogue.writes import ManualWriter

STATES = (
    "planned",
    "ordered",
    "received",
    "in_stock",
    "deployed",
    "in_maintenance",
    "retired",
    "disposed",
)
# what an asset manager allows: kit can be written off (retired) from any live state,
# comes back from maintenance to service or to the shelf, and is disposed of only once retired
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "planned": ("ordered", "retired"),
    "ordered": ("received", "retired"),
    "received": ("in_stock", "deployed", "retired"),
    "in_stock": ("deployed", "in_maintenance", "retired"),
    "deployed": ("in_maintenance", "in_stock", "retired"),
    "in_maintenance": ("deployed", "in_stock", "retired"),
    "retired": ("disposed",),
    "disposed": (),
}
INITIAL = ("planned", "ordered", "received", "in_stock", "deployed", "in_maintenance")
# the record's plain fields: every Asset attribute the schema declares but tag and state
FIELDS = tuple(a for a in CLASSES["Asset"].attributes if a not in ("asset_tag", "state"))
DISCOVERED = ("Host", "NetworkDevice")


def _parse(body: Any, create: bool) -> tuple[dict[str, Any], str | None, bool]:
    """(attributes, represented CI id, whether ``ci`` was given)."""
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    allowed = {*FIELDS, "ci", *(("asset_tag", "state") if create else ())}
    unknown = sorted(set(body) - allowed - {"id"})
    if unknown:
        hint = " (change the state with POST .../transition)" if "state" in unknown else ""
        raise invalid(
            f"unknown fields {', '.join(unknown)}{hint}; "
            f"an asset takes {', '.join(sorted(allowed))}",
            field=f"$.{unknown[0]}",
        )
    attrs: dict[str, Any] = {}
    if create:
        attrs["asset_tag"] = req_str(body, "asset_tag")
        state = body.get("state", "planned")
        if state not in INITIAL:
            raise invalid(
                f"$.state of a new asset must be one of {', '.join(INITIAL)}, not {state!r}",
                field="$.state",
            )
        attrs["state"] = state
    for key in ("currency", "supplier", "contract", "location", "owner", "model", "serial"):
        if key in body:
            attrs[key] = opt_str(body, key)
    for key in ("purchase_date", "warranty_end"):
        if key in body:
            attrs[key] = opt_date(body, key)
    if "cost" in body and body["cost"] is not None:
        cost = body["cost"]
        if isinstance(cost, bool) or not isinstance(cost, int | float) or cost < 0:
            raise invalid("$.cost must be a non-negative number", field="$.cost")
        attrs["cost"] = cost
    elif "cost" in body:
        attrs["cost"] = None
    ci_given = "ci" in body
    ci_id = None if body.get("ci") is None else check_id(body["ci"], "$.ci")
    return attrs, ci_id, ci_given


async def _links(store: Store, asset_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {"ci": None, "supplier": None, "_rels": {}}
    for v in await store.relationships(asset_id):
        if v.direction != "out":
            continue
        if v.rel.type == "REPRESENTS":
            out["ci"] = v.other
            out["_rels"]["REPRESENTS"] = v.rel
        elif v.rel.type == "SUPPLIED_BY":
            out["supplier"] = v.other
            out["_rels"]["SUPPLIED_BY"] = v.rel
    return out


async def _links_of(store: Store, asset_ids: list[str]) -> dict[str, dict[str, CI | None]]:
    """``_links`` (without the relationships) of many assets in one walk, one step down
    REPRESENTS and SUPPLIED_BY: asset id -> {"ci": CI summary, "supplier": CI summary}.
    Of two open links of one type (none should be), the one ``_links`` keeps: the last by
    (name, id) of the CI at the other end."""
    out: dict[str, dict[str, CI | None]] = {i: {"ci": None, "supplier": None} for i in asset_ids}
    if not asset_ids:
        return out
    walk = await store.traverse(asset_ids, "down", 1, ("REPRESENTS", "SUPPLIED_BY"))
    for rel in walk.edges:
        if rel.src not in out or rel.dst not in walk.nodes:
            continue
        slot = "ci" if rel.type == "REPRESENTS" else "supplier"
        other, held = walk.nodes[rel.dst][0], out[rel.src][slot]
        if held is None or (other.name or "", other.id) > (held.name or "", held.id):
            out[rel.src][slot] = other
    return out


def _record(ci: CI, links: dict[str, Any]) -> dict[str, Any]:
    record = {
        "id": ci.id,
        **{k: ci.attributes.get(k) for k in ("asset_tag", "state", *FIELDS)},
        "ci": ref(links["ci"]),
        "supplier": ref(links["supplier"]),
        "allowed_transitions": list(TRANSITIONS.get(ci.attributes.get("state"), ())),
    }
    if links["ci"] is not None:
        record["ci"]["last_seen"] = links["ci"].last_seen
    return record


async def asset_record(store: Store, ci: CI, with_history: bool = False) -> dict[str, Any]:
    record = _record(ci, await _links(store, ci.id))
    if with_history:
        record["transitions"] = await transitions(store, ci.id)
    return record


async def transitions(store: Store, asset_id: str) -> list[dict[str, Any]]:
    entries, _ = await store.history(asset_id, 10_000, 0)
    return [
        {"from": e.old, "to": e.new, "at": e.at, "by": e.actor, "source": e.source}
        for e in reversed(entries)
        if e.ci_id == asset_id
        and e.kind == "attribute"
        and e.field == "state"
        or (e.ci_id == asset_id and e.kind == "ci" and e.field == "created")
    ]


async def get_asset(store: Store, asset_id: str) -> CI:
    ci = await store.get_ci(asset_id)
    if ci is None or ci.cls != "Asset":
        raise not_found(f"no asset with id {asset_id!r}")
    return ci


async def _target(store: Store, ci_id: str) -> CI:
    target = await store.get_ci(ci_id)
    if target is None:
        raise unprocessable(f"$.ci: no configuration item with id {ci_id!r}", field="$.ci")
    if target.cls in ("Asset", "Change", "Supplier", "Service", "RedundancyGroup"):
        raise unprocessable(f"$.ci: an asset cannot represent a {target.cls}", field="$.ci")
    return target


async def _supplier(store: Store, writer: ManualWriter, name: str) -> CI:
    found = (await store.find_by_identity("Supplier", "name", [name])).get(name)
    if found:
        return found[0]
    return writer.create_ci("Supplier", {"name": name})


async def create_asset(store: Store, body: Any, actor: str | None) -> dict[str, Any]:
    attrs, ci_id, _ = _parse(body, create=True)
    tag = attrs["asset_tag"]
    if (await store.find_by_identity("Asset", "asset_tag", [tag])).get(tag):
        raise conflict(f"an asset with tag {tag!r} already exists")
    target = await _target(store, ci_id) if ci_id else None
    writer = ManualWriter(actor)
    asset = writer.create_ci("Asset", attrs)
    if target is not None:
        writer.add_rel("REPRESENTS", asset.id, target.id)
    if attrs.get("supplier"):
        supplier = await _supplier(store, writer, attrs["supplier"])
        writer.add_rel("SUPPLIED_BY", asset.id, supplier.id)
    await store.apply(writer.cs)
    return await asset_record(store, await get_asset(store, asset.id), with_history=True)


async def update_asset(store: Store, asset_id: str, body: Any, actor: str | None) -> dict:
    asset = await get_asset(store, asset_id)
    attrs, ci_id, ci_given = _parse(body, create=False)
    links = await _links(store, asset.id)
    writer = ManualWriter(actor)
    if ci_given:
        current = links["ci"].id if links["ci"] else None
        if ci_id != current:
            target = await _target(store, ci_id) if ci_id else None
            if "REPRESENTS" in links["_rels"]:
                writer.close_rel(links["_rels"]["REPRESENTS"])
            if target is not None:
                writer.add_rel("REPRESENTS", asset.id, target.id)
    if "supplier" in attrs and attrs["supplier"] != asset.attributes.get("supplier"):
        if "SUPPLIED_BY" in links["_rels"]:
            writer.close_rel(links["_rels"]["SUPPLIED_BY"])
        if attrs["supplier"]:
            supplier = await _supplier(store, writer, attrs["supplier"])
            writer.add_rel("SUPPLIED_BY", asset.id, supplier.id)
    writer.update_ci(asset, attrs)
    if not writer.cs.is_empty():
        await store.apply(writer.cs)
    return await asset_record(store, await get_asset(store, asset.id), with_history=True)


async def transition_asset(store: Store, asset_id: str, body: Any, actor: str | None) -> dict:
    asset = await get_asset(store, asset_id)
    new = next_state("asset", asset, body, STATES, TRANSITIONS)
    writer = ManualWriter(actor)
    writer.update_ci(asset, {"state": new}, status="retired" if new == "disposed" else None)
    await store.apply(writer.cs)
    return await asset_record(store, await get_asset(store, asset.id), with_history=True)


async def list_assets(
    store: Store, state: str | None, q: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    if state is not None and state not in STATES:
        raise invalid(f"state must be one of {', '.join(STATES)}, not {state!r}")
    if state is None:
        items, total = await store.list_cis("Asset", q, limit, offset)
        return await _records(store, items), total
    # the state is in the document: scan summaries carrying it, read the page whole
    matching = [
        ci
        for ci in await _all_summaries(store, "Asset", ("state",))
        if ci.attributes.get("state") == state and (not q or q.lower() in (ci.name or "").lower())
    ]
    page = [ci.id for ci in matching[offset : offset + limit]]
    whole = await store.get_cis(page)
    return await _records(store, [whole[i] for i in page if i in whole]), len(matching)


async def _records(store: Store, cis: list[CI]) -> list[dict[str, Any]]:
    """``asset_record`` of many assets (no history), their links read in one walk."""
    links = await _links_of(store, [ci.id for ci in cis])
    return [_record(ci, links[ci.id]) for ci in cis]


async def _all_summaries(store: Store, cls: str, attributes: tuple[str, ...]) -> list[CI]:
    """Every CI of ``cls`` as ``Store.list_summaries`` gives them, page by page."""
    out: list[CI] = []
    while True:
        items, total = await store.list_summaries(cls, None, 5000, len(out), None, attributes)
        out.extend(items)
        if not items or len(out) >= total:
            return out


# ---------------------------------------------------------------- reports
async def unregistered(store: Store) -> list[dict[str, Any]]:
    """Discovered hosts and network devices (not retired) that no asset represents (no open
    REPRESENTS from an Asset), by class (DISCOVERED's order), name and id: ref, status and
    last_seen of each. One store read (``Store.unlinked_cis``), whatever the fleet's size."""
    found = await store.unlinked_cis(DISCOVERED, "REPRESENTS", "Asset", ("retired",))
    return [{**ref(ci), "status": ci.status, "last_seen": ci.last_seen} for ci in found]


async def unseen(store: Store, days: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """Deployed assets whose CI no discovery has seen for ``days`` days (or that have none)."""
    now = now or datetime.now(UTC)
    cutoff = times.to_store(now - timedelta(days=days))
    out = []
    deployed = [
        a
        for a in await _all_summaries(store, "Asset", ("state",))
        if a.attributes.get("state") == "deployed"
    ]
    links = await _links_of(store, [a.id for a in deployed])  # one walk, not one read each
    for asset in deployed:
        ci = links[asset.id]["ci"]
        if ci is None or (ci.last_seen or "") < cutoff:
            out.append(
                {
                    "id": asset.id,
                    "asset_tag": asset.name,
                    "state": "deployed",
                    "ci": ref(ci),
                    "last_seen": ci.last_seen if ci else None,
                    "reason": "no discovered CI" if ci is None else f"not seen since {cutoff}",
                }
            )
    return out


async def warranty_ending(
    store: Store, days: int, today: date | None = None
) -> list[dict[str, Any]]:
    today = today or datetime.now(UTC).date()
    until = (today + timedelta(days=days)).isoformat()
    out = []
    for asset in await _all_summaries(store, "Asset", ("state", "warranty_end")):
        end = asset.attributes.get("warranty_end")
        if asset.attributes.get("state") in ("retired", "disposed") or not end:
            continue
        if today.isoformat() <= end <= until:
            out.append(
                {
                    "id": asset.id,
                    "asset_tag": asset.name,
                    "state": asset.attributes.get("state"),
                    "warranty_end": end,
                    "days_left": (date.fromisoformat(end) - today).days,
                }
            )
    out.sort(key=lambda a: (a["warranty_end"], a["asset_tag"] or ""))
    return out
