"""POST /api/v1/reports: the door for agents (``source: agent``) and pollers (``snmp``).

The body is read within the server's two size limits (``cmdb.server.api.body``); the token's
role decides which report sources it may post (``cmdb.server.api.auth.REPORT_SOURCES``).
The declaration names the report schema; the route reads the body itself (after the role
check, so a reader's upload is never read) and ``cmdb.server.ingest.validate_report``
checks it against that schema (section by section, with the 422 for an unknown
``schema_version``)."""

from __future__ import annotations

from aiohttp import web

from cmdb.graph.store import StoreError
from cmdb.server.api.auth import require_report_source, require_reporter
from cmdb.server.api.body import limits_of, read_body
from cmdb.server.api.errors import ApiError, parse_json
from cmdb.server.api.keys import INGEST_KEY, SETTINGS_KEY
from cmdb.server.api.schemas import ref
from cmdb.server.api.spec import ApiRoutes, Args, Body, Reply
from cmdb.server.ingest import ReportInvalid
from cmdb.server.metrics import counted_report, note_report
from cmdb.server.reconcile import ReconcileError
from cmdb.server.reconcile.engine import FullReportRequired, ReportForbidden

routes = ApiRoutes()

REPORT_EXAMPLE = {
    "schema_version": 1,
    "report_id": "r-2026-11-28-db1-0001",
    "source": "agent",
    "collected_at": "2026-11-28T10:00:00Z",
    "sequence": 41,
    "sections": {"system": {"hostname": "db1", "fqdn": "db1.example.net"}},
}
APPLIED = {
    "report_id": "r-2026-11-28-db1-0001",
    "status": "applied",
    "ci_id": "6f1c2a9e-3b4d-4e5f-8a7b-1c2d3e4f5a6b",
    "created": False,
    "identification": ["matched Host by system_uuid"],
    "counts": {"history_entries": 3},
}


@routes.post(
    "/api/v1/reports",
    summary="Submit a discovery report",
    description="Agent tokens post source: agent reports, poller tokens source: snmp; no "
    "other role posts. Plain JSON or gzip/deflate (Content-Encoding), within the server's "
    "size limits as sent and after decompression (413 too_large names which). 201 when "
    "applied, 200 for a report already received (duplicate).",
    guard=require_reporter,
    body=Body(ref("Report"), "a discovery report", example=REPORT_EXAMPLE, read=False),
    responses={
        201: Reply(ref("ReportResult"), "the report was reconciled", example=APPLIED),
        200: Reply(
            ref("ReportResult"),
            "this report was received before (nothing more is done)",
            example={"status": "duplicate", "report_id": "r-2026-11-28-db1-0001"},
        ),
    },
    errors={
        409: "a delta report whose base this server does not have (status full_report_required), "
        "or a report that conflicts with stored data",
        413: "the body is over one of the server's limits (status too_large, limit, which)",
        415: "a Content-Encoding other than identity, gzip or deflate",
        422: "an unknown schema_version, or a report that cannot be reconciled (status rejected)",
    },
    tags=("reports",),
    around=counted_report,  # cmdb_reports_total{source,outcome,code}: every answer, errors too
)
async def post_report(request: web.Request, a: Args) -> web.Response:
    principal = a.principal
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
