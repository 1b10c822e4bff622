"""Typed application and request keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from cmdb.graph.store import Store
    from cmdb.server.config import Settings
    from cmdb.server.control import ControlDB, Principal
    from cmdb.server.ingest import Ingestor

SETTINGS_KEY: web.AppKey[Settings] = web.AppKey("settings")
STORE_KEY: web.AppKey[Store] = web.AppKey("store")
CONTROL_KEY: web.AppKey[ControlDB] = web.AppKey("control")
INGEST_KEY: web.AppKey[Ingestor] = web.AppKey("ingest")
EXTRA_KEY: web.AppKey[dict[str, Any]] = web.AppKey("extra")
PRINCIPAL_KEY: web.RequestKey[Principal] = web.RequestKey("principal")
