"""A real server (aiohttp app, SQLite store) on a loopback port in a thread, with hosts
posted by their agents, for the synchronous CLI tests (``tests/unit/test_cli_*.py``)."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from cmdb.server.api.keys import CONTROL_KEY
from cmdb.server.app import create_app
from cmdb.server.config import Settings
from tests.processes import free_port
from tests.reports import agent_report, nic


@dataclass
class LiveServer:
    url: str
    reader: str  # a reader token
    data_dir: Path
    hosts: dict[str, str]  # hostname -> CI id
    editor: str = ""  # an editor token


HOSTS = (
    # hostname, serial, address; two hosts share the short name "app" in other domains
    ("db1", "SRV-0001", "10.0.0.1"),
    ("db2", "SRV-0002", "10.0.0.2"),
    ("app.eu", "SRV-0003", "10.0.0.3"),
    ("app.us", "SRV-0004", "10.0.0.4"),
)


def _post(url: str, token: str, body: dict) -> dict:
    request = urllib.request.Request(
        url + "/api/v1/reports",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def start(data_dir: Path):
    """Start the server; returns (LiveServer, stop)."""
    port = free_port()
    loop = asyncio.new_event_loop()
    app = create_app(Settings(data_dir=data_dir, listen=f"127.0.0.1:{port}"))
    runner = web.AppRunner(app)
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(30)
    url = f"http://127.0.0.1:{port}"
    control = app[CONTROL_KEY]
    hosts = {}
    for n, (name, serial, address) in enumerate(HOSTS, start=1):
        _, agent = control.create_token("agent", f"agent-{name}")
        report = agent_report(
            hostname=name.split(".")[0],
            system_uuid=f"4c4c4544-0042-3510-8057-b4c04f4a4d{n:02d}",
            machine_id=f"5f2d0c7a9b1e4d3c8a6f0e1d2c3b4a{n:02d}",
            serial=serial,
            interfaces=[nic("eth0", f"52:54:00:00:00:0{n}", [(address, 24)])],
            packages=30,
        )
        report["sections"]["system"]["fqdn"] = f"{name}.example.net"
        hosts[name] = _post(url, agent, report)["ci_id"]
    _, reader = control.create_token("reader", "cli-reader")
    _, editor = control.create_token("editor", "cli-editor")

    def stop() -> None:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)

    return LiveServer(url, reader, data_dir, hosts, editor), stop
