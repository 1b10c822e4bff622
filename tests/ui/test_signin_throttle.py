"""Failed sign-ins on the web UI are throttled per source address like unknown API tokens
(one throttle, ``cmdb.server.api.throttle``): past ``auth_fail_limit`` failures the address
gets 429 with Retry-After, even with the right password, on the sign-in form and on the
API; other addresses sign in as usual; each failure, and the throttling once, is logged.

A real server process with ``auth_fail_limit = 3`` behind a "proxy" (this test, trusted
from 127.0.0.1), so X-Forwarded-For names the client as a reverse proxy would."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.processes import create_token, running_server
from tests.ui.conftest import Person
from tests.ui.seed import PASSWORD, create_users

pytestmark = pytest.mark.e2e

ATTACKER, COLLEAGUE = "192.0.2.66", "192.0.2.7"


class Behind(Person):
    """A browser at ``address`` behind the trusted proxy."""

    def __init__(self, url: str, address: str) -> None:
        super().__init__(url)
        self.address = address

    def request(self, method, path, data=None, headers=None):
        headers = {"X-Forwarded-For": self.address, **(headers or {})}
        return super().request(method, path, data, headers)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("ui-throttle")
    create_users(data_dir)
    config = data_dir / "cmdb.toml"
    config.write_text(
        'auth_fail_limit = 3\nauth_fail_window = 60\ntrusted_proxies = ["127.0.0.1"]\n'
    )
    with running_server(data_dir, ("--config", str(config))) as (url, _proc):
        yield url, data_dir


def _api_status(url: str, token: str, address: str) -> int:
    request = urllib.request.Request(
        url + "/api/v1/cis",
        headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": address},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _log(data_dir) -> list[str]:
    """The server's log messages (JSON lines when not on a terminal; text otherwise)."""
    lines = []
    for line in (data_dir / "server.log").read_text().splitlines():
        try:
            lines.append(json.loads(line)["msg"])
        except (ValueError, KeyError, TypeError):
            lines.append(line.split(": ", 1)[-1])
    return lines


def test_failed_sign_ins_are_throttled_per_address(guarded):
    url, data_dir = guarded
    reader = create_token(data_dir, "reader")
    attacker = Behind(url, ATTACKER)
    for _ in range(3):
        answer = attacker.sign_in("ada", "a-guess")
        assert answer.status == 401
        assert "Unknown user name or wrong password." in answer.text
    # the right password no longer helps from there: refused before it is checked
    answer = attacker.sign_in("ada", PASSWORD)
    assert answer.status == 429
    assert 1 <= int(answer.headers["Retry-After"]) <= 60
    assert "Too many failed sign-ins from your address" in answer.text
    assert attacker.get("/ui/search").status == 303  # not signed in
    # one throttle: the API refuses that address too, even with a good token
    assert _api_status(url, reader, ATTACKER) == 429
    assert _api_status(url, reader, COLLEAGUE) == 200
    # a colleague at another address signs in as usual
    colleague = Behind(url, COLLEAGUE)
    assert colleague.sign_in("ada").status == 303
    answer = colleague.get("/ui/search")
    assert answer.status == 200 and "ada · admin" in answer.text
    # the log: each failure (as sshd writes them), and one warning for the episode
    log = _log(data_dir)
    failures = [m for m in log if m.startswith("failed sign-in for user 'ada' from ")]
    assert failures == [f"failed sign-in for user 'ada' from {ATTACKER}"] * 3
    throttled = [m for m in log if "authentication throttled for" in m]
    assert len(throttled) == 1 and ATTACKER in throttled[0]
