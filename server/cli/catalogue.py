"""cmdb service | asset | impact | change | report (the catalogue, over the REST API)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cmdb.server.cli.core import add_api_options, positive_int, resolve_ci_id
from cmdb.server.cli.http import ApiClient, CliError
from cmdb.server.cli.output import counted, emit_json, emit_table, emit_text, show


def _client(args) -> ApiClient:
    return ApiClient(args.server, args.token, cafile=getattr(args, "cafile", None))


def _listing(args, data, rows, headers) -> int:
    if args.json:
        emit_json(data)
    else:
        emit_table(rows, headers, f"{len(data['items'])} of {data['total']}")
    return 0


def _show(args, data) -> int:
    """``--json``: the API answer; else indented YAML-like text (``output.show``)."""
    return show(args, data)


# What people type for a CI, a service, a change or an asset: an id, a name, an address,
# a serial, a change number (CHG-…) or an asset tag; resolved here so the API always
# gets the id (the API takes only ids in paths and ``cis`` lists).
def _ci(client: ApiClient, ref: str) -> str:
    return resolve_ci_id(client, ref)


def _service(client: ApiClient, ref: str) -> str:
    return resolve_ci_id(client, ref, "Service")


def _change(client: ApiClient, ref: str) -> str:
    return resolve_ci_id(client, ref, "Change")


def _asset(client: ApiClient, ref: str) -> str:
    return resolve_ci_id(client, ref, "Asset")


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
    client = _client(args)
    return _show(args, client.get(f"/api/v1/services/{_service(client, args.id)}"))


def cmd_service_delete(args) -> int:
    """Retire a service (refused, naming them, while others depend on it)."""
    client = _client(args)
    return _show(args, client.delete(f"/api/v1/services/{_service(client, args.id)}"))


def cmd_asset_update(args) -> int:
    """Change an asset's record (supplier, contract, location, owner, warranty end …)."""
    client = _client(args)
    body = _body(args)
    for key in ("supplier", "contract", "location", "owner", "warranty_end"):
        if getattr(args, key, None):
            body[key] = getattr(args, key)
    if args.ci:
        body["ci"] = _ci(client, args.ci)
    return _show(args, client.patch(f"/api/v1/assets/{_asset(client, args.id)}", body))


def cmd_service_create(args) -> int:
    body = _body(args)
    for key in ("name", "owner", "criticality", "kind", "description"):
        if getattr(args, key, None):
            body[key] = getattr(args, key)
    client = _client(args)
    deps = [{"ci": _ci(client, c)} for c in args.ci or []] + [
        {"service": _service(client, s)} for s in args.service or []
    ]
    if deps:
        body.setdefault("depends_on", []).extend(deps)
    return _show(args, client.post("/api/v1/services", body))


