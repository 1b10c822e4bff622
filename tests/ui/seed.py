"""A small estate seeded through a real server's API, for the browser tests and
``bench/ui.py``: three hosts reported by their agents (web1, db1, db2), a business service
on a technical one that needs one of a two-host redundancy group, and three users."""

from __future__ import annotations

import gzip
import json
import os
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.processes import cmdb, create_token
from tests.reports import agent_report, nic

PASSWORD = "correct-horse-battery"
USERS = {"ada": "admin", "ed": "editor", "rita": "reader"}
HOSTS = {
    # name: (last uuid byte, address, MAC)
    "web1": ("01", "10.20.0.5", "52:54:00:12:34:01"),
    "db1": ("02", "10.20.0.11", "52:54:00:12:34:02"),
    "db2": ("03", "10.20.0.12", "52:54:00:12:34:03"),
}


@dataclass
class Estate:
    url: str
    data_dir: Path
    editor_token: str
    hosts: dict[str, str] = field(default_factory=dict)  # name -> CI id
    services: dict[str, str] = field(default_factory=dict)


def api(url: str, token: str, method: str, path: str, body: object | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def create_users(data_dir: Path) -> None:
    for name, role in USERS.items():
        cmdb(
            "user",
            "create",
            name,
            "--role",
            role,
            "--data-dir",
            str(data_dir),
            env={"CMDB_USER_PASSWORD": PASSWORD},
        )


def host_report(name: str, packages: int = 40) -> dict:
    last, address, mac = HOSTS[name]
    return agent_report(
        hostname=name,
        system_uuid=f"4c4c4544-0042-3510-8057-b4c04f4a4d{last}",
        machine_id=f"5f2d0c7a9b1e4d3c8a6f0e1d2c3b4a{last}",
        serial=f"SRV{last}X",
        interfaces=[
            nic("lo", None, [("127.0.0.1", 8)], kind="loopback"),
            nic("eth0", mac, [(address, 24)]),
        ],
        packages=packages,
    )


def post_report(url: str, token: str, report: dict) -> dict:
    request = urllib.request.Request(
        url + "/api/v1/reports",
        data=gzip.compress(json.dumps(report).encode()),
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def seed(url: str, data_dir: Path, packages: int = 40) -> Estate:
    """Hosts through agent reports, the catalogue through the API (tokens made with the
    CLI); users are made before the server starts (``create_users``)."""
    editor = create_token(data_dir, "editor")
    estate = Estate(url=url, data_dir=data_dir, editor_token=editor)
    for name in HOSTS:
        token = create_token(data_dir, "agent")  # an agent token is bound to one host
        answer = post_report(url, token, host_report(name, packages))
        estate.hosts[name] = answer.get("host_id") or _find_host(url, editor, name)
    orders = api(
        url,
        editor,
        "POST",
        "/api/v1/services",
        {
            "name": "orders-db",
            "kind": "technical",
            "owner": "dba",
            "criticality": "high",
            "sla": {"availability": 99.9},
            "depends_on": [
                {
                    "group": {
                        "name": "pg",
                        "min": 1,
                        "members": [estate.hosts["db1"], estate.hosts["db2"]],
                    }
                }
            ],
        },
    )
    shop = api(
        url,
        editor,
        "POST",
        "/api/v1/services",
        {
            "name": "shop",
            "kind": "business",
            "owner": "sales",
            "criticality": "critical",
            "sla": {"availability": 99.5},
            "depends_on": [{"service": orders["id"]}, {"ci": estate.hosts["web1"]}],
        },
    )
    estate.services = {"orders-db": orders["id"], "shop": shop["id"]}
    return estate


def _find_host(url: str, token: str, name: str) -> str:
    items = api(url, token, "GET", f"/api/v1/cis?class=Host&q={name}")["items"]
    return next(i["id"] for i in items if i["name"] == name)


def screenshots_dir() -> Path:
    """Where the test run writes screenshots: git-ignored (``.cache/``), or
    ``CMDB_UI_SCREENSHOTS``."""
    root = Path(__file__).resolve().parents[2]
    path = Path(os.environ.get("CMDB_UI_SCREENSHOTS", root / ".cache" / "ui-screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path
