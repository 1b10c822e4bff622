"""Browser tests: a real ``cmdb server`` process with seeded data, driven by Debian's
Chromium through Playwright (its own browser download is not reachable here) and by
Debian's Firefox ESR through WebDriver BiDi (``tests/ui/firefox.py``)."""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import pytest

from tests.processes import running_server
from tests.ui.seed import PASSWORD, create_users, seed

CHROMIUM = os.environ.get("CMDB_TEST_CHROMIUM", "/usr/bin/chromium")
FIREFOX = os.environ.get("CMDB_TEST_FIREFOX", "/usr/bin/firefox-esr")
IN_CI = os.environ.get("CI") == "true"


def _need(binary: str, name: str, package: str) -> None:
    """Skip without the browser on a developer's machine; fail in CI, where
    deploy/test.sh installs it (a skipped browser test there would hide a broken UI)."""
    if not shutil.which(binary) and not Path(binary).exists():
        message = f"no {name} at {binary} (apt-get install {package}; deploy/test.sh does)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def _need_browser() -> None:
    _need(CHROMIUM, "Chromium", "chromium")


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


@pytest.fixture(scope="package")
def firefox(tmp_path_factory):
    """Headless Firefox ESR driven through WebDriver BiDi, with the user's colour scheme
    set to dark (BiDi has no colour-scheme emulation; the profile's pref stands in)."""
    _need(FIREFOX, "Firefox", "firefox-esr")
    from tests.ui.firefox import launch

    log = tmp_path_factory.mktemp("firefox") / "firefox.log"
    with launch(FIREFOX, color_scheme="dark", log_path=log) as instance:
        yield instance


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


# ---------------------------------------------------------------- forms over plain HTTP
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # the tests read the 303s themselves
        return None


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str  # HTML entities decoded


class Person:
    """A signed-in user's browser reduced to HTTP (forms without JavaScript, as the UI
    works without it): its own cookies, the session's CSRF token, no redirects followed.
    The session cookie is Secure; like browsers, this sends it to the loopback server."""

    def __init__(self, url: str) -> None:
        self.url = url
        jar = http.cookiejar.CookieJar(
            http.cookiejar.DefaultCookiePolicy(secure_protocols=("https", "http"))
        )
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(jar), _NoRedirect()
        )
        self.csrf = ""

    def request(self, method: str, path: str, data: dict | None = None, headers=None) -> Answer:
        body = None if data is None else urllib.parse.urlencode(data).encode()
        request = urllib.request.Request(
            self.url + path, data=body, method=method, headers=headers or {}
        )
        try:
            with self.opener.open(request, timeout=60) as response:
                return Answer(response.status, dict(response.headers), unescape(_text(response)))
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, dict(exc.headers), unescape(_text(exc)))

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post(self, path: str, csrf: bool = True, headers=None, **fields: str) -> Answer:
        data = {"csrf_token": self.csrf, **fields} if csrf else fields
        return self.request("POST", path, data, headers)

    def sign_in(self, name: str, password: str = PASSWORD) -> Answer:
        self.csrf = CSRF.search(self.get("/ui/login").text).group(1)
        answer = self.post("/ui/login", name=name, password=password, next="/ui/search")
        if answer.status == 303:
            self.csrf = CSRF.search(self.get("/ui/search").text).group(1)  # a new session's
        return answer


def _text(response) -> str:
    return response.read().decode("utf-8", "replace")


@pytest.fixture
def person(estate):
    """A function: a user of the estate's server signed in over plain HTTP."""

    def sign_in(name: str) -> Person:
        someone = Person(estate.url)
        answer = someone.sign_in(name)
        assert answer.status == 303, answer.text[:300]
        return someone

    return sign_in
