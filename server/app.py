"""The aiohttp application factory and the server's entry point."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import sys
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from cmdb.graph.store import Store, StoreError, StoreUnavailable
from cmdb.server.api import cis, meta, reports, tokens
from cmdb.server.api.auth import THROTTLE_KEY, setup_auth
from cmdb.server.api.errors import setup_errors
from cmdb.server.api.keys import CONTROL_KEY, EXTRA_KEY, INGEST_KEY, SETTINGS_KEY, STORE_KEY
from cmdb.server.api.requestid import request_id_middleware
from cmdb.server.api.security import setup_security_headers
from cmdb.server.config import Settings
from cmdb.server.connections import ConnectionGuard, body_timeout_middleware
from cmdb.server.ingest import Ingestor
from cmdb.server.logs import AccessLogger, configure_logging
from cmdb.server.metrics import (
    AUTH_THROTTLED,
    TimedStore,
    connection_closed,
    http_metrics_middleware,
    instrument_ingestor,
    setup_metrics,
)
from cmdb.server.private_files import prepare_data_dir, server_databases
from cmdb.server.shared_state import open_shared_state
from cmdb.server.staleness import setup_staleness
from cmdb.server.stores import make_store
from cmdb.server.tls import server_ssl_context

log = logging.getLogger("cmdb.server")

ROUTE_TABLES = [meta.routes, reports.routes, cis.routes, tokens.routes]
# extensions register (route table, optional cleanup-context factory) here
EXTENSIONS: list = []


def _load_extensions() -> None:
    """Optional feature packages add their routes if present."""
    for module_name in ("cmdb.server.api.scans", "cmdb.server.api.catalogue"):
        try:
            module = __import__(module_name, fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        if module not in EXTENSIONS:
            EXTENSIONS.append(module)


def create_app(settings: Settings, store: Store | None = None) -> web.Application:
    # bodies are decompressed by cmdb.server.api.body within both size limits, not by aiohttp
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        # request lines and headers the app itself can answer (a 400 in JSON naming the
        # parameter) rather than the HTTP parser's plain-text refusal: 64 KiB / 16 KiB
        handler_args={
            "auto_decompress": False,
            "max_line_size": 65536,
            "max_field_size": 16384,
        },
        # outermost first: the request id is set before anything logs, metrics see the
        # status the errors middleware renders, a stalled body fails as a JSON 408
        middlewares=[
            request_id_middleware,
            http_metrics_middleware,
            body_timeout_middleware(settings.client_body_timeout),
        ],
    )
    app[SETTINGS_KEY] = settings
    app[EXTRA_KEY] = {}
    setup_security_headers(app, tls=bool(settings.tls_cert))
    setup_errors(app, settings.max_body_bytes)
    setup_auth(app)
    app[THROTTLE_KEY].on_throttle = lambda address: AUTH_THROTTLED.inc()
    setup_metrics(app)
    for table in ROUTE_TABLES:
        app.router.add_routes(table)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        prepare_data_dir(settings.data_dir, server_databases(settings.store))
        # tokens, users, scans, schedules: control.db on SQLite, the graph itself on Neo4j
        control = open_shared_state(settings)
        # every store call the server makes is timed (cmdb.server.metrics: store latency)
        graph = TimedStore(store if store is not None else make_store(settings))
        await graph.open()
        app[CONTROL_KEY] = control
        app[STORE_KEY] = graph
        app[INGEST_KEY] = instrument_ingestor(
            Ingestor(
                graph,
                grace=timedelta(days=settings.rename_grace_days),
                max_lag=timedelta(hours=settings.stale_after_hours),
                max_in_flight=settings.max_reports_in_flight,
                max_retry_after=settings.max_retry_after,
            )
        )
        yield
        await graph.close()
        control.close()

    app.cleanup_ctx.append(resources)
    setup_staleness(app)
    _load_extensions()
    for module in EXTENSIONS:
        module.register(app)
    __import__("cmdb.server.ui", fromlist=["setup_ui"]).setup_ui(app)  # web UI at /ui, / redirects
    return app


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    return server_ssl_context(settings)


async def listen(runner: web.AppRunner, settings: Settings) -> asyncio.AbstractServer:
    """Listen on ``settings.listen`` with each connection behind the ConnectionGuard
    (cmdb.server.connections: connection limit, request-head timeout), TLS when configured.
    Not a web.TCPSite: the site has no hook for the protocol factory."""
    guard = ConnectionGuard(
        runner.server,
        max_connections=settings.max_connections,
        header_timeout=settings.client_header_timeout,
        on_close=connection_closed,
    )
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        guard,
        settings.host or None,
        settings.port,
        ssl=_ssl_context(settings),
        backlog=min(settings.max_connections, 4096),
        reuse_address=True,
    )


async def _serve(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    runner = web.AppRunner(
        app,
        access_log=logging.getLogger("cmdb.access"),
        access_log_class=AccessLogger,
        keepalive_timeout=settings.keepalive_timeout,
    )
    await runner.setup()  # opens the store: fails here, before listening, if it cannot
    try:
        listener = await listen(runner, settings)
    except BaseException:
        await runner.cleanup()
        raise
    scheme = "https" if settings.tls_cert else "http"
    log.info(
        "cmdb server listening on %s://%s:%s (store: %s, data: %s)",
        scheme,
        settings.host,
        settings.port,
        settings.store,
        settings.data_dir,
    )
    print(f"cmdb server listening on {scheme}://{settings.host}:{settings.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        listener.close()  # no new connections; runner.cleanup ends the open ones
        await runner.cleanup()


def run_server(settings: Settings) -> int:
    """Run until interrupted; a store that cannot be opened is one line on stderr and exit 2."""
    try:
        asyncio.run(_serve(settings))
    except KeyboardInterrupt:
        return 0
    except (StoreUnavailable, StoreError) as exc:
        print(f"cmdb server: cannot open the {settings.store} store: {exc}", file=sys.stderr)
        return 2
    except ssl.SSLError as exc:
        print(f"cmdb server: cannot load the TLS certificate or key: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"cmdb server: cannot listen on {settings.listen}: {exc}", file=sys.stderr)
        return 2
    return 0
