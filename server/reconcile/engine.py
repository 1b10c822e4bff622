"""Compare what a report says with the store and write only the differences.

Steady state is the common case: a report that says what the last one said
writes the root CI's last_seen, the source's report time and the report id,
whatever its size. Facts of a scope take their last_seen from that report time
(see ``cmdb.graph.store``). ``reconcile_steady`` answers it from one read and one
compare-and-set write, before and without identification; ``reconcile`` decides
every other report (and, for a caller that cannot probe, that one too).
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from cmdb.graph import times
from cmdb.graph.identity import alias_values, identity_values
from cmdb.graph.schema import CLASSES, RELS
from cmdb.graph.steady import IdentityKey, SteadyProbe
from cmdb.graph.store import (
    CI,
    ChangeSet,
    CIUpdate,
    PriorIdentity,
    Rel,
    ScopeState,
    SourceState,
    Store,
    StoreConflict,
)
from cmdb.server.reconcile.addresses import address_ref, parse_address
from cmdb.server.reconcile.completeness import judge
from cmdb.server.reconcile.desired import Desired, DesiredCI
from cmdb.server.reconcile.identify import (
    Identification,
    adopt_manual_placeholder,
    identify,
    join_by_network,
)

# Per-attribute source precedence: a value written by a stronger source is not
# overwritten by a weaker one (hardware facts from the agent beat SNMP's; owner
# and criticality set by hand beat any discovery).
SOURCE_PRIORITY = {"manual": 100, "agent": 50, "snmp": 30, "import": 20}

# how long identity values a CI gave up (a rename) keep matching: a scan that still reads
# the old sysName joins the renamed host instead of making a second one
DEFAULT_RENAME_GRACE = timedelta(days=7)
FOREVER = "9999-12-31T23:59:59.999Z"  # an identity alias does not expire


def _plus(at: str, delta: timedelta) -> str:
    return times.to_store(times.parse_instant(at) + delta)


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
        self._aliases(ci, attrs)
        return ci

    def _aliases(self, ci: CI, attrs: dict[str, Any]) -> None:
        """Every value the schema's identity aliases give (each stack member's serial)
        identifies the CI too: kept with no end, like a renamed value in its grace period."""
        for rule, value in alias_values(CLASSES[ci.cls], attrs):
            if ci.identity.get(rule) != value and value not in ci.prior_identity.get(rule, ()):
                self.cs.prior_identity.append(PriorIdentity(ci.id, ci.cls, rule, value, FOREVER))

    def merge_ci(self, existing: CI, dci: DesiredCI, identity: dict[str, str]) -> bool:
        """Merge reported attributes by precedence; queue an update only if something changed."""
        if self.agrees(existing, dci, identity):
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
        self._aliases(existing, attrs)
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

    def agrees(self, existing: CI, dci: DesiredCI, identity: dict[str, str]) -> bool:
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


@dataclass(slots=True)
class ReportMeta:
    """How a report stands in its source's sequence, from the envelope and the server.

    ``received_at``: the server's clock when the report arrived (ISO, UTC). ``skew``:
    the agent's clock minus the server's in seconds (from ``sent_at``), None when unknown.
    ``sequence``/``instance``: the agent's report counter and the id of the agent install
    that counts (a reinstall starts a new count). ``base_report_id``: for a delta, the
    report it builds on. ``agent_key``: the agent token's binding key (None: not an agent
    token, or binding not used)."""

    received_at: str
    skew: float | None = None
    sequence: int | None = None
    instance: str | None = None
    base_report_id: str | None = None
    delta: bool = False
    agent_key: str | None = None
    max_lag_s: float = 72 * 3600.0  # older collection times are a wrong clock (stale_after)


class FullReportRequired(ReconcileError):
    """A delta the server cannot apply truthfully: its base is not the last report the
    server applied for that host (HTTP 409, status ``full_report_required``)."""


class ReportForbidden(ReconcileError):
    """The report describes a host its agent token does not speak for (HTTP 403)."""


# a clock this far off the server's is recorded on the host (clock_skew_seconds)
SKEW_TOLERANCE_S = 300.0


def report_time(collected_at: str, meta: ReportMeta, last_at: str | None) -> str:
    """The time a report's facts are stamped with, on the server's clock.

    With the agent's ``sent_at`` (its skew measured): the collection time corrected by the
    skew. Without it: the collection time when it is plausible (not in the future beyond
    ``SKEW_TOLERANCE_S``, not older than ``meta.max_lag_s``: a report spooled while the
    server was away), else the arrival time: a clock reset to 2001 cannot make a live host
    look retired. Never later than the arrival nor earlier than the last report applied
    for the same source, so the order is the server's."""
    received = _parse(meta.received_at)
    collected = _parse(collected_at)
    if meta.skew is not None:
        moment = min(collected - timedelta(seconds=meta.skew), received)
    elif _plausible(collected_at, meta):
        moment = min(collected, received)
    else:
        moment = received
    if last_at is not None:
        moment = max(moment, _parse(last_at))
    return times.to_store(moment)


