"""The shared state's typed methods behave alike on SQLite (control.db) and on Neo4j
(issue 15, item 1): users (cmdb.server.users on either backend), schedule firings claimed by a
compare-and-set, device claims with expiry, put_if_absent, and token revocation."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from cmdb.server import users
from cmdb.server.control import ControlDB

RUN = uuid.uuid4().hex[:8]


@pytest.fixture(params=["sqlite", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def state(request, tmp_path):
    if request.param == "sqlite":
        control = ControlDB(tmp_path / "control.db")
    else:
        from cmdb.server.shared_state.neo4j import Neo4jSharedState

        server = request.getfixturevalue("neo4j_server")
        control = Neo4jSharedState(server.uri, server.user, server.password)
    yield control
    control.close()


def test_users_on_either_backend(state):
    name = f"Ops{RUN}"
    user = users.create_user(state, name, "admin", "correct horse battery")
    with pytest.raises(users.UserError):
        users.create_user(state, name.lower(), "reader", "correct horse battery")
    assert users.get_user_by_name(state, name.upper()).id == user.id
    assert users.verify_password(state, name, "correct horse battery").id == user.id
    assert users.verify_password(state, name, "not the password") is None
    changed = users.set_role(state, user.id, "editor")
    assert changed.role == "editor" and changed.session_version == user.session_version + 1
    users.set_active(state, user.id, False)
    assert users.verify_password(state, name, "correct horse battery") is None


def test_a_firing_is_claimed_once_among_many_claimers(state):
    name = f"s-{RUN}"
    state.schedule_save({"name": name, "cron": "* * * * *", "next_run": "2026-01-01T00:00:00Z"})
    wins = []

    def claim() -> None:
        if state.schedule_claim(name, "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"):
            wins.append(1)

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    assert state.schedule_get(name)["next_run"] == "2026-01-01T00:01:00Z"
    assert state.schedule_delete(name)


def test_device_claims_expire_and_release(state):
    targets = [f"192.0.2.{i}:{RUN[:4]}" for i in range(1, 6)]
    now = time.time()
    assert sorted(state.claim_targets(targets, "p1", 10, now)) == sorted(targets)
    assert state.claim_targets(targets, "p2", 10, now + 1) == []
    assert sorted(state.claim_targets(targets, "p1", 10, now + 1)) == sorted(targets)  # renewal
    state.release_targets(targets[:2], "p1")
    assert sorted(state.claim_targets(targets, "p2", 10, now + 2)) == sorted(targets[:2])
    assert sorted(state.claim_targets(targets, "p2", 10, now + 12)) == sorted(targets)  # expired


def test_put_if_absent_keeps_the_first_value_and_revoked_tokens_fail(state):
    assert state.put_if_absent("t", RUN, "one") == "one"
    assert state.put_if_absent("t", RUN, "two") == "one"
    token_id, token = state.create_token("reader", f"r-{RUN}")
    assert state.authenticate(token).token_id == token_id
    assert state.revoke_token(token_id)
    assert state.authenticate(token) is None


@pytest.mark.neo4j
def test_a_revocation_reaches_every_servers_cache_within_the_check_interval(neo4j_server):
    from cmdb.server.shared_state import neo4j as shared

    servers = [
        shared.Neo4jSharedState(neo4j_server.uri, neo4j_server.user, neo4j_server.password)
        for _ in range(2)
    ]
    try:
        a, b = servers
        token_id, token = a.create_token("agent", f"cached-{RUN}")
        assert a.authenticate(token) and b.authenticate(token)  # both cache it now
        assert b.authenticate(token).token_id == token_id  # from the cache
        assert a.revoke_token(token_id)
        assert a.authenticate(token) is None  # where it was revoked: at once
        deadline = time.monotonic() + shared.REVOCATION_CHECK_SECONDS + 1.0
        while b.authenticate(token) is not None:
            assert time.monotonic() < deadline, "the other server still takes a revoked token"
            time.sleep(0.1)
        # a new token works on the other server at once (unknown tokens are never cached)
        new_id, new = a.create_token("agent", f"fresh-{RUN}")
        assert b.authenticate(new).token_id == new_id
    finally:
        for server in servers:
            server.close()


def test_a_late_running_progress_never_reopens_a_finished_scan(state):
    """The poller's heartbeat may leave before its final status and arrive after it: the
    scan stays finished. Progress of another poller's scan is refused (None)."""
    scan = f"scan-{RUN}-{uuid.uuid4().hex[:6]}"
    state.scan_save(
        {
            "id": scan,
            "status": "running",
            "owner": "site-a",
            "heartbeat": 1.0,
            "total": 5,
            "created_at": "2026-11-30T10:00:00Z",
        }
    )
    state.scan_cancel(scan)
    moving = state.scan_progress(scan, "site-a", {"status": "running", "counts": {"probed": 3}})
    assert moving["status"] == "running" and moving["counts"] == {"probed": 3}
    assert moving["cancel_requested"] is True  # a cancellation asked meanwhile is kept
    done = state.scan_progress(scan, "site-a", {"status": "cancelled", "counts": {"probed": 5}})
    assert done["status"] == "cancelled"
    late = state.scan_progress(scan, "site-a", {"status": "running", "counts": {"probed": 4}})
    assert late["status"] == "cancelled" and late["counts"] == {"probed": 5}
    assert state.scan_get(scan)["status"] == "cancelled"
    assert state.scan_progress(scan, "site-b", {"status": "done"}) is None
    assert state.scan_progress(f"{scan}-missing", "site-a", {"status": "done"}) is None
