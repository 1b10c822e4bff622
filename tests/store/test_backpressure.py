"""Back-pressure: a server admits a bounded number of reports at once and answers the rest
at once with 503 + Retry-After, instead of queueing them until their agents time out."""

from __future__ import annotations

import asyncio
import gzip
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from cmdb.graph.store import ServerBusy
from cmdb.server.api.keys import CONTROL_KEY
from cmdb.server.app import create_app
from cmdb.server.config import Settings
from cmdb.server.ingest import Ingestor
from tests.reports import agent_report

pytestmark = pytest.mark.asyncio


def host(i: int) -> dict:
    return agent_report(
        hostname=f"bp{i}", system_uuid=f"{i:032x}", machine_id=f"{i + 1000:032x}", packages=60
    )


async def test_reports_beyond_the_limit_are_refused_at_once_with_a_retry_time(store):
    ingestor = Ingestor(store, max_in_flight=2)
    outcomes = await asyncio.gather(
        *(ingestor.ingest(host(i)) for i in range(12)), return_exceptions=True
    )
    busy = [o for o in outcomes if isinstance(o, ServerBusy)]
    applied = [o for o in outcomes if isinstance(o, dict)]
    assert busy and applied and len(busy) + len(applied) == 12
    assert all(1 <= b.retry_after <= 90 for b in busy)
    assert all(a["status"] == "applied" for a in applied)
    # nothing of a refused report was written: it can be sent again as it is
    hosts, total = await store.list_cis("Host", None, 100, 0)
    assert total == len(applied)
    assert ingestor.admission.in_flight == 0


async def test_the_api_answers_503_with_retry_after(tmp_path):
    settings = Settings(data_dir=tmp_path, max_reports_in_flight=1)
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        control = client.app[CONTROL_KEY]
        tokens = [control.create_token("agent", f"a{i}")[1] for i in range(8)]

        async def post(i: int):
            body = gzip.compress(json.dumps(host(i)).encode())
            headers = {
                "Authorization": f"Bearer {tokens[i]}",
                "Content-Encoding": "gzip",
                "Content-Type": "application/json",
            }
            return await client.post("/api/v1/reports", data=body, headers=headers)

        answers = await asyncio.gather(*(post(i) for i in range(8)))
        statuses = sorted(r.status for r in answers)
        assert 201 in statuses and 503 in statuses, statuses
        for answer in answers:
            if answer.status == 503:
                assert int(answer.headers["Retry-After"]) >= 1
                body = await answer.json()
                assert "in flight" in body["error"]["message"]
                assert "send this report again in" in body["error"]["message"]
                assert body["status"] == "busy"  # a word the agent acts on
    finally:
        await client.close()
