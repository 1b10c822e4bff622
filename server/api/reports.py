"""POST /api/v1/reports: the door for agents (``source: agent``) and pollers (``snmp``).

The body is read within the server's two size limits (``cmdb.server.api.body``); the token's
role decides which report sources it may post (``cmdb.server.api.auth.REPORT_SOURCES``)."""

from __future__ import annotations

from aiohttp import web

from cmdb.graph.store import StoreError
from cmdb.server.api.auth import require_report_source, require_reporter
from cmdb.server.api.body import limits_of, read_body
from cmdb.server.api.errors import ApiError, parse_json
from cmdb.server.api.keys import INGEST_KEY, SETTINGS_KEY
from cmdb.server.ingest import ReportInvalid
from cmdb.server.metrics import counted_report, note_report
from cmdb.server.reconcile import ReconcileError
from cmdb.server.reconcile.engine import FullReportRequired, ReportForbidden

routes = web.RouteTableDef()


@routes.post("/api/v1/reports")
@counted_report  # cmdb_reports_total{source,outcome,code}: every answer, errors too
async def post_report(request: web.Request) -> web.Response:
    principal = require_reporter(request)  # before reading: a reader's upload is not read
    report = parse_json(await read_body(request, limits_of(request.app[SETTINGS_KEY])))
    note_report(request, report)
    require_report_source(principal, report)
    # an agent token speaks for the host its first accepted report described
    agent_key = f"token:{principal.key}" if principal.role == "agent" else None
    try:
        result = await request.app[INGEST_KEY].ingest(
            report, actor=principal.name, agent_key=agent_key
        )
    except ReportInvalid as exc:
        raise ApiError(exc.status, str(exc), field=exc.path) from exc
    except FullReportRequired as exc:
        raise ApiError(409, str(exc), top={"status": "full_report_required"}) from exc
    except ReportForbidden as exc:
        raise ApiError(403, str(exc), top={"status": "forbidden"}) from exc
    except ReconcileError as exc:
        raise ApiError(422, str(exc), top={"status": "rejected"}) from exc
    except StoreError as exc:
        raise ApiError(409, f"the report conflicts with stored data: {exc}") from exc
    status = 200 if result["status"] == "duplicate" else 201
    return web.json_response(result, status=status)