def cmd_service_import(args) -> int:
    import yaml

    try:
        document = yaml.safe_load(Path(args.file).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CliError(f"cannot read {args.file}: {exc}", 2) from exc
    path = "/api/v1/services/import" + ("?dry_run=1" if args.dry_run else "")
    data = _client(args).post(path, document)
    if args.json:
        emit_json(data)
        return 0
    for change in data["changes"]:
        print(f"{change['action']} {change['service']}")
        for d in change["diff"]:
            print(f"    {_diff_line(d)}")
    s = data["summary"]
    print(
        ("would change: " if data["dry_run"] else "")
        + f"{s['services_created']} created, {s['services_updated']} updated, "
        f"{s['services_unchanged']} unchanged; dependencies +{s['dependencies_added']} "
        f"-{s['dependencies_removed']}, group members +{s['members_added']} "
        f"-{s['members_removed']}, groups +{s['groups_added']} -{s['groups_removed']}, "
        f"{s['fields_changed']} fields"
    )
    return 0


def _ref_text(ref) -> str:
    if not ref:
        return "?"
    name = ref.get("name") or ref.get("id")
    if ref.get("host"):
        name = f"{ref['host']} {name}"
    return f"{ref.get('class', '')} {name}".strip()


def _diff_line(d: dict) -> str:
    kind = d["change"]
    if kind == "field changed":
        return f"{d['field']}: {json.dumps(d['old'])} -> {json.dumps(d['new'])}"
    if kind in ("member added", "member removed"):
        sign = "+" if kind == "member added" else "-"
        return f"group {d['group']}: {sign} {_ref_text(d['member'])}"
    if kind in ("dependency added", "dependency removed"):
        sign = "+" if kind == "dependency added" else "-"
        return f"depends on: {sign} {_ref_text(d['target'])}"
    if kind == "group min changed":
        return f"group {d['group']}: min {d['old']} -> {d['new']}"
    return f"{kind} {d.get('group', '')}".strip()


def cmd_service_diff(args) -> int:
    client = _client(args)
    data = client.get(
        f"/api/v1/services/{_service(client, args.id)}/diff", **{"from": args.frm, "to": args.to}
    )
    return _show(args, data)


# ---------------------------------------------------------------- impact
def _label(ci: dict) -> str:
    """A CI as people name it: ``db1``, ``tcp/5432 (postgres) on db1``."""
    name = ci.get("name") or ci["id"][:8]
    where = ci.get("host") or ci.get("device")
    return f"{name} on {where}" if where else name


def _sla(sla: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted((sla or {}).items()))


def _and(names: list[str]) -> str:
    """``vm``, ``vm and db1``, ``vm, db1 and db2``."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def cmd_impact(args) -> int:
    client = _client(args)
    ids = [resolve_ci_id(client, ref) for ref in args.ids]
    body: dict = {"cis": ids, "summary": args.services_only}
    if args.depth is not None:  # else the server's default, as the API applies it
        body["depth"] = args.depth
    data = client.post("/api/v1/impact", body)
    if args.json:
        emit_json(data)
        return 0
    affected = data.get("cis") or []
    if affected:  # nearest first (the server's order): what the failure hits directly
        shown = affected if args.limit <= 0 else affected[: args.limit]
        more = len(affected) - len(shown)
        emit_table(
            [(c["depth"], c["state"], c["class"], _label(c)) for c in shown],
            ("depth", "state", "class", "CI"),
            f"{counted(len(affected), 'affected CI')}"
            + (f", {more} more not shown: --limit 0 for all, --json for everything" if more else "")
            + "\n",
        )
    rows = []
    for s in data["services"]:
        path = s["paths"][0] if s["paths"] else {"steps": [], "kind": ""}
        chain = " > ".join(_label(step) for step in path["steps"])
        rows.append(
            (
                s["state"],
                s["criticality"],
                s["name"],
                s["owner"],
                _sla(s["sla"]),
                path["kind"],
                chain,
            )
        )
    counts = data["counts"]
    # in the order they were typed ("If vm and db1 fail"), named as the server knows them
    order = {ci_id: n for n, ci_id in enumerate(ids)}
    failed = sorted(data.get("failed") or [], key=lambda c: order.get(c.get("id"), len(order)))
    gone = " (out of service already: it takes nothing down)"
    names = [_label(c) + (gone if c.get("out_of_service") else "") for c in failed] or list(
        args.ids
    )
    verb = "fails" if len(names) == 1 else "fail"
    sentence = (
        f"If {_and(names)} {verb}: {counted(counts['services']['down'], 'service')} down, "
        f"{counts['services']['degraded']} degraded; {counted(counts['cis']['down'], 'CI')} down, "
        f"{counts['cis']['degraded']} degraded "
        f"({', '.join(f'{n} {c}' for c, n in sorted(counts['classes'].items()))})"
    )
    if rows:
        headers = ("state", "criticality", "service", "owner", "sla", "evidence")
        emit_table(rows, (*headers, "why (first path)"), sentence)
    else:
        print(sentence)  # no services affected: no empty table
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
    client = _client(args)
    return _show(args, client.get(f"/api/v1/assets/{_asset(client, args.id)}"))


def cmd_asset_create(args) -> int:
    body = _body(args)
    body["asset_tag"] = args.tag
    for key in ("supplier", "contract", "location", "owner", "warranty_end", "state"):
        if getattr(args, key, None):
            body[key] = getattr(args, key)
    client = _client(args)
    if args.ci:
        body["ci"] = _ci(client, args.ci)
    return _show(args, client.post("/api/v1/assets", body))


def cmd_asset_transition(args) -> int:
    client = _client(args)
    path = f"/api/v1/assets/{_asset(client, args.id)}/transition"
    return _show(args, client.post(path, {"state": args.state}))


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


def impact_summary(impact: dict | None, ref: str = "ID") -> dict | None:
    """A change's stored impact (``{"services": [{name, state, criticality, owner, paths}],
    "cis": [{class, state}], "cis_total", "depth", "assessed_at"}``, from
    ``GET /api/v1/changes/{id}``) as a few readable lines: each service with its state
    and first path, and counts of CIs by state and class (``total`` counts CIs beyond
    the stored list). The whole answer is ``--json`` (``ref`` names the change there)."""
    if not impact:
        return impact
    services = impact.get("services") or []
    cis = impact.get("cis") or []
    states: dict[str, int] = {}
    for s in services:
        states[s["state"]] = states.get(s["state"], 0) + 1
    ci_states: dict[str, int] = {}
    classes: dict[str, int] = {}
    for c in cis:
        ci_states[c.get("state") or "?"] = ci_states.get(c.get("state") or "?", 0) + 1
        classes[c["class"]] = classes.get(c["class"], 0) + 1
    total = impact.get("cis_total", len(cis))
    listed = []
    for s in services:
        path = s["paths"][0]["steps"] if s.get("paths") else []
        detail = ", ".join(
            part
            for part in (s.get("criticality"), s.get("owner") and f"owner {s['owner']}")
            if part
        )
        line = f"{s['state']}" + (f" ({detail})" if detail else "")
        if path:
            line += " via " + " > ".join(_label(step) for step in path)
        listed.append({s["name"]: line})
    by_state = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    summary = {
        "assessed_at": impact.get("assessed_at"),
        "services": f"{len(services)} ({by_state})" if services else "none",
    }
    if listed:
        summary["affected services"] = listed
    ci_counts = ", ".join(f"{n} {state}" for state, n in sorted(ci_states.items()))
    ci_classes = ", ".join(f"{n} {cls}" for cls, n in sorted(classes.items()))
    summary["cis"] = f"{total} ({ci_counts}; {ci_classes})" if cis else str(total)
    summary["details"] = f"cmdb change show {ref} --json"
    return summary


def cmd_change_show(args) -> int:
    client = _client(args)
    data = client.get(f"/api/v1/changes/{_change(client, args.id)}")
    if args.json:
        emit_json(data)
        return 0
    emit_text({**data, "impact": impact_summary(data.get("impact"), data["change_id"])})
    return 0


def cmd_change_create(args) -> int:
    client = _client(args)
    cis = [_ci(client, ref) for ref in args.ci]
    body = {"title": args.title, "cis": cis, "window": {"start": args.start, "end": args.end}}
    expected = []
    for item in args.expect or []:
        key, _, value = item.partition("=")
        if not value:
            raise CliError(f"--expect takes KEY=VALUE (attribute, package, port), not {item!r}", 2)
        expected.append({key: int(value) if key == "port" and value.isdigit() else value})
    if expected:
        body["expected"] = expected
    return _show(args, client.post("/api/v1/changes", body))


def cmd_change_transition(args) -> int:
    client = _client(args)
    path = f"/api/v1/changes/{_change(client, args.id)}/transition"
    data = client.post(path, {"state": args.state})
    if args.json:
        emit_json(data)
        return 0
    print(f"{data['change_id']}: {data['state']}")
    for warning in data.get("approval_warnings") or []:
        print(f"WARNING {warning['message']}")
    if data.get("verification"):
        print(data["verification"]["text"])
    return 0


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
    full = args.json or args.packages
    client = _client(args)
    data = client.get(
        f"/api/v1/changes/{_change(client, args.id)}/verification",
        packages="full" if full else None,
    )
    if args.json:
        emit_json(data)
        return 0
    print(f"{data['change']['change_id']}  {data['change']['title']}")
    print(f"verdict: {data['text']}")
    for item in data["items"]:
        print(f"  {_ref_text(item['ci'])}: {len(item['changes'])} changes")
        for change in item["changes"]:
            print(f"    {change['at']}  {change['text']}")
        for pkg in item["packages"]:
            print(f"    {pkg['text']}")
            for kind, names in (pkg.get("examples") or {}).items():
                print(f"      {kind}: {', '.join(names)}{' ...' if pkg[kind] > len(names) else ''}")
    if data["unexpected"]:
        print("unexpected:")
        for change in data["unexpected"]:
            print(f"    {change['text']}")
    if args.packages:
        rows = [
            (_ref_text(pkg["host"]), p["name"], p["change"], p["old"] or "", p["new"] or "")
            for item in data["items"]
            for pkg in item["packages"]
            for p in pkg.get("list", [])
        ]
        emit_table(rows, ("host", "package", "change", "old", "new"), f"{len(rows)} packages")
    return 0


def cmd_unauthorized(args) -> int:
    data = _client(args).get(
        "/api/v1/reports/unauthorized-changes",
        since=args.since,
        until=args.until,
        packages="full" if args.json or args.packages else None,
    )
    rows = [(e["at"], e["source"], e["text"]) for e in data["items"]]
    return _listing(args, data, rows, ("at", "source", "change"))


# ---------------------------------------------------------------- declared relationships
def parse_ref(text: str):
    """``ID``, ``Host:db1`` (a name) or ``Endpoint:host=db1,port=5432`` (keys)."""
    cls, sep, rest = text.partition(":")
    if not sep or not cls[:1].isupper():
        return text
    if "=" not in rest:
        return {"class": cls, "name": rest}
    ref = {"class": cls}
    for part in rest.split(","):
        key, _, value = part.partition("=")
        ref[key.strip()] = value.strip()
    return ref


def _rel_body(client: ApiClient, args) -> dict:
    """The API body; a bare reference (no ``Class:``) is resolved to its CI's id here."""

    def ref(text: str):
        parsed = parse_ref(text)
        return _ci(client, parsed) if isinstance(parsed, str) else parsed

    body = {"type": args.type, "from": ref(args.frm)}
    if args.group:
        body["group"] = {"name": args.group, "min": args.min}
        if args.member:
            body["group"]["members"] = [ref(m) for m in args.member]
    elif args.to:
        body["to"] = ref(args.to)
    return body


