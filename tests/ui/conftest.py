"""Browser tests: a real ``cmdb server`` process with seeded data, driven by Debian's
Chromium through Playwright (its own browser download is not reachable here)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.processes import running_server
from tests.ui.seed import PASSWORD, create_users, seed

CHROMIUM = os.environ.get("CMDB_TEST_CHROMIUM", "/usr/bin/chromium")
IN_CI = os.environ.get("CI") == "true"


def _need_browser() -> None:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium; deploy/test.sh does)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="package")
def estate(tmp_path_factory):
    """The server, with three hosts, two services and the users ada/ed/rita."""
    data_dir = tmp_path_factory.mktemp("ui-server")
    create_users(data_dir)
    with running_server(data_dir) as (url, _proc):
        yield seed(url, data_dir)


@pytest.fixture(scope="package")
def browser():
    _need_browser()
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield instance
        instance.close()


@pytest.fixture
def signed_in(browser, estate):
    """A function: sign in as a user, get the page (a fresh browser context each)."""
    contexts = []

    def sign_in(name: str):
        context = browser.new_context(viewport={"width": 1366, "height": 800})
        contexts.append(context)
        page = context.new_page()
        page.goto(estate.url + "/")
        page.fill("#name", name)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/ui/search")
        return page

    yield sign_in
    for context in contexts:
        context.close()
