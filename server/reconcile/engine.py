"""Compare what a report says with the store and write only the differences.

Steady state is the common case: a report that says what the last one said
produces a change set of one touch (the root CI's last_seen), the source's
report time and the report id, whatever its size. Facts of a scope take their
last_seen from that report time (see ``graph.store``).
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from graph.identity import identity_values
from graph.schema import CLASSES
from graph.store import (
    CI,
    ChangeSet,
    CIUpdate,
    PriorIdentity,
    Rel,
    ScopeState,
    SourceState,
    Store,
)
from server.reconcile.desired import Desired, DesiredCI
from server.reconcile.identify import identify, join_by_network

# Per-attribute source precedence: a value written by a stronger source is not
# overwritten by a weaker one (hardware facts from the agent beat SNMP's; owner
# and criticality set by hand beat any discovery).
SOURCE_PRIORITY = {"manual": 100, "agent": 50, "snmp": 30, "import": 20}

# how long identity values a CI gave up (a rename) keep matching: a scan that still reads
# the old sysName joins the renamed host instead of making a second one
DEFAULT_RENAME_GRACE = timedelta(days=7)


def _plus(at: str, delta: timedelta) -> str:
    moment = datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(UTC) + delta
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# a hook that adds facts a transform cannot resolve alone (observed connections)
Extension = Callable[[Store, "_Writer", str, dict[str, str]], Awaitable[None]]


class ReconcileError(ValueError):
    """The report cannot be reconciled as it is (HTTP 422)."""


def new_id() -> str:
    """A random (version 4) UUID; formatted by hand, since uuid.uuid4() is the slowest step
    of a first report (a thousand ids)."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


@dataclass
class ReconcileResult:
    status: str  # applied, unchanged, superseded
    root_id: str
    root_created: bool
    explanation: list[str]
    counts: dict[str, int] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "ci_id": self.root_id,
            "created": self.root_created,
            "identification": self.explanation,
            "counts": self.counts,
        }


def _outranks(owner: str | None, source: str) -> bool:
    if owner is None or owner == source:
        return False
    return SOURCE_PRIORITY.get(owner, 0) > SOURCE_PRIORITY.get(source, 0)


class _Writer:
    """Builds one change set; keeps the per-report bookkeeping in one place."""

    def __init__(
        self,
        cs: ChangeSet,
        source: str,
        actor: str | None,
        grace: timedelta = DEFAULT_RENAME_GRACE,
    ) -> None:
        self.cs = cs
        self.source = source
        self.actor = actor
        self.grace = grace
        cs.actor = actor

    def history(self, ci_id: str, kind: str, fld: str, old: Any, new: Any, other=None) -> None:
        self.cs.record(ci_id, kind, fld, old, new, other, self.actor)

    def create_ci(self, dci: DesiredCI, ci_id: str, identity: dict[str, str], scope: str | None):
        attrs = {k: v for k, v in dci.attributes.items() if v is not None}
        ci = CI(
            id=ci_id,
            cls=dci.cls,
            name=dci.name,
            status="live",
            first_seen=self.cs.at,
            last_seen=self.cs.at,
            scope=scope,
            sources=[self.source],
            attributes=attrs,
            attr_sources=dict.fromkeys(attrs, self.source),
            identity=identity,
        )
        self.cs.create_cis.append(ci)
        self.history(ci_id, "ci", "created", None, {"class": dci.cls, "name": dci.name})
        return ci

    def merge_ci(self, existing: CI, dci: DesiredCI, identity: dict[str, str]) -> bool:
        """Merge reported attributes by precedence; queue an update only if something changed."""
        if self._agrees(existing, dci, identity):
            return False
        attrs = dict(existing.attributes)
        owners = dict(existing.attr_sources)
        changed = False
        for key, value in dci.attributes.items():
            if value is None or _outranks(owners.get(key), self.source):
                continue
            if attrs.get(key) != value:
                self.history(existing.id, "attribute", key, attrs.get(key), value)
                attrs[key] = value
                changed = True
            if owners.get(key) != self.source:
                owners[key] = self.source
                changed = True
        name = existing.name
        if (
            dci.name is not None
            and dci.name != existing.name
            and not _outranks(owners.get(CLASSES[dci.cls].name_attr), self.source)
        ):
            name = dci.name
            changed = True
        status = existing.status
        if status in ("stale", "retired"):
            self.history(existing.id, "ci", "status", status, "live")
            status = "live"
            changed = True
        sources = sorted({*existing.sources, self.source})
        # identity follows the attributes precedence kept, not the report: a scan that
        # still reads a host's old name does not take the agent's new name key away
        merged_identity = {
            **existing.identity,
            **identity_values(CLASSES[existing.cls], attrs),
        }
        if sources != sorted(existing.sources) or merged_identity != existing.identity:
            changed = True
            until = _plus(self.cs.at, self.grace)
            for rule, old in existing.identity.items():
                if merged_identity.get(rule) not in (None, old):
                    self.cs.prior_identity.append(
                        PriorIdentity(existing.id, existing.cls, rule, old, until)
                    )
                    self.history(existing.id, "identity", rule, old, merged_identity[rule])
        if changed:
            self.cs.update_cis.append(
                CIUpdate(
                    id=existing.id,
                    name=name,
                    attributes=attrs,
                    attr_sources=owners,
                    identity=merged_identity,
                    sources=sources,
                    status=status,
                    cls=existing.cls,
                )
            )
        return changed

    def _agrees(self, existing: CI, dci: DesiredCI, identity: dict[str, str]) -> bool:
        """Whether the report says what the store holds, attribute owners included: the
        common case (a shared package every host reports), decided without copying."""
        if existing.status in ("stale", "retired") or self.source not in existing.sources:
            return False
        if dci.name is not None and dci.name != existing.name:
            return False
        attrs, owners = existing.attributes, existing.attr_sources
        for key, value in dci.attributes.items():
            if value is not None and (attrs.get(key) != value or owners.get(key) != self.source):
                return False
        held = existing.identity
        return all(held.get(rule) == value for rule, value in identity.items())

    def retire(self, ci: CI) -> None:
        self.history(ci.id, "ci", "status", ci.status, "retired")
        self.cs.update_cis.append(
            CIUpdate(
                id=ci.id,
                name=ci.name,
                attributes=ci.attributes,
                attr_sources=ci.attr_sources,
                identity=ci.identity,
                sources=ci.sources,
                status="retired",
                cls=ci.cls,
            )
        )