def clock_skew(collected_at: str, meta: ReportMeta) -> float:
    """The agent's clock minus the server's, in seconds: measured from ``sent_at`` when the
    agent sends it, else inferred from an implausible collection time (0 when the
    collection time is plausible: no evidence of a wrong clock)."""
    if meta.skew is not None:
        return meta.skew
    if _plausible(collected_at, meta):
        return 0.0
    return (_parse(collected_at) - _parse(meta.received_at)).total_seconds()


def _plausible(collected_at: str, meta: ReportMeta) -> bool:
    """A collection time that is not in the future beyond the tolerance nor older than a
    report could have waited in a spool (``meta.max_lag_s``): the agent's clock is right."""
    lag = (_parse(meta.received_at) - _parse(collected_at)).total_seconds()
    return -SKEW_TOLERANCE_S <= lag <= meta.max_lag_s


_parse = times.parse_instant


async def reconcile(
    store: Store,
    desired: Desired,
    report_id: str,
    at: str,
    actor: str | None = None,
    extend: Extension | None = None,
    grace: timedelta = DEFAULT_RENAME_GRACE,
    meta: ReportMeta | None = None,
) -> ReconcileResult:
    """Reconcile one report; ``extend`` (if given) adds to the same change set before it is
    applied, with the root CI id and the ids of the report's CIs by local reference.

    ``at`` is the report's collection time as the source says it; with ``meta`` (what
    ``cmdb.server.ingest`` passes) the server's clock orders and stamps the report instead (see
    ``report_time``), a delta is checked against its base and an agent token against the
    host it is bound to. Raises ReconcileError (422), FullReportRequired (409),
    ReportForbidden (403).

    Run it inside ``store.transaction()`` (``cmdb.server.ingest`` does): identification reads
    and the write are then one transaction, so two servers cannot both create one host."""
    source = desired.source
    collected_at = at
    if meta is None:  # a caller without an envelope: the source's time is the time
        meta = ReportMeta(received_at=at, skew=0.0)
    bound_id = await store.agent_binding(meta.agent_key) if meta.agent_key else None

    root = desired.root
    _note_skew(root, clock_skew(collected_at, meta))
    root_identity = identity_values(CLASSES[root.cls], root.attributes)
    found = await _identify_root(store, desired, root_identity, bound_id, meta)
    for rule in found.withheld if found.ci is None else ():
        root_identity.pop(rule, None)
    root_id = found.ci.id if found.ci else new_id()
    scope = f"{source}:{root_id}"
    last = await store.source_state(scope) if found.ci is not None else None

    if meta.delta and (last is None or last.report_id != meta.base_report_id):
        held = last.report_id if last is not None else "nothing"
        raise FullReportRequired(
            f"this delta builds on report {meta.base_report_id}, but the last report this "
            f"server applied for the host is {held}: send a full report"
        )
    at = report_time(collected_at, meta, last.last_report_at if last else None)
    cs = ChangeSet(report_id=report_id, source=source, at=at)
    writer = _Writer(cs, source, actor, grace)
    if _older_sequence(last, meta):
        # the agent counted this report before one already applied: it would undo newer
        # facts. Remember it (a resend is a duplicate), apply nothing.
        await store.apply(ChangeSet(report_id=report_id, source=source, at=at))
        found.explanation.append(
            f"sequence {meta.sequence} is older than {last.sequence}, already applied"
        )
        return ReconcileResult("superseded", root_id, False, found.explanation)

    # observed connections are resolved against the whole store on every report (what
    # they reach changes without the report changing): a report with some takes the full path
    # a connections section, even empty, is resolved again: links no longer seen close
    observes = extend is not None and "connections" in desired.section_sizes
    if _unchanged(found.ci, last, desired, writer, root_identity):
        # the steady state: every section as the last applied report said it. No scope
        # read, no comparison: the source's report time stands for every fact's last_seen
        cs.touch_cis.append(root_id)
        if observes:
            # what observed connections reach changes without the report changing (the
            # server reported since, an address changed hands): resolved again, against
            # the host's own endpoints and addresses only (not its 800 packages)
            own = await _own_refs(store, scope, root.ref, root_id)
            await extend(store, writer, root_id, own)
        cs.source_state = _source_state(scope, source, at, report_id, meta, last.sections)
        counts = cs.counts()
        await store.apply(cs)
        found.explanation.append("every section as in the last report applied: unchanged")
        status = "applied" if counts["history_entries"] else "unchanged"
        return ReconcileResult(status, root_id, False, found.explanation, counts)

    verdict = judge(
        desired.complete_sections,
        desired.section_sizes,
        desired.noted_sections,
        last.sections if last is not None else {},
        report_id,
    )
    desired.complete_sections = verdict.closable
    for section, why in sorted(verdict.held_back.items()):
        found.explanation.append(f"section {section}: {why}")
    notes = _note_history(desired.noted_sections, last.sections if last else {}, verdict.state)

    if found.ci is not None:
        state = await store.load_scope(scope, _carried_rel_types(desired))
        writer.merge_ci(found.ci, root, root_identity)
        cs.touch_cis.append(root_id)
    else:
        state = ScopeState(cis=[], rels=[])
        writer.create_ci(root, root_id, root_identity, None)
    if meta.agent_key and bound_id is None:
        cs.bind_agent = (meta.agent_key, root_id)
    for section, (old, new) in sorted(notes.items()):
        # what a source could not read (a table that timed out) is in the CI's history,
        # once per change, not once per scan
        writer.history(root_id, "completeness", section, old, new)
    for section, shrink in sorted(verdict.confirmed.items()):
        writer.history(
            root_id,
            "completeness",
            section,
            {"count": shrink["previous"]},
            {"count": shrink["count"], "reports": [shrink["first_report_id"], report_id]},
        )

    ids: dict[str, str] = {root.ref: root_id}
    desired.expand()
    await _resolve_cis(store, desired, writer, state, scope, ids)
    await _resolve_rels(store, desired, writer, state, scope, ids)

    if extend is not None:
        await extend(store, writer, root_id, ids)

    sections = dict(verdict.state)
    for section, digest in desired.section_digests.items():
        if section not in verdict.held_back:  # a partial read is no baseline
            sections[section] = {**(sections.get(section) or {}), "digest": digest}
    cs.source_state = _source_state(scope, source, at, report_id, meta, sections)
    counts = cs.counts()
    await store.apply(cs)
    status = "applied" if counts["history_entries"] else "unchanged"
    return ReconcileResult(status, root_id, found.ci is None, found.explanation, counts)


