"""Validate a report and reconcile it into the store; acknowledge only once committed.

Design choice: a report is reconciled synchronously inside the request and the
answer is sent after the store's transaction has committed (SQLite with
synchronous=FULL, or a Neo4j commit). An acknowledged report is therefore in
the graph, not in a queue; when the store cannot take it the server answers
503 with Retry-After and the agent keeps the report in its spool. Identification
happens inside the write transaction, under locks on the identity values.

The steady state (most reports repeat their host's last one) takes neither: one read
of the host's source state and one compare-and-set write of its report time, id and
sequence (``Ingestor._steady``, ``engine.reconcile_steady``). Its sections are not
checked against their schemas again when their digests are the ones the store kept.
On SQLite that write, when it holds no fact and no history, commits without the
fsync: a process crash keeps it, a power cut before the next durable commit loses
only that bookkeeping (the host's next delta naming it is answered
full_report_required, and a full report is compared), never a fact.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import fastjsonschema

from cmdb.collectors.model import (
    AGENT_REPORT_SCHEMA,
    HOST_SECTION_SCHEMAS,
    REPORT_SCHEMA,
    SUPPORTED_SCHEMA_VERSIONS,
)
from cmdb.graph import times
from cmdb.graph.identity import identity_values
from cmdb.graph.schema import CLASSES
from cmdb.graph.store import Store, StoreConflict, StoreUnavailable
from cmdb.server.admission import Admission
from cmdb.server.catalogue.connections import connection_hook, scope_of
from cmdb.server.catalogue.manual_cis import HOST_NAMED, identity_lock_keys, name_lock_key
from cmdb.server.reconcile import ReconcileResult, reconcile
from cmdb.server.reconcile import host as host_transform
from cmdb.server.reconcile.completeness import (
    noted_sections,
    section_digests,
    section_sizes,
    view_digests,
)
from cmdb.server.reconcile.desired import Desired
from cmdb.server.reconcile.engine import (
    DEFAULT_RENAME_GRACE,
    ReportMeta,
    reconcile_steady,
    steady_key,
)
from cmdb.server.reconcile.identify import reported_names

log = logging.getLogger("cmdb.ingest")

# compiled to Python once: an 800-package report validates in about 1 ms instead of 30
_ENVELOPE = fastjsonschema.compile(REPORT_SCHEMA)
# an agent report: the envelope (known section names), then each section on its own, so
# that a section identical to one validated moments ago (the steady state: every host
# sends the same sections hour after hour) is not validated again
_AGENT_ENVELOPE = fastjsonschema.compile(
    {
        **AGENT_REPORT_SCHEMA,
        "properties": {
            **AGENT_REPORT_SCHEMA["properties"],
            "sections": {
                "type": "object",
                "propertyNames": {"enum": sorted(HOST_SECTION_SCHEMAS)},
            },
        },
    }
)
_AGENT_SECTIONS = {
    name: fastjsonschema.compile(schema) for name, schema in HOST_SECTION_SCHEMAS.items()
}


def _fingerprint(schema: dict[str, Any]) -> bytes:
    return hashlib.blake2b(
        json.dumps(schema, sort_keys=True, default=str).encode(), digest_size=32
    ).digest()


# each agent section's digest is keyed with its schema's fingerprint
# (``completeness.digest``): a digest the store kept therefore says "this content was
# valid under this very schema", and a schema change makes every stored digest differ once
SECTION_KEYS = {name: _fingerprint(schema) for name, schema in HOST_SECTION_SCHEMAS.items()}
# sections checked moments ago in this process (content shared across hosts: os, cpu)
_VALID_SECTIONS: OrderedDict[tuple[str, str], None] = OrderedDict()
_VALID_SECTIONS_MAX = 20_000


@dataclass(slots=True)
class Checked:
    """A report whose envelope is valid: each section's digest, and the sections not yet
    checked against their schema. An agent report's sections wait for the store: a
    section whose digest its source's last applied report left (same content, same
    schema) was checked when that report was accepted and is not checked again; every
    other section is, before anything is compared or written."""

    digests: dict[str, str]
    unchecked: set[str]


def check_sections(sections: dict[str, Any], checked: Checked, proven: Iterable[str] = ()) -> None:
    """Check the sections ``checked`` still holds against their schemas, except the
    ``proven`` ones (their digest is one the store kept for this source); raise
    ReportInvalid naming the first bad field. What was checked is crossed off."""
    checked.unchecked.difference_update(proven)
    for name in [n for n in sections if n in checked.unchecked]:
        key = (name, checked.digests[name])
        if key in _VALID_SECTIONS:
            _VALID_SECTIONS.move_to_end(key)
            checked.unchecked.discard(name)
            continue
        try:
            _AGENT_SECTIONS[name](sections[name])
        except fastjsonschema.JsonSchemaValueException as error:
            where = "$.sections." + name + _json_path(error.name)[1:]
            message = error.message
            if message.startswith(error.name):
                message = message[len(error.name) :].strip()
            raise ReportInvalid(f"{where}: {message}", where) from error
        checked.unchecked.discard(name)
        _VALID_SECTIONS[key] = None
        if len(_VALID_SECTIONS) > _VALID_SECTIONS_MAX:
            _VALID_SECTIONS.popitem(last=False)


class ReportInvalid(ValueError):
    def __init__(self, message: str, path: str, status: int = 400) -> None:
        super().__init__(message)
        self.path = path
        self.status = status


def _json_path(name: str) -> str:
    """fastjsonschema names the root ``data``; the API speaks JSONPath (``$``)."""
    return "$" + name[len("data") :] if name.startswith("data") else name


def validate_report(report: Any) -> dict[str, str]:
    """Raise ReportInvalid naming the first bad field (400) or an unknown version (422);
    the digest of each section of a valid report."""
    checked = check_envelope(report)
    check_sections(report["sections"], checked)
    return checked.digests


def check_envelope(report: Any) -> Checked:
    """Check a report but for its agent sections (``check_sections`` does those); raise
    ReportInvalid naming the first bad field (400) or an unknown version (422). The
    sections' digests (agent sections keyed by their schema, ``SECTION_KEYS``)."""
    if not isinstance(report, dict):
        raise ReportInvalid("a report must be a JSON object", "$")
    version = report.get("schema_version")
    if isinstance(version, int) and version not in SUPPORTED_SCHEMA_VERSIONS:
        supported = ", ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
        raise ReportInvalid(
            f"schema_version {version} is not supported; this server accepts {supported}",
            "$.schema_version",
            status=422,
        )
    agent = report.get("source") == "agent"
    try:
        (_AGENT_ENVELOPE if agent else _ENVELOPE)(report)
    except fastjsonschema.JsonSchemaValueException as error:
        where = _json_path(error.name)
        message = error.message
        if message.startswith(error.name):
            message = message[len(error.name) :].strip()
        raise ReportInvalid(f"{where}: {message}", where) from error
    try:
        normalise_time(report["collected_at"])
    except ValueError as error:
        raise ReportInvalid(
            f"$.collected_at: {report['collected_at']!r} is not an ISO 8601 time",
            "$.collected_at",
        ) from error
    sections = report["sections"]
    if not agent:  # the whole report is checked above
        return Checked(section_digests(sections), set())
    return Checked(section_digests(sections, SECTION_KEYS), set(sections))


