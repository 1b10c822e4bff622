"""The editors' forms of the web UI, posted as a browser without JavaScript would, to the
real server of the browser tests (``conftest.estate``): services (create; owner, SLA,
criticality; dependencies, redundancy groups and their members), assets (lifecycle state)
and discovery schedules (create, delete). What the forms wrote is read back through the
API. Each form is CSRF-protected and refused to readers, who are not shown it either. In
a real browser: ``test_browser.py::test_an_editor_builds_a_service_in_the_browser``."""

from __future__ import annotations

import re

import pytest

from tests.ui.seed import api

pytestmark = pytest.mark.e2e


def _service_id(location: str) -> str:
    return re.fullmatch(r"/ui/services/([0-9a-f-]{36})(\?.*)?", location).group(1)


def _error(html: str) -> str:
    found = re.search(r'<p class="error" role="alert">([^<]*)</p>', html)
    return found.group(1) if found else ""


def _new_service(editor, name: str, kind: str = "technical") -> str:
    answer = editor.post("/ui/services", name=name, kind=kind, status="active")
    assert answer.status == 303, _error(answer.text)
    return _service_id(answer.headers["Location"])


def _asset(estate, tag: str) -> dict:
    body = {"asset_tag": tag, "state": "ordered"}
    return api(estate.url, estate.editor_token, "POST", "/api/v1/assets", body)


def test_an_editor_creates_a_service_and_edits_its_details(person, estate):
    ed = person("ed")
    assert 'href="/ui/services/new"' in ed.get("/ui/services").text
    form = ed.get("/ui/services/new")
    assert form.status == 200 and 'id="service-form"' in form.text
    answer = ed.post(
        "/ui/services",
        name="billing",
        kind="technical",
        owner="dba",
        criticality="high",
        status="active",
        sla_availability="99.9",
        sla_response_time="30m",
        sla_resolution_time="",
        description="",
    )
    assert answer.status == 303, _error(answer.text)
    sid = _service_id(answer.headers["Location"])
    html = ed.get(f"/ui/services/{sid}").text
    assert re.search(r'id="service-owner">dba<', html)
    assert re.search(r'id="service-sla">availability 99.9, response_time 30m<', html)
    # the edit form shows what is stored; an emptied field clears it
    html = ed.get(f"/ui/services/{sid}/edit").text
    assert 'value="dba"' in html and 'value="99.9"' in html
    answer = ed.post(
        f"/ui/services/{sid}/edit",
        name="billing",
        kind="technical",
        owner="",
        criticality="critical",
        status="active",
        sla_availability="99.95",
    )
    assert answer.status == 303, _error(answer.text)
    # the API reads what the form wrote, and who wrote it
    record = api(estate.url, estate.editor_token, "GET", f"/api/v1/services/{sid}")
    assert record["owner"] is None and record["criticality"] == "critical"
    assert record["sla"] == {"availability": 99.95}
    history = api(estate.url, estate.editor_token, "GET", f"/api/v1/cis/{sid}/history")
    assert {h["field"] for h in history["items"] if h["actor"] == "ed"} >= {
        "owner",
        "criticality",
        "sla",
    }


def test_the_catalogues_checks_come_back_as_form_errors(person):
    ed = person("ed")
    answer = ed.post("/ui/services", name="", kind="technical", status="active")
    assert answer.status == 400 and "name is required" in _error(answer.text)
    answer = ed.post("/ui/services", name="x", kind="technical", sla_availability="lots")
    assert answer.status == 400 and "availability must be a percentage" in _error(answer.text)
    _new_service(ed, "dup")
    answer = ed.post("/ui/services", name="dup", kind="technical", status="active")
    assert answer.status == 409 and "already exists" in _error(answer.text)


def test_an_editor_edits_dependencies_groups_and_members(person, estate):
    ed = person("ed")
    db, web = _new_service(ed, "search-db"), _new_service(ed, "search", "business")
    path, web_path = f"/ui/services/{db}/depends", f"/ui/services/{web}/depends"
    # a redundancy group of two hosts, named as people name them (a name, an address)
    answer = ed.post(path, action="add-group", group="es", min="1", members="Host db1\n10.20.0.12")
    assert answer.status == 303, _error(answer.text)
    assert ed.post(web_path, action="add-service", target="search-db").status == 303
    assert ed.post(web_path, action="add-ci", target="Host web1").status == 303
    html = ed.get(f"/ui/services/{web}").text
    assert 'data-dep="service:search-db"' in html and 'data-dep="ci:web1"' in html
    # k of n, a third member by id, then one out
    assert ed.post(path, action="group-min", group="es", min="2").status == 303
    answer = ed.post(path, action="member-add", group="es", target=estate.hosts["web1"])
    assert answer.status == 303, _error(answer.text)
    answer = ed.post(path, action="member-remove", group="es", member=estate.hosts["db2"])
    assert answer.status == 303, _error(answer.text)
    html = ed.get(f"/ui/services/{db}").text
    assert "needs 2 of 2" in html
    assert sorted(re.findall(r'data-member="([^"]+)"', html)) == ["db1", "web1"]
    # the catalogue's rules hold: k above n, a cycle, a CI that is not there
    answer = ed.post(path, action="group-min", group="es", min="3")
    assert answer.status == 400 and "min must be an integer from 1" in _error(answer.text)
    answer = ed.post(path, action="add-service", target="search")
    assert answer.status == 422 and "cycle" in _error(answer.text)
    answer = ed.post(path, action="add-ci", target="Host nosuch")
    assert answer.status == 422 and "nosuch" in _error(answer.text)
    # and removal; the API sees the same dependencies
    assert ed.post(web_path, action="remove", key=f"ci:{estate.hosts['web1']}").status == 303
    assert ed.post(path, action="remove", key="group:es").status == 303
    record = api(estate.url, estate.editor_token, "GET", f"/api/v1/services/{web}")
    assert record["depends_on"] == [{"service": db, "name": "search-db"}]
    assert api(estate.url, estate.editor_token, "GET", f"/api/v1/services/{db}")["depends_on"] == []