async def _own_refs(store: Store, scope: str, root_ref: str, root_id: str) -> dict[str, str]:
    """Local reference -> CI id of a host's own endpoints and global addresses, as the host
    transform names them (``ep:tcp/5432``, ``ip:10.0.0.5:global``): what the observed
    connections hook needs, read without the rest of the scope."""
    state = await store.load_scope(scope, ("LISTENS_ON", "HAS_INTERFACE", "HAS_IP"))
    refs = {root_ref: root_id}
    for ci in (*state.cis, *state.linked):
        attrs = ci.attributes
        if ci.cls == "Endpoint" and attrs.get("protocol") and attrs.get("port") is not None:
            refs[f"ep:{attrs['protocol']}/{attrs['port']}"] = ci.id
        elif ci.cls == "IPAddress" and attrs.get("net_scope") == "global" and attrs.get("address"):
            ip = parse_address(attrs["address"])
            if ip is not None:
                refs[address_ref(ip, "global")] = ci.id
    return refs


def _carried_rel_types(desired: Desired) -> tuple[str, ...] | None:
    """The relationship types of a scope a report can speak of: all but those of the
    sections it does not carry. A delta that left its packages out reads none of the
    host's 800 INSTALLED relationships and their Software CIs: facts of a section the
    report does not carry are neither compared nor closed. None: every type (a report
    that carries every section, or a caller that did not say which it carries)."""
    present = set(desired.section_sizes) | set(desired.section_digests)
    if not present:
        return None
    absent = {t for t, section in desired.rel_sections.items() if section not in present}
    if not absent:
        return None
    return tuple(t for t in RELS if t not in absent)


