"""cmdb service | asset | impact | change | report (the catalogue, over the REST API)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from server.cli.core import add_api_options
from server.cli.http import ApiClient, CliError
from server.cli.output import emit_json, emit_table


def _client(args) -> ApiClient:
    return ApiClient(args.server, args.token)


def _listing(args, data, rows, headers) -> int:
    if args.json:
        emit_json(data)
    else:
        emit_table(rows, headers, f"{len(data['items'])} of {data['total']}")
    return 0


def _show(args, data) -> int:
    if args.json:
        emit_json(data)
        return 0
    for key, value in data.items():
        if isinstance(value, list | dict):
            value = json.dumps(value)
        print(f"{key}: {value}")
    return 0


def _body(args) -> dict:
    try:
        return json.loads(args.body) if args.body else {}
    except json.JSONDecodeError as exc:
        raise CliError(f"--body is not JSON: {exc}", 2) from exc


# ---------------------------------------------------------------- services
def cmd_service_list(args) -> int:
    data = _client(args).get("/api/v1/services", q=args.q, limit=args.limit, offset=args.offset)
    rows = [
        (s["id"], s["name"], s["kind"], s["criticality"], s["owner"], s["status"])
        for s in data["items"]
    ]
    return _listing(args, data, rows, ("id", "name", "kind", "criticality", "owner", "status"))


def cmd_service_show(args) -> int:
    return _show(args, _client(args).get(f"/api/v1/services/{args.id}"))


def cmd_service_create(args) -> int:
    body = _body(args)
    for key in ("name", "owner", "criticality", "kind", "description"):
        if getattr(args, key, None):
            body[key] = getattr(args, key)
    deps = [{"ci": c} for c in args.ci or []] + [{"service": s} for s in args.service or []]
    if deps:
        body.setdefault("depends_on", []).extend(deps)
    return _show(args, _client(args).post("/api/v1/services", body))


def cmd_service_import(args) -> int:
    import yaml

    try:
        document = yaml.safe_load(Path(args.file).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CliError(f"cannot read {args.file}: {exc}", 2) from exc
    data = _client(args).post("/api/v1/services/import", document)
    if args.json:
        emit_json(data)
    else:
        print(
            f"{len(data['created'])} created, {len(data['updated'])} updated, "
            f"{len(data['unchanged'])} unchanged"
        )
    return 0


def cmd_service_diff(args) -> int:
    data = _client(args).get(
        f"/api/v1/services/{args.id}/diff", **{"from": args.frm, "to": args.to}
    )
    return _show(args, data)


# ---------------------------------------------------------------- impact
def cmd_impact(args) -> int:
    data = _client(args).post("/api/v1/impact", {"cis": args.ids, "depth": args.depth})
    if args.json:
        emit_json(data)
        return 0
    emit_table(
        [
            (s["state"], s["criticality"], s["name"], s["owner"], " > ".join(s["paths"][0]))
            for s in data["services"]
        ],
        ("state", "criticality", "service", "owner", "first path"),
        f"{len(data['services'])} services affected, {len(data['cis'])} CIs",
    )
    return 0


# ---------------------------------------------------------------- assets
def cmd_asset_list(args) -> int:
    data = _client(args).get(
        "/api/v1/assets", state=args.state, limit=args.limit, offset=args.offset
    )
    rows = [
        (a["id"], a["asset_tag"], a["state"], (a["ci"] or {}).get("name"), a["warranty_end"])
        for a in data["items"]
    ]
    return _listing(args, data, rows, ("id", "tag", "state", "ci", "warranty end"))


def cmd_asset_show(args) -> int:
    return _show(args, _client(args).get(f"/api/v1/assets/{args.id}"))


def cmd_asset_create(args) -> int:
    body = _body(args)
    body["asset_tag"] = args.tag
    for key in ("ci", "supplier", "contract", "location", "owner", "warranty_end", "state"):
        if getattr(args, key, None):
            body[key] = getattr(args, key)
    return _show(args, _client(args).post("/api/v1/assets", body))


def cmd_asset_transition(args) -> int:
    data = _client(args).post(f"/api/v1/assets/{args.id}/transition", {"state": args.state})
    return _show(args, data)


def cmd_asset_report(args) -> int:
    path = {
        "unregistered": "/api/v1/reports/assets/unregistered",
        "unseen": "/api/v1/reports/assets/unseen",
        "warranty": "/api/v1/reports/assets/warranty",
    }[args.kind]
    query = {"days": args.days} if args.kind != "unregistered" else {}
    data = _client(args).get(path, **query)
    if args.json:
        emit_json(data)
        return 0
    keys = sorted({k for item in data["items"] for k in item if not isinstance(item[k], dict)})
    emit_table([[item.get(k) for k in keys] for item in data["items"]], keys, f"{data['total']}")
    return 0


# ---------------------------------------------------------------- changes
def cmd_change_list(args) -> int:
    data = _client(args).get("/api/v1/changes", state=args.state, limit=args.limit)
    rows = [
        (c["id"], c["change_id"], c["state"], c["window"]["start"], c["window"]["end"], c["title"])
        for c in data["items"]
    ]
    return _listing(args, data, rows, ("id", "change", "state", "start", "end", "title"))


def cmd_change_show(args) -> int:
    return _show(args, _client(args).get(f"/api/v1/changes/{args.id}"))


def cmd_change_create(args) -> int:
    body = {"title": args.title, "cis": args.ci, "window": {"start": args.start, "end": args.end}}
    return _show(args, _client(args).post("/api/v1/changes", body))


def cmd_change_transition(args) -> int:
    data = _client(args).post(f"/api/v1/changes/{args.id}/transition", {"state": args.state})
    return _show(args, data)


def cmd_change_conflicts(args) -> int:
    data = _client(args).get("/api/v1/changes/conflicts")
    rows = [
        (
            " & ".join(c["change_id"] for c in item["changes"]),
            item["overlap"]["start"],
            item["overlap"]["end"],
            ", ".join(s["name"] for s in item["services"]),
        )
        for item in data["items"]
    ]
    return _listing(args, data, rows, ("changes", "from", "to", "shared services"))


def cmd_change_verify(args) -> int:
    return _show(args, _client(args).get(f"/api/v1/changes/{args.id}/verification"))


def cmd_unauthorized(args) -> int:
    data = _client(args).get(
        "/api/v1/reports/unauthorized-changes", since=args.since, until=args.until
    )
    rows = [(e["at"], e["source"], e["ci_id"], e["kind"], e["field"]) for e in data["items"]]
    return _listing(args, data, rows, ("at", "source", "ci", "kind", "field"))


def cmd_ci_diff(args) -> int:
    data = _client(args).get(f"/api/v1/cis/{args.id}/diff", **{"from": args.frm, "to": args.to})
    return _show(args, data)


# ---------------------------------------------------------------- wiring
def _paged(p) -> None:
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)


def _cmd(group, name, func, help_text=None):
    p = group.add_parser(name, help=help_text)
    add_api_options(p)
    p.set_defaults(func=func)
    return p


def register(sub: argparse._SubParsersAction) -> None:
    svc = sub.add_parser("service", help="the service catalogue").add_subparsers(
        dest="service_command", required=True
    )
    p = _cmd(svc, "list", cmd_service_list)
    p.add_argument("--q")
    _paged(p)
    _cmd(svc, "show", cmd_service_show).add_argument("id")
    p = _cmd(svc, "create", cmd_service_create)
    p.add_argument("name")
    p.add_argument("--owner")
    p.add_argument("--criticality", choices=("critical", "high", "medium", "low"))
    p.add_argument("--kind", choices=("business", "technical"))
    p.add_argument("--description")
    p.add_argument("--ci", action="append", help="a CI id it depends on (repeatable)")
    p.add_argument("--service", action="append", help="a service id it depends on")
    p.add_argument("--body", help="extra JSON fields (sla, groups in depends_on)")
    p = _cmd(svc, "import", cmd_service_import, "upsert services from a YAML catalogue")
    p.add_argument("file")
    p = _cmd(svc, "diff", cmd_service_diff)
    p.add_argument("id")
    p.add_argument("--from", dest="frm", required=True)
    p.add_argument("--to", required=True)

    p = sub.add_parser("impact", help="what fails with these CIs, up to the services")
    add_api_options(p)
    p.add_argument("ids", nargs="+")
    p.add_argument("--depth", type=int, default=10)
    p.set_defaults(func=cmd_impact)

    ast = sub.add_parser("asset", help="the asset register").add_subparsers(
        dest="asset_command", required=True
    )
    p = _cmd(ast, "list", cmd_asset_list)
    p.add_argument("--state")
    _paged(p)
    _cmd(ast, "show", cmd_asset_show).add_argument("id")
    p = _cmd(ast, "create", cmd_asset_create)
    p.add_argument("tag")
    for opt in ("ci", "supplier", "contract", "location", "owner", "warranty-end", "state"):
        p.add_argument(f"--{opt}", dest=opt.replace("-", "_"))
    p.add_argument("--body", help="extra JSON fields (cost, purchase_date, ...)")
    p = _cmd(ast, "transition", cmd_asset_transition)
    p.add_argument("id")
    p.add_argument("state")
    p = _cmd(ast, "report", cmd_asset_report)
    p.add_argument("kind", choices=("unregistered", "unseen", "warranty"))
    p.add_argument("--days", type=int, default=30)

    chg = sub.add_parser("change", help="change review").add_subparsers(
        dest="change_command", required=True
    )
    p = _cmd(chg, "list", cmd_change_list)
    p.add_argument("--state")
    _paged(p)
    _cmd(chg, "show", cmd_change_show).add_argument("id")
    p = _cmd(chg, "create", cmd_change_create)
    p.add_argument("title")
    p.add_argument("--ci", action="append", required=True)
    p.add_argument("--start", required=True)
    p.add_argument("--end", required=True)
    p = _cmd(chg, "transition", cmd_change_transition)
    p.add_argument("id")
    p.add_argument("state")
    _cmd(chg, "conflicts", cmd_change_conflicts)
    _cmd(chg, "verify", cmd_change_verify).add_argument("id")
    p = _cmd(chg, "unauthorized", cmd_unauthorized, "discovered changes no change record covered")
    p.add_argument("--since")
    p.add_argument("--until")

    p = sub.add_parser("ci-diff", help="what changed on a CI between two times")
    add_api_options(p)
    p.add_argument("id")
    p.add_argument("--from", dest="frm", required=True)
    p.add_argument("--to", required=True)
    p.set_defaults(func=cmd_ci_diff)