@functools.cache
def _first_unique_rule(cls: str) -> str:
    return next(r.name for r in CLASSES[cls].identity if r.unique)


async def reconcile(
    store: Store,
    desired: Desired,
    report_id: str,
    at: str,
    actor: str | None = None,
    extend: Extension | None = None,
    grace: timedelta = DEFAULT_RENAME_GRACE,
) -> ReconcileResult:
    """Reconcile one report; ``extend`` (if given) adds to the same change set before it is
    applied, with the root CI id and the ids of the report's CIs by local reference.

    Run it inside ``store.transaction()`` (``server.ingest`` does): identification reads
    and the write are then one transaction, so two servers cannot both create one host."""
    source = desired.source
    cs = ChangeSet(report_id=report_id, source=source, at=at)
    writer = _Writer(cs, source, actor, grace)

    root = desired.root
    root_identity = identity_values(CLASSES[root.cls], root.attributes)
    if not root_identity:
        raise ReconcileError(
            f"the report names no usable identity for its {root.cls}: it needs at least one of "
            + ", ".join(" + ".join(r.fields) for r in CLASSES[root.cls].identity)
            + " (placeholder values such as 'To be filled by O.E.M.' do not count)"
        )
    found = await identify(store, root.cls, root_identity)
    if found.ci is None and root.cls == "Host" and source != "agent":
        joined = await join_by_network(
            store, root.attributes.get("primary_mac"), root.attributes.get("management_ip")
        )
        if joined is not None:
            found.ci = joined
            found.explanation.append(
                f"network evidence: {joined.id} ({joined.name}) holds MAC "
                f"{root.attributes.get('primary_mac')} and address "
                f"{root.attributes.get('management_ip')} on one interface: matched"
            )
    for rule in found.withheld if found.ci is None else ():
        root_identity.pop(rule, None)
    root_id = found.ci.id if found.ci else new_id()
    scope = f"{source}:{root_id}"

    if found.ci is not None:
        last = await store.source_state(scope)
        if last is not None and last.last_report_at > at:
            # an older report arriving late would undo newer facts: remember it, apply nothing
            await store.apply(ChangeSet(report_id=report_id, source=source, at=at))
            return ReconcileResult("superseded", root_id, False, found.explanation)
        state = await store.load_scope(scope)
        writer.merge_ci(found.ci, root, root_identity)
        cs.touch_cis.append(root_id)
    else:
        state = ScopeState(cis=[], rels=[])
        writer.create_ci(root, root_id, root_identity, None)

    ids: dict[str, str] = {root.ref: root_id}
    await _resolve_cis(store, desired, writer, state, scope, ids)
    await _resolve_rels(store, desired, writer, state, scope, ids)

    if extend is not None:
        await extend(store, writer, root_id, ids)

    cs.source_state = SourceState(
        scope=scope, source=source, last_report_at=at, report_id=report_id
    )
    counts = cs.counts()
    await store.apply(cs)
    status = "applied" if counts["history_entries"] else "unchanged"
    return ReconcileResult(status, root_id, found.ci is None, found.explanation, counts)


