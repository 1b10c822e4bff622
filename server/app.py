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

from graph.store import Store, StoreError, StoreUnavailable
from server.api import cis, meta, reports, tokens
from server.api.auth import setup_auth
from server.api.errors import setup_errors
from server.api.keys import CONTROL_KEY, EXTRA_KEY, INGEST_KEY, SETTINGS_KEY, STORE_KEY
from server.config import Settings
from server.control import ControlDB
from server.ingest import Ingestor
from server.private_files import prepare_data_dir, server_databases
from server.staleness import setup_staleness
from server.stores import make_store

log = logging.getLogger("cmdb.server")

ROUTE_TABLES = [meta.routes, reports.routes, cis.routes, tokens.routes]
# extensions register (route table, optional cleanup-context factory) here
EXTENSIONS: list = []


def _load_extensions() -> None:
    """Optional feature packages add their routes if present."""
    for module_name in ("server.api.scans", "server.api.catalogue"):
        try:
            module = __import__(module_name, fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        if module not in EXTENSIONS:
            EXTENSIONS.append(module)


def create_app(settings: Settings, store: Store | None = None) -> web.Application:
    # bodies are decompressed by server.api.body within both size limits, not by aiohttp
    app = web.Application(
        client_max_size=settings.max_body_bytes, handler_args={"auto_decompress": False}
    )
    app[SETTINGS_KEY] = settings
    app[EXTRA_KEY] = {}
    setup_errors(app, settings.max_body_bytes)
    setup_auth(app)
    for table in ROUTE_TABLES:
        app.router.add_routes(table)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        prepare_data_dir(settings.data_dir, server_databases(settings.store))
        control = ControlDB(settings.control_db)
        graph = store if store is not None else make_store(settings)
        await graph.open()
        app[CONTROL_KEY] = control
        app[STORE_KEY] = graph
        app[INGEST_KEY] = Ingestor(
            graph,
            grace=timedelta(days=settings.rename_grace_days),
            max_lag=timedelta(hours=settings.stale_after_hours),
            max_in_flight=settings.max_reports_in_flight,
        )
        yield
        await graph.close()
        control.close()

    app.cleanup_ctx.append(resources)
    setup_staleness(app)
    _load_extensions()
    for module in EXTENSIONS:
        module.register(app)
    __import__("server.ui", fromlist=["setup_ui"]).setup_ui(app)  # web UI at /ui, / redirects
    return app


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if not settings.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context


async def _serve(settings: Settings) -> None:
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=logging.getLogger("cmdb.access"))
    await runner.setup()  # opens the store: fails here, before listening, if it cannot
    site = web.TCPSite(runner, settings.host, settings.port, ssl_context=_ssl_context(settings))
    await site.start()
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
    except OSError as exc:
        print(f"cmdb server: cannot listen on {settings.listen}: {exc}", file=sys.stderr)
        return 2
    return 0
