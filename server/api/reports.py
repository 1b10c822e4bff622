"""POST /api/v1/reports: the agents' door."""

from __future__ import annotations

from aiohttp import web

from graph.store import StoreError
from server.api.auth import require
from server.api.errors import ApiError, read_json
from server.api.keys import INGEST_KEY
from server.ingest import ReportInvalid
from server.reconcile import ReconcileError

routes = web.RouteTableDef()


@routes.post("/api/v1/reports")
async def post_report(request: web.Request) -> web.Response:
    principal = require(request, "agent")
    report = await read_json(request)
    try:
        result = await request.app[INGEST_KEY].ingest(report, actor=principal.name)
    except ReportInvalid as exc:
        raise ApiError(exc.status, str(exc), field=exc.path) from exc
    except ReconcileError as exc:
        raise ApiError(422, str(exc)) from exc
    except StoreError as exc:
        raise ApiError(409, f"the report conflicts with stored data: {exc}") from exc
    status = 200 if result["status"] == "duplicate" else 201
    return web.json_response(result, status=status)