def _older_sequence(last: SourceState | None, meta: ReportMeta) -> bool:
    """Whether the agent install counted this report before the last one applied."""
    return (
        last is not None
        and meta.sequence is not None
        and meta.instance is not None
        and last.instance == meta.instance
        and last.sequence is not None
        and meta.sequence < last.sequence
    )


class _KnownEmpty:
    """A store view whose reads of the scopes the probe found empty (no CI, no open
    relationship of the types it looked for) answer at once with what the store would
    answer: nothing; every other call goes to ``store``. A host whose observed
    connections link to nothing costs its hook no read of them."""

    def __init__(self, store: Store, probe: SteadyProbe) -> None:
        self._store = store
        self._empty = probe.empty_scopes
        self._types = set(probe.scope_types)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def load_scope(self, scope: str, rel_types: tuple[str, ...] | None = None) -> ScopeState:
        if scope in self._empty and rel_types is not None and set(rel_types) <= self._types:
            return ScopeState(cis=[], rels=[])
        return await self._store.load_scope(scope, rel_types)


def steady_key(root: DesiredCI) -> IdentityKey | None:
    """The identity value a report's root CI is first identified by, when its rule is
    unique (a Host's system UUID): the one value ``Store.steady_probe`` needs to name the
    CI without identification. None: the strongest value reported is a weak one, or none."""
    cls = CLASSES.get(root.cls)
    if cls is None:
        return None
    values = identity_values(cls, root.attributes)
    for rule in cls.identity:
        if rule.name in values:
            return IdentityKey(root.cls, rule.name, values[rule.name]) if rule.unique else None
    return None


def _identified(cls: str, identity: dict[str, str], ci: CI, bound: str | None) -> list[str] | None:
    """What ``identify`` (with the agent token's binding) would answer for ``identity``
    when ``ci`` holds its first value and that value's rule is unique: ``ci``, with the
    same explanation. None when that cannot be known without identification."""
    if not identity:
        if bound == ci.id:
            return [f"no identity in the report: the agent's token speaks for {bound}"]
        return None
    lines = []
    for rule in CLASSES[cls].identity:
        value = identity.get(rule.name)
        if value is None:
            lines.append(f"{rule.name}: not reported or placeholder")
            continue
        if not rule.unique or ci.identity.get(rule.name) != value:
            return None
        lines.append(f"{rule.name}={value!r}: matched {ci.id}")
        return lines
    return None


