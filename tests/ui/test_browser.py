"""The web UI in a real browser (Debian Chromium through Playwright) against a real
``cmdb server`` process with seeded data (``conftest.estate``). Screenshots of the main
pages go to ``.cache/ui-screenshots`` (git-ignored)."""

from __future__ import annotations

import re

import pytest

from tests.ui.seed import screenshots_dir

pytestmark = pytest.mark.e2e


def shot(page, name: str) -> None:
    page.screenshot(path=str(screenshots_dir() / f"{name}.png"), full_page=False)


def test_sign_in_is_required_and_bad_passwords_are_refused(browser, estate):
    context = browser.new_context()
    page = context.new_page()
    page.goto(estate.url + "/")
    assert "/ui/login" in page.url
    shot(page, "login")
    page.fill("#name", "ada")
    page.fill("#password", "not-the-password")
    page.click("button[type=submit]")
    assert page.locator("p.error").inner_text() == "Unknown user name or wrong password."
    cookie = next(c for c in context.cookies() if c["name"] == "cmdb_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax"
    assert cookie["expires"] > 0  # an expiring cookie, not a browser-lifetime one
    context.close()


def test_search_a_host_by_ip_and_open_it(signed_in, estate):
    page = signed_in("ada")
    page.fill("#q", "10.20.0.5")
    page.press("#q", "Enter")
    host_rows = page.locator("section.group", has=page.locator("h2#g-Host"))
    link = host_rows.get_by_role("link", name="web1", exact=True)
    assert link.count() == 1
    shot(page, "search")
    link.click()
    page.wait_for_url(re.compile(r"/ui/cis/" + estate.hosts["web1"]))
    assert "web1" in page.locator("h1").inner_text()
    assert page.locator("#attrs-h").is_visible()
    assert page.get_by_text("INSTALLED").first.is_visible()
    shot(page, "ci")


def test_dependency_graph_draws_nodes_and_edges(signed_in, estate):
    page = signed_in("ada")
    page.goto(f"{estate.url}/ui/cis/{estate.hosts['db1']}/graph?direction=down&depth=2")
    page.wait_for_selector("#graph[data-ready='1']", timeout=20_000)
    nodes = page.evaluate("window.cmdbGraph.nodes().length")
    edges = page.evaluate("window.cmdbGraph.edges().length")
    # db1, its interfaces and endpoint, its 40 packages as one group, and their addresses
    assert nodes >= 5 and edges >= 4, (nodes, edges)
    groups = page.evaluate("window.cmdbGraph.nodes('[?group]').map(n => n.data('label'))")
    assert "40 Software" in groups
    # what the page says it drew is what cytoscape holds
    assert int(page.locator("#graph").get_attribute("data-nodes")) == nodes
    shot(page, "graph")
    # up from the host: the redundancy group and the services that need it
    page.goto(f"{estate.url}/ui/cis/{estate.hosts['db1']}/graph?direction=up&depth=4")
    page.wait_for_selector("#graph[data-ready='1']", timeout=20_000)
    labels = page.evaluate("window.cmdbGraph.nodes().map(n => n.data('label'))")
    assert {"db1", "pg", "orders-db", "shop"} <= set(labels)


def test_impact_of_a_redundancy_group_member_degrades_the_service(signed_in, estate):
    page = signed_in("ada")
    page.goto(f"{estate.url}/ui/cis/{estate.hosts['db1']}")
    page.get_by_role("link", name="Impact if it fails").click()
    row = page.locator("#impact-services tr[data-service='orders-db']")
    assert row.get_attribute("data-state") == "degraded"
    assert page.locator("#impact-services tr[data-service='shop']").get_attribute("data-state") == (
        "degraded"
    )
    page.wait_for_selector("#graph[data-ready='1']", timeout=20_000)
    states = page.evaluate(
        "Object.fromEntries(window.cmdbGraph.nodes().map(n => [n.data('label'), n.data('state')]))"
    )
    assert states["orders-db"] == "degraded" and states["db1"] == "failed"
    shot(page, "impact")


def test_a_change_walks_from_draft_to_approved(signed_in, estate):
    editor = signed_in("ed")
    editor.goto(f"{estate.url}/ui/changes/new?ci={estate.hosts['db2']}")
    editor.fill("#title", "Upgrade PostgreSQL on db2")
    editor.fill("#start", "2027-01-10T20:00")
    editor.fill("#end", "2027-01-10T22:00")
    editor.click("form.stack button[type=submit]")
    editor.wait_for_url(re.compile(r"/ui/changes/[0-9a-f-]{36}$"))
    change_url = editor.url
    assert editor.locator("#change-state").inner_text() == "draft"
    editor.get_by_role("button", name="Assessed").click()
    assert editor.locator("#change-state").inner_text() == "assessed"
    assert editor.get_by_role("link", name="orders-db").first.is_visible()  # assessed impact
    # the requester may not approve their own change: another editor or admin does
    approver = signed_in("ada")
    approver.goto(change_url)
    approver.get_by_role("button", name="Approved").click()
    assert approver.locator("#change-state").inner_text() == "approved"
    assert approver.get_by_role("button", name="Implemented").is_visible()
    shot(approver, "change")


def test_a_reader_sees_no_edit_buttons_and_forged_posts_are_refused(signed_in, estate):
    reader = signed_in("rita")
    reader.goto(f"{estate.url}/ui/cis/{estate.hosts['db1']}")
    assert reader.get_by_role("link", name="New change on it").count() == 0
    reader.goto(f"{estate.url}/ui/changes")
    assert reader.get_by_role("link", name="New change").count() == 0
    reader.goto(f"{estate.url}/ui/changes/new")
    assert reader.locator("h1").inner_text() == "403"
    # a forged post: the reader's own session, no CSRF token
    target = f"{estate.url}/ui/changes/anything/transition"
    answer = reader.request.post(target, form={"state": "cancelled"})
    assert answer.status == 403 and "CSRF" in answer.text()
    # with a valid token, the role still decides (the server checks, not the buttons)
    token = reader.locator("body").get_attribute("data-csrf")
    answer = reader.request.post(target, form={"state": "cancelled", "csrf_token": token})
    assert answer.status == 403 and "editor role" in answer.text()
    # another site posting with the user's cookie: the Origin is not ours
    answer = reader.request.post(
        f"{estate.url}/ui/logout",
        form={"csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status == 403


def test_an_editor_builds_a_service_in_the_browser(signed_in, estate):
    editor = signed_in("ed")
    editor.goto(f"{estate.url}/ui/services")
    editor.get_by_role("link", name="New service").click()
    editor.wait_for_url("**/ui/services/new")
    editor.fill("#name", "payments")
    editor.select_option("#kind", "business")
    editor.fill("#owner", "finance-ops")
    editor.select_option("#criticality", "critical")
    editor.fill("#sla_availability", "99.5")
    editor.fill("#sla_response_time", "15m")
    editor.get_by_role("button", name="Create service").click()
    editor.wait_for_url(re.compile(r"/ui/services/[0-9a-f-]{36}$"))
    service_url = editor.url
    assert editor.locator("#service-owner").inner_text() == "finance-ops"
    assert editor.locator("#service-criticality").inner_text() == "critical"
    assert editor.locator("#service-sla").inner_text() == "availability 99.5, response_time 15m"
    # a redundancy group named as people name hosts, then one member out of it
    group = editor.locator("#add-group")
    group.get_by_label("Group name").fill("pay-hosts")
    group.get_by_label("Members, one a line").fill("Host web1\n10.20.0.12")
    group.get_by_role("button", name="Add group").click()
    editor.wait_for_url(re.compile(r"message=dependencies"))
    row = editor.locator("#deps-table tr[data-dep='group:pay-hosts']")
    members = "els => els.map(e => e.dataset.member).sort()"
    assert row.locator("li[data-member]").evaluate_all(members) == ["db2", "web1"]
    assert editor.get_by_text("needs 1 of 2").is_visible()
    row.get_by_role("button", name="Remove db2 from pay-hosts").click()
    editor.wait_for_url(re.compile(r"message=dependencies"))
    assert row.locator("li[data-member]").evaluate_all(members) == ["web1"]
    shot(editor, "service-edit")
    # a reader sees none of it, and a post forged from another site changes nothing
    reader = signed_in("rita")
    reader.goto(service_url)
    assert reader.get_by_role("link", name="Edit", exact=True).count() == 0
    assert reader.locator("#deps-table, #add-group").count() == 0
    forged = editor.request.post(
        service_url + "/edit",
        form={"name": "payments", "owner": "mallory"},
        headers={"Origin": "https://evil.example"},
    )
    assert forged.status == 403
    no_token = editor.request.post(service_url + "/edit", form={"owner": "mallory"})
    assert no_token.status == 403 and "CSRF" in no_token.text()
    editor.reload()
    assert editor.locator("#service-owner").inner_text() == "finance-ops"


def test_the_api_keeps_bearer_tokens_and_ignores_the_session(signed_in, estate):
    page = signed_in("ada")
    answer = page.request.get(f"{estate.url}/api/v1/cis")
    assert answer.status == 401  # a UI session is no API credential


def test_screenshots_of_the_main_pages(signed_in, estate):
    page = signed_in("ada")
    for name, path in (
        ("list", "/ui/cis?class=Software"),
        ("services", "/ui/services"),
        ("service", f"/ui/services/{estate.services['shop']}"),
        ("changes", "/ui/changes"),
        ("assets", "/ui/assets/reports/unregistered"),
        ("discovery", "/ui/discovery"),
        ("users", "/ui/admin/users"),
    ):
        page.goto(estate.url + path)
        assert page.locator("h1").count() == 1, path
        shot(page, name)
    page.click("#theme-toggle")
    page.goto(f"{estate.url}/ui/search?q=db")
    assert page.evaluate("document.documentElement.dataset.theme") in ("dark", "light")
    shot(page, "search-theme-toggled")


def test_keyboard_reaches_search_and_navigation(signed_in, estate):
    page = signed_in("ada")
    page.goto(f"{estate.url}/ui/changes")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "quick-q"
    page.keyboard.type("web1")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/ui/search\?q=web1"))
    assert page.get_by_role("link", name="web1", exact=True).count() == 1
    page.goto(f"{estate.url}/ui/changes")
    page.keyboard.press("Tab")  # the skip link comes first, then the navigation
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Search"
