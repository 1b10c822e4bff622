"""The CI page reads values as people do: memory in GiB, filesystems one a line, and a
history entry of a list attribute as what was added, removed or changed (not two JSON
strings cut off before the difference)."""

from __future__ import annotations

import pytest

from tests.processes import create_token
from tests.reports import agent_report, nic
from tests.ui.seed import api, post_report, screenshots_dir

pytestmark = pytest.mark.e2e

ROOT = {"device": "/dev/vda1", "mountpoint": "/", "fstype": "ext4", "size_bytes": 100 << 30}
BOOT = {"device": "/dev/vda2", "mountpoint": "/boot", "fstype": "ext4", "size_bytes": 1 << 30}
DATA = {"device": "/dev/vdb1", "mountpoint": "/data", "fstype": "xfs", "size_bytes": 1 << 40}


def _report(filesystems: list[dict], at: str) -> dict:
    report = agent_report(
        hostname="fs9",
        system_uuid="4c4c4544-0042-3510-8057-b4c04f4a4d99",
        machine_id="5f2d0c7a9b1e4d3c8a6f0e1d2c3b4a99",
        serial="SRV99X",
        interfaces=[nic("eth0", "52:54:00:12:34:99", [("10.20.0.99", 24)])],
        packages=3,
        collected_at=at,
    )
    report["sections"]["memory"] = {"total_bytes": 25276510208, "swap_bytes": 0}
    report["sections"]["filesystems"] = filesystems
    return report


def test_ci_page_humanises_bytes_and_diffs_lists(signed_in, estate):
    token = create_token(estate.data_dir, "agent")
    post_report(estate.url, token, _report([ROOT, BOOT], "2026-11-28T10:00:00.000Z"))
    post_report(
        estate.url,
        token,
        _report([{**ROOT, "size_bytes": 200 << 30}, DATA], "2026-11-28T11:00:00.000Z"),
    )
    found = api(estate.url, estate.editor_token, "GET", "/api/v1/cis?class=Host&q=fs9")
    page = signed_in("ada")
    page.goto(f"{estate.url}/ui/cis/{found['items'][0]['id']}")
    row = page.locator("table.kv tr", has=page.locator("th", has_text="memory_bytes"))
    assert row.locator("td").first.inner_text().strip() == "23.5 GiB"
    change = page.locator(".timeline li", has=page.locator("strong", has_text="filesystems"))
    text = change.first.inner_text()
    assert "+ /data · device /dev/vdb1 · fstype xfs · size 1.0 TiB" in text, text
    assert "− /boot" in text and "size 100.0 GiB → 200.0 GiB" in text, text
    assert "{" not in text, text
    page.screenshot(path=str(screenshots_dir() / "ci-values.png"), full_page=True)


def test_favicon_needs_no_sign_in(estate):
    import urllib.request

    with urllib.request.urlopen(estate.url + "/favicon.ico", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("image/svg+xml")
        assert response.read().startswith(b"<svg")
