"""The web UI in Firefox (Debian's firefox-esr through WebDriver BiDi, ``firefox.py``)
against the same real server and seeded estate as the Chromium tests (``conftest``).

A smoke test of what differs between engines: the sign-in form and its cookie, search,
the CI page, cytoscape drawing the graph and reacting to a real click, the impact page,
and the colour scheme (Firefox runs with the user's preference set to dark). Input is real
key and pointer events, not script. Screenshots go to ``.cache/ui-screenshots/firefox-*``.
"""

from __future__ import annotations

import re

import pytest

from tests.ui.firefox import ENTER, Firefox, Tab
from tests.ui.seed import PASSWORD, screenshots_dir

pytestmark = pytest.mark.e2e

DARK_BG = "rgb(15, 20, 27)"  # --bg of the dark theme (ui.css)
LIGHT_BG = "rgb(255, 255, 255)"


@pytest.fixture
def tab(firefox: Firefox, estate):
    """A signed-in Firefox tab (user ada, an admin) in a fresh user context; fails the
    test if the pages logged a JavaScript error meanwhile."""
    errors_before = len(firefox.script_errors())
    page = firefox.new_tab()
    sign_in(page, estate.url, "ada")
    yield page
    firefox.close_tab(page)
    errors = firefox.script_errors()[errors_before:]
    assert not errors, f"JavaScript errors in Firefox: {errors}"


def sign_in(page: Tab, url: str, name: str) -> None:
    page.goto(url + "/")
    page.wait_for_url(r"/ui/login\?")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(r"^[a-z]+://[^/]+/ui/search$")


def shot(page: Tab, name: str) -> None:
    page.screenshot(screenshots_dir() / f"firefox-{name}.png")


def wait_for_graph(page: Tab) -> tuple[int, int]:
    """(nodes, edges) cytoscape holds once the page says it has drawn the graph."""
    page.wait_for("document.querySelector('#graph[data-ready=\"1\"]')")
    cy = "window.cmdbGraph"
    return tuple(page.evaluate(f"[{cy}.nodes().length, {cy}.edges().length]"))


def test_firefox_signs_in_and_refuses_a_wrong_password(firefox: Firefox, estate):
    page = firefox.new_tab()
    try:
        page.goto(estate.url + "/")
        page.wait_for_url(r"/ui/login\?next=")
        page.fill("#name", "ada")
        page.fill("#password", "not-the-password")
        page.click("button[type=submit]")
        error = page.wait_for("document.querySelector('p.error')?.textContent")
        assert error == "Unknown user name or wrong password."
        assert "cmdb_session" not in page.evaluate("document.cookie")  # HttpOnly
        shot(page, "login")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(r"^[a-z]+://[^/]+/ui/search$")
        cookies = firefox.send(
            "storage.getCookies", {"partition": {"type": "context", "context": page.context}}
        )["cookies"]
        cookie = next(c for c in cookies if c["name"] == "cmdb_session")
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "lax"
        assert cookie.get("expiry", 0) > 0  # an expiring cookie, not a browser-lifetime one
    finally:
        firefox.close_tab(page)


def test_firefox_searches_a_host_by_ip_and_opens_it(tab: Tab, estate):
    tab.fill("#q", "10.20.0.5")
    tab.press(ENTER)
    tab.wait_for_url(r"/ui/search\?q=10\.20\.0\.5")
    host_links = tab.evaluate(
        "[...document.querySelectorAll('section.group:has(h2#g-Host) a.ci')]"
        ".map(a => [a.textContent.trim(), a.getAttribute('href')])"
    )
    assert ["web1", f"/ui/cis/{estate.hosts['web1']}"] in host_links
    shot(tab, "search")
    tab.click(f"section.group a[href='/ui/cis/{estate.hosts['web1']}']")
    tab.wait_for_url(re.escape(f"/ui/cis/{estate.hosts['web1']}") + "$")
    assert "web1" in tab.evaluate("document.querySelector('h1').textContent")
    assert tab.evaluate("document.body.textContent.includes('INSTALLED')")
    shot(tab, "ci")


