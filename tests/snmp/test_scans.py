"""Scans through a real server process against the simulated devices, from the real CLI."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from tests.processes import api_get, cmdb, create_token, running_server

pytestmark = pytest.mark.snmp


def api_post(url: str, token: str, path: str, body) -> tuple[int, dict]:
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def server(tmp_path):
    data_dir = tmp_path / "server"
    data_dir.mkdir()
    editor = create_token(data_dir, "editor")
    with running_server(data_dir) as (url, proc):
        yield url, editor, data_dir


def test_scan_range_with_devices_and_silent_addresses(server, snmpsim_devices):
    url, token, _ = server
    addresses = sorted(snmpsim_devices.devices)
    first, last = addresses[0], addresses[-1]
    # four more addresses past the last device: nobody answers there
    silent_end = last.rsplit(".", 1)[0] + "." + str(int(last.rsplit(".", 1)[1]) + 4)
    started = time.monotonic()
    result = cmdb(
        "scan",
        "run",
        "--targets",
        f"{first}-{silent_end}",
        "--port",
        str(snmpsim_devices.port),
        "--community",
        snmpsim_devices.community,
        "--timeout",
        "0.5",
        "--retries",
        "0",
        "--server",
        url,
        "--token",
        token,
        "--json",
        timeout=300,
    )
    elapsed = time.monotonic() - started
    summary = json.loads(result.stdout)
    counts = summary["counts"]
    assert summary["status"] == "done"
    assert summary["total"] == len(addresses) + 4
    assert counts["probed"] == summary["total"]
    assert counts["answered"] == len(addresses)
    assert counts["timeouts"] == 4
    assert counts["devices"] == len(addresses), summary["errors"]
    # silent addresses cost a timeout each, in parallel: they do not stall the scan
    assert elapsed < 120
    scan = api_get(url, token, f"/api/v1/scans/{summary['id']}")
    assert scan["status"] == "done"
    # the community is never returned
    assert snmpsim_devices.community not in json.dumps(scan["credentials"])
    assert all("community" not in c for c in scan["credentials"])


def test_bad_targets_are_refused_with_the_bad_part_named(server):
    url, token, _ = server
    body = {"targets": "127.0.0.2-127.0.0.9,127.0.0.300", "credentials": [{"community": "x"}]}
    status, err = api_post(url, token, "/api/v1/scans", body)
    assert status == 400
    assert "127.0.0.300" in err["error"]["message"]
    status, err = api_post(
        url, token, "/api/v1/scans", {"targets": "127.0.0.0/8", "credentials": [{"community": "x"}]}
    )
    assert status == 422
    assert "16777216" in err["error"]["message"]


def test_schedule_survives_restart_and_is_not_run_twice(tmp_path):
    data_dir = tmp_path / "server"
    data_dir.mkdir()
    token = create_token(data_dir, "editor")
    schedule = {
        "name": "loopback-sweep",
        "cron": "*/5 * * * *",
        "targets": "127.0.3.1-127.0.3.40",
        "port": 1161,
        "timeout": 1.0,
        "retries": 1,
        "credentials": [{"version": "2c", "community": "s3cret-community"}],
    }
    with running_server(data_dir) as (url, _proc):
        status, saved = api_post(url, token, "/api/v1/schedules", schedule)
        assert status == 201
        assert "s3cret-community" not in json.dumps(saved)
        assert saved["next_run"]
        status, _ = api_post(url, token, "/api/v1/schedules", {**schedule, "cron": "every day"})
        assert status == 400
    with running_server(data_dir) as (url, _proc):
        listed = api_get(url, token, "/api/v1/schedules")
        assert [s["name"] for s in listed["items"]] == ["loopback-sweep"]
        status, scan = api_post(url, token, "/api/v1/schedules/loopback-sweep/run", {})
        assert status == 202
        # 40 silent addresses take a while: a second start while it runs is refused
        status, err = api_post(url, token, "/api/v1/schedules/loopback-sweep/run", {})
        assert status == 409
        assert scan["id"] in err["error"]["message"]
