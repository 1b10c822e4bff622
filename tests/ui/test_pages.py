"""Every page the web UI has (issue 14's list) answers, for each role, on the real server
of the browser tests (``conftest.estate``): search by each kind of key, CI lists and their
exports, the CI page (and as it was at a time), the graph and its data, impact, services,
changes, assets and their reports, discovery with a scan's page and progress fragment, and
the admin's users page. A page that breaks (a template error is a 500) fails here, fast
and without a browser."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.ui.seed import api

pytestmark = pytest.mark.e2e


def test_every_page_answers_for_every_role(person, estate):
    token = estate.editor_token
    asset = api(
        estate.url,
        token,
        "POST",
        "/api/v1/assets",
        {"asset_tag": "UI-A-7", "state": "deployed", "ci": estate.hosts["web1"]},
    )
    change = api(
        estate.url,
        token,
        "POST",
        "/api/v1/changes",
        {
            "title": "Resize the orders volume",
            "cis": [estate.hosts["db2"]],
            "window": {"start": "2027-02-10T20:00:00Z", "end": "2027-02-10T22:00:00Z"},
        },
    )
    ada = person("ada")
    # a scan of one loopback address where nothing answers SNMP: it ends within seconds
    answer = ada.post("/ui/discovery/scans", targets="127.0.0.254", community="public")
    assert answer.status == 303, answer.text[:300]
    scan = answer.headers["Location"]
    db1, orders, shop = estate.hosts["db1"], estate.services["orders-db"], estate.services["shop"]
    pages = {
        # search by name, IP, MAC, serial and package name
        "/ui/search?q=db1": "db1",
        "/ui/search?q=10.20.0.11": "db1",
        "/ui/search?q=52:54:00:12:34:02": "db1",
        "/ui/search?q=SRV02X": "db1",
        "/ui/search?q=pkg1": "pkg1",
        "/ui/cis?class=Host": "web1",
        "/ui/cis?class=Software&sort=name&size=25&page=2": "Software",
        f"/ui/cis/{db1}": "INSTALLED",
        f"/ui/cis/{db1}?as_of=2026-11-28T10:00:00Z": "db1",
        f"/ui/cis/{db1}/graph?direction=both&depth=2": 'id="graph"',
        "/ui/impact": "Impact",
        f"/ui/impact?ci={db1}": 'data-service="orders-db"',
        "/ui/services": f'hx-get="/ui/services/{shop}/children"',  # a root of the tree
        "/ui/services?view=all": "used by shop",
        f"/ui/services/{shop}": "orders-db",
        f"/ui/services/{orders}/children": "needs 1 of 2",
        "/ui/changes": "Resize the orders volume",
        f"/ui/changes/{change['id']}": "Resize the orders volume",
        "/ui/assets": "UI-A-7",
        f"/ui/assets/{asset['id']}": "UI-A-7",
        "/ui/assets/reports/unregistered": "db1",
        "/ui/assets/reports/unseen": "<h1",
        "/ui/assets/reports/warranty": "<h1",
        "/ui/discovery": "127.0.0.254",
        scan: "127.0.0.254",
        scan + "/progress": 'id="scan-progress"',
    }
    editor_pages = {
        "/ui/services/new": 'id="service-form"',
        f"/ui/services/{orders}/edit": 'value="dba"',
        "/ui/changes/new": "Create draft",
    }
    for name in ("ada", "ed", "rita"):
        someone = ada if name == "ada" else person(name)
        for path, expected in pages.items():
            answer = someone.get(path)
            assert answer.status == 200, (name, path, answer.status, answer.text[:300])
            assert expected in answer.text, (name, path, expected)
        for path, expected in editor_pages.items():
            answer = someone.get(path)
            assert answer.status == (403 if name == "rita" else 200), (name, path)
            assert (expected in answer.text) == (name != "rita"), (name, path, expected)
        assert someone.get("/ui/admin/users").status == (200 if name == "ada" else 403), name
    # the tree starts at the services nothing else uses: orders-db sits under shop
    tree = ada.get("/ui/services").text
    assert f'hx-get="/ui/services/{orders}/children"' not in tree
    # the exports: what the list shows, as CSV and JSON
    answer = ada.get("/ui/cis.csv?class=Host")
    assert answer.status == 200
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert {"web1", "db1", "db2"} <= {r.get("name") for r in rows}
    answer = ada.get("/ui/cis.json?class=Host")
    data = json.loads(answer.text)
    items = data["items"] if isinstance(data, dict) else data
    assert answer.status == 200 and {"web1", "db1", "db2"} <= {r.get("name") for r in items}
    answer = ada.get(f"/ui/cis/{db1}/graph.json?direction=down&depth=2")
    graph = json.loads(answer.text)
    assert answer.status == 200 and graph["elements"]["nodes"] and graph["elements"]["edges"]
