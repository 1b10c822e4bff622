"""POST /api/v1/reports intake (issue 11): two size limits with a streamed, bounded
decompression; clear answers for bodies whose encoding is wrong; which role may post
which report source. Real aiohttp server, SQLite store."""

from __future__ import annotations

import gzip
import json
import os
import time
import uuid
import zlib
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from cmdb.server.api.keys import CONTROL_KEY
from cmdb.server.app import create_app
from cmdb.server.config import Settings
from tests.cases import load_case
from tests.reports import agent_report

pytestmark = pytest.mark.asyncio

SNMP_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "snmp"
ROLES = ("agent", "poller", "reader", "editor", "admin")
MiB = 1024 * 1024


async def started(settings: Settings):
    # the body decoder gets the raw bytes (auto_decompress=False, as create_app asks for
    # through handler_args); test_app_hands_raw_bodies_to_the_decoder checks that wiring
    server = TestServer(create_app(settings))
    await server.start_server(auto_decompress=False)
    client = TestClient(server)
    await client.start_server()
    control = client.app[CONTROL_KEY]
    tokens = {role: control.create_token(role, f"{role}-1")[1] for role in ROLES}
    return client, tokens


@pytest.fixture
async def api(tmp_path):
    client, tokens = await started(Settings(data_dir=tmp_path))
    yield client, tokens
    await client.close()


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def gzip_json(report: dict) -> bytes:
    return gzip.compress(json.dumps(report, separators=(",", ":")).encode())


def zero_bomb(size: int = 1 << 30, piece: int = 1 << 24) -> bytes:
    """A valid gzip file of ``size`` zero bytes (about 1 MB for 1 GiB), built in well under
    a second: one piece deflated once with a full flush (byte-aligned, no back-reference
    across the flush) repeated, then an empty final block and the real trailer."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(bytes(piece)) + deflate.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = 0
    zeros = bytes(piece)
    for _ in range(size // piece):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = crc.to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little")
    return header + block * (size // piece) + tail + trailer


@pytest.mark.filterwarnings("ignore::pytest.PytestWarning")
def test_zero_bomb_is_a_real_gzip_of_its_size():
    bomb = zero_bomb(size=1 << 26, piece=1 << 22)
    assert gzip.decompress(bomb) == bytes(1 << 26)


# ------------------------------------------------------------------ sizes


async def test_huge_report_case_goes_through_and_the_package_is_visible(api):
    """huge-report: 80,000 connections, 15 MB of JSON, 0.5 MB gzipped; right answer: the
    host's facts are updated, the package installed since r1 is visible."""
    client, tokens = api
    r1, r2 = load_case("huge-report").values()
    first = await client.post("/api/v1/reports", json=r1, headers=auth(tokens["agent"]))
    assert first.status == 201, await first.text()
    body = gzip_json(r2)
    assert len(body) < 1 * MiB and len(json.dumps(r2)) > 14 * 1000 * 1000
    second = await client.post(
        "/api/v1/reports", data=body, headers=auth(tokens["agent"], **{"Content-Encoding": "gzip"})
    )
    assert second.status == 201, await second.text()
    answer = await second.json()
    assert answer["status"] == "applied"
    host_id = answer["ci_id"]
    listed = await client.get(
        "/api/v1/cis", params={"class": "Software", "q": "haproxy"}, headers=auth(tokens["reader"])
    )
    names = [(ci["name"], ci["attributes"].get("version")) for ci in (await listed.json())["items"]]
    assert ("haproxy", "2.6.12-1+deb12u1") in names
    host = await (await client.get(f"/api/v1/cis/{host_id}", headers=auth(tokens["reader"]))).json()
    installed = [r["other"]["name"] for r in host["relationships"] if r["type"] == "INSTALLED"]
    assert "haproxy" in installed


async def test_decompression_bomb_is_413_quickly(api):
    client, tokens = api
    bomb = zero_bomb()
    assert len(bomb) < 2 * MiB  # well inside the wire limit: only decompression can stop it
    started_at = time.monotonic()
    response = await client.post(
        "/api/v1/reports", data=bomb, headers=auth(tokens["agent"], **{"Content-Encoding": "gzip"})
    )
    elapsed = time.monotonic() - started_at
    assert response.status == 413
    body = await response.json()
    assert body["status"] == "too_large"
    assert body["which"] == "decompressed"
    assert body["limit"] == 64 * MiB
    assert body["error"]["status"] == 413 and str(64 * MiB) in body["error"]["message"]
    assert elapsed < 2.0, elapsed
    # the server is still there for the next report
    again = await client.post("/api/v1/reports", json=agent_report(), headers=auth(tokens["agent"]))
    assert again.status == 201


async def test_wire_limit_is_its_own_413(tmp_path):
    client, tokens = await started(
        Settings(data_dir=tmp_path, max_wire_bytes=64 * 1024, max_body_bytes=64 * MiB)
    )
    try:
        # incompressible bytes: over the wire limit as sent
        noise = gzip.compress(os.urandom(256 * 1024))
        response = await client.post(
            "/api/v1/reports",
            data=noise,
            headers=auth(tokens["agent"], **{"Content-Encoding": "gzip"}),
        )
        assert response.status == 413
        body = await response.json()
        assert (body["status"], body["which"], body["limit"]) == ("too_large", "wire", 65536)
        # a report of the same decompressed size, gzipped small, passes
        report = agent_report()
        report["sections"]["processes"] = [
            {"pid": i, "name": "worker", "cmdline": "worker --serve " + "x" * 200}
            for i in range(1, 400)
        ]
        body_bytes = gzip_json(report)
        assert len(body_bytes) < 64 * 1024 < len(json.dumps(report))
        ok = await client.post(
            "/api/v1/reports",
            data=body_bytes,
            headers=auth(tokens["agent"], **{"Content-Encoding": "gzip"}),
        )
        assert ok.status == 201, await ok.text()
    finally:
        await client.close()


