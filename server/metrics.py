"""``/metrics`` in the Prometheus text format (prometheus-client), and the hooks that feed it.

Metrics (all prefixed ``cmdb_``; the process and Python collectors come along):

* ``cmdb_reports_total{source,outcome,code}``: each answer of POST /api/v1/reports
  (:func:`counted_report` on the route);
* ``cmdb_reconcile_duration_seconds{source}``: each ``Ingestor.ingest`` call
  (:func:`instrument_ingestor`), and ``cmdb_reports_in_flight`` (its admission count);
* ``cmdb_store_operation_seconds{operation}``: each store call (:class:`TimedStore`;
  ``transaction`` from its start to its commit);
* ``cmdb_http_requests_total{route,method,code}`` and
  ``cmdb_http_request_duration_seconds{route,method}``: every request, by route pattern;
* ``cmdb_scan_devices_total{status,complete}`` and
  ``cmdb_scan_partial_sections_total{section,kind}``: :func:`record_scan_device`, which
  the scan manager calls per reconciled device;
* ``cmdb_cis{status}``: CIs live, stale, retired (read at scrape time, cached 30 s);
* ``cmdb_connections_closed_total{reason}`` (``cmdb.server.connections``) and
  ``cmdb_auth_throttled_total`` (``cmdb.server.api.throttle``).

``outcome`` is the answer's status word: applied, unchanged, duplicate, superseded,
full_report_required, forbidden, rejected, too_large, invalid, unauthorized, throttled,
busy, unavailable, error. Label values are bounded (unknown sources become ``other``,
unmatched routes ``unmatched``), so no client can grow the series without end.

Access (``Settings.metrics_access``): ``open`` (default, no token, as Prometheus scrapes),
``loopback`` (only from 127.0.0.0/8 and ::1), ``reader`` (a bearer token with the reader
role or above).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)

REGISTRY = CollectorRegistry()
process_collector.ProcessCollector(registry=REGISTRY)
platform_collector.PlatformCollector(registry=REGISTRY)
gc_collector.GCCollector(registry=REGISTRY)

KNOWN_SOURCES = frozenset({"agent", "snmp", "import", "manual"})
CI_STATUSES = ("live", "stale", "retired")
CI_COUNT_TTL = 30.0

REPORTS = Counter(
    "cmdb_reports",
    "Reports answered by POST /api/v1/reports, by source, outcome and HTTP status",
    ("source", "outcome", "code"),
    registry=REGISTRY,
)
RECONCILE = Histogram(
    "cmdb_reconcile_duration_seconds",
    "Time to validate, reconcile and commit one report (Ingestor.ingest)",
    ("source",),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
IN_FLIGHT = Gauge(
    "cmdb_reports_in_flight", "Reports being reconciled by this server now", registry=REGISTRY
)
STORE = Histogram(
    "cmdb_store_operation_seconds",
    "Latency of graph store calls (a transaction: from its start to its commit)",
    ("operation",),
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "cmdb_http_requests",
    "HTTP requests answered, by route pattern, method and status",
    ("route", "method", "code"),
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "cmdb_http_request_duration_seconds",
    "Time to answer an HTTP request, by route pattern",
    ("route", "method"),
    registry=REGISTRY,
)
SCAN_DEVICES = Counter(
    "cmdb_scan_devices",
    "Devices an SNMP scan reconciled, by answer status and whether every section was read",
    ("status", "complete"),
    registry=REGISTRY,
)
SCAN_SECTIONS = Counter(
    "cmdb_scan_partial_sections",
    "Sections of scanned devices that were read in part or not at all",
    ("section", "kind"),
    registry=REGISTRY,
)
CIS = Gauge("cmdb_cis", "Configuration items by status", ("status",), registry=REGISTRY)
CONNECTIONS_CLOSED = Counter(
    "cmdb_connections_closed",
    "Connections the server closed to protect itself, by reason",
    ("reason",),
    registry=REGISTRY,
)
AUTH_THROTTLED = Counter(
    "cmdb_auth_throttled",
    "Times a source address was throttled for failed authentications",
    registry=REGISTRY,
)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


# ------------------------------------------------------------------ reports
def report_source(report: Any) -> str:
    """The ``source`` label of a parsed report body (bounded: unknown ones are ``other``)."""
    source = report.get("source") if isinstance(report, dict) else None
    return source if source in KNOWN_SOURCES else "other"


_SOURCE_KEY: web.RequestKey[str] = web.RequestKey("metrics_report_source")


def note_report(request: web.Request, report: Any) -> None:
    """Remember the posted report's source for its answer's metric (called by the route)."""
    request[_SOURCE_KEY] = report_source(report)


def _outcome_of(status: int, body: dict[str, Any] | None) -> str:
    word = body.get("status") if isinstance(body, dict) else None
    if isinstance(word, str) and len(word) <= 32:
        return word
    return {
        400: "invalid",
        401: "unauthorized",
        408: "timeout",
        413: "too_large",
        415: "invalid",
        422: "rejected",
        429: "throttled",
        503: "busy",
    }.get(status, "error" if status >= 500 else "other")


def counted_report(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Decorate the report route: each answer, success or error, counts once in
    ``cmdb_reports_total`` (errors are counted as the errors middleware will render them)."""
    from cmdb.graph.store import ServerBusy, StoreUnavailable
    from cmdb.server.api.errors import ApiError

    @functools.wraps(handler)
    async def counted(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except ApiError as exc:
            _count_report(request, exc.status, exc.top or None)
            raise
        except ServerBusy:
            _count_report(request, 503, {"status": "busy"})
            raise
        except StoreUnavailable:
            _count_report(request, 503, {"status": "unavailable"})
            raise
        except web.HTTPException as exc:
            _count_report(request, exc.status, None)
            raise
        except Exception:
            _count_report(request, 500, {"status": "error"})
            raise
        body = None
        if isinstance(response, web.Response) and response.body is not None:
            try:
                body = json.loads(response.body)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                body = None
        _count_report(request, response.status, body)
        return response

    return counted


def _count_report(request: web.Request, status: int, body: dict[str, Any] | None) -> None:
    source = request.get(_SOURCE_KEY, "unknown")
    REPORTS.labels(source, _outcome_of(status, body), str(status)).inc()


def instrument_ingestor(ingestor: Any) -> Any:
    """Time each ``ingestor.ingest`` call into ``cmdb_reconcile_duration_seconds`` (in
    place: whoever holds the ingestor, the scan manager too, is measured) and export
    ``admission.in_flight``. Returns ``ingestor``."""
    if getattr(ingestor, "_metrics_instrumented", False):
        return ingestor
    inner = ingestor.ingest

    @functools.wraps(inner)
    async def ingest(report: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await inner(report, *args, **kwargs)
        finally:
            RECONCILE.labels(report_source(report)).observe(time.perf_counter() - started)

    ingestor.ingest = ingest
    ingestor._metrics_instrumented = True
    admission = getattr(ingestor, "admission", None)
    if admission is not None:
        IN_FLIGHT.set_function(lambda: admission.in_flight)
    return ingestor


# ------------------------------------------------------------------ store
class TimedStore:
    """The store, with each async call timed into ``cmdb_store_operation_seconds``
    (operation = the method's name; ``transaction`` from start to commit). Everything
    else is the wrapped store's own (attributes, synchronous methods)."""

    def __init__(self, inner: Any) -> None:
        object.__setattr__(self, "_inner", inner)

    @property
    def wrapped(self) -> Any:
        return self._inner

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name.startswith("_") or not callable(value):
            return value
        if name == "transaction":
            return self._transaction
        if not _is_coroutine_function(value):
            return value

        @functools.wraps(value)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await value(*args, **kwargs)
            finally:
                STORE.labels(name).observe(time.perf_counter() - started)

        return timed

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)

    def _transaction(self, *args: Any, **kwargs: Any):
        return _timed_transaction(self._inner.transaction(*args, **kwargs))


def _is_coroutine_function(value: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(value)


@asynccontextmanager
async def _timed_transaction(manager: Any):
    started = time.perf_counter()
    try:
        async with manager as tx:
            yield tx
    finally:
        STORE.labels("transaction").observe(time.perf_counter() - started)


# ------------------------------------------------------------------ scans
def record_scan_device(device: dict[str, Any]) -> None:
    """Count one device a scan reconciled. ``device`` is the scan's device entry
    (``cmdb.server.scans.manager``: ``status``, ``complete``, ``partial_sections``,
    ``missing_sections``)."""
    status = device.get("status")
    status = status if isinstance(status, str) and len(status) <= 32 else "other"
    SCAN_DEVICES.labels(status, "true" if device.get("complete", True) else "false").inc()
    for kind, key in (("partial", "partial_sections"), ("missing", "missing_sections")):
        for section in device.get(key) or ():
            if isinstance(section, str) and len(section) <= 64:
                SCAN_SECTIONS.labels(section, kind).inc()


# ------------------------------------------------------------------ HTTP
def _route_of(request: web.Request) -> str:
    info = request.match_info
    route = getattr(info, "route", None)
    resource = getattr(route, "resource", None)
    if resource is None or isinstance(info, web.UrlMappingMatchInfo) and info.http_exception:
        return "unmatched"
    return resource.canonical


@web.middleware
async def http_metrics_middleware(request: web.Request, handler):
    """Count and time every request by route pattern (``/api/v1/cis/{id}``), method, status."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = _route_of(request)
        method = request.method if request.method in _METHODS else "other"
        HTTP_REQUESTS.labels(route, method, str(status)).inc()
        HTTP_DURATION.labels(route, method).observe(time.perf_counter() - started)


# ------------------------------------------------------------------ /metrics
_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def is_loopback(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    ip = getattr(ip, "ipv4_mapped", None) or ip
    return any(ip in net for net in _LOOPBACK)


async def _refresh_ci_counts(app: web.Application) -> None:
    from cmdb.server.api.keys import STORE_KEY

    state = app[_CI_COUNTS_KEY]
    if time.monotonic() - state.get("at", -CI_COUNT_TTL) < CI_COUNT_TTL:
        return
    state["at"] = time.monotonic()
    store = app[STORE_KEY]
    for status in CI_STATUSES:
        try:
            _, total = await store.list_cis(None, None, 1, 0, status=status)
        except Exception:  # noqa: BLE001 - a scrape answers even when the store does not
            continue
        CIS.labels(status).set(total)


_CI_COUNTS_KEY: web.AppKey[dict[str, float]] = web.AppKey("metrics_ci_counts")


async def metrics_handler(request: web.Request) -> web.Response:
    """``GET /metrics``: the registry in the Prometheus text format (access: see module)."""
    from cmdb.server.api.auth import THROTTLE_KEY, authenticate_request, require
    from cmdb.server.api.errors import ApiError
    from cmdb.server.api.keys import PRINCIPAL_KEY, SETTINGS_KEY

    access = request.app[SETTINGS_KEY].metrics_access
    if access == "loopback" and not is_loopback(request.remote):
        raise ApiError(403, "/metrics is only served to loopback clients (metrics_access)")
    if access == "reader":
        settings = request.app[SETTINGS_KEY]
        request[PRINCIPAL_KEY] = authenticate_request(
            request, request.app[THROTTLE_KEY], frozenset(settings.trusted_proxies)
        )
        require(request, "reader")
    await _refresh_ci_counts(request.app)
    return web.Response(
        body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


def setup_metrics(app: web.Application) -> None:
    """Add ``GET /metrics`` (``http_metrics_middleware`` is placed by the app factory,
    outside the errors middleware, so it counts the status a client gets)."""
    app[_CI_COUNTS_KEY] = {}
    app.router.add_get("/metrics", metrics_handler)


def connection_closed(reason: str) -> None:
    """For ``cmdb.server.connections.ConnectionGuard(on_close=...)``."""
    CONNECTIONS_CLOSED.labels(reason).inc()


def sample_value(name: str, labels: dict[str, str] | None = None) -> float:
    """A sample's current value (0 when absent): for tests and the CLI."""
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def label_sets(name: str) -> Iterable[dict[str, str]]:
    """The label sets a metric family currently has samples for."""
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == name:
                yield dict(sample.labels)