def _rel_line(r: dict) -> str:
    if r.get("group"):
        g = r["group"]
        members = ", ".join(_ref_text(m) for m in g["members"])
        target = f"group {g['name']} (min {g['min']} of {members})"
    else:
        target = _ref_text(r["to"])
    ended = f"  ended {r['ended_at']}" if r.get("ended_at") else ""
    return f"{_ref_text(r['from'])} {r['type']} {target}  since {r['first_seen']}{ended}"


def cmd_rel_add(args) -> int:
    client = _client(args)
    data = client.post("/api/v1/relationships", _rel_body(client, args))
    if args.json:
        emit_json(data)
    else:
        print(_rel_line(data))
    return 0


def cmd_rel_remove(args) -> int:
    client = _client(args)
    data = client.request("DELETE", "/api/v1/relationships", body=_rel_body(client, args))
    if args.json:
        emit_json(data)
    else:
        print(_rel_line(data))
    return 0


def cmd_rel_list(args) -> int:
    client = _client(args)
    data = client.get(
        "/api/v1/relationships", ci=_ci(client, args.id), include_ended="1" if args.all else None
    )
    if args.json:
        emit_json(data)
    else:
        for r in data["items"]:
            print(_rel_line(r))
        print(f"{data['total']} declared relationships")
    return 0