def normalise_time(value: str, clamp: bool = True) -> str:
    """ISO 8601 to the store's form (UTC, milliseconds, Z); a future time is clamped to now
    unless ``clamp`` is off. Raises ValueError for text that is no time or no UTC instant
    (``0001-01-01T00:00:00+14:00`` lies before year 1 in UTC)."""
    parsed = times.parse_instant(value)
    if clamp:
        parsed = min(parsed, times.now())
    return times.to_store(parsed)


def utc_now() -> datetime:
    return times.now()


def report_meta(
    report: dict[str, Any], agent_key: str | None, received: datetime | None = None
) -> ReportMeta:
    """Where a report stands, from its envelope and the server's clock: its arrival time,
    the agent's clock skew (``sent_at``, the agent's clock when it sent, against ours), its
    sequence number and agent instance, and whether it is a delta on ``base_report_id``."""
    received = received or utc_now()
    skew = None
    sent_at = report.get("sent_at")
    if isinstance(sent_at, str):
        try:
            sent = times.parse_instant(sent_at)
            skew = (sent - received).total_seconds()
        except ValueError:
            skew = None
    sequence = report.get("sequence")
    base = report.get("base_report_id")
    delta = bool(base) or report.get("mode") == "delta" or bool(report.get("unchanged_sections"))
    instance = report.get("agent_instance")
    return ReportMeta(
        received_at=times.to_store(received),
        skew=skew,
        sequence=sequence if isinstance(sequence, int) and not isinstance(sequence, bool) else None,
        instance=instance if isinstance(instance, str) else None,
        base_report_id=base if isinstance(base, str) else None,
        delta=delta,
        agent_key=agent_key,
    )