async def reconcile_steady(
    store: Store,
    desired: Desired,
    report_id: str,
    at: str,
    probe: SteadyProbe,
    meta: ReportMeta,
    actor: str | None = None,
    extend: Extension | None = None,
    grace: timedelta = DEFAULT_RENAME_GRACE,
) -> ReconcileResult | None:
    """The steady state without identification: a report whose sections are all as the
    last report applied for its source said them (``probe``: ``Store.steady_probe``)
    writes the source's report time, report id and sequence, the root CI's last_seen and
    the report id (``Store.advance_source_state``), and nothing else but what observed
    connections resolve to (``extend``). No scope read, no identity lock, no
    identification read, and no transaction needed around it: the write is one
    compare-and-set on the state the probe read, with everything else the report writes
    (inside ``store.transaction()`` it joins that transaction instead).

    None when the probe alone cannot show that: the caller runs ``reconcile``, which
    decides every other case exactly as before (a new host, a changed or noted section, a
    delta on another base, an older sequence, a token not bound yet or bound elsewhere, a
    host found by a weak key only, a stale or retired CI, another source's values).

    Why the answer is identification's: the CI the probe found (by the token's binding or
    by the report's first identity value) holds that first value, whose rule is unique,
    and every other value the report names (``_unchanged`` compares the root), and no
    other CI holds the value from before a rename (``probe.contested``); ``identify``
    would find that CI by that rule, see no conflicting key, and stop there.

    Why no identity lock (and no transaction): the decision rests on the source state
    read by the probe, and the write is a compare-and-set on that state's report id. A
    report of the same host applied in between makes the write fail (StoreConflict: the
    ingestor runs the report again and sees the new state); one applied after reads this
    report's state. A first report of another machine with the same identity identifies
    this CI (its unique value is held) and takes its locks: it cannot make a second CI.
    Other writers (a scan merging into the host, an edit, the staleness sweep) meet this
    report only at the root's last_seen, as they would on the full path."""
    source = desired.source
    ci, last = probe.ci, probe.state
    if ci is None or last is None or probe.contested:
        return None
    if meta.agent_key is not None and probe.bound != ci.id:
        return None  # not bound yet (the full path binds), or bound to another host
    root = desired.root
    if root.cls != ci.cls:
        return None
    collected_at = at
    _note_skew(root, clock_skew(collected_at, meta))
    identity = identity_values(CLASSES[root.cls], root.attributes)
    explanation = _identified(root.cls, identity, ci, probe.bound)
    if explanation is None:
        return None
    if meta.delta and last.report_id != meta.base_report_id:
        return None  # the full path answers full_report_required
    if _older_sequence(last, meta):
        return None  # superseded: the full path remembers it
    at = report_time(collected_at, meta, last.last_report_at)
    cs = ChangeSet(report_id=report_id, source=source, at=at, record_report=False)
    writer = _Writer(cs, source, actor, grace)
    if not _unchanged(ci, last, desired, writer, identity):
        return None
    scope = f"{source}:{ci.id}"
    if extend is not None and "connections" in desired.section_sizes:
        # observed connections are resolved again on every report that carries them,
        # against the host's own endpoints and addresses only (not its 800 packages); an
        # empty section names none of them (and an unchanged report makes the host no new
        # target of others' pending observations): no read for them
        own = {root.ref: ci.id}
        if desired.section_sizes["connections"]:
            own = await _own_refs(store, scope, root.ref, ci.id)
        await extend(_KnownEmpty(store, probe), writer, ci.id, own)
    state = _source_state(scope, source, at, report_id, meta, last.sections)
    changes = cs if not cs.is_empty() or cs.prior_identity else None
    # without facts or history, the write is bookkeeping (the report's time, id and
    # sequence; what its connections left pending): lost to a power cut before the store's
    # next durable commit, it costs the host one full comparison later (a delta naming
    # this report is answered full_report_required), never a fact
    durable = changes is not None and bool(
        any(cs.counts().values()) or cs.prior_identity or cs.set_status or cs.bind_agent
    )
    if not await store.advance_source_state(state, last.report_id, [ci.id], changes, durable):
        raise StoreConflict(f"another report of {scope} was applied meanwhile")
    explanation.append("every section as in the last report applied: unchanged")
    counts = cs.counts()
    status = "applied" if counts["history_entries"] else "unchanged"
    return ReconcileResult(status, ci.id, False, explanation, counts)


def _source_state(
    scope: str, source: str, at: str, report_id: str, meta: ReportMeta, sections: dict
) -> SourceState:
    """What the store keeps of this report for the next one of the same source instance."""
    return SourceState(
        scope=scope,
        source=source,
        last_report_at=at,
        report_id=report_id,
        sequence=meta.sequence,
        instance=meta.instance,
        sections=sections,
    )