def test_firefox_draws_the_dependency_graph_and_expands_a_group_on_click(tab: Tab, estate):
    tab.goto(f"{estate.url}/ui/cis/{estate.hosts['db1']}")
    tab.click("a.button[href$='/graph?direction=down&depth=2']")
    tab.wait_for_url(r"/graph\?direction=down&depth=2$")
    nodes, edges = wait_for_graph(tab)
    # db1, its interfaces and endpoint, its 40 packages as one group, and their addresses
    assert nodes >= 5 and edges >= 4, (nodes, edges)
    assert tab.evaluate("+document.getElementById('graph').dataset.nodes") == nodes
    groups = tab.evaluate("window.cmdbGraph.nodes('[?group]').map(n => n.data('label'))")
    assert "40 Software" in groups
    # every node was laid out inside the drawing (dagre ran in this engine)
    assert tab.evaluate(
        "window.cmdbGraph.nodes().every(n => { var p = n.renderedPosition(), "
        "c = window.cmdbGraph.container(); "
        "return p.x >= 0 && p.y >= 0 && p.x <= c.clientWidth && p.y <= c.clientHeight; })"
    )
    shot(tab, "graph")
    # a real click on the group node, then on "Draw 40 members"
    tab.call("function () { document.getElementById('graph').scrollIntoView({block: 'center'}); }")
    x, y = tab.evaluate(
        "(() => { var n = window.cmdbGraph.nodes('[?group]')"
        ".filter(n => n.data('label') === '40 Software')[0]; var p = n.renderedPosition(); "
        "var r = window.cmdbGraph.container().getBoundingClientRect(); "
        "return [r.left + p.x, r.top + p.y]; })()"
    )
    tab.click_at(x, y)
    tab.wait_for("document.getElementById('draw-members')")
    tab.click("#draw-members")
    tab.wait_for("window.cmdbGraph.nodes().length > arguments[0]", nodes)
    after = tab.evaluate("window.cmdbGraph.nodes().length")
    assert after == nodes - 1 + 40, (nodes, after)  # the group gives way to its members
    assert tab.evaluate("window.cmdbGraph.nodes('[?group]').length") == len(groups) - 1


def test_firefox_shows_the_impact_of_a_redundancy_group_member(tab: Tab, estate):
    tab.goto(f"{estate.url}/ui/impact?ci={estate.hosts['db1']}")
    states = tab.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#impact-services tr[data-service]')]"
        ".map(r => [r.dataset.service, r.dataset.state]))"
    )
    assert states["orders-db"] == "degraded" and states["shop"] == "degraded", states
    wait_for_graph(tab)
    drawn = tab.evaluate(
        "Object.fromEntries(window.cmdbGraph.nodes().map(n => [n.data('label'), n.data('state')]))"
    )
    assert drawn["orders-db"] == "degraded" and drawn["db1"] == "failed"
    shot(tab, "impact")


def test_firefox_follows_the_dark_preference_and_the_theme_button(tab: Tab, estate):
    tab.goto(f"{estate.url}/ui/services")
    assert tab.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    background = "getComputedStyle(document.body).backgroundColor"
    # no saved choice: the page follows the user's (dark) preference
    assert tab.evaluate("document.documentElement.dataset.theme ?? null") is None
    assert tab.evaluate(background) == DARK_BG
    shot(tab, "services-dark")
    tab.click("#theme-toggle")
    assert tab.evaluate("document.documentElement.dataset.theme") == "light"
    assert tab.evaluate(background) == LIGHT_BG
    # the choice is kept for the next page, before it paints (theme.js in <head>)
    tab.goto(f"{estate.url}/ui/changes")
    assert tab.evaluate("document.documentElement.dataset.theme") == "light"
    assert tab.evaluate(background) == LIGHT_BG
    tab.click("#theme-toggle")
    assert tab.evaluate(background) == DARK_BG
