"""Start the real ``cmdb`` server as a process for end-to-end tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CMDB = [sys.executable, "-m", "cmdb.server.cli"]
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cmdb(*args: str, env: dict[str, str] | None = None, check: bool = True, timeout: float = 120):
    return subprocess.run(
        [*CMDB, *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def create_token(data_dir: Path, role: str, env: dict[str, str] | None = None) -> str:
    """A token made by the CLI; ``env`` points it at the server's store (with Neo4j, tokens
    live in the graph: pass ``neo4j_env(...)``)."""
    args = ("token", "create", "--role", role, "--data-dir", str(data_dir))
    return cmdb(*args, env=env).stdout.strip()


@contextmanager
def running_server(data_dir: Path, extra_args: tuple[str, ...] = (), env: dict | None = None):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(data_dir / "server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            *CMDB,
            "server",
            "--listen",
            f"127.0.0.1:{port}",
            "--data-dir",
            str(data_dir),
            *extra_args,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {proc.returncode}: {(data_dir / 'server.log').read_text()}"
                )
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                    if json.loads(response.read())["status"] == "ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not answer /healthz within 60 s")
            time.sleep(0.2)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def api_get(url: str, token: str, path: str):
    request = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def neo4j_env(uri: str, password: str, user: str = "neo4j") -> dict[str, str]:
    """Environment that points a ``cmdb server`` process at a Neo4j store."""
    return {
        "CMDB_STORE": "neo4j",
        "CMDB_NEO4J_URI": uri,
        "CMDB_NEO4J_USER": user,
        "CMDB_NEO4J_PASSWORD": password,
    }
