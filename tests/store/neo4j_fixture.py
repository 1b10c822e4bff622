"""Pytest fixtures for the Neo4j store on a real server.

* ``neo4j_server`` (session): where the test server is. With ``CMDB_TEST_NEO4J_URI`` and
  ``CMDB_TEST_NEO4J_PASSWORD`` (and optionally ``CMDB_TEST_NEO4J_USER``) set it uses that
  server; otherwise it starts (or reuses) one with
  ``deploy/neo4j/neo4j-local start .cache/neo4j-test --bolt-port 7688 --http-port 7475``
  and leaves it running for the next session (``neo4j-local stop .cache/neo4j-test``
  stops it). The session holds a file lock on the test database (sessions wipe it, so
  concurrent sessions take turns). When no server can be had the tests are skipped,
  except under ``CI=true``, where that is a failure.
* ``neo4j_store`` (function): an opened :class:`Neo4jStore` on a wiped database.

Use them from a conftest (``from tests.store.neo4j_fixture import neo4j_server,
neo4j_store``) or through :func:`open_neo4j_store` in a parametrised store fixture.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from cmdb.graph.neo4j.store import Neo4jStore

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = REPO / "deploy" / "neo4j" / "neo4j-local"
SERVER_DIR = REPO / ".cache" / "neo4j-test"
BOLT_PORT = 7688
HTTP_PORT = 7475
LOCK_WAIT = float(os.environ.get("CMDB_TEST_NEO4J_LOCK_WAIT", "900"))


@dataclass(frozen=True)
class Neo4jServer:
    uri: str
    user: str
    password: str
    started_here: bool


def _unavailable(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Neo4j test server unavailable under CI=true: {message}", pytrace=False)
    pytest.skip(f"Neo4j test server unavailable: {message}")


def start_test_server() -> Neo4jServer:
    """The server from the environment, or the launcher's (started or reused)."""
    uri = os.environ.get("CMDB_TEST_NEO4J_URI")
    password = os.environ.get("CMDB_TEST_NEO4J_PASSWORD")
    user = os.environ.get("CMDB_TEST_NEO4J_USER", "neo4j")
    if uri and password:
        return Neo4jServer(uri=uri, user=user, password=password, started_here=False)
    command = [
        str(LAUNCHER),
        "start",
        str(SERVER_DIR),
        "--bolt-port",
        str(BOLT_PORT),
        "--http-port",
        str(HTTP_PORT),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=420, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        _unavailable(f"{' '.join(command)} failed: {exc}")
        raise AssertionError("unreachable") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not lines[-1].startswith("bolt://"):
        _unavailable(
            f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-3000:]}{done.stdout}"
        )
    return Neo4jServer(
        uri=lines[-1],
        user="neo4j",
        password=(SERVER_DIR / "password").read_text().strip(),
        started_here=True,
    )


async def wipe(store: Neo4jStore) -> None:
    """Delete every node and relationship (constraints and indexes stay)."""
    async with store.driver.session(database=store.database) as session:
        # CALL ... IN TRANSACTIONS needs an auto-commit transaction (session.run)
        result = await session.run(
            "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
        )
        await result.consume()


@asynccontextmanager
async def open_neo4j_store(server: Neo4jServer) -> AsyncIterator[Neo4jStore]:
    """An opened store on a wiped database; closed afterwards."""
    store = Neo4jStore(server.uri, server.user, server.password)
    await store.open()
    try:
        await wipe(store)
        yield store
    finally:
        await store.close()


def _exclusive_use(uri: str) -> int | None:
    """Hold the test database for this pytest session: every session wipes it, so
    concurrent sessions (several engineers, several terminals) take turns."""
    lock_dir = REPO / ".cache"
    lock_dir.mkdir(parents=True, exist_ok=True)
    name = "".join(ch if ch.isalnum() else "_" for ch in uri)
    fd = os.open(lock_dir / f"neo4j-test-{name}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                _unavailable(f"another test session has held {uri} for {LOCK_WAIT:.0f} s")
                return None
            time.sleep(0.5)


@pytest.fixture(scope="session")
def neo4j_server() -> Iterator[Neo4jServer]:
    server = start_test_server()
    fd = _exclusive_use(server.uri)
    try:
        yield server
    finally:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


@pytest_asyncio.fixture
async def neo4j_store(neo4j_server: Neo4jServer) -> AsyncIterator[Neo4jStore]:
    async with open_neo4j_store(neo4j_server) as store:
        yield store
