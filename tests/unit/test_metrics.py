"""/metrics (issue 16, item 5): Prometheus text with report outcomes by source and status,
reconcile and store latency, reports in flight, HTTP requests by route pattern, CI
counts by status, scan device counts; access open, loopback or reader token."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from cmdb.server.api.keys import CONTROL_KEY
from cmdb.server.app import create_app
from cmdb.server.config import Settings
from cmdb.server.metrics import is_loopback, record_scan_device, sample_value
from tests.reports import agent_report


async def _client(settings: Settings, store=None):
    client = TestClient(TestServer(create_app(settings, store)))
    await client.start_server()
    control = client.app[CONTROL_KEY]
    tokens = {r: control.create_token(r, f"{r}-1")[1] for r in ("agent", "reader")}
    return client, tokens


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _scrape(client, headers=None) -> dict[tuple[str, tuple], float]:
    response = await client.get("/metrics", headers=headers or {})
    assert response.status == 200, await response.text()
    assert response.content_type == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def _value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_reports_reconcile_store_and_http_are_measured(tmp_path, store, monkeypatch):
    monkeypatch.setattr("cmdb.server.metrics.CI_COUNT_TTL", 0.0)  # counts read at every scrape
    client, tokens = await _client(Settings(data_dir=tmp_path), store)
    try:
        before = await _scrape(client)
        report = agent_report()
        first = await client.post("/api/v1/reports", json=report, headers=_bearer(tokens["agent"]))
        assert first.status == 201, await first.text()
        again = await client.post("/api/v1/reports", json=report, headers=_bearer(tokens["agent"]))
        assert again.status == 200  # duplicate
        refused = await client.post(
            "/api/v1/reports", json=agent_report(), headers=_bearer(tokens["reader"])
        )
        assert refused.status == 403
        broken = await client.post(
            "/api/v1/reports", data=b"{not json", headers=_bearer(tokens["agent"])
        )
        assert broken.status == 400
        ci_id = (await first.json())["ci_id"]
        assert (
            await client.get(f"/api/v1/cis/{ci_id}", headers=_bearer(tokens["reader"]))
        ).status == 200
        after = await _scrape(client)

        def delta(name, **labels):
            return _value(after, name, **labels) - _value(before, name, **labels)

        applied = {"source": "agent", "outcome": "applied", "code": "201"}
        assert delta("cmdb_reports_total", **applied) == 1
        assert delta("cmdb_reports_total", source="agent", outcome="duplicate", code="200") == 1
        assert delta("cmdb_reports_total", source="unknown", outcome="forbidden", code="403") == 1
        assert delta("cmdb_reports_total", source="unknown", outcome="invalid", code="400") == 1
        assert delta("cmdb_reconcile_duration_seconds_count", source="agent") == 2
        assert delta("cmdb_store_operation_seconds_count", operation="transaction") >= 1
        assert delta("cmdb_store_operation_seconds_count", operation="get_ci") >= 1
        route = {"route": "/api/v1/cis/{id}", "method": "GET", "code": "200"}
        assert delta("cmdb_http_requests_total", **route) == 1  # the pattern, not the id
        assert not any(ci_id in str(key) for key in after)
        assert ("cmdb_reports_in_flight", ()) in after
        assert _value(after, "cmdb_cis", status="live") >= 1
        assert ("process_resident_memory_bytes", ()) in after or ("python_info" in str(after))
    finally:
        await client.close()


async def test_metrics_access_reader_and_loopback(tmp_path):
    client, tokens = await _client(Settings(data_dir=tmp_path, metrics_access="reader"))
    try:
        assert (await client.get("/metrics")).status == 401
        assert (await client.get("/metrics", headers=_bearer(tokens["agent"]))).status == 403
        await _scrape(client, _bearer(tokens["reader"]))
    finally:
        await client.close()
    client, _ = await _client(Settings(data_dir=tmp_path / "b", metrics_access="loopback"))
    try:
        await _scrape(client)  # the test client is on 127.0.0.1
    finally:
        await client.close()
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("::ffff:127.0.0.2")
    assert not is_loopback("10.0.0.1") and not is_loopback(None) and not is_loopback("x")


def test_scan_devices_and_partial_sections_are_counted():
    before = sample_value("cmdb_scan_devices_total", {"status": "applied", "complete": "false"})
    sections = sample_value(
        "cmdb_scan_partial_sections_total", {"section": "fdb", "kind": "partial"}
    )
    record_scan_device(
        {
            "status": "applied",
            "complete": False,
            "partial_sections": ["fdb"],
            "missing_sections": ["lldp"],
        }
    )
    record_scan_device({"status": "unchanged", "complete": True})
    assert (
        sample_value("cmdb_scan_devices_total", {"status": "applied", "complete": "false"})
        == before + 1
    )
    assert (
        sample_value("cmdb_scan_partial_sections_total", {"section": "fdb", "kind": "partial"})
        == sections + 1
    )
    assert (
        sample_value("cmdb_scan_partial_sections_total", {"section": "lldp", "kind": "missing"})
        >= 1
    )


async def test_throttling_and_unmatched_routes_are_bounded_series(tmp_path):
    client, _ = await _client(Settings(data_dir=tmp_path, auth_fail_limit=2))
    try:
        before = sample_value("cmdb_auth_throttled_total")
        for _ in range(3):
            await client.get("/api/v1/cis", headers=_bearer("wrong"))
        for i in range(5):
            await client.get(f"/no/such/path/{i}")
        samples = await _scrape(client)
        assert sample_value("cmdb_auth_throttled_total") == before + 1
        assert not any("/no/such/path" in str(key) for key in samples)
        unmatched = sum(
            value
            for (name, labels), value in samples.items()
            if name == "cmdb_http_requests_total" and ("route", "unmatched") in labels
        )
        assert unmatched >= 5  # one series for all unknown paths (401: auth comes first)
    finally:
        await client.close()


@pytest.mark.parametrize("status", ["applied", "x" * 100])
def test_scan_status_labels_are_bounded(status):
    record_scan_device({"status": status, "complete": True})
    assert all(len(labels.get("status", "")) <= 32 for labels in _labels("cmdb_scan_devices_total"))


def _labels(name):
    from cmdb.server.metrics import label_sets

    return list(label_sets(name))