# source kind -> pure transform of a report into what it describes
TRANSFORMS: dict[str, Callable[[dict[str, Any]], Desired]] = {"agent": host_transform.transform}
# source kind -> the part of a report's sections that can change the CMDB (digested to tell
# an unchanged report); sources without one compare every section as sent
CHANGE_VIEWS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "agent": host_transform.change_view
}
# source kind -> steps run after the report's own change set is committed, under the same
# writer lock (e.g. linking SNMP neighbours to devices other reports created)
PostStep = Callable[[Store, dict[str, Any], ReconcileResult, str], Awaitable[None]]
POST_STEPS: dict[str, list[PostStep]] = {}


def _no_extension(report: dict[str, Any], stats: dict[str, int]) -> None:
    return None


# source kind -> report -> engine hook (or None) that adds facts resolved against the store
# to the report's own change set (observed connections become CONNECTS_TO)
EXTENSIONS = {"agent": connection_hook}
# source kind -> the scopes its hook reads (prefixes of the host's id) and the relationship
# types it reads there: the steady state's probe says which are empty
# (``Store.steady_probe``), and those are not read
EXTENSION_SCOPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "agent": ((scope_of(""),), ("CONNECTS_TO",))
}


def _load_optional_sources() -> None:
    try:
        snmp_transform = importlib.import_module("cmdb.server.reconcile.snmp")
    except ModuleNotFoundError as exc:
        if exc.name != "cmdb.server.reconcile.snmp":
            raise
        return
    TRANSFORMS.setdefault("snmp", snmp_transform.transform)
    for step in getattr(snmp_transform, "POST_STEPS", ()):
        if step not in POST_STEPS.setdefault("snmp", []):
            POST_STEPS["snmp"].append(step)


_load_optional_sources()


def lock_keys(desired: Desired) -> list[str]:
    """The identity values a report's root CI is identified by (``class|rule|value``): the
    store locks them for the whole transaction, so two reports of one new host, on one
    server or two, are identified one after the other and make one CI."""
    root = desired.root
    values = identity_values(CLASSES[root.cls], root.attributes)
    keys = identity_lock_keys(root.cls, values)
    mac = root.attributes.get("primary_mac")
    if mac:  # network evidence joins hosts by MAC: reports that may meet there meet here
        keys.append(f"mac|{mac}")
    if root.cls in HOST_NAMED:
        # a host declared by hand is adopted by name: a declaration of the same name (locked
        # the same way) waits, or this report does
        names = reported_names(root.cls, root.attributes, root.name)
        keys += sorted({name_lock_key(root.cls, n) for n in names})
    return keys


