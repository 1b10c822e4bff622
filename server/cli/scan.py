"""cmdb scan run|show|list and cmdb schedule add|list|run|delete"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.parse
from typing import Any

from cmdb.server.cli.core import add_api_options
from cmdb.server.cli.http import ApiClient
from cmdb.server.cli.output import emit_json, emit_table, show

FINISHED = ("done", "failed", "cancelled", "interrupted")


def credentials_from_args(args) -> list[dict[str, Any]]:
    """SNMPv3 profile first when given, then each community (v2c, or v1 with --snmp-version 1)."""
    creds: list[dict[str, Any]] = []
    if args.v3_user:
        creds.append(
            {
                "version": "3",
                "user": args.v3_user,
                "auth_protocol": args.auth_protocol,
                "auth_password": args.auth_password,
                "priv_protocol": args.priv_protocol,
                "priv_password": args.priv_password,
            }
        )
    for community in args.community or []:
        creds.append({"version": args.snmp_version, "community": community})
    if not creds:
        creds.append({"version": args.snmp_version, "community": "public"})
    return [{k: v for k, v in c.items() if v is not None} for c in creds]


def _summary(scan: dict[str, Any]) -> str:
    """One line; devices whose inventory is incomplete are counted next to the errors."""
    c = scan["counts"]
    partial = c.get("partial", 0)
    return (
        f"scan {scan['id']} {scan['status']}: {c['probed']}/{scan['total']} probed, "
        f"{c['answered']} answered, {c['devices']} devices reconciled"
        + (f" ({partial} partial)" if partial else "")
        + f", {c['timeouts']} timed out, {c['errors']} errors"
    )


def _gaps(scan: dict[str, Any]) -> list[str]:
    """One line per device that did not deliver everything, then one per table and why."""
    lines = []
    for d in scan.get("devices") or []:
        if d.get("complete", True):
            continue
        what = []
        if d.get("partial_sections"):
            what.append("partial: " + ", ".join(d["partial_sections"]))
        if d.get("missing_sections"):
            what.append("not read: " + ", ".join(d["missing_sections"]))
        lines.append(f"  {d['target']} ({d.get('name') or '?'}) incomplete; {'; '.join(what)}")
        for table, t in (d.get("tables") or {}).items():
            lines.append(f"    {t['section']}/{table} {t['status']}: {t['reason']}")
    return lines


def _complete(d: dict[str, Any]) -> str:
    if d.get("complete", True):
        return "complete"
    return "partial: " + ", ".join(
        [
            *d.get("partial_sections", []),
            *(f"{s} (not read)" for s in d.get("missing_sections", [])),
        ]
    )


def _wait(client: ApiClient, scan: dict[str, Any], show_progress: bool) -> dict[str, Any]:
    from tqdm import tqdm

    bar = tqdm(
        total=scan["total"],
        unit="addr",
        desc="scanning",
        disable=not show_progress,
        file=sys.stderr,
    )
    try:
        while scan["status"] not in FINISHED:
            time.sleep(0.5)
            scan = client.get(f"/api/v1/scans/{scan['id']}")
            bar.update(scan["counts"]["probed"] - bar.n)
            bar.set_postfix(devices=scan["counts"]["devices"], errors=scan["counts"]["errors"])
    finally:
        bar.close()
    return scan


def cmd_scan_run(args) -> int:
    client = ApiClient(args.server, args.token)
    body = {
        "targets": args.targets,
        "port": args.port,
        "timeout": args.timeout,
        "retries": args.retries,
        "credentials": credentials_from_args(args),
    }
    if args.concurrency:
        body["concurrency"] = args.concurrency
    if args.charset:
        body["charset"] = args.charset
    scan = client.post("/api/v1/scans", body)
    if not args.no_wait:
        scan = _wait(client, scan, show_progress=not args.json and sys.stderr.isatty())
    if args.json:
        emit_json(
            {
                "id": scan["id"],
                "status": scan["status"],
                "counts": scan["counts"],
                "total": scan["total"],
                "errors": scan["errors"],
                "devices": scan["devices"],
                "message": scan.get("message"),
            }
        )
    else:
        print(_summary(scan))
        if scan.get("message"):
            print(scan["message"])
        if scan["devices"]:
            emit_table(
                [
                    (d["target"], d["name"], d["ci_id"], d["status"], _complete(d))
                    for d in scan["devices"]
                ],
                ("target", "name", "ci", "status", "inventory"),
            )
        for line in _gaps(scan):
            print(line)
        for err in scan["errors"][:20]:
            print(f"  {err['target']}: {err['error']}")
    return 0 if scan["status"] in ("done", "queued", "running") else 1


def cmd_scan_show(args) -> int:
    scan = ApiClient(args.server, args.token).get(f"/api/v1/scans/{args.id}")
    if args.json:
        emit_json(scan)
    else:
        print(_summary(scan))
        if scan.get("message"):
            print(scan["message"])
        for line in _gaps(scan):
            print(line)
        for err in scan["errors"]:
            print(f"  {err['target']}: {err['error']}")
    return 0


def cmd_scan_list(args) -> int:
    data = ApiClient(args.server, args.token).get("/api/v1/scans")
    if args.json:
        emit_json(data)
        return 0
    emit_table(
        [
            (s["id"], s["status"], s["targets"], s["counts"].get("devices"), s["created_at"])
            for s in data["items"]
        ],
        ("id", "status", "targets", "devices", "created"),
    )
    return 0


def cmd_schedule_add(args) -> int:
    body = {
        "name": args.name,
        "cron": args.cron,
        "targets": args.targets,
        "port": args.port,
        "timeout": args.timeout,
        "retries": args.retries,
        "credentials": credentials_from_args(args),
    }
    data = ApiClient(args.server, args.token).post("/api/v1/schedules", body)
    if args.json:
        emit_json(data)
    else:
        print(f"schedule {data['name']} ({data['cron']}), next run {data['next_run']}")
    return 0


def cmd_schedule_show(args) -> int:
    """``cmdb schedule show NAME``: the schedule as the server keeps it (secrets withheld)."""
    client = ApiClient(args.server, args.token, cafile=getattr(args, "cafile", None))
    data = client.get(f"/api/v1/schedules/{urllib.parse.quote(args.name, safe='')}")
    return show(args, data)


def cmd_schedule_list(args) -> int:
    data = ApiClient(args.server, args.token).get("/api/v1/schedules")
    if args.json:
        emit_json(data)
        return 0
    emit_table(
        [
            (s["name"], s["cron"], s["targets"], s.get("next_run"), s.get("last_run") or "")
            for s in data["items"]
        ],
        ("name", "cron", "targets", "next run", "last run"),
    )
    return 0


def cmd_schedule_run(args) -> int:
    scan = ApiClient(args.server, args.token).post(f"/api/v1/schedules/{args.name}/run", {})
    print(_summary(scan)) if not args.json else emit_json(scan)
    return 0


def cmd_schedule_delete(args) -> int:
    ApiClient(args.server, args.token).request("DELETE", f"/api/v1/schedules/{args.name}")
    print(f"schedule {args.name} deleted")
    return 0


def _scan_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--targets", required=True, help="addresses, ranges (a-b) and CIDR, comma-separated"
    )
    p.add_argument("--port", type=int, default=161)
    p.add_argument("--timeout", type=float, default=1.0, help="seconds per SNMP request")
    p.add_argument("--retries", type=int, default=1)
    p.add_argument("--community", action="append", help="v1/v2c community (repeatable)")
    p.add_argument("--snmp-version", choices=("1", "2c"), default="2c")
    p.add_argument("--v3-user")
    p.add_argument("--auth-protocol", help="MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512")
    p.add_argument("--auth-password")
    p.add_argument("--priv-protocol", help="DES, AES, AES-192, AES-256")
    p.add_argument("--priv-password")


def register(sub: argparse._SubParsersAction) -> None:
    scan = sub.add_parser("scan", help="SNMP network discovery").add_subparsers(
        dest="scan_command", required=True
    )
    p = scan.add_parser("run", help="ask the server to scan now; shows progress, then a summary")
    add_api_options(p)
    _scan_options(p)
    p.add_argument("--concurrency", type=int)
    p.add_argument(
        "--charset",
        help="legacy charset for device strings that are not UTF-8 (default cp1252, "
        "then latin-1; needs a server that reads 'charset')",
    )
    p.add_argument("--no-wait", action="store_true", help="return once the scan is started")
    p.set_defaults(func=cmd_scan_run)
    p = scan.add_parser("show")
    add_api_options(p)
    p.add_argument("id")
    p.set_defaults(func=cmd_scan_show)
    p = scan.add_parser("list")
    add_api_options(p)
    p.set_defaults(func=cmd_scan_list)

    sched = sub.add_parser("schedule", help="cron-scheduled scans").add_subparsers(
        dest="schedule_command", required=True
    )
    p = sched.add_parser("add", help="create or replace a schedule")
    add_api_options(p)
    p.add_argument("name")
    p.add_argument("--cron", required=True, help="cron expression, e.g. '0 */4 * * *'")
    _scan_options(p)
    p.set_defaults(func=cmd_schedule_add)
    p = sched.add_parser("list")
    add_api_options(p)
    p.set_defaults(func=cmd_schedule_list)
    p = sched.add_parser("show", help="one schedule: cron, targets, site, next and last run")
    add_api_options(p)
    p.add_argument("name")
    p.set_defaults(func=cmd_schedule_show)
    for verb, func in (("run", cmd_schedule_run), ("delete", cmd_schedule_delete)):
        p = sched.add_parser(verb)
        add_api_options(p)
        p.add_argument("name")
        p.set_defaults(func=func)
