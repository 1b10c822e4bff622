"""Validate a report and reconcile it into the store; acknowledge only once committed.

Design choice: a report is reconciled synchronously inside the request and the
answer is sent after the store's transaction has committed (SQLite with
synchronous=FULL, or a Neo4j commit). An acknowledged report is therefore in
the graph, not in a queue; when the store cannot take it the server answers
503 with Retry-After and the agent keeps the report in its spool. One writer at
a time: identification of a new host must see the previous report's result.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import math
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
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
from cmdb.graph.store import ServerBusy, Store, StoreConflict, StoreUnavailable
from cmdb.server.catalogue.connections import connection_hook
from cmdb.server.reconcile import ReconcileResult, reconcile
from cmdb.server.reconcile import host as host_transform
from cmdb.server.reconcile.completeness import noted_sections, section_digests, section_sizes
from cmdb.server.reconcile.desired import Desired
from cmdb.server.reconcile.engine import DEFAULT_RENAME_GRACE, ReportMeta

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
_VALID_SECTIONS: OrderedDict[tuple[str, str], None] = OrderedDict()
_VALID_SECTIONS_MAX = 20_000


def _validate_agent_sections(sections: dict[str, Any]) -> dict[str, str]:
    """Each section against its schema, unless this very content was valid before; the
    sections' digests (``completeness.section_digests``)."""
    digests = section_digests(sections)
    for name, digest in digests.items():
        key = (name, digest)
        if key in _VALID_SECTIONS:
            _VALID_SECTIONS.move_to_end(key)
            continue
        try:
            _AGENT_SECTIONS[name](sections[name])
        except fastjsonschema.JsonSchemaValueException as error:
            where = "$.sections." + name + _json_path(error.name)[1:]
            message = error.message
            if message.startswith(error.name):
                message = message[len(error.name) :].strip()
            raise ReportInvalid(f"{where}: {message}", where) from error
        _VALID_SECTIONS[key] = None
        if len(_VALID_SECTIONS) > _VALID_SECTIONS_MAX:
            _VALID_SECTIONS.popitem(last=False)
    return digests


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
    digests = _validate_agent_sections(report["sections"]) if agent else None
    try:
        normalise_time(report["collected_at"])
    except ValueError as error:
        raise ReportInvalid(
            f"$.collected_at: {report['collected_at']!r} is not an ISO 8601 time",
            "$.collected_at",
        ) from error
    return digests if digests is not None else section_digests(report["sections"])


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


class Admission:
    """At most ``limit`` reports in flight on this server; beyond it, ``ServerBusy`` with a
    Retry-After from the recent completion rate (what is ahead of the agent divided by how
    fast reports finish), so an overload is answered at once instead of queueing until the
    agents time out while the server keeps working for clients that have gone."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.in_flight = 0
        self.rate = 10.0  # completions per second, smoothed
        self._last = time.monotonic()

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        if self.in_flight >= self.limit:
            wait = max(1, min(60, math.ceil(self.in_flight / max(self.rate, 0.1))))
            jitter = random.randint(0, max(1, wait // 2))  # spread the returning agents
            raise ServerBusy(
                f"this server has {self.in_flight} reports in flight (its limit)",
                wait + jitter,
            )
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            now = time.monotonic()
            elapsed, self._last = max(now - self._last, 1e-3), now
            self.rate = 0.8 * self.rate + 0.2 * min(1000.0, 1.0 / elapsed)


def lock_keys(desired: Desired) -> list[str]:
    """The identity values a report's root CI is identified by (``class|rule|value``): the
    store locks them for the whole transaction, so two reports of one new host, on one
    server or two, are identified one after the other and make one CI."""
    root = desired.root
    values = identity_values(CLASSES[root.cls], root.attributes)
    keys = [f"{root.cls}|{rule}|{value}" for rule, value in values.items()]
    mac = root.attributes.get("primary_mac")
    if mac:  # network evidence joins hosts by MAC: reports that may meet there meet here
        keys.append(f"mac|{mac}")
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
        max_in_flight: int = 32,
    ) -> None:
        self.store = store
        self.clock = clock  # the server's clock: it orders and stamps reports
        self.admission = Admission(max_in_flight)
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
        digests = validate_report(report)
        transform = TRANSFORMS.get(report["source"])
        if transform is None:
            raise ReportInvalid(
                f"reports from source {report['source']!r} are not accepted on this endpoint; "
                f"it takes {', '.join(TRANSFORMS)}",
                "$.source",
                status=422,
            )
        with self.admission.admit():
            return await self._admitted(report, transform, actor, agent_key, digests)

    async def _admitted(
        self,
        report: dict[str, Any],
        transform,
        actor: str | None,
        agent_key: str | None,
        digests: dict[str, str],
    ) -> dict[str, Any]:
        at = normalise_time(report["collected_at"], clamp=False)
        meta = report_meta(
            report, agent_key if report["source"] == "agent" else None, received=self.clock()
        )
        meta.max_lag_s = self.max_lag_s
        self._check_breaker()
        for attempt in range(self.retries + 1):
            try:
                return await self._ingest_once(report, transform, at, actor, meta, digests)
            except StoreConflict as exc:
                self.conflicts += 1
                if attempt == self.retries:
                    log.warning("report %s: %s; giving up for now", report["report_id"], exc)
                    raise
                # another writer holds the same identity: wait for it, with jitter
                await asyncio.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
            except StoreUnavailable:
                self._down_until = time.monotonic() + self.cooldown
                raise
        raise AssertionError("unreachable")

    async def _ingest_once(
        self,
        report: dict[str, Any],
        transform,
        at: str,
        actor: str | None,
        meta: ReportMeta,
        digests: dict[str, str],
    ) -> dict[str, Any]:
        desired = transform(report)
        desired.section_sizes = section_sizes(report["sections"])
        desired.noted_sections = noted_sections(report.get("notes"))
        # what can change the CMDB: a host's volatile sections and fields left out
        view = CHANGE_VIEWS.get(report["source"])
        desired.section_digests = section_digests(view(report["sections"])) if view else digests
        keys = lock_keys(desired)
        if meta.agent_key:  # one agent's reports one after the other (its binding)
            keys.append(f"agent|{meta.agent_key}")
        async with self.store.transaction(keys) as tx:
            return await self._ingest_in(tx, report, desired, at, actor, meta)

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