class Ingestor:
    """Reconciles each report in one store transaction: identification reads, the decision
    and the write commit together (``Store.transaction``), so correctness comes from the
    store, not from this process; reports of different hosts run concurrently. A conflict
    with a concurrent writer runs the report again (``retries`` times, with jitter).

    A circuit breaker: after the store failed, reports are refused at once (503) for
    ``cooldown`` seconds instead of each waiting out the store's timeouts, so agents spool
    quickly and the server is not clogged."""

    def __init__(
        self,
        store: Store,
        cooldown: float = 2.0,
        retries: int = 8,
        grace: timedelta = DEFAULT_RENAME_GRACE,
        max_lag: timedelta = timedelta(hours=72),
        clock: Callable[[], datetime] = utc_now,
        max_in_flight: int = 16,
        max_retry_after: float = 300.0,
    ) -> None:
        self.store = store
        self.clock = clock  # the server's clock: it orders and stamps reports
        self.admission = Admission(max_in_flight, max_wait=max_retry_after)
        self.max_lag_s = max_lag.total_seconds()
        self.applied = 0
        self.conflicts = 0
        self.cooldown = cooldown
        self.retries = retries
        self.grace = grace
        self._down_until = 0.0

    def _check_breaker(self) -> None:
        if time.monotonic() < self._down_until:
            raise StoreUnavailable("the graph store failed moments ago; not trying again yet")

    async def ingest(
        self, report: dict[str, Any], actor: str | None = None, agent_key: str | None = None
    ) -> dict[str, Any]:
        """Validate, reconcile and commit one report; the answer the API returns.

        ``actor``: who posted it (the token's name, recorded in history). ``agent_key``: the
        agent token's binding key; an agent report binds its token to the host it describes
        and is refused when it describes another (ReportForbidden). Raises ReportInvalid
        (400/422), ReconcileError (422), FullReportRequired (409), StoreUnavailable (503)."""
        checked = check_envelope(report)
        transform = TRANSFORMS.get(report["source"])
        if transform is None:
            raise ReportInvalid(
                f"reports from source {report['source']!r} are not accepted on this endpoint; "
                f"it takes {', '.join(TRANSFORMS)}",
                "$.source",
                status=422,
            )
        with self.admission.admit():
            return await self._admitted(report, transform, actor, agent_key, checked)

    async def _admitted(
        self,
        report: dict[str, Any],
        transform,
        actor: str | None,
        agent_key: str | None,
        checked: Checked,
    ) -> dict[str, Any]:
        at = normalise_time(report["collected_at"], clamp=False)
        meta = report_meta(
            report, agent_key if report["source"] == "agent" else None, received=self.clock()
        )
        meta.max_lag_s = self.max_lag_s
        self._check_breaker()
        for attempt in range(self.retries + 1):
            try:
                return await self._ingest_once(report, transform, at, actor, meta, checked)
            except StoreConflict as exc:
                self.conflicts += 1
                if attempt == self.retries:
                    log.warning("report %s: %s; giving up for now", report["report_id"], exc)
                    raise
                # another writer holds the same identity: wait for it, with jitter
                await asyncio.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
            except StoreUnavailable as exc:
                if attempt == 0 and self.retries > 0:
                    # one connection failing (closed under load) is not an outage: once more
                    # on another connection of the pool before refusing every report
                    log.info("report %s: %s; trying again once", report["report_id"], exc)
                    continue
                self._down_until = time.monotonic() + self.cooldown
                raise
        raise AssertionError("unreachable")

    def _prepared(
        self,
        report: dict[str, Any],
        transform,
        checked: Checked,
        desired: Desired | None = None,
    ) -> Desired:
        """The report's Desired (``desired``: the transform's answer already at hand) with
        its section sizes, notes and digests (of what can change the CMDB: a host's
        volatile sections and fields left out)."""
        sections = report["sections"]
        desired = desired or transform(report)
        desired.section_sizes = section_sizes(sections)
        desired.noted_sections = noted_sections(report.get("notes"))
        view = CHANGE_VIEWS.get(report["source"])
        desired.section_digests = (
            view_digests(view(sections), sections, checked.digests, SECTION_KEYS)
            if view
            else checked.digests
        )
        return desired

    async def _ingest_once(
        self,
        report: dict[str, Any],
        transform,
        at: str,
        actor: str | None,
        meta: ReportMeta,
        checked: Checked,
    ) -> dict[str, Any]:
        if (
            checked.unchecked
            and not noted_sections(report.get("notes"))
            and not POST_STEPS.get(report["source"])
        ):
            # an agent report: most say what the last one said (the steady state)
            answer = await self._steady(report, transform, at, actor, meta, checked)
            if answer is not None:
                return answer
        check_sections(report["sections"], checked)
        desired = self._prepared(report, transform, checked)
        keys = lock_keys(desired)
        if meta.agent_key:  # one agent's reports one after the other (its binding)
            keys.append(f"agent|{meta.agent_key}")
        async with self.store.transaction(keys) as tx:
            return await self._ingest_in(tx, report, desired, at, actor, meta)

    async def _steady(
        self,
        report: dict[str, Any],
        transform,
        at: str,
        actor: str | None,
        meta: ReportMeta,
        checked: Checked,
    ) -> dict[str, Any] | None:
        """The steady state: one read (``Store.steady_probe``) and, when every section is
        as the host's last applied report said it, one small write, no identity lock and
        no transaction around them (``engine.reconcile_steady``). None: the full path
        decides (a new host, a changed section, anything the probe alone cannot show).

        Validation here: a section whose digest the store kept for this host was checked
        (under this very schema: the digest is keyed with it) when that report was
        accepted, and is the same content now; every other section is checked here, before
        anything is decided, so an invalid report is refused as on the full path. The
        transform runs before that on unchecked sections, but only to name the host for
        the read: its answer counts only once every section is proven or checked."""
        try:
            desired = transform(report)  # pure: once every section is checked, the answer
            key = steady_key(desired.root)
        except Exception:  # noqa: BLE001 - a malformed section: the checks will name it
            return None
        if key is None and meta.agent_key is None:
            return None  # nothing names the host without identification
        sections = report["sections"]
        # no transaction(): the read is one query, and the write one compare-and-set on what
        # it saw, with everything else the report writes (engine.reconcile_steady)
        probe = await self.store.steady_probe(
            report["report_id"],
            report["source"],
            meta.agent_key,
            key,
            *EXTENSION_SCOPES.get(report["source"], ((), ())),
        )
        if probe.seen:
            return {"status": "duplicate", "report_id": report["report_id"]}
        if probe.ci is None or probe.state is None:
            return None
        stored = probe.state.sections
        view = CHANGE_VIEWS.get(report["source"])
        passed = view(sections) if view else sections
        check_sections(
            sections,
            checked,
            [
                name
                for name in checked.unchecked
                if passed.get(name) is sections[name]
                and isinstance(stored.get(name), dict)
                and stored[name].get("digest") == checked.digests[name]
            ],
        )
        desired = self._prepared(report, transform, checked, desired)
        stats: dict[str, int] = {}
        hook = EXTENSIONS.get(report["source"], _no_extension)(report, stats=stats)
        result = await reconcile_steady(
            self.store,
            desired,
            report["report_id"],
            at,
            probe,
            meta,
            actor=actor,
            extend=hook,
            grace=self.grace,
        )
        if result is None:
            return None
        return self._answered(report, actor, result, stats)

    def _answered(
        self,
        report: dict[str, Any],
        actor: str | None,
        result: ReconcileResult,
        stats: dict[str, int],
    ) -> dict[str, Any]:
        self.applied += 1
        log.info(
            "report %s from %s: %s %s",
            report["report_id"],
            actor,
            result.status,
            result.counts,
        )
        answer = {"report_id": report["report_id"], **result.to_api()}
        if stats:
            answer["connections"] = stats
        return answer

    async def _ingest_in(
        self,
        store: Store,
        report: dict[str, Any],
        desired: Desired,
        at: str,
        actor: str | None,
        meta: ReportMeta,
    ) -> dict[str, Any]:
        if await store.report_seen(report["report_id"]):
            return {"status": "duplicate", "report_id": report["report_id"]}
        stats: dict[str, int] = {}
        hook = EXTENSIONS.get(report["source"], _no_extension)(report, stats=stats)
        result: ReconcileResult = await reconcile(
            store,
            desired,
            report["report_id"],
            at,
            actor=actor,
            extend=hook,
            grace=self.grace,
            meta=meta,
        )
        if result.status != "superseded":
            # in the same transaction: a device's facts and its links commit together
            for step in POST_STEPS.get(report["source"], ()):
                await step(store, report, result, at)
        return self._answered(report, actor, result, stats)