def _unchanged(
    ci: CI | None,
    last: SourceState | None,
    desired: Desired,
    writer: _Writer,
    identity: dict[str, str],
) -> bool:
    """Whether a report repeats the last one applied for its source instance: every section
    it carries has the digest stored then, no section is noted, and the root CI already
    holds what the report says of it (its attributes come from those sections, but also
    from the envelope: a clock skew)."""
    if ci is None or last is None or not desired.section_digests or desired.noted_sections:
        return False
    stored = last.sections
    if any(_note_of(entry) for entry in stored.values()):
        return False  # the last report was read in part: this one is news either way
    for section, digest in desired.section_digests.items():
        entry = stored.get(section)
        if not isinstance(entry, dict) or entry.get("digest") != digest:
            return False
    return writer.agrees(ci, desired.root, identity)


def _note_history(
    noted: dict[str, str], previous: dict[str, Any], state: dict[str, Any]
) -> dict[str, tuple[Any, Any]]:
    """Sections whose collector note changed since the last report (appeared, changed or
    went away): section -> (old, new) for history. The notes are kept in ``state``."""
    changes: dict[str, tuple[Any, Any]] = {}
    for section in sorted(set(noted) | {s for s, e in previous.items() if _note_of(e)}):
        old = _note_of(previous.get(section))
        new = noted.get(section)
        entry = dict(state.get(section) or {})
        if new:
            entry["note"] = new
        else:
            entry.pop("note", None)
        state[section] = entry
        if old != new:
            changes[section] = (
                {"read": "in part", "note": old} if old else {"read": "complete"},
                {"read": "in part", "note": new} if new else {"read": "complete"},
            )
    return changes


def _note_of(entry: Any) -> str | None:
    return entry.get("note") if isinstance(entry, dict) else None


def _note_skew(root: DesiredCI, skew: float | None) -> None:
    """A Host records how far its agent's clock is off (whole minutes; 0 within tolerance),
    so a CMOS reset shows on the CI and in its history instead of breaking ordering."""
    if root.cls != "Host" or root.section is not None or skew is None:
        return
    off = 0 if abs(skew) <= SKEW_TOLERANCE_S else int(round(skew / 60.0)) * 60
    root.attributes["clock_skew_seconds"] = off


async def _identify_root(
    store: Store,
    desired: Desired,
    root_identity: dict[str, str],
    bound_id: str | None,
    meta: ReportMeta,
) -> Identification:
    """Identification of the report's root CI, with the agent token's binding: a report
    without usable identity (a delta that left the identity sections out) is its bound
    host; a report that identifies another existing host is refused."""
    root = desired.root
    if not root_identity:
        if bound_id is not None and (bound := (await store.get_cis([bound_id])).get(bound_id)):
            return Identification(
                ci=bound,
                rule="agent_token",
                explanation=[f"no identity in the report: the agent's token speaks for {bound_id}"],
            )
        rules = ", ".join(" + ".join(r.fields) for r in CLASSES[root.cls].identity)
        message = (
            f"the report names no usable identity for its {root.cls}: it needs at least one "
            f"of {rules} (placeholder values such as 'To be filled by O.E.M.' do not count)"
        )
        if meta.delta:
            raise FullReportRequired(message + "; send a full report")
        raise ReconcileError(message)
    found = await identify(store, root.cls, root_identity)
    if found.ci is None and root.cls == "Host" and desired.source != "agent":
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
    # the weakest rule: a CI an engineer declared by hand, named as the report names it
    await adopt_manual_placeholder(
        store, found, root.cls, root.attributes, root.name, root_identity
    )
    if bound_id is None:
        return found
    if found.ci is None:
        # a token used on a second machine (one token copied to every host is the classic
        # mistake) must not merge that machine into the first: refused, with what to do
        raise ReportForbidden(
            f"this agent token speaks for host {bound_id}, but the report describes a host "
            "the CMDB does not know: each host needs its own agent token (if this is the "
            "same machine with new hardware identity, give it a new token)"
        )
    if found.ci.id != bound_id:
        raise ReportForbidden(
            f"this agent token speaks for host {bound_id}, but the report describes "
            f"{found.ci.id} ({found.ci.name}): each host needs its own agent token"
        )
    return found


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