# ---------------------------------------------------------------- custom attributes
def _pairs(items) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"expected NAME=VALUE, not {item!r}", 2)
        try:
            out[key] = json.loads(value) if value not in ("",) else None
        except json.JSONDecodeError:
            out[key] = value  # plain text
    return out


def cmd_attr_declared(args) -> int:
    data = _client(args).get("/api/v1/custom-attributes")
    rows = [
        (d["class"], d["name"], d["type"], ", ".join(map(str, d["allowed"] or [])))
        for d in data["items"]
    ]
    return _listing(args, data, rows, ("class", "name", "type", "allowed"))


def cmd_attr_set(args) -> int:
    client = _client(args)
    path = f"/api/v1/cis/{_ci(client, args.id)}/custom"
    return _show(args, client.request("PATCH", path, body=_pairs(args.values)))


def cmd_attr_find(args) -> int:
    query = {
        k: str(v).lower() if isinstance(v, bool) else v for k, v in _pairs(args.filters).items()
    }
    data = _client(args).get(
        "/api/v1/custom-attributes/cis", **{"class": args.cls}, limit=args.limit, **query
    )
    rows = [
        (c["id"], c["name"], c["status"], ", ".join(f"{k}={v}" for k, v in c["custom"].items()))
        for c in data["items"]
    ]
    return _listing(args, data, rows, ("id", "name", "status", "custom"))