async def _resolve_cis(
    store: Store,
    desired: Desired,
    writer: _Writer,
    state: ScopeState,
    scope: str,
    ids: dict[str, str],
) -> None:
    in_scope: dict[tuple[str, str], CI] = {}
    linked: dict[tuple[str, str], CI] = {}
    for index, cis in ((in_scope, state.cis), (linked, state.linked)):
        for ci in cis:
            rule = _first_unique_rule(ci.cls)
            if rule in ci.identity:
                index[(ci.cls, ci.identity[rule])] = ci

    pending: list[tuple[DesiredCI, dict[str, str], str]] = []
    for dci in desired.cis:
        if dci.parent_ref and dci.parent_attr:
            dci.attributes[dci.parent_attr] = dci.parent_format.format(id=ids[dci.parent_ref])
        identity = identity_values(CLASSES[dci.cls], dci.attributes)
        rule = _first_unique_rule(dci.cls)
        if rule not in identity:
            continue  # nothing to identify it by: not a CI
        key = identity[rule]
        # scoped facts are this source's own; shared ones it already points at are known too
        existing = (in_scope if dci.scoped else linked).get((dci.cls, key))
        if existing is not None:
            ids[dci.ref] = existing.id
            writer.merge_ci(existing, dci, identity)
        else:
            pending.append((dci, identity, key))

    # one batched lookup per class for everything not already in this scope
    by_class: dict[str, list[str]] = {}
    created_now = {ci.id for ci in writer.cs.create_cis}
    for dci, _identity, key in pending:
        # a part of a CI created by this very report (its identity holds the parent id)
        # cannot exist yet: no lookup
        if not (dci.parent_ref and ids.get(dci.parent_ref) in created_now):
            by_class.setdefault(dci.cls, []).append(key)
    # the classes' lookups are independent: a store that can overlap them (Neo4j) does
    answers = await asyncio.gather(
        *(
            store.find_by_identity(cls, _first_unique_rule(cls), keys)
            for cls, keys in by_class.items()
        )
    )
    found: dict[tuple[str, str], CI] = {}
    for cls, answer in zip(by_class, answers, strict=True):
        for key, cis in answer.items():
            found[(cls, key)] = cis[0]
    for dci, identity, key in pending:
        existing = found.get((dci.cls, key))
        if existing is not None:
            writer.merge_ci(existing, dci, identity)
            ids[dci.ref] = existing.id
        else:
            created = writer.create_ci(dci, new_id(), identity, scope if dci.scoped else None)
            found[(dci.cls, key)] = created  # a duplicate within the report reuses it
            ids[dci.ref] = created.id

    # scoped CIs a complete section no longer holds are retired, not deleted
    wanted_ids = set(ids.values())
    for ci in state.cis:
        section = desired.class_sections.get(ci.cls)
        if (
            ci.id not in wanted_ids
            and section in desired.complete_sections
            and ci.status != "retired"
        ):
            writer.retire(ci)


async def _resolve_rels(
    store: Store,
    desired: Desired,
    writer: _Writer,
    state: ScopeState,
    scope: str,
    ids: dict[str, str],
) -> None:
    cs = writer.cs
    existing = {(r.type, r.src, r.dst): r for r in state.rels}
    wanted: dict[tuple[str, str, str], dict[str, Any]] = {}
    for drel in desired.rels:
        if drel.src in ids and drel.dst in ids:
            wanted[(drel.type, ids[drel.src], ids[drel.dst])] = drel.attributes

    missing = []
    for key, attrs in wanted.items():
        rel = existing.get(key)
        if rel is None:
            missing.append(key)
        elif attrs and any(rel.attributes.get(k) != v for k, v in attrs.items()):
            rel.attributes = {**rel.attributes, **attrs}
            rel.last_seen = cs.at
            cs.update_rels.append(rel)

    # a relationship touching a CI this report creates cannot be open anywhere yet
    created_now = {ci.id for ci in cs.create_cis}
    elsewhere = await store.find_open_rels(
        [k for k in missing if k[1] not in created_now and k[2] not in created_now]
    )
    for key in missing:
        rel_type, src, dst = key
        other = elsewhere.get(key)
        if other is not None:
            # the same fact held by another source: add ours, leave its owner alone
            if source_missing := writer.source not in other.sources:
                other.sources = sorted({*other.sources, writer.source})
            if source_missing:
                cs.update_rels.append(other)
            continue
        cs.create_rels.append(
            Rel(
                id=new_id(),
                type=rel_type,
                src=src,
                dst=dst,
                first_seen=cs.at,
                last_seen=cs.at,
                scope=scope,
                sources=[writer.source],
                attributes=wanted[key],
            )
        )

    for key, rel in existing.items():
        if key in wanted:
            continue
        if desired.rel_sections.get(rel.type) in desired.complete_sections:
            cs.close_rels.append(rel.id)
            cs.close_rel_types[rel.id] = rel.type