# ------------------------------------------------------------------ encodings


async def test_plain_json_marked_gzip_is_400_not_500(api):
    client, tokens = api
    response = await client.post(
        "/api/v1/reports",
        data=json.dumps(agent_report()).encode(),
        headers=auth(tokens["agent"], **{"Content-Encoding": "gzip"}),
    )
    assert response.status == 400
    body = await response.json()
    assert body["status"] == "bad_encoding"
    assert "plain JSON" in body["error"]["message"]


async def test_truncated_gzip_is_400(api):
    client, tokens = api
    body = gzip_json(agent_report())
    response = await client.post(
        "/api/v1/reports",
        data=body[: len(body) // 2],
        headers=auth(tokens["agent"], **{"Content-Encoding": "gzip"}),
    )
    assert response.status == 400
    assert (await response.json())["status"] == "bad_encoding"


@pytest.mark.parametrize("encoding", ["br", "compress", "gzip, gzip", "zstd"])
async def test_unknown_content_encoding_is_415(api, encoding):
    client, tokens = api
    response = await client.post(
        "/api/v1/reports",
        data=gzip_json(agent_report()),
        headers=auth(tokens["agent"], **{"Content-Encoding": encoding}),
    )
    assert response.status == 415
    body = await response.json()
    assert body["status"] == "unsupported_encoding"
    assert "gzip" in body["error"]["message"]


@pytest.mark.parametrize("encoding", ["deflate", "x-gzip", "identity"])
async def test_other_supported_encodings(api, encoding):
    client, tokens = api
    raw = json.dumps(agent_report()).encode()
    data = {"deflate": zlib.compress, "x-gzip": gzip.compress}.get(encoding, bytes)(raw)
    response = await client.post(
        "/api/v1/reports",
        data=data,
        headers=auth(tokens["agent"], **{"Content-Encoding": encoding}),
    )
    assert response.status == 201, await response.text()


async def test_app_hands_raw_bodies_to_the_decoder(tmp_path):
    """create_app itself turns aiohttp's own decompression off: otherwise aiohttp answers
    an unknown encoding with its own text/plain 400 before any handler runs."""
    client = TestClient(TestServer(create_app(Settings(data_dir=tmp_path))))
    await client.start_server()
    try:
        token = client.app[CONTROL_KEY].create_token("agent")[1]
        response = await client.post(
            "/api/v1/reports",
            data=gzip_json(agent_report()),
            headers=auth(token, **{"Content-Encoding": "br"}),
        )
        assert response.status == 415
        assert (await response.json())["status"] == "unsupported_encoding"
    finally:
        await client.close()


# ------------------------------------------------------------------ roles


def snmp_report() -> dict:
    report = json.loads((SNMP_FIXTURES / "cisco-n5000.json").read_text())
    report["report_id"] = str(uuid.uuid4())
    return report


async def forbidden(response) -> str:
    assert response.status == 403, await response.text()
    body = await response.json()
    assert body["status"] == "forbidden"
    assert body["error"]["status"] == 403
    return body["error"]["message"]


async def test_poller_posts_snmp_reports_and_nothing_else(api):
    client, tokens = api
    ok = await client.post("/api/v1/reports", json=snmp_report(), headers=auth(tokens["poller"]))
    assert ok.status == 201, await ok.text()
    message = await forbidden(
        await client.post("/api/v1/reports", json=agent_report(), headers=auth(tokens["poller"]))
    )
    assert "poller" in message and "source: agent" in message
    await forbidden(await client.get("/api/v1/cis", headers=auth(tokens["poller"])))


async def test_agent_may_not_post_snmp_reports(api):
    client, tokens = api
    message = await forbidden(
        await client.post("/api/v1/reports", json=snmp_report(), headers=auth(tokens["agent"]))
    )
    assert "source: snmp" in message and "poller" in message
    devices = await client.get(
        "/api/v1/cis", params={"class": "NetworkDevice"}, headers=auth(tokens["reader"])
    )
    assert (await devices.json())["total"] == 0


@pytest.mark.parametrize("role", ["admin", "reader", "editor"])
async def test_other_roles_may_not_post_reports(api, role):
    client, tokens = api
    for report in (agent_report(), snmp_report()):
        message = await forbidden(
            await client.post("/api/v1/reports", json=report, headers=auth(tokens[role]))
        )
        assert f"the {role} role" in message and "agent" in message and "poller" in message
    hosts = await client.get("/api/v1/cis", params={"class": "Host"}, headers=auth(tokens["admin"]))
    assert (await hosts.json())["total"] == 0


async def test_admin_keeps_everything_else(api):
    client, tokens = api
    headers = auth(tokens["admin"])
    assert (await client.get("/api/v1/cis", headers=headers)).status == 200
    created = await client.post("/api/v1/tokens", json={"role": "poller"}, headers=headers)
    assert created.status == 201
    assert (await created.json())["role"] == "poller"