def cmd_ci_diff(args) -> int:
    client = _client(args)
    path = f"/api/v1/cis/{_ci(client, args.id)}/diff"
    return _show(args, client.get(path, **{"from": args.frm, "to": args.to}))


# ---------------------------------------------------------------- wiring
REF_HELP = "id, name, address, serial or HOST:PORT for an endpoint"
CHANGE_HELP = "a change: its number (CHG-…) or id"


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
    _cmd(svc, "show", cmd_service_show).add_argument("id", help="a service: id or name")
    _cmd(svc, "delete", cmd_service_delete).add_argument(
        "id", help="a service: id or name (retired; refused while others depend on it)"
    )
    p = _cmd(svc, "create", cmd_service_create)
    p.add_argument("name")
    p.add_argument("--owner")
    p.add_argument("--criticality", choices=("critical", "high", "medium", "low"))
    p.add_argument("--kind", choices=("business", "technical"))
    p.add_argument("--description")
    p.add_argument("--ci", action="append", help=f"a CI it depends on: {REF_HELP} (repeatable)")
    p.add_argument("--service", action="append", help="a service it depends on: id or name")
    p.add_argument("--body", help="extra JSON fields (sla, groups in depends_on)")
    p = _cmd(svc, "import", cmd_service_import, "upsert services from a YAML catalogue")
    p.add_argument("file")
    p.add_argument("--dry-run", action="store_true", help="show what would change, write nothing")
    p = _cmd(svc, "diff", cmd_service_diff)
    p.add_argument("id", help="a service: id or name")
    p.add_argument("--from", dest="frm", required=True)
    p.add_argument("--to", required=True)

    p = sub.add_parser("impact", help="what fails with these CIs, up to the services")
    add_api_options(p)
    p.add_argument(
        "ids",
        nargs="+",
        help="failed CIs: ids, names, addresses, serials, or HOST:PORT / HOST:tcp/PORT for an "
        "endpoint (a loopback or link-local address names no host)",
    )
    p.add_argument(
        "--depth",
        type=positive_int,
        help="how many relationships to follow (default and limit: the server's max_depth)",
    )
    p.add_argument(
        "--services-only",
        action="store_true",
        help="services and counts only, without the list of every affected CI",
    )
    p.add_argument(
        "--limit",
        type=int,
        default=50,
        help="affected CIs listed, nearest first (default 50; 0 for all)",
    )
    p.set_defaults(func=cmd_impact)

    ast = sub.add_parser("asset", help="the asset register").add_subparsers(
        dest="asset_command", required=True
    )
    p = _cmd(ast, "list", cmd_asset_list)
    p.add_argument("--state")
    _paged(p)
    _cmd(ast, "show", cmd_asset_show).add_argument("id", help="an asset: id, tag or serial")
    p = _cmd(ast, "create", cmd_asset_create)
    p.add_argument("tag")
    p.add_argument("--ci", help=f"the CI it is: {REF_HELP}")
    for opt in ("supplier", "contract", "location", "owner", "warranty-end", "state"):
        p.add_argument(f"--{opt}", dest=opt.replace("-", "_"))
    p.add_argument("--body", help="extra JSON fields (cost, purchase_date, ...)")
    p = _cmd(ast, "update", cmd_asset_update)
    p.add_argument("id", help="an asset: id, tag or serial")
    p.add_argument("--ci", help=f"the CI it is: {REF_HELP}")
    for opt in ("supplier", "contract", "location", "owner", "warranty-end"):
        p.add_argument(f"--{opt}", dest=opt.replace("-", "_"))
    p.add_argument("--body", help="other JSON fields (cost, purchase_date, ...)")
    p = _cmd(ast, "transition", cmd_asset_transition)
    p.add_argument("id", help="an asset: id, tag or serial")
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
    _cmd(chg, "show", cmd_change_show).add_argument("id", help=CHANGE_HELP)
    p = _cmd(chg, "create", cmd_change_create)
    p.add_argument("title")
    p.add_argument(
        "--ci", action="append", required=True, help=f"a CI it changes: {REF_HELP} (repeatable)"
    )
    p.add_argument("--start", required=True)
    p.add_argument("--end", required=True)
    p.add_argument(
        "--expect",
        action="append",
        help="what discovery should see: attribute=kernel, package=openssl, port=5433",
    )
    p = _cmd(chg, "transition", cmd_change_transition)
    p.add_argument("id", help=CHANGE_HELP)
    p.add_argument("state")
    _cmd(chg, "conflicts", cmd_change_conflicts)
    p = _cmd(chg, "verify", cmd_change_verify, "verdict on what discovery saw in the window")
    p.add_argument("id", help=CHANGE_HELP)
    p.add_argument("--packages", action="store_true", help="list every package change")
    p = _cmd(chg, "unauthorized", cmd_unauthorized, "discovered changes no change record covered")
    p.add_argument("--since")
    p.add_argument("--until")
    p.add_argument("--packages", action="store_true", help="list every package change")

    rel = sub.add_parser(
        "relationship", aliases=["rel"], help="declared relationships (source manual)"
    ).add_subparsers(dest="rel_command", required=True)
    verbs = (
        ("add", cmd_rel_add, "declare one: an application RUNS_ON a host, a DEPENDS_ON …"),
        ("remove", cmd_rel_remove, "end a declared one (its history stays)"),
    )
    for verb, func, help_text in verbs:
        p = _cmd(rel, verb, func, help_text)
        p.add_argument("type", choices=("RUNS_ON", "HOSTED_ON", "DEPENDS_ON"))
        p.add_argument(
            "--from", dest="frm", required=True, help="db1 (id, name...), Host:db1, Class:key=v,..."
        )
        p.add_argument("--to", help="db1 (id, name...), Host:db1, Endpoint:host=db1,port=5432")
        p.add_argument("--group", help="a redundancy group name (DEPENDS_ON)")
        p.add_argument("--min", type=int, default=1)
        p.add_argument("--member", action="append", help="a group member (repeatable)")
    p = _cmd(rel, "list", cmd_rel_list, "the declared relationships of one CI, both ways")
    p.add_argument("id", help=REF_HELP)
    p.add_argument("--all", action="store_true", help="ended ones too")

    attr = sub.add_parser("attr", help="custom attributes declared in the config").add_subparsers(
        dest="attr_command", required=True
    )
    _cmd(attr, "declared", cmd_attr_declared)
    p = _cmd(attr, "set", cmd_attr_set)
    p.add_argument("id", help=REF_HELP)
    p.add_argument("values", nargs="+", help="NAME=VALUE (NAME= removes it)")
    p = _cmd(attr, "find", cmd_attr_find)
    p.add_argument("--class", dest="cls", required=True)
    p.add_argument("filters", nargs="*", help="NAME=VALUE")
    p.add_argument("--limit", type=int, default=50)

    p = sub.add_parser("ci-diff", help="what changed on a CI between two times")
    add_api_options(p)
    p.add_argument("id", help=REF_HELP)
    p.add_argument("--from", dest="frm", required=True)
    p.add_argument("--to", required=True)
    p.set_defaults(func=cmd_ci_diff)