def test_an_editor_moves_an_asset_through_its_lifecycle(person, estate):
    asset = _asset(estate, "UI-A-1")
    ed = person("ed")
    html = ed.get(f"/ui/assets/{asset['id']}").text
    assert 'class="transitions"' in html and "Received" in html
    answer = ed.post(f"/ui/assets/{asset['id']}/transition", state="received")
    assert answer.status == 303
    record = api(estate.url, estate.editor_token, "GET", f"/api/v1/assets/{asset['id']}")
    assert record["state"] == "received"
    # a move the lifecycle does not allow is refused with the catalogue's message
    answer = ed.post(f"/ui/assets/{asset['id']}/transition", state="disposed")
    assert answer.status in (409, 422) and "received" in _error(answer.text)


def test_an_editor_creates_and_deletes_a_schedule(person):
    ed = person("ed")
    assert 'id="new-schedule"' in ed.get("/ui/discovery").text
    answer = ed.post(
        "/ui/discovery/schedules",
        name="nightly",
        cron="0 2 * * *",
        targets="127.0.0.1",
        community="secret-community",
        site="",
    )
    assert answer.status == 303, _error(answer.text)
    html = ed.get("/ui/discovery").text
    assert "<td>nightly</td>" in html and "0 2 * * *" in html
    assert "secret-community" not in html  # only the profile's label is shown
    # one name, one schedule: the form does not overwrite
    answer = ed.post(
        "/ui/discovery/schedules", name="nightly", cron="0 3 * * *", targets="127.0.0.1"
    )
    assert answer.status == 400 and "exists" in _error(answer.text)
    answer = ed.post("/ui/discovery/schedules", name="bad", cron="nightly", targets="127.0.0.1")
    assert answer.status == 400 and "cron" in _error(answer.text)
    assert ed.post("/ui/discovery/schedules/nightly/delete").status == 303
    assert "<td>nightly</td>" not in ed.get("/ui/discovery").text
    assert ed.post("/ui/discovery/schedules/nightly/delete").status == 404


def test_readers_see_no_edit_forms_and_cannot_post_them(person, estate):
    ed = person("ed")
    sid = _new_service(ed, "reports", "business")
    asset = _asset(estate, "UI-A-2")
    rita = person("rita")
    hidden = {
        "/ui/services": ['href="/ui/services/new"'],
        f"/ui/services/{sid}": [f'href="/ui/services/{sid}/edit"', "/depends", "Edit dependencies"],
        "/ui/discovery": ['id="new-schedule"', "/schedules/"],
        f"/ui/assets/{asset['id']}": ["/transition"],
    }
    for path, needles in hidden.items():
        answer = rita.get(path)
        assert answer.status == 200, path
        for needle in needles:
            assert needle not in answer.text, (path, needle)
    for path in ("/ui/services/new", f"/ui/services/{sid}/edit"):
        answer = rita.get(path)
        assert answer.status == 403 and "editor role" in answer.text, path
    posts = {
        "/ui/services": {"name": "x", "kind": "technical"},
        f"/ui/services/{sid}/edit": {"owner": "rita"},
        f"/ui/services/{sid}/depends": {"action": "add-ci", "target": "Host web1"},
        f"/ui/assets/{asset['id']}/transition": {"state": "received"},
        "/ui/discovery/schedules": {"name": "n", "cron": "0 2 * * *", "targets": "127.0.0.1"},
        "/ui/discovery/schedules/n/delete": {},
    }
    for path, fields in posts.items():
        # her own session and a valid token: the role decides, on the server
        answer = rita.post(path, **fields)
        assert answer.status == 403 and "editor role" in answer.text, path
    for path, fields in posts.items():
        # forged: an editor's session cookie, no token (another site's form posting here)
        answer = ed.post(path, csrf=False, **fields)
        assert answer.status == 403 and "CSRF" in answer.text, path
        # or the token leaked, but the browser says the form came from elsewhere
        answer = ed.post(path, headers={"Origin": "https://evil.example"}, **fields)
        assert answer.status == 403 and "CSRF" in answer.text, path
    assert api(estate.url, estate.editor_token, "GET", f"/api/v1/services/{sid}")["owner"] is None
    record = api(estate.url, estate.editor_token, "GET", f"/api/v1/assets/{asset['id']}")
    assert record["state"] == "ordered"
